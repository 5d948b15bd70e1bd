//! The edge component outside the native host: composed with the origin
//! adapter, it imports nothing but WASI, runs the API scenario under
//! `wasmtime serve` against a `zerodb-edge` origin (keeping its cache across
//! requests), and the origin API it uses holds up to bad callers.

use crate::api::lifecycle_scenario;
use crate::harness::{embedding_env, hit_ids, rng, Server, TestDb};
use crate::peers::{free_port, tool};
use rand::{Rng, RngCore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "portable-test-secret-0123";

fn dist(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist").join(name);
    assert!(
        path.is_file(),
        "{} is missing: scripts/build --portable composes it",
        path.display()
    );
    path
}

fn wasm(name: &str) -> PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{}/../target", env!("CARGO_MANIFEST_DIR")));
    Path::new(&target).join("wasm32-wasip2/release").join(name)
}

/// The names of a component's imports.
fn imports(path: &Path) -> Vec<String> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model_async(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = wasmtime::component::Component::from_file(&engine, path).unwrap();
    component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

#[test]
fn composed_components_import_only_wasi() {
    // What `serve` runs calls the origin asynchronously; the builds for
    // other hosts call the blocking form, which the adapter exports.
    let native = imports(&wasm("edge.wasm"));
    assert!(
        native.iter().any(|i| i.starts_with("zerodb:edge/origin-async@")),
        "{native:?}"
    );
    for (plain, composed) in [("edge_portable.wasm", "edge.wasm"), ("edge_p2.wasm", "edge-p2.wasm")] {
        let plain = imports(&wasm(plain));
        assert!(
            plain.iter().any(|i| i.starts_with("zerodb:edge/origin@")),
            "the edge component alone imports the origin: {plain:?}"
        );
        assert!(!plain.iter().any(|i| i.contains("origin-async")), "{plain:?}");
        let composed = imports(&dist(composed));
        eprintln!("imports of the composed component: {composed:?}");
        let foreign: Vec<&String> = composed.iter().filter(|i| !i.starts_with("wasi:")).collect();
        assert!(foreign.is_empty(), "imports outside wasi:*: {foreign:?}");
        assert!(composed.iter().any(|i| i.starts_with("wasi:http/outgoing-handler@0.2")));
    }
    // The 0.2 build asks nothing of a host that only has WASI 0.2.
    let p2 = imports(&dist("edge-p2.wasm"));
    assert!(p2.iter().all(|i| i.contains("@0.2.")), "{p2:?}");
}

/// `wasmtime serve` running the composed component against `origin`.
fn wasmtime_serve(component: &Path, origin: &Server, extra: &[&str]) -> Server {
    let port = free_port();
    let child = Command::new(tool("wasmtime"))
        .arg("serve")
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--env", &format!("ZERODB_ORIGIN_URL={}", origin.base)])
        .args(["--env", &format!("ZERODB_ORIGIN_SECRET={SECRET}")])
        .args(extra)
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "wasmtime serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server::attach(child, format!("http://127.0.0.1:{port}"))
}

fn origin(db: &TestDb) -> Server {
    Server::start_env(
        &db.url,
        &[
            "--migrate",
            "--origin-secret",
            SECRET,
            "--hot-collection-max-vectors",
            "0",
        ],
        &embedding_env(),
    )
}

#[test]
fn api_scenario_under_wasmtime_serve_wasi_http_0_3() {
    scenario_under_wasmtime_serve("edge.wasm", &["-S", "p3,cli", "-W", "component-model-async"]);
}

#[test]
fn api_scenario_under_wasmtime_serve_wasi_http_0_2() {
    // wasmtime serves a 0.2 component with a fresh instance per request
    // unless told to reuse them.
    scenario_under_wasmtime_serve("edge-p2.wasm", &["-S", "cli", "--max-instance-reuse-count", "1000"]);
}

fn scenario_under_wasmtime_serve(component: &str, flags: &[&str]) {
    let db = TestDb::new("wasmtime_serve");
    let key = db.key("portable");
    let origin = origin(&db);
    let mut flags = flags.to_vec();
    flags.extend(["--env", "ZERODB_HOT_COLLECTION_MAX_VECTORS=0"]);
    let edge = wasmtime_serve(&dist(component), &origin, &flags);
    // The foundation's scenario, with every search compared with the native front's.
    lifecycle_scenario(&edge, &key, Some(&origin));

    // One instance serves request after request, so its cache answers repeats.
    edge.call("PUT", "/v1/collections/again", &key, Some(&json!({"dims": 4})))
        .ok();
    edge.call(
        "PUT",
        "/v1/collections/again/vectors",
        &key,
        Some(&json!({"vectors": [{"id": "a", "values": [1, 0, 0, 0]}, {"id": "b", "values": [0, 1, 0, 0]}]})),
    )
    .ok();
    let body = json!({"vector": [1, 0.5, 0, 0], "k": 2});
    let first = edge.call("POST", "/v1/collections/again/search", &key, Some(&body));
    assert_eq!(first.cache.as_deref(), Some("miss"));
    // wasmtime reuses the instance: every repeat is answered from its cache.
    let repeats: Vec<_> = (0..8)
        .map(|_| edge.call("POST", "/v1/collections/again/search", &key, Some(&body)))
        .collect();
    let labels: Vec<_> = repeats.iter().map(|r| r.cache.as_deref()).collect();
    eprintln!("repeats answered {labels:?}");
    assert!(labels.iter().all(|l| *l == Some("hit")), "repeats: {labels:?}");
    let hit = &repeats[0];
    assert_eq!(first.json["hits"], hit.json["hits"]);
    // Text through the adapter: the origin's model embeds (the origin API's
    // `embedding-models` and `embed`), the edge caches and searches.
    let model = "sentence-transformers/all-MiniLM-L6-v2";
    let created = edge
        .call("PUT", "/v1/collections/texts", &key, Some(&json!({"model": model})))
        .ok();
    assert_eq!(created["dims"], 384);
    let store = format!(
        "/api/v1/projects/{}/embeddings/embed-and-store",
        db.project_uuid("portable")
    );
    let texts = json!({"texts": ["Bees make honey from nectar.", "Granite is an igneous rock."], "ids": ["bees", "rock"], "namespace": "texts"});
    edge.call("POST", &store, &key, Some(&texts)).ok();
    let found = edge
        .call(
            "POST",
            "/v1/collections/texts/search",
            &key,
            Some(&json!({"text": "what do bees produce", "k": 1})),
        )
        .ok();
    assert_eq!(hit_ids(&found), ["bees"]);
    // The origin's registry shows through the adapter.
    let health = edge.call("GET", "/v1/health", &key, None).ok();
    assert_eq!(health["services"]["postgres"]["status"], "healthy");
    // The origin down: its errors come through as 503 with Retry-After.
    drop(origin);
    let down = edge.call(
        "POST",
        "/v1/collections/again/search",
        &key,
        Some(&json!({"vector": [0, 0, 1, 0]})),
    );
    assert_eq!((down.status, down.error_code()), (503, "origin_unreachable"));
    assert!(down.retry_after.is_some());
}

/// Under `wasmtime serve` the edge cannot ask the native host's coherence
/// table for free: the adapter trusts a collection's token for a lease
/// (`ZERODB_VERSION_LEASE_MS`) and asks the origin once it runs out. A write
/// through the native host is therefore seen by every read that starts a
/// lease after its acknowledgement; the measured lag is printed.
#[test]
fn a_write_through_the_native_host_is_seen_within_the_lease_under_wasmtime_serve() {
    const LEASE: Duration = Duration::from_millis(300);
    let db = TestDb::new("lease");
    let key = db.key("portable");
    let origin = origin(&db);
    let lease = format!("ZERODB_VERSION_LEASE_MS={}", LEASE.as_millis());
    let edge = wasmtime_serve(
        &dist("edge.wasm"),
        &origin,
        &["-S", "p3,cli", "-W", "component-model-async", "--env", &lease],
    );
    origin
        .call("PUT", "/v1/collections/leased", &key, Some(&json!({"dims": 4})))
        .ok();
    let body = json!({"vector": [1, 0.5, 0, 0], "k": 2});
    let version_of = |reply: &crate::harness::Reply| reply.json["version"].as_u64().unwrap_or(0);
    let (mut lags, mut hits, mut stale_within_lease) = (Vec::new(), 0, 0);
    for n in 0..20 {
        let values = [1.0, n as f32 / 10.0, 0.0, 1.0];
        let written = json!({"vectors": [{"id": format!("v{n}"), "values": values}]});
        let version = origin
            .call("PUT", "/v1/collections/leased/vectors", &key, Some(&written))
            .ok()["version"]
            .as_u64()
            .unwrap();
        let acknowledged = Instant::now();
        loop {
            let started = acknowledged.elapsed();
            let reply = edge.call("POST", "/v1/collections/leased/search", &key, Some(&body));
            assert_eq!(reply.status, 200, "{}", reply.json);
            hits += usize::from(reply.cache.as_deref() == Some("hit"));
            if version_of(&reply) >= version {
                lags.push(started);
                break;
            }
            assert!(
                started < LEASE,
                "a read {started:?} after the write (lease {LEASE:?}) answered version {} < {version}",
                version_of(&reply)
            );
            stale_within_lease += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        // Warm the edge's cache for the next write: it must be hit.
        for _ in 0..8 {
            edge.call("POST", "/v1/collections/leased/search", &key, Some(&body));
        }
    }
    lags.sort();
    eprintln!(
        "lease {LEASE:?}: write seen after p50 {:?}, max {:?}; {stale_within_lease} stale reads within the lease, {hits} hits",
        lags[lags.len() / 2],
        lags[lags.len() - 1]
    );
    assert!(hits > 0, "the edge never answered from its cache: nothing was tested");
}

fn origin_call(origin: &Server, op: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let reply = origin.send_with("POST", &format!("/origin/v1/{op}"), None, Some(body), headers);
    (reply.status, reply.json)
}

#[test]
fn origin_api_refuses_callers_without_the_secret_and_survives_garbage() {
    let db = TestDb::new("origin_api");
    let key = db.key("portable");
    let origin = origin(&db);
    let good = [("x-zerodb-origin-secret", SECRET), ("x-zerodb-api-key", key.as_str())];
    let args =
        json!({"name": "docs", "spec": {"dims": 3, "metric": "Cosine", "index": "Hnsw", "cache_similarity": 1.0}});
    let body = args.to_string().into_bytes();

    for headers in [
        vec![("x-zerodb-api-key", key.as_str())],
        vec![
            ("x-zerodb-origin-secret", "portable-test-secret-0124"),
            ("x-zerodb-api-key", key.as_str()),
        ],
        vec![("x-zerodb-origin-secret", ""), ("x-zerodb-api-key", key.as_str())],
    ] {
        let (status, json) = origin_call(&origin, "create-collection", &headers, body.clone());
        assert_eq!(
            (status, json["error"]["reason"].as_str()),
            (401, Some("invalid_origin_secret"))
        );
    }
    let health = origin.send_with("GET", "/origin/v1/health", None, None, &[]);
    assert_eq!(health.status, 401);
    assert_eq!(
        origin_call(
            &origin,
            "project",
            &[("x-zerodb-origin-secret", SECRET), ("x-zerodb-api-key", "zdb_nope")],
            b"{}".to_vec()
        )
        .0,
        401
    );
    let (status, created) = origin_call(&origin, "create-collection", &good, body);
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["spec"]["dims"], 3);

    // A refusal is a 4xx with an error record; nothing is ever a 5xx.
    // A failure prints the call in the corpus' form, ready to be kept there.
    let check = |op: &str, bytes: Vec<u8>| {
        let case = json!({"function": op, "body": String::from_utf8_lossy(&bytes)});
        let (status, json) = origin_call(&origin, op, &good, bytes);
        assert!((200..500).contains(&status), "{case} answered {status}: {json}");
        if status >= 400 {
            assert!(
                json["error"]["reason"].is_string(),
                "{case}: {status} without an error record: {json}"
            );
        }
        status
    };

    // Calls that once mattered, `tests/corpus/origin/*.json`, each
    // `{"function", "body"}`: every one is refused.
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/origin");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let op = case["function"].as_str().unwrap();
        let status = check(op, case["body"].as_str().unwrap().as_bytes().to_vec());
        assert!(
            (400..500).contains(&status),
            "{} was accepted ({status})",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed > 0, "no corpus in {}", corpus.display());

    // Garbled and mutated bodies on every function.
    let ops = [
        "project",
        "create-collection",
        "describe-collection",
        "drop-collection",
        "upsert",
        "get",
        "list-vectors",
        "delete",
        "search",
        "put-memory",
        "get-memory",
        "delete-memory",
        "search-memory",
        "no-such-call",
    ];
    let seeds = [
        json!({"collection": "docs", "records": [{"id": "a", "values": [1.0, 0.0, 0.0], "metadata": "{}"}]}),
        json!({"collection": "docs", "request": {"vector": [1.0, 0.0, 0.0], "k": 3, "filter": null, "include_values": false, "include_metadata": true}}),
        json!({"memory": {"id": null, "session_id": "s", "role": "user", "content": "hi", "embedding": [1.0, 2.0], "metadata": "{}"}}),
        json!({"collection": "docs", "after": null, "limit": 10}),
    ];
    // `scripts/fuzz` raises the count and varies the seed.
    let calls: usize = std::env::var("ZERODB_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let seed = std::env::var("ZERODB_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let mut r = rng(seed);
    let mut checked = 0;
    for i in 0..calls {
        let op = ops[i % ops.len()];
        let mut bytes = seeds[r.gen_range(0..seeds.len())].to_string().into_bytes();
        match r.gen_range(0..4) {
            0 => {
                let cut = r.gen_range(0..bytes.len());
                bytes.truncate(cut);
            }
            1 => {
                for _ in 0..r.gen_range(1..6) {
                    let at = r.gen_range(0..bytes.len());
                    bytes[at] = r.gen();
                }
            }
            2 => {
                bytes = vec![0; r.gen_range(0..512)];
                r.fill_bytes(&mut bytes);
            }
            _ => {
                let text = String::from_utf8(bytes).unwrap();
                let swapped = ["1.0", "-1e309", "\"x\"", "null", "[]", "{}", "4294967296"][r.gen_range(0..7)];
                bytes = text.replacen("3", swapped, 1).into_bytes();
            }
        }
        if check(op, bytes) >= 400 {
            checked += 1;
        }
    }
    assert!(
        checked > calls * 2 / 3,
        "only {checked} of {calls} garbled calls were refused (seed {seed})"
    );
    assert_eq!(origin.send("GET", "/healthz", None, None).status, 200);
}

#[test]
fn spin_manifests_are_complete() {
    for manifest in ["spin.toml", "spin-p2.toml"] {
        check_spin_manifest(manifest);
    }
}

/// Parses, names only built files, and declares every variable it uses.
fn check_spin_manifest(file: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{file} does not parse: {e}"));
    assert_eq!(manifest["spin_manifest_version"].as_integer(), Some(2));
    let declared: Vec<&String> = manifest["variables"].as_table().unwrap().keys().collect();
    let components = manifest["component"].as_table().unwrap();
    let triggers = manifest["trigger"]["http"].as_array().unwrap();
    for trigger in triggers {
        let name = trigger["component"].as_str().unwrap();
        assert!(
            components.contains_key(name),
            "trigger names a missing component {name}"
        );
    }
    for (name, component) in components {
        let source = component["source"].as_str().unwrap();
        assert!(root.join(source).is_file(), "component {name}: {source} is not built");
        let hosts = component["allowed_outbound_hosts"]
            .as_array()
            .expect("outbound hosts set");
        assert!(!hosts.is_empty());
    }
    // Every `{{ variable }}` used is declared.
    let mut rest = text.as_str();
    let mut used = 0;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").expect("closed template") + start;
        let var = rest[start + 2..end].trim();
        assert!(
            declared.iter().any(|d| d.as_str() == var),
            "{{{{ {var} }}}} is not declared"
        );
        used += 1;
        rest = &rest[end + 2..];
    }
    assert!(used > 0);
}
