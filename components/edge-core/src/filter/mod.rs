//! Metadata filters: the language (see the README's filter table), its
//! parser, and its evaluation at the edge, which gives PostgreSQL's answer
//! for the SQL the origin compiles the same filter to ([`sql`]).
//!
//! A filter is a JSON object. Each key is a metadata path (`"a.b.c"` reads
//! as PostgreSQL's `metadata #> '{a,b,c}'`: object keys, or array indexes
//! where the value there is an array) and its value is either a scalar
//! (equality) or an object of operators (`$eq`, `$ne`, `$in`, `$nin`,
//! `$lt`, `$lte`, `$gt`, `$gte`, `$exists`), all of which must hold. The keys
//! `$and` and `$or` take non-empty arrays of filters. Everything at one
//! level is ANDed.
//!
//! The rules are `jsonb`'s own:
//! - equality is by type first (`"2"` is not `2`, `true` is not `"true"`,
//!   `null` equals only a present `null`, an array or object never equals a
//!   scalar) and then by value, numbers as exact decimals (`2` equals `2.0`;
//!   `18446744073709551617` does not equal `18446744073709551616`);
//! - `$ne` and `$nin` are the negations of `$eq` and `$in`: they match an
//!   absent key;
//! - the range operators match only a value of the bound's type: numbers in
//!   numeric order, strings in byte order (PostgreSQL's `COLLATE "C"`; for
//!   UTF-8 that is code point order);
//! - `$exists: true` matches a present key, whatever its value (`null`
//!   included).
//!
//! Numbers are compared by their JSON text (serde_json's
//! `arbitrary_precision` keeps it), never through a float.

mod decimal;
mod parse;
pub mod sql;
#[cfg(test)]
mod tests;

pub use decimal::{fits_numeric, Decimal};
pub use parse::MAX_DEPTH;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A JSON number of a filter: its exact value, and its JSON form (digits as
/// written) for the SQL parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// Its exact value.
    pub decimal: Decimal,
    /// As written.
    pub json: serde_json::Number,
}

/// A scalar an operator compares with: `$eq`, `$ne`, `$in`, `$nin`.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
}

impl Scalar {
    /// Its JSON value (numbers as written).
    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Number(n) => Value::Number(n.json.clone()),
            Scalar::String(s) => Value::String(s.clone()),
        }
    }

    /// `jsonb` equality of `value` with this scalar.
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Null, Value::Null) => true,
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::String(a), Value::String(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => decimal_of(b).as_ref() == Some(&a.decimal),
            _ => false,
        }
    }
}

/// The bound of a range operator: a number or a string.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// Matches numbers, in numeric order.
    Number(Number),
    /// Matches strings, in byte order.
    String(String),
}

/// A range operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
}

impl Range {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Range::Lt => "<",
            Range::Lte => "<=",
            Range::Gt => ">",
            Range::Gte => ">=",
        }
    }

    /// Whether `value <op> bound` holds, given `value.cmp(bound)`.
    fn holds(self, order: Ordering) -> bool {
        match self {
            Range::Lt => order.is_lt(),
            Range::Lte => order.is_le(),
            Range::Gt => order.is_gt(),
            Range::Gte => order.is_ge(),
        }
    }
}

/// What one condition asks of the value at its path.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `$eq` (and `{key: scalar}`): present and equal.
    Eq(Scalar),
    /// `$ne`, not `Eq`: an absent key matches.
    Ne(Scalar),
    /// `$in`: present and equal to one of them (none: never).
    In(Vec<Scalar>),
    /// `$nin`, not `In`: an absent key matches.
    Nin(Vec<Scalar>),
    /// `$lt`, `$lte`, `$gt`, `$gte`: present, of the bound's type, and in range.
    Range(Range, Bound),
    /// `$exists`: present (a JSON `null` is present), or not.
    Exists(bool),
}

