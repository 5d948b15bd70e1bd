//! A parsed filter ([`edge_core::filter`]) compiled to a condition over a
//! collection's `metadata jsonb` column, for the search's `WHERE`: SQL text
//! with numbered parameters, and the parameters' values. No filter text is
//! ever part of the SQL; every key, path and value is a parameter.
//!
//! Each condition reads the value at its path with `metadata #> $p::text[]`
//! (SQL `NULL` when absent; a JSON `null` is the `jsonb` value `null`):
//! - equality where `@>` means the same (see [`contained`]) is
//!   `metadata @> $n` (one `jsonb` document for all of them in one AND), so
//!   the collection's GIN index serves it; otherwise `v = $n::jsonb`;
//! - `$ne` is `v IS DISTINCT FROM $n::jsonb` (an absent key matches);
//! - `$in` is `v = ANY($n::jsonb[])`, `$nin` its negation, absent matching;
//! - a range on a number is `jsonb_typeof(v) = 'number' AND v < $n::jsonb`
//!   (`jsonb` orders two numbers as `numeric`); on a string it compares the
//!   string's text, `metadata #>> $p COLLATE "C"`, so in byte order;
//! - `$exists` of a top-level key is `metadata ? $n` (GIN-served), of a
//!   path `v IS [NOT] NULL`.
//!
//! It lives beside the evaluator, not in the host, so that the two forms of
//! one filter can be compared: the end-to-end tests run this SQL against
//! PostgreSQL and the evaluator over the same documents.

use super::{array_index, Bound, Condition, Filter, Node, Op, Scalar};
use serde_json::{Map, Value};

/// The SQL of the commonest filters, equalities only: one containment.
pub const CONTAINMENT: &str = "metadata @> $3";

/// A parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A `jsonb` value.
    Jsonb(Value),
    /// A `text[]`: a path.
    Path(Vec<String>),
    /// A `jsonb[]`: `$in` / `$nin`'s values.
    JsonbList(Vec<Value>),
    /// A `text`: a key, or a string bound.
    Text(String),
}

/// A compiled filter: a boolean SQL expression over `metadata`, and the
/// values of its parameters, numbered from the `first` given to [`compile`].
#[derive(Clone, Debug, PartialEq)]
pub struct Where {
    /// The condition, e.g. `metadata @> $3`.
    pub sql: String,
    /// The values of `$first`, `$first + 1`, ….
    pub params: Vec<Param>,
}

/// Compiles `filter`, numbering its parameters `$first`, `$first + 1`, ….
pub fn compile(filter: &Filter, first: usize) -> Where {
    let mut out = Compiler {
        first,
        params: Vec::new(),
    };
    let sql = out.node(&filter.0);
    Where {
        sql,
        params: out.params,
    }
}

struct Compiler {
    first: usize,
    params: Vec<Param>,
}

impl Compiler {
    /// Adds a parameter; its placeholder number.
    fn param(&mut self, value: Param) -> usize {
        self.params.push(value);
        self.first + self.params.len() - 1
    }

    fn node(&mut self, node: &Node) -> String {
        match node {
            Node::And(all) => {
                let mut conditions = Vec::new();
                flatten(all, &mut conditions);
                // Equalities `@>` can answer, merged into as few documents
                // as do not conflict; the rest one by one, in order.
                let mut documents: Vec<Map<String, Value>> = Vec::new();
                let mut others = Vec::new();
                for node in conditions {
                    match node {
                        Node::Condition(Condition { path, op: Op::Eq(s) }) if contained(path) => {
                            if !documents.iter_mut().any(|d| merge(d, path, s)) {
                                let mut d = Map::new();
                                merge(&mut d, path, s);
                                documents.push(d);
                            }
                        }
                        _ => others.push(node),
                    }
                }
                let mut parts: Vec<String> = documents
                    .into_iter()
                    .map(|d| format!("metadata @> ${}", self.param(Param::Jsonb(Value::Object(d)))))
                    .collect();
                parts.extend(others.into_iter().map(|n| self.node(n)));
                match parts.len() {
                    0 => "true".to_string(),
                    1 => parts.pop().unwrap_or_default(),
                    _ => format!("({})", parts.join(" AND ")),
                }
            }
            Node::Or(any) => {
                let parts: Vec<String> = any.iter().map(|n| self.node(n)).collect();
                format!("({})", parts.join(" OR "))
            }
            Node::Condition(c) => self.condition(c),
        }
    }

    fn condition(&mut self, Condition { path, op }: &Condition) -> String {
        if let (Op::Exists(present), [key]) = (op, path.as_slice()) {
            let n = self.param(Param::Text(key.clone()));
            let not = if *present { "" } else { "NOT " };
            return format!("{not}(metadata ? ${n}::text)");
        }
        let p = self.param(Param::Path(path.clone()));
        let v = format!("(metadata #> ${p}::text[])");
        match op {
            Op::Eq(s) => format!("{v} = ${}::jsonb", self.param(Param::Jsonb(s.to_json()))),
            Op::Ne(s) => format!("{v} IS DISTINCT FROM ${}::jsonb", self.param(Param::Jsonb(s.to_json()))),
            Op::In(list) => format!("COALESCE({v} = ANY(${}::jsonb[]), false)", self.list(list)),
            Op::Nin(list) => format!("NOT COALESCE({v} = ANY(${}::jsonb[]), false)", self.list(list)),
            Op::Range(range, Bound::Number(n)) => {
                let n = self.param(Param::Jsonb(Value::Number(n.json.clone())));
                format!("(jsonb_typeof({v}) = 'number' AND {v} {} ${n}::jsonb)", range.sql())
            }
            Op::Range(range, Bound::String(s)) => {
                let t = self.param(Param::Text(s.clone()));
                format!(
                    "(jsonb_typeof({v}) = 'string' AND (metadata #>> ${p}::text[]) COLLATE \"C\" {} ${t}::text)",
                    range.sql()
                )
            }
            Op::Exists(true) => format!("{v} IS NOT NULL"),
            Op::Exists(false) => format!("{v} IS NULL"),
        }
    }

