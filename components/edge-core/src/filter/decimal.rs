//! JSON numbers as exact decimals, ordered as PostgreSQL's `numeric` orders
//! them. Numbers are read from their JSON text (serde_json's
//! `arbitrary_precision` keeps it), never through a float.

use std::cmp::Ordering;

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

impl Decimal {
    /// The sign: -1, 0 or 1.
    fn sign(&self) -> i8 {
        match (self.digits.is_empty(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

impl Ord for Decimal {
    /// Numeric order: `-1 < 0 < 0.5 < 2 = 2.0 < 18446744073709551617`.
    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = self.sign().cmp(&other.sign());
        if sign != Ordering::Equal || self.sign() == 0 {
            return sign;
        }
        // The power of ten just past the leading digit orders magnitudes;
        // between equals, the digits do (neither has trailing zeros, so a
        // prefix is the smaller).
        let lead = |d: &Decimal| d.digits.len() as i128 + i128::from(d.exponent);
        let magnitude = lead(self)
            .cmp(&lead(other))
            .then_with(|| self.digits.as_bytes().cmp(other.digits.as_bytes()));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
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
    fn decimals_order_numerically() {
        let ascending = [
            "-18446744073709551617",
            "-18446744073709551616",
            "-2",
            "-1.5",
            "-0.1",
            "0",
            "1e-20",
            "0.1",
            "0.10000000000000001",
            "1",
            "1.5",
            "2",
            "10",
            "9007199254740992",
            "9007199254740993",
            "18446744073709551616",
            "18446744073709551617",
            "1e100",
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(d(a).cmp(&d(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(d("2").cmp(&d("2.000")), Ordering::Equal);
        assert_eq!(d("-0").cmp(&d("0e5")), Ordering::Equal);
        assert!(d("-1e-5") < d("0"));
        assert!(d("123") < d("1234e-1") && d("1234e-1") < d("124"));
    }
}