/// One operator applied to the value at a metadata path.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The path's elements: the filter's key split at each `.`.
    pub path: Vec<String>,
    /// What it asks of the value there.
    pub op: Op,
}

impl Condition {
    fn matches(&self, metadata: &Map<String, Value>) -> bool {
        let value = lookup(metadata, &self.path);
        match &self.op {
            Op::Eq(s) => value.is_some_and(|v| s.equals(v)),
            Op::Ne(s) => !value.is_some_and(|v| s.equals(v)),
            Op::In(list) => value.is_some_and(|v| list.iter().any(|s| s.equals(v))),
            Op::Nin(list) => !value.is_some_and(|v| list.iter().any(|s| s.equals(v))),
            Op::Range(range, bound) => match (bound, value) {
                (Bound::Number(n), Some(Value::Number(v))) => {
                    decimal_of(v).is_some_and(|v| range.holds(v.cmp(&n.decimal)))
                }
                (Bound::String(s), Some(Value::String(v))) => range.holds(v.as_bytes().cmp(s.as_bytes())),
                _ => false,
            },
            Op::Exists(present) => value.is_some() == *present,
        }
    }
}

/// A filter, or a part of one.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// All hold (none: true).
    And(Vec<Node>),
    /// At least one holds (never empty).
    Or(Vec<Node>),
    /// One operator at one path.
    Condition(Condition),
}

impl Node {
    fn matches(&self, metadata: &Map<String, Value>) -> bool {
        match self {
            Node::And(all) => all.iter().all(|n| n.matches(metadata)),
            Node::Or(any) => any.iter().any(|n| n.matches(metadata)),
            Node::Condition(c) => c.matches(metadata),
        }
    }
}

/// A parsed filter: its root, an [`Node::And`] of the object's entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter(pub Node);

impl Filter {
    /// Parses a filter's JSON text, as [`crate::validate::filter`] accepts
    /// it; none for anything else.
    pub fn parse(text: &str) -> Option<Filter> {
        Filter::from_value(&serde_json::from_str(text).ok()?).ok()
    }

    /// Parses a filter; the error says what is wrong with it. (Sizes, NUL
    /// and numbers `jsonb` cannot store are [`crate::validate::filter`]'s.)
    pub fn from_value(value: &Value) -> Result<Filter, String> {
        parse::filter(value).map(Filter)
    }

    /// Whether the metadata matches, as PostgreSQL answers the compiled SQL.
    pub fn matches(&self, metadata: &Map<String, Value>) -> bool {
        self.0.matches(metadata)
    }
}

fn decimal_of(n: &serde_json::Number) -> Option<Decimal> {
    Decimal::parse(&n.to_string())
}

/// The value at `path`, as PostgreSQL's `metadata #> path` finds it: each
/// element is a key of an object, or an index of an array (see
/// [`array_index`]); a scalar on the way, a missing key or an index out of
/// range finds nothing.
pub fn lookup<'a>(metadata: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = metadata.get(first)?;
    for element in rest {
        value = match value {
            Value::Object(map) => map.get(element)?,
            Value::Array(items) => items.get(array_index(element, items.len())?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The array index PostgreSQL's `#>` reads from a path element: `strtol`
/// (leading C-locale white space, an optional sign, decimal digits and
/// nothing after them) into a 32-bit int; a negative index counts from the
/// end (`-1` is the last); `INT_MIN`, an index out of range or anything else
/// finds nothing.
pub fn array_index(element: &str, len: usize) -> Option<usize> {
    let text = element.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut magnitude: i64 = 0;
    for b in digits.bytes() {
        magnitude = (magnitude * 10 + i64::from(b - b'0')).min(1 << 40);
    }
    let index = if negative { -magnitude } else { magnitude };
    let index = i32::try_from(index).ok().filter(|&i| i != i32::MIN)?;
    if index >= 0 {
        Some(index as usize)
    } else {
        len.checked_sub(index.unsigned_abs() as usize)
    }
}
