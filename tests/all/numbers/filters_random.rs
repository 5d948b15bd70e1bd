//! Random filters of every operator over random metadata: the edge's
//! evaluator, the compiled SQL in PostgreSQL and the server's search agree.

use super::filters::Corpus;
use crate::harness::{rng, Server, TestDb};
use rand::seq::SliceRandom;
use rand::Rng;

/// Scalars that stress `jsonb`'s rules: integers past 2^53 and i64, the
/// same number spelled differently, strings that look like numbers or
/// booleans, strings that order differently by bytes than by locale,
/// booleans, nulls.
const SCALARS: &[&str] = &[
    "2",
    "2.0",
    "2e0",
    "20e-1",
    "-2",
    "0",
    "-0",
    "0.0",
    "0.1",
    "0.10",
    "1e2",
    "100",
    "9007199254740993",
    "9007199254740992",
    "18446744073709551617",
    "18446744073709551616",
    "-9223372036854775809",
    "1.5",
    "3.4028235e38",
    "\"2\"",
    "\"true\"",
    "\"\"",
    "\"a\"",
    "\"B\"",
    "\"é\"",
    "\"e\"",
    "true",
    "false",
    "null",
];

/// A JSON value from [`SCALARS`], an array or a nested object.
fn random_value(rng: &mut impl Rng, depth: u32) -> String {
    match rng.gen_range(0..10) {
        0 if depth < 2 => format!("[{}, {}]", random_value(rng, depth + 1), random_value(rng, depth + 1)),
        1 | 2 if depth < 2 => format!("{{\"x\": {}}}", random_value(rng, depth + 1)),
        _ => SCALARS.choose(rng).unwrap().to_string(),
    }
}

fn scalar(rng: &mut impl Rng) -> &'static str {
    SCALARS.choose(rng).unwrap()
}

/// A bound for a range: a number or a string.
fn bound(rng: &mut impl Rng) -> &'static str {
    loop {
        let s = scalar(rng);
        if !matches!(s, "true" | "false" | "null") {
            return s;
        }
    }
}

/// Paths into the documents' keys, their nested objects and arrays (the
/// top-level keys, present in most documents, more often).
const PATHS: &[&str] = &[
    "a", "b", "c", "a", "b", "c", "a", "b", "c", "a.x", "b.0", "c.-1", "a.x.x", "b.1.x", "b.-2", "c.x",
];

/// `count` distinct paths.
fn paths(rng: &mut impl Rng, count: usize) -> Vec<&'static str> {
    let mut chosen: Vec<&str> = Vec::new();
    while chosen.len() < count {
        let path = *PATHS.choose(rng).unwrap();
        if !chosen.contains(&path) {
            chosen.push(path);
        }
    }
    chosen
}
const OPS: &[&str] = &["$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte", "$exists"];

/// What a key of a filter asks: a scalar (equality) or 1 or 2 operators.
fn random_condition(rng: &mut impl Rng) -> String {
    if rng.gen_bool(0.25) {
        return scalar(rng).to_string();
    }
    let count = if rng.gen_bool(0.75) { 1 } else { 2 };
    let ops: Vec<String> = OPS
        .choose_multiple(rng, count)
        .map(|op| {
            let operand = match *op {
                "$eq" | "$ne" => scalar(rng).to_string(),
                "$in" | "$nin" => {
                    let n = rng.gen_range(0..=3);
                    format!("[{}]", (0..n).map(|_| scalar(rng)).collect::<Vec<_>>().join(", "))
                }
                "$exists" => rng.gen_bool(0.5).to_string(),
                _ => bound(rng).to_string(),
            };
            format!("\"{op}\": {operand}")
        })
        .collect();
    format!("{{{}}}", ops.join(", "))
}

/// A filter of 1 or 2 distinct paths, and sometimes `$and` / `$or`; or
/// only an `$or`.
fn random_filter(rng: &mut impl Rng, depth: u32) -> String {
    if depth < 2 && rng.gen_bool(0.2) {
        let n = rng.gen_range(2..=3);
        let filters: Vec<String> = (0..n).map(|_| random_filter(rng, depth + 1)).collect();
        return format!("{{\"$or\": [{}]}}", filters.join(", "));
    }
    let count = if rng.gen_bool(0.6) { 1 } else { 2 };
    let mut entries: Vec<String> = paths(rng, count)
        .into_iter()
        .map(|path| format!("\"{path}\": {}", random_condition(rng)))
        .collect();
    for combinator in ["$and", "$or"] {
        if depth < 2 && rng.gen_bool(0.25) {
            let n = rng.gen_range(1..=3);
            let filters: Vec<String> = (0..n).map(|_| random_filter(rng, depth + 1)).collect();
            entries.push(format!("\"{combinator}\": [{}]", filters.join(", ")));
        }
    }
    entries.shuffle(rng);
    format!("{{{}}}", entries.join(", "))
}

/// The edge's filter evaluation against PostgreSQL itself: random metadata
/// documents and random filters of every operator, on the filter code, on
/// the compiled SQL and through the server (the hot copy's answer at the
/// first request, and the database's).
#[test]
fn edge_filters_agree_with_postgres_on_random_filters() {
    let db = TestDb::new("numbers_filter");
    let key = db.key("numbers");
    let server = Server::start(&db.url);
    let mut rng = rng(21);
    let docs: Vec<String> = (0..200)
        .map(|_| {
            let mut fields = Vec::new();
            for k in ["a", "b", "c"] {
                if rng.gen_bool(0.7) {
                    fields.push(format!("\"{k}\": {}", random_value(&mut rng, 0)));
                }
            }
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    let mut corpus = Corpus::load(&db, &server, &key, "filtered", &docs);
    let (mut cases, mut matched, mut none, mut by_hot_copy) = (0, 0, 0, 0);
    for _ in 0..300 {
        let filter = random_filter(&mut rng, 0);
        let (found, first) = corpus.check(&filter);
        by_hot_copy += usize::from(first);
        cases += 1;
        matched += usize::from(!found.is_empty() && found.len() < docs.len());
        none += usize::from(found.is_empty());
    }
    eprintln!(
        "filters: {cases} random filters over {} documents agree with PostgreSQL; {matched} matched some but not all, \
         {none} none; {by_hot_copy} answered by the hot copy at the first request",
        docs.len()
    );
    assert!(matched >= 120, "too few filters told documents apart: {matched}");
    assert!(
        by_hot_copy >= cases / 2,
        "the hot copy answered only {by_hot_copy} filters"
    );
}
