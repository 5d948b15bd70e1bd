//! Metadata filters evaluated at the edge, with PostgreSQL's answer.
//!
//! The API's filters are objects of keys to scalars, and the origin runs
//! them as `metadata @> filter` on `jsonb`. For such a filter, containment
//! means: every key is present in the metadata object, and its value equals
//! the filter's under `jsonb` equality. That equality is by type first
//! (`"2"` is not `2`, `true` is not `"true"`, `null` equals only a present
//! `null`, an array or object never equals a scalar) and then by value,
//! numbers compared as exact decimals (`2` equals `2.0` and `2e0`;
//! `18446744073709551617` does not equal `18446744073709551616`).
//!
//! Numbers are compared by their JSON text (serde_json's
//! `arbitrary_precision` keeps it), never through a float.

use serde_json::{Map, Value};

/// A JSON number as an exact decimal: sign, significant digits without
/// leading or trailing zeros, and the power of ten of the last digit.
/// Zero is `(false, "", 0)` whatever its sign or spelling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    /// Reads a JSON number's text (`-12.50e3`); none when it is not one.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], rest[at + 1..].trim_start_matches('+').parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if whole.is_empty() || !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let all: String = whole.chars().chain(fraction.chars()).collect();
        let exponent = exponent.checked_sub(fraction.len() as i64)?;
        let significant = all.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        if trimmed.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        Some(Decimal {
            negative,
            digits: trimmed.to_string(),
            exponent: exponent.checked_add((significant.len() - trimmed.len()) as i64)?,
        })
    }
}

/// Digits PostgreSQL's `numeric` (and so `jsonb`) keeps before the decimal
/// point, and after it (its documented limits).
const NUMERIC_MAX_INTEGER_DIGITS: i64 = 131_072;
const NUMERIC_MAX_SCALE: i64 = 16_383;

/// Whether `jsonb` can store this JSON number's text: at most 131072 digits
/// before the decimal point, and at most 16383 after it as written
/// (`numeric` keeps trailing zeros of the fraction). Past either,
/// PostgreSQL refuses it ("value overflows numeric format").
pub fn fits_numeric(text: &str) -> bool {
    let Some(decimal) = Decimal::parse(text) else {
        return false;
    };
    let rest = text.trim_start_matches('-');
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (
            &rest[..at],
            rest[at + 1..].trim_start_matches('+').parse::<i64>().unwrap_or(0),
        ),
        None => (rest, 0),
    };
    let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i64);
    let integer_digits = decimal.digits.len() as i64 + decimal.exponent;
    (decimal.digits.is_empty() || integer_digits <= NUMERIC_MAX_INTEGER_DIGITS)
        && fraction.saturating_sub(exponent) <= NUMERIC_MAX_SCALE
}

/// A scalar a filter asks a metadata key to equal.
#[derive(Clone, Debug, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Number(Decimal),
    String(String),
}

impl Scalar {
    fn of(value: &Value) -> Option<Scalar> {
        Some(match value {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => Scalar::Number(Decimal::parse(&n.to_string())?),
            Value::String(s) => Scalar::String(s.clone()),
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    /// `jsonb` equality of `value` with this scalar.
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Null, Value::Null) => true,
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::String(a), Value::String(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => Decimal::parse(&b.to_string()).as_ref() == Some(a),
            _ => false,
        }
    }
}

/// A parsed filter: the keys and the scalar each must equal.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter(Vec<(String, Scalar)>);

impl Filter {
    /// Parses a filter's JSON text (an object of scalars, as
    /// [`crate::validate::filter`] accepts); none for anything else.
    pub fn parse(text: &str) -> Option<Filter> {
        let Value::Object(fields) = serde_json::from_str::<Value>(text).ok()? else {
            return None;
        };
        let fields = fields
            .iter()
            .map(|(key, value)| Some((key.clone(), Scalar::of(value)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Filter(fields))
    }

    /// Whether `metadata @> filter` holds in PostgreSQL.
    pub fn matches(&self, metadata: &Map<String, Value>) -> bool {
        self.0
            .iter()
            .all(|(key, scalar)| metadata.get(key).is_some_and(|value| scalar.equals(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn decimals_compare_exactly() {
        assert_eq!(d("2"), d("2.0"));
        assert_eq!(d("2"), d("2e0"));
        assert_eq!(d("200"), d("2E+2"));
        assert_eq!(d("0.5"), d("5e-1"));
        assert_eq!(d("0"), d("-0.000"));
        assert_eq!(d("-1.50"), d("-15e-1"));
        assert_ne!(d("18446744073709551617"), d("18446744073709551616"));
        assert_ne!(d("1"), d("-1"));
        assert_ne!(d("0.1"), d("0.10000000000000001"));
        assert!(Decimal::parse("1x").is_none());
        // PostgreSQL's limits, as it answered them.
        for fits in ["1e131071", "9e131071", "0.5e131072", "1e-16383", "1e1001", "0"] {
            assert!(fits_numeric(fits), "{fits}");
        }
        for overflows in [
            "1e131072",
            "1e-16384",
            "1e300000",
            "1.0e-16383",
            "1e99999999999999999999",
        ] {
            assert!(!fits_numeric(overflows), "{overflows}");
        }
        assert!(Decimal::parse(".5").is_none());
    }

    #[test]
    fn containment_of_scalars() {
        let meta: Map<String, Value> = serde_json::from_str(
            r#"{"n": 2, "s": "2", "b": true, "z": null, "big": 18446744073709551617, "list": [1, 2]}"#,
        )
        .unwrap();
        let matches = |filter: &str| Filter::parse(filter).unwrap().matches(&meta);
        assert!(matches(r#"{"n": 2.0}"#));
        assert!(matches(r#"{"n": 2, "s": "2", "b": true, "z": null}"#));
        assert!(matches(r#"{"big": 18446744073709551617}"#));
        assert!(!matches(r#"{"big": 18446744073709551616}"#));
        assert!(!matches(r#"{"s": 2}"#));
        assert!(!matches(r#"{"n": "2"}"#));
        assert!(!matches(r#"{"b": "true"}"#));
        assert!(!matches(r#"{"missing": null}"#));
        assert!(!matches(r#"{"list": 1}"#));
        assert!(matches("{}"));
        assert!(Filter::parse(r#"{"a": [1]}"#).is_none());
    }
}