    fn list(&mut self, list: &[Scalar]) -> usize {
        self.param(Param::JsonbList(list.iter().map(Scalar::to_json).collect()))
    }
}

/// The conditions of an AND, with the ANDs within it spliced in.
fn flatten<'a>(all: &'a [Node], out: &mut Vec<&'a Node>) {
    for node in all {
        match node {
            Node::And(inner) => flatten(inner, out),
            _ => out.push(node),
        }
    }
}

/// Whether `metadata @> {"a": {"b": v}}` means the same as
/// `metadata #> '{a,b}' = v`: yes unless a path element past the first
/// reads as an array index (`#>` then indexes an array where `@>` would
/// find no object). Equality with a scalar is `@>`'s rule for a scalar
/// nested in an object (no array-contains-scalar exception below the top).
fn contained(path: &[String]) -> bool {
    path.iter()
        .skip(1)
        .all(|element| array_index(element, usize::MAX).is_none())
}

/// Puts `path: scalar` into the containment document `d`; false (and `d`
/// unchanged) when it would clash with what `d` already asks.
fn merge(d: &mut Map<String, Value>, path: &[String], scalar: &Scalar) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    if !fits(d, parents, last) {
        return false;
    }
    let mut at = d;
    for key in parents {
        at = at
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("fits checked that every present parent is an object");
    }
    at.insert(last.clone(), scalar.to_json());
    true
}

/// Whether `d` has room for `parents.last`: every parent present in it is
/// an object, and the last key is not there yet.
fn fits(d: &Map<String, Value>, parents: &[String], last: &str) -> bool {
    let mut at = d;
    for key in parents {
        match at.get(key) {
            None => return true,
            Some(Value::Object(inner)) => at = inner,
            Some(_) => return false,
        }
    }
    !at.contains_key(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(text: &str) -> Where {
        compile(&Filter::parse(text).unwrap(), 3)
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn path(p: &[&str]) -> Param {
        Param::Path(p.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn equalities_stay_containment() {
        assert_eq!(
            compiled(r#"{"tag": "a", "n": 2.0}"#),
            Where {
                sql: "metadata @> $3".into(),
                params: vec![Param::Jsonb(json(r#"{"n": 2.0, "tag": "a"}"#))],
            }
        );
        // Nested ANDs, `$eq` and dotted keys merge into one document.
        assert_eq!(
            compiled(r#"{"a.b": 1, "$and": [{"a.c": {"$eq": "x"}}, {"d": null}]}"#),
            Where {
                sql: "metadata @> $3".into(),
                params: vec![Param::Jsonb(json(r#"{"a": {"b": 1, "c": "x"}, "d": null}"#))],
            }
        );
        // A clash takes a second document.
        assert_eq!(
            compiled(r#"{"a": 1, "$and": [{"a.b": 2}]}"#).sql,
            "(metadata @> $3 AND metadata @> $4)"
        );
        assert_eq!(compiled("{}").sql, "true");
        // An element that reads as an array index is `#>`'s, not `@>`'s.
        assert_eq!(
            compiled(r#"{"a.0": 5}"#),
            Where {
                sql: "(metadata #> $3::text[]) = $4::jsonb".into(),
                params: vec![path(&["a", "0"]), Param::Jsonb(json("5"))],
            }
        );
    }

    #[test]
    fn operators_are_parameterised() {
        let w = compiled(
            r#"{"n": {"$gte": 1, "$lt": "x"}, "$or": [{"s": {"$ne": "'; drop table t; --"}}, {"t": {"$in": [1, "a"]}}, {"u.v": {"$nin": []}}], "e": {"$exists": false}, "f.g": {"$exists": true}}"#,
        );
        assert_eq!(
            w.sql,
            "(((metadata #> $3::text[]) IS DISTINCT FROM $4::jsonb \
             OR COALESCE((metadata #> $5::text[]) = ANY($6::jsonb[]), false) \
             OR NOT COALESCE((metadata #> $7::text[]) = ANY($8::jsonb[]), false)) \
             AND NOT (metadata ? $9::text) AND (metadata #> $10::text[]) IS NOT NULL \
             AND (jsonb_typeof((metadata #> $11::text[])) = 'number' AND (metadata #> $11::text[]) >= $12::jsonb) \
             AND (jsonb_typeof((metadata #> $13::text[])) = 'string' \
             AND (metadata #>> $13::text[]) COLLATE \"C\" < $14::text))"
        );
        assert_eq!(
            w.params,
            vec![
                path(&["s"]),
                Param::Jsonb(json(r#""'; drop table t; --""#)),
                path(&["t"]),
                Param::JsonbList(vec![json("1"), json(r#""a""#)]),
                path(&["u", "v"]),
                Param::JsonbList(vec![]),
                Param::Text("e".into()),
                path(&["f", "g"]),
                path(&["n"]),
                Param::Jsonb(json("1")),
                path(&["n"]),
                Param::Text("x".into()),
            ]
        );
    }
}
