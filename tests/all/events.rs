//! Change events through the outbox to a real Kafka-API broker (`tansu`):
//! with the broker down, writes still succeed and their events wait in the
//! Postgres outbox; when it is back, the outbox drains in order, and the
//! topic holds one event per write, in the order the writes were made.

use crate::harness::{clients, Server, TestDb, CLIENTS};
use crate::peers;
use rskafka::client::partition::UnknownTopicHandling;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use zerodb_test_support::health::{probe_env, status, wait_status};

const TOPIC: &str = "zerodb.test-events";

/// A server publishing to `broker`'s topic [`TOPIC`], once it sees the
/// broker healthy.
fn publishing_server(db: &TestDb, key: &str, broker: &peers::Process) -> Server {
    let mut env = probe_env();
    env.push(("ZERODB_REDPANDA_BROKERS", format!("127.0.0.1:{}", broker.port)));
    env.push(("ZERODB_REDPANDA_TOPIC", TOPIC.into()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, key, "redpanda", "healthy", Duration::from_secs(10));
    server
}

/// Every record on partition 0 of the topic, as JSON.
fn consume(port: u16) -> Vec<Value> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = rskafka::client::ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
            .build()
            .await
            .unwrap();
        let partition = client
            .partition_client(TOPIC, 0, UnknownTopicHandling::Error)
            .await
            .unwrap();
        let mut events = Vec::new();
        let mut offset = 0;
        loop {
            let (records, high_watermark) = partition.fetch_records(offset, 1..1_000_000, 500).await.unwrap();
            for record in records {
                offset = record.offset + 1;
                events.push(serde_json::from_slice(&record.record.value.unwrap()).unwrap());
            }
            if offset >= high_watermark {
                return events;
            }
        }
    })
}

