//! The filter language three ways, which must agree: the edge's evaluator
//! (`Filter::matches`) on each document, PostgreSQL running the SQL the
//! origin compiles the filter to, and the real server's search (the
//! database's answer, `strong`, and the edge's, from a hot copy or cache).

use super::{both_ways, both_ways_first, create, send, upsert};
use crate::harness::{Server, TestDb};
use edge_core::filter::Filter;
use serde_json::{json, Map, Value};

/// The origin's compiler itself, to run its SQL directly.
use edge_core::filter::sql as compile;

/// Documents as metadata in collection `name` (vector `i` is `[i, 1]`, id
/// `dNNN`) and in a plain table of the same name, `(i, metadata)`.
pub(super) struct Corpus<'a> {
    server: &'a Server,
    key: &'a str,
    name: &'a str,
    client: postgres::Client,
    docs: Vec<Map<String, Value>>,
}

impl<'a> Corpus<'a> {
    pub(super) fn load(db: &TestDb, server: &'a Server, key: &'a str, name: &'a str, docs: &[String]) -> Corpus<'a> {
        create(server, key, name, json!({"dims": 2, "metric": "l2", "index": "none"}));
        let records: Vec<String> = docs
            .iter()
            .enumerate()
            .map(|(i, doc)| format!(r#"{{"id":"d{i:03}","values":[{i},1],"metadata":{doc}}}"#))
            .collect();
        upsert(server, key, name, &format!(r#"{{"vectors":[{}]}}"#, records.join(","))).ok();
        let mut client = db.client();
        client
            .batch_execute(&format!(
                "CREATE TABLE {name} (i int PRIMARY KEY, metadata jsonb NOT NULL)"
            ))
            .unwrap();
        for (i, doc) in docs.iter().enumerate() {
            client
                .execute(
                    &format!("INSERT INTO {name} VALUES ($1, $2::text::jsonb)"),
                    &[&(i as i32), doc],
                )
                .unwrap();
        }
        Corpus {
            server,
            key,
            name,
            client,
            docs: docs.iter().map(|d| serde_json::from_str(d).unwrap()).collect(),
        }
    }

    /// The documents PostgreSQL finds with the compiled SQL.
    fn postgres(&mut self, filter: &Filter) -> Vec<usize> {
        let compiled = compile::compile(filter, 1);
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = compiled
            .params
            .iter()
            .map(|p| -> &(dyn postgres::types::ToSql + Sync) {
                match p {
                    compile::Param::Jsonb(v) => v,
                    compile::Param::Path(path) => path,
                    compile::Param::JsonbList(values) => values,
                    compile::Param::Text(text) => text,
                }
            })
            .collect();
        let sql = format!("SELECT i FROM {} WHERE {} ORDER BY i", self.name, compiled.sql);
        let rows = self
            .client
            .query(&sql, &params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.iter().map(|r| r.get::<_, i32>(0) as usize).collect()
    }

    /// Checks the three ways on `filter` (JSON text): the documents it
    /// matches, and whether the edge answered the first eventual request.
    pub(super) fn check(&mut self, filter: &str) -> (Vec<usize>, bool) {
        let parsed = Filter::parse(filter).unwrap_or_else(|| panic!("{filter} does not parse"));
        let edge: Vec<usize> = (0..self.docs.len())
            .filter(|&i| parsed.matches(&self.docs[i]))
            .collect();
        let postgres = self.postgres(&parsed);
        assert_eq!(edge, postgres, "the edge and the compiled SQL disagree on {filter}");
        let body = format!(r#"{{"vector":[0,1],"k":{},"filter":{filter}}}"#, self.docs.len());
        let (answer, first) = both_ways_first(self.server, self.key, self.name, &body);
        let mut served: Vec<usize> = answer["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap()[1..].parse().unwrap())
            .collect();
        served.sort();
        assert_eq!(served, postgres, "the server and the compiled SQL disagree on {filter}");
        (postgres, first)
    }
}

/// Documents that tell the operators apart: numbers spelled differently,
/// past 2^53 and 2^64, strings that look like numbers, non-ASCII strings,
/// nulls, booleans, nested objects and arrays, a key with a dot.
const DOCS: &[&str] = &[
    r#"{"n": 2, "s": "2", "b": true, "tag": "a"}"#,
    r#"{"n": 2.0, "s": "two", "b": false, "tag": "b"}"#,
    r#"{"n": "2", "tag": null}"#,
    r#"{"n": 9007199254740993, "big": 18446744073709551617}"#,
    r#"{"n": 9007199254740992, "big": 18446744073709551616}"#,
    r#"{"n": -1.5, "s": "é", "tag": "ä"}"#,
    r#"{"n": null, "s": "Z"}"#,
    r#"{"n": [2], "s": ["a"]}"#,
    r#"{"n": {"x": 2}, "a": {"b": {"c": 1}}}"#,
    r#"{"a": {"b": {"c": 2.0}}, "tags": ["x", "y"]}"#,
    r#"{"a": {"b": [10, 20, {"c": 3}]}}"#,
    r#"{"a": [{"b": 1}, {"b": 2}]}"#,
    r#"{"a": {"b": null}}"#,
    r#"{"a": {"b": "1"}}"#,
    r#"{}"#,
    r#"{"s": "", "n": 0}"#,
    r#"{"s": "a", "n": -0.0}"#,
    r#"{"s": "aa", "n": 1e2, "b": "true"}"#,
    r#"{"s": "日本", "n": 100, "emoji": "🙂"}"#,
    r#"{"big": -9223372036854775809, "n": 1e-7}"#,
    r#"{"a": {"0": "zero", "b": {"c": "x"}}, "list": [1, [2, 3], {"k": "v"}]}"#,
    r#"{"a.b": 1, "tag": "A"}"#,
];

/// Filters over [`DOCS`], each with the documents it must match where the
/// rule is worth spelling out (the rest are checked three ways only).
const FILTERS: &[(&str, Option<&[usize]>)] = &[
    ("{}", None),
    // Equality: by type, numbers exact.
    (r#"{"n": 2}"#, Some(&[0, 1])),
    (r#"{"n": 2.0}"#, Some(&[0, 1])),
    (r#"{"n": "2"}"#, Some(&[2])),
    (r#"{"n": null}"#, Some(&[6])),
    (r#"{"tag": null}"#, Some(&[2])),
    (r#"{"b": true}"#, Some(&[0])),
    (r#"{"b": "true"}"#, Some(&[17])),
    (r#"{"big": 18446744073709551617}"#, Some(&[3])),
    (r#"{"n": 9007199254740993}"#, Some(&[3])),
    (r#"{"n": 0}"#, Some(&[15, 16])),
    (r#"{"s": "日本"}"#, Some(&[18])),
    (r#"{"n": {"$eq": 2e0}}"#, Some(&[0, 1])),
    // Dotted keys: object keys, array indexes (negative from the end).
    (r#"{"a.b.c": 1}"#, Some(&[8])),
    (r#"{"a.b.c": 2}"#, Some(&[9])),
    (r#"{"a.b": null}"#, Some(&[12])),
    (r#"{"a.b.0": 10}"#, Some(&[10])),
    (r#"{"a.b.-1.c": 3}"#, Some(&[10])),
    (r#"{"a.1.b": 2}"#, Some(&[11])),
    (r#"{"a.-2.b": 1}"#, Some(&[11])),
    (r#"{"list.1.0": 2}"#, Some(&[20])),
    (r#"{"list.-1.k": "v"}"#, Some(&[20])),
    (r#"{"a.0": "zero"}"#, Some(&[20])),
    (r#"{"a.b": 1}"#, Some(&[])),
    (r#"{"a.b.c": 1, "n.x": 2}"#, Some(&[8])),
    // $ne / $nin match an absent key.
    (r#"{"n": {"$ne": 2}}"#, None),
    (r#"{"tag": {"$ne": null}}"#, None),
    (r#"{"a.b.c": {"$ne": 1}}"#, None),
    (r#"{"n": {"$in": [2, "2", null]}}"#, Some(&[0, 1, 2, 6])),
    (r#"{"s": {"$in": ["é", "Z", "日本"]}}"#, Some(&[5, 6, 18])),
    (r#"{"n": {"$in": []}}"#, Some(&[])),
    (r#"{"n": {"$nin": [2, 100]}}"#, None),
    (r#"{"tag": {"$nin": ["a", "b"]}}"#, None),
    (r#"{"x": {"$nin": []}}"#, None),
    // Ranges: numbers with numbers, strings with strings in byte order.
    (r#"{"n": {"$gt": 2}}"#, Some(&[3, 4, 17, 18])),
    (r#"{"n": {"$gte": 2}}"#, Some(&[0, 1, 3, 4, 17, 18])),
    (r#"{"n": {"$lt": 0}}"#, Some(&[5])),
    (r#"{"n": {"$lte": 0}}"#, Some(&[5, 15, 16])),
    (r#"{"n": {"$gt": -1, "$lt": 100}}"#, Some(&[0, 1, 15, 16, 19])),
    (r#"{"n": {"$gt": 9007199254740992}}"#, Some(&[3])),
    (r#"{"big": {"$gt": 18446744073709551616}}"#, Some(&[3])),
    (r#"{"big": {"$lt": 0}}"#, Some(&[19])),
    (r#"{"n": {"$gt": "1"}}"#, Some(&[2])),
    (r#"{"s": {"$gt": "a"}}"#, Some(&[1, 5, 17, 18])),
    (r#"{"s": {"$gte": "Z", "$lt": "a"}}"#, Some(&[6])),
    (r#"{"s": {"$gt": "z"}}"#, Some(&[5, 18])),
    (r#"{"s": {"$lt": "é"}}"#, None),
    (r#"{"tag": {"$gte": "A", "$lte": "a"}}"#, Some(&[0, 21])),
    (r#"{"emoji": {"$gt": "日本"}}"#, Some(&[18])),
    (r#"{"a.b.c": {"$gte": 1}}"#, Some(&[8, 9])),
    (r#"{"a.b.-1.c": {"$lt": 4}}"#, Some(&[10])),
    // $exists: a JSON null is present.
    (r#"{"tag": {"$exists": true}}"#, Some(&[0, 1, 2, 5, 21])),
    (r#"{"tag": {"$exists": false}}"#, None),
    (r#"{"a.b": {"$exists": true}}"#, Some(&[8, 9, 10, 12, 13, 20])),
    (r#"{"a.b.c": {"$exists": false}}"#, None),
    (r#"{"n": {"$exists": true, "$ne": null}}"#, None),
    // Combinators.
    (r#"{"$or": [{"n": 2}, {"s": "Z"}]}"#, Some(&[0, 1, 6])),
    (
        r#"{"$and": [{"n": {"$gte": 0}}, {"n": {"$lt": 3}}]}"#,
        Some(&[0, 1, 15, 16, 19]),
    ),
    (
        r#"{"tag": {"$exists": true}, "$or": [{"b": true}, {"n": {"$lt": 0}}]}"#,
        Some(&[0, 5]),
    ),
    (
        r#"{"$or": [{"$and": [{"a.b.c": 1}, {"n.x": 2}]}, {"big": {"$gt": 0}}]}"#,
        Some(&[3, 4, 8]),
    ),
    (
        r#"{"$or": [{"a.b": {"$exists": false}}, {"a.b.c": {"$in": [2, 3]}}]}"#,
        None,
    ),
    (
        r#"{"a.b.c": 1, "$and": [{"a.b": {"$exists": true}}], "$or": [{"n.x": 2}]}"#,
        Some(&[8]),
    ),
];

/// A table of filters, each operator and combinator, through the edge's
/// evaluator, the compiled SQL and the server.
#[test]
fn edge_filters_agree_with_postgres_on_each_operator() {
    let db = TestDb::new("numbers_filter_table");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    let docs: Vec<String> = DOCS.iter().map(|d| d.to_string()).collect();
    let mut corpus = Corpus::load(&db, &server, &key, "table_filters", &docs);
    for (filter, want) in FILTERS {
        let (got, _) = corpus.check(filter);
        if let Some(want) = want {
            assert_eq!(&got, want, "{filter}");
        }
    }
    // A filter the language refuses is a 422 naming the problem.
    for (filter, says) in [
        (r#"{"a": {"$regex": "x"}}"#, "\"$regex\""),
        (r#"{"$nor": [{"a": 1}]}"#, "\"$nor\""),
        (r#"{"a": {"$gt": true}}"#, "number or a string"),
        (r#"{"a": {"$in": [[1]]}}"#, "scalar"),
    ] {
        let reply = send(
            &server,
            "POST",
            "/v1/collections/table_filters/search",
            &key,
            &format!(r#"{{"vector":[0,1],"filter":{filter}}}"#),
        );
        super::assert_refused(&reply, "invalid_filter", says);
    }
}

/// A filtered search where few rows match still answers k hits (when at
/// least k match). A filter PostgreSQL expects to be selective runs on the
/// GIN index or a scan, exactly; one it expects to match most rows (`$ne`,
/// `$nin`) walks the HNSW index, where pgvector's iterative scan goes on past
/// the first `ef_search` candidates until k rows pass the filter.
#[test]
fn a_selective_filter_still_finds_k() {
    let db = TestDb::new("numbers_filter_scan");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    let dims = 8;
    create(
        &server,
        &key,
        "scan",
        json!({"dims": dims, "metric": "l2", "index": "hnsw"}),
    );
    let mut rng = crate::harness::rng(5);
    let mut random_vector = || -> Vec<f32> { (0..dims).map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0)).collect() };
    let n = 3000;
    for batch in 0..n / 1000 {
        let records: Vec<Value> = (batch * 1000..(batch + 1) * 1000)
            .map(|i| {
                json!({"id": format!("v{i}"), "values": random_vector(),
                       "metadata": {"i": i, "rare": i % 150 == 0, "group": i % 100}})
            })
            .collect();
        server
            .call(
                "PUT",
                "/v1/collections/scan/vectors",
                &key,
                Some(&json!({ "vectors": records })),
            )
            .ok();
    }
    let k = 10;
    let rare = |m: &Value| m["rare"] == json!(true);
    let last_group = |m: &Value| m["group"].as_u64() == Some(99);
    // 20, 20, 30, 30, 20 and 21 rows of 3000 match.
    type Holds<'a> = &'a dyn Fn(&Value) -> bool;
    let cases: [(Value, Holds); 6] = [
        (json!({"rare": {"$ne": false}}), &rare),
        (json!({"rare": true}), &rare),
        (json!({"group": {"$nin": (0..99).collect::<Vec<_>>()}}), &last_group),
        (json!({"group": {"$gte": 99}}), &last_group),
        (
            json!({"i": {"$in": (0..20).map(|j| j * 149).collect::<Vec<_>>()}}),
            &|m: &Value| m["i"].as_u64().is_some_and(|i| i % 149 == 0 && i < 20 * 149),
        ),
        (json!({"$or": [{"rare": true}, {"i": 1}]}), &|m: &Value| {
            m["rare"] == json!(true) || m["i"] == json!(1)
        }),
    ];
    for (filter, holds) in cases {
        let query = random_vector();
        let body = json!({"vector": query, "k": k, "filter": filter}).to_string();
        let answer = both_ways(&server, &key, "scan", &body);
        let hits = answer["hits"].as_array().unwrap();
        assert_eq!(hits.len(), k, "{filter}: {answer}");
        for hit in hits {
            assert!(holds(&hit["metadata"]), "{filter} does not hold for {hit}");
        }
    }
    // Without the iterative scan, the `$ne` search comes back short: the
    // search above did need it.
    let mut client = db.client();
    let id: i64 = client
        .query_one("SELECT id FROM zerodb.collections WHERE name = 'scan'", &[])
        .unwrap()
        .get(0);
    let compiled = compile::compile(&Filter::parse(r#"{"rare": {"$ne": false}}"#).unwrap(), 2);
    let [compile::Param::Path(path), compile::Param::Jsonb(value)] = &compiled.params[..] else {
        panic!("{compiled:?}")
    };
    let mut tx = client.transaction().unwrap();
    tx.batch_execute("SET LOCAL hnsw.ef_search = 40; SET LOCAL hnsw.iterative_scan = off")
        .unwrap();
    let query = format!("{:?}", random_vector());
    let short = tx
        .query(
            &format!(
                "SELECT id FROM zerodb_data.c{id} WHERE {} ORDER BY embedding <-> $1::text::vector LIMIT 10",
                compiled.sql
            ),
            &[&query, path, value],
        )
        .unwrap()
        .len();
    assert!(short < k, "without the iterative scan {short} rows came back");
}