#[test]
fn outbox_drains_in_order_after_the_broker_returns() {
    let mut broker = peers::tansu();
    let db = TestDb::new("events");
    let key = db.key("events");
    let server = publishing_server(&db, &key, &broker);

    // (kind, version, ids) of every write, in the order made.
    let mut expected: Vec<(String, u64, Vec<String>)> = Vec::new();
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 4})))
        .ok();
    expected.push(("collection.created".into(), 0, vec![]));
    let upsert = |server: &Server, expected: &mut Vec<_>, id: String| {
        let body = json!({"vectors": [{"id": id, "values": [1.0, 0.5, 0.25, 0.125]}]});
        let reply = server
            .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
            .ok();
        expected.push((
            "vectors.upserted".to_string(),
            reply["version"].as_u64().unwrap(),
            vec![id],
        ));
    };
    for i in 0..5 {
        upsert(&server, &mut expected, format!("a{i}"));
    }
    db.wait_outbox_drained();

    broker.stop();
    wait_status(&server, &key, "redpanda", "down", Duration::from_secs(2));
    for i in 0..10 {
        upsert(&server, &mut expected, format!("b{i}"));
    }
    let reply = server
        .call("DELETE", "/v1/collections/docs/vectors/a0", &key, None)
        .ok();
    expected.push((
        "vectors.deleted".into(),
        reply["version"].as_u64().unwrap(),
        vec!["a0".into()],
    ));
    // Every write was acknowledged; its event waits.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(db.outbox_rows(), 11);
    let health = server.call("GET", "/v1/health", &key, None).ok();
    let events_route = &health["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["operation"] == "events")
        .unwrap()["route"];
    assert_eq!(events_route, "outbox");

    broker.start();
    wait_status(&server, &key, "redpanda", "healthy", Duration::from_secs(10));
    db.wait_outbox_drained();

    let events = consume(broker.port);
    // At-least-once: drop repeats by event id, keeping the first.
    let mut seen = HashSet::new();
    let events: Vec<&Value> = events.iter().filter(|e| seen.insert(e["id"].to_string())).collect();
    let mut last_seq = 0;
    for e in &events {
        let seq = e["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "events out of order: {e}");
        last_seq = seq;
        assert_eq!(e["id"].as_str().unwrap().len(), 36, "event id is a UUID: {e}");
    }
    let got: Vec<(String, u64, Vec<String>)> = events
        .iter()
        .map(|e| {
            let ids = e["ids"].as_array().map_or(vec![], |ids| {
                ids.iter().map(|i| i.as_str().unwrap().to_string()).collect()
            });
            (
                e["kind"].as_str().unwrap().to_string(),
                e["version"].as_u64().unwrap_or(0),
                ids,
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn sigterm_flushes_the_outbox() {
    let mut broker = peers::tansu();
    let db = TestDb::new("events_flush");
    let key = db.key("events");
    let mut env = probe_env();
    // Slow probes: the broker is back before the registry notices.
    env.push(("ZERODB_HEALTH_INTERVAL_MS", "2000".into()));
    env.push(("ZERODB_HEALTH_DOWN_INTERVAL_MS", "2000".into()));
    env.push(("ZERODB_REDPANDA_BROKERS", format!("127.0.0.1:{}", broker.port)));
    env.push(("ZERODB_REDPANDA_TOPIC", TOPIC.into()));
    let server = Server::start_env(&db.url, &["--migrate"], &env);
    wait_status(&server, &key, "redpanda", "healthy", Duration::from_secs(10));
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    db.wait_outbox_drained();

    broker.stop();
    wait_status(&server, &key, "redpanda", "down", Duration::from_secs(5));
    let mut versions = Vec::new();
    for i in 0..3 {
        let body = json!({"vectors": [{"id": format!("v{i}"), "values": [1.0, 0.0]}]});
        let reply = server
            .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
            .ok();
        versions.push(reply["version"].as_u64().unwrap());
    }
    assert_eq!(db.outbox_rows(), 3);
    broker.start();
    assert_eq!(
        status(&server, &key, "redpanda"),
        "down",
        "the probe was faster than the test"
    );
    let stopping = Instant::now();
    let exit = server.stop();
    let took = stopping.elapsed();
    assert!(exit.success(), "{exit:?}");
    assert!(took < Duration::from_secs(10), "the flush took {took:?}");
    assert_eq!(db.outbox_rows(), 0, "SIGTERM left events in the outbox");
    let published: Vec<u64> = consume(broker.port)
        .iter()
        .filter(|e| e["kind"] == "vectors.upserted")
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    assert_eq!(published, versions);
}

/// 32 clients write at once: to their own collections, to one shared
/// collection, and memory records. Every write's event reaches the topic
/// once it is up, in `seq` order, each collection's in version order, with
/// its project, collection and time; a drop has its event too.
#[test]
fn concurrent_writers_events_arrive_in_seq_order() {
    let broker = peers::tansu();
    let db = TestDb::new("events_concurrent");
    let key = db.key("events");
    let server = publishing_server(&db, &key, &broker);
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    server
        .call("PUT", "/v1/collections/shared", &key, Some(&json!({"dims": 2})))
        .ok();
    let writes: usize = clients(CLIENTS, |client| {
        let own = format!("c{client}");
        server
            .call(
                "PUT",
                &format!("/v1/collections/{own}"),
                &key,
                Some(&json!({"dims": 2})),
            )
            .ok();
        for n in 0..5 {
            for collection in [own.as_str(), "shared"] {
                let body = json!({"vectors": [{"id": format!("{client}-{n}"), "values": [1.0, n as f32]}]});
                server
                    .call(
                        "PUT",
                        &format!("/v1/collections/{collection}/vectors"),
                        &key,
                        Some(&body),
                    )
                    .ok();
            }
        }
        let memory = json!({"session_id": "s", "role": "user", "content": "hi", "embedding": vec![0.5f32; 1536]});
        let id = server.call("POST", "/v1/memory", &key, Some(&memory)).ok()["id"]
            .as_str()
            .unwrap()
            .to_string();
        server.call("DELETE", &format!("/v1/memory/{id}"), &key, None).ok();
        1 + 10 + 2
    })
    .into_iter()
    .sum();
    server.call("DELETE", "/v1/collections/c0", &key, None).ok();
    db.wait_outbox_drained();
    let project_id: i64 = db
        .client()
        .query_one("SELECT id FROM zerodb.projects WHERE name = 'events'", &[])
        .unwrap()
        .get(0);
    let finished_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    let events = consume(broker.port);
    let mut seen = HashSet::new();
    let events: Vec<&Value> = events.iter().filter(|e| seen.insert(e["id"].to_string())).collect();
    assert_eq!(events.len(), 1 + writes + 1, "one event per acknowledged write");
    let (mut last_seq, mut versions) = (0, std::collections::HashMap::<&str, u64>::new());
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for e in &events {
        let seq = e["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "seq {seq} published after {last_seq}");
        last_seq = seq;
        assert_eq!(e["project_id"], project_id, "{e}");
        let at = e["at_ms"].as_i64().unwrap();
        assert!(
            (started_ms - 1000..=finished_ms + 1000).contains(&at),
            "at_ms {at}: {e}"
        );
        let kind = e["kind"].as_str().unwrap();
        *kinds.entry(kind).or_default() += 1;
        if let Some(collection) = e["collection"].as_str() {
            let version = e["version"].as_u64().unwrap_or(0);
            if kind == "vectors.upserted" {
                let last = versions.insert(collection, version).unwrap_or(0);
                assert!(version > last, "{collection}: version {version} published after {last}");
            }
        } else {
            assert!(kind.starts_with("memory."), "{e}");
            assert!(e["memory_id"].is_string(), "{e}");
        }
    }
    let expected = [
        ("collection.created", 1 + CLIENTS),
        ("collection.dropped", 1),
        ("memory.deleted", CLIENTS),
        ("memory.put", CLIENTS),
        ("vectors.upserted", 10 * CLIENTS),
    ];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), expected);
    assert_eq!(versions["shared"], 5 * CLIENTS as u64);
}

/// Without brokers, writes add no events (nothing would ever drain them).
#[test]
fn no_events_are_written_without_brokers() {
    let db = TestDb::new("events_off");
    let key = db.key("events");
    let server = Server::start(&db.url);
    server
        .call("PUT", "/v1/collections/docs", &key, Some(&json!({"dims": 2})))
        .ok();
    let body = json!({"vectors": [{"id": "a", "values": [1.0, 0.0]}]});
    server
        .call("PUT", "/v1/collections/docs/vectors", &key, Some(&body))
        .ok();
    assert_eq!(db.outbox_rows(), 0);
}
