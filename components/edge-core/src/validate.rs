// Over 500 lines: a third of it is the unit tests of these rules.
//! Input rules of the v1 API (see the README's API section), shared by the
//! edge and the origin: the origin checks again whatever the edge checked,
//! since other fronts may call it.

use crate::error::{code, ApiError, Code};
use crate::model::Metric;
use serde::de::DeserializeOwned;

/// Largest request body the edge reads (a full batch of 1000 × 1536-dim vectors
/// is about 20 MB of JSON).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Most vectors in one upsert.
pub const MAX_BATCH: usize = 1000;
/// Largest `k` a search may ask for.
pub const MAX_K: u32 = 1000;
/// The API's default embedding dimension: of a collection created without
/// one, and of a project's memory records until it declares theirs.
pub const DEFAULT_DIMS: u32 = 1536;
/// pgvector's `vector` type holds at most 16 000 dimensions.
pub const MAX_DIMS: u32 = 16_000;
/// Longest id, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 128;
/// Largest metadata document, in bytes of JSON text.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Longest memory content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;
/// Most texts embedded by one request (ZeroDB's limit).
pub const MAX_TEXTS: usize = 100;
/// Longest text to embed, in bytes: a model reads only its first few
/// hundred word pieces, so past this a text is almost surely a mistake.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;

/// The error for a request body past [`MAX_BODY_BYTES`].
pub fn body_too_large() -> ApiError {
    ApiError::new(
        code::BODY_TOO_LARGE,
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Collection names: `[A-Za-z0-9_-]{1,64}`.
pub fn collection_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_NAME,
            "collection names are 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
        ))
    }
}

/// Collection names beginning with this are the edge's own (the agent
/// memory's store): the public routes refuse them.
pub const RESERVED_PREFIX: &str = "_zerodb";

/// A collection name a client may use: [`collection_name`]'s, not
/// beginning with [`RESERVED_PREFIX`] (400 `invalid_name`).
pub fn public_collection_name(name: &str) -> Result<(), ApiError> {
    collection_name(name)?;
    if name.starts_with(RESERVED_PREFIX) {
        return Err(ApiError::new(
            code::INVALID_NAME,
            format!("collection names beginning with {RESERVED_PREFIX} are reserved for the edge's own"),
        ));
    }
    Ok(())
}

/// Ids (vectors, memory records, sessions): 1 to 128 bytes of UTF-8 without
/// control characters.
pub fn id(kind: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ApiError::new(
            code::INVALID_ID,
            format!("{kind} must be 1 to {MAX_ID_BYTES} bytes of UTF-8"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(ApiError::new(
            code::INVALID_ID,
            format!("{kind} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Longest file key, in bytes.
pub const MAX_FILE_KEY_BYTES: usize = 512;

/// File keys: `/`-separated segments of A-Z, a-z, 0-9, `.`, `_` and `-`,
/// none empty, `.` or `..`, at most [`MAX_FILE_KEY_BYTES`] in all. Object
/// stores take almost anything; this keeps keys portable and unambiguous.
pub fn file_key(key: &str) -> Result<(), ApiError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if key.len() > MAX_FILE_KEY_BYTES || !key.split('/').all(segment_ok) {
        return Err(ApiError::new(
            code::INVALID_FILE_KEY,
            format!(
                "file keys are up to {MAX_FILE_KEY_BYTES} bytes of /-separated segments of A-Z, a-z, 0-9, ., _ and - (no empty, . or .. segment)"
            ),
        ));
    }
    Ok(())
}

/// A vector: non-empty, finite, and of `dims` dimensions when known.
pub fn vector(values: &[f32], dims: Option<u32>) -> Result<(), ApiError> {
    if values.is_empty() {
        return Err(ApiError::new(code::INVALID_VECTOR, "vector is empty"));
    }
    if let Some(at) = values.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::new(
            code::INVALID_VECTOR,
            format!("vector value at index {at} is not a finite number"),
        ));
    }
    if values.len() > MAX_DIMS as usize {
        return Err(ApiError::new(
            code::DIMENSION_MISMATCH,
            format!(
                "vector has {} dimensions; at most {MAX_DIMS} are supported",
                values.len()
            ),
        ));
    }
    match dims {
        Some(dims) if values.len() != dims as usize => Err(ApiError::new(
            code::DIMENSION_MISMATCH,
            format!("vector has {} dimensions, the collection has {dims}", values.len()),
        )),
        _ => Ok(()),
    }
}

/// The largest squared norm of a stored or query vector. pgvector sums
/// squares and products in f32; with every vector's squared norm at most a
/// quarter of `f32::MAX` (a norm of about 9.2e18), every distance between two
/// of them stays finite, since ‖a−b‖² ≤ 2‖a‖² + 2‖b‖² and |a·b| ≤ ‖a‖‖b‖.
pub const MAX_SQUARED_NORM: f32 = f32::MAX / 4.0;

/// A vector the metric can score (pgvector's f32 arithmetic): its squared
/// norm, summed in f32, is at most [`MAX_SQUARED_NORM`], and under cosine at
/// least `f32::MIN_POSITIVE` (a zero vector, or one whose squares all
/// underflow, has no direction). Refused with 422 `invalid_vector`.
pub fn vector_for_metric(values: &[f32], metric: Metric) -> Result<(), ApiError> {
    let squared: f32 = values.iter().map(|v| v * v).sum();
    if squared.is_nan() || squared > MAX_SQUARED_NORM {
        return Err(ApiError::new(
            code::INVALID_VECTOR,
            format!(
                "the vector's squared norm ({squared:e}) overflows pgvector's f32 arithmetic; \
                 it may be at most {MAX_SQUARED_NORM:e} (a norm of about 9.2e18)"
            ),
        ));
    }
    if metric == Metric::Cosine && squared < f32::MIN_POSITIVE {
        return Err(ApiError::new(
            code::INVALID_VECTOR,
            format!(
                "a zero vector (or one whose squared norm, {squared:e}, underflows f32) has no \
                 direction, so its cosine similarity is undefined"
            ),
        ));
    }
    Ok(())
}

/// The `x-zerodb-min-version` header: a collection version (a `u64`).
pub fn min_version(header: Option<&str>) -> Result<Option<u64>, ApiError> {
    header
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::new(
                    code::INVALID_MIN_VERSION,
                    "x-zerodb-min-version must be a collection version (a whole number)",
                )
            })
        })
        .transpose()
}

/// A search's `k`: Err 422 `invalid_k` unless in 1..=[`MAX_K`].
pub fn k(k: u32) -> Result<(), ApiError> {
    if (1..=MAX_K).contains(&k) {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_K,
            format!("k must be between 1 and {MAX_K}, got {k}"),
        ))
    }
}

/// A collection's dimension count: Err 422 `invalid_dims` unless in
/// 1..=[`MAX_DIMS`].
pub fn dims(dims: u32) -> Result<(), ApiError> {
    if (1..=MAX_DIMS).contains(&dims) {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_DIMS,
            format!("dims must be between 1 and {MAX_DIMS}, got {dims}"),
        ))
    }
}

/// The cache similarity threshold of a collection: in (0, 1].
pub fn cache_similarity(threshold: f32) -> Result<(), ApiError> {
    if threshold > 0.0 && threshold <= 1.0 {
        Ok(())
    } else {
        Err(ApiError::new(
            code::INVALID_CACHE_SIMILARITY,
            format!("cache_similarity must be in (0, 1], got {threshold}"),
        ))
    }
}

/// Metadata: a JSON object, at most 64 KiB, with no NUL anywhere (PostgreSQL
/// `jsonb` cannot store `\u0000`).
pub fn metadata(value: &serde_json::Value) -> Result<String, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(code::INVALID_METADATA, "metadata must be a JSON object"));
    }
    json_text([code::INVALID_METADATA, code::METADATA_TOO_LARGE], "metadata", value)
}

/// Stored metadata's JSON text as the value the origin writes, checked as
/// [`metadata`] checks it; 422 `invalid_metadata` when it is not a JSON
/// object.
pub fn metadata_text(text: &str) -> Result<serde_json::Value, ApiError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| ApiError::new(code::INVALID_METADATA, "metadata must be a JSON object"))?;
    metadata(&value)?;
    Ok(value)
}

/// Metadata that may be absent or `null` (stored as `{}`), else as
/// [`metadata`] checks it.
pub fn optional_metadata(value: Option<&serde_json::Value>) -> Result<String, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok("{}".into()),
        Some(m) => metadata(m),
    }
}

/// A search filter (the language of [`crate::filter`]): its canonical JSON
/// text (compact, keys sorted, numbers as written), which the edge caches
/// by and the origin parses again.
pub fn filter(value: &serde_json::Value) -> Result<String, ApiError> {
    parse_filter(value).map(|(text, _)| text)
}

/// A search filter, parsed, with its canonical text: 422 `invalid_filter`
/// naming the problem (an unknown operator, an operand of the wrong type,
/// NUL, a number `jsonb` cannot store, nesting past
/// [`crate::filter::MAX_DEPTH`]), 413 `filter_too_large` past
/// [`MAX_METADATA_BYTES`].
pub fn parse_filter(value: &serde_json::Value) -> Result<(String, crate::filter::Filter), ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(code::INVALID_FILTER, "filter must be a JSON object"));
    }
    let text = json_text([code::INVALID_FILTER, code::FILTER_TOO_LARGE], "filter", value)?;
    let parsed = crate::filter::Filter::from_value(value).map_err(|e| ApiError::new(code::INVALID_FILTER, e))?;
    Ok((text, parsed))
}

/// `value`'s JSON text, or `invalid` if `jsonb` cannot store it, `too_large`
/// past [`MAX_METADATA_BYTES`].
fn json_text([invalid, too_large]: [Code; 2], what: &str, value: &serde_json::Value) -> Result<String, ApiError> {
    if contains_nul(value) {
        return Err(ApiError::new(
            invalid,
            format!("{what} must not contain NUL characters"),
        ));
    }
    if let Some(number) = number_past_numeric(value) {
        return Err(ApiError::new(
            invalid,
            format!(
                "{what} holds the number {number}, which PostgreSQL's jsonb cannot store \
                 (at most 131072 digits before the decimal point and 16383 after it)"
            ),
        ));
    }
    let text = value.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(ApiError::new(
            too_large,
            format!(
                "{what} is {} bytes; at most {MAX_METADATA_BYTES} are allowed",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// The first number in `value` that `jsonb` cannot store, as written.
fn number_past_numeric(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Number(n) => Some(n.to_string()).filter(|text| !crate::filter::fits_numeric(text)),
        Value::Array(items) => items.iter().find_map(number_past_numeric),
        Value::Object(map) => map.values().find_map(number_past_numeric),
        _ => None,
    }
}

fn contains_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Free text (memory content, roles): bounded, no NUL.
pub fn text(what: &str, value: &str, max_bytes: usize) -> Result<(), ApiError> {
    if value.len() > max_bytes {
        return Err(ApiError::new(
            code::TEXT_TOO_LARGE,
            format!("{what} is {} bytes; at most {max_bytes} are allowed", value.len()),
        ));
    }
    if value.contains('\0') {
        return Err(ApiError::new(
            code::INVALID_TEXT,
            format!("{what} must not contain NUL characters"),
        ));
    }
    Ok(())
}

/// Texts to embed: 1 to [`MAX_TEXTS`], each with a non-whitespace
/// character, at most [`MAX_TEXT_BYTES`] and without NUL. `what` names
/// them in errors (`texts`); an item's error names its index.
pub fn texts(what: &str, texts: &[String]) -> Result<(), ApiError> {
    if texts.is_empty() {
        return Err(ApiError::new(code::EMPTY_TEXT, format!("{what} holds no text")));
    }
    if texts.len() > MAX_TEXTS {
        return Err(ApiError::new(
            code::TOO_MANY_TEXTS,
            format!(
                "{what} holds {} texts; at most {MAX_TEXTS} are embedded at once",
                texts.len()
            ),
        ));
    }
    for (i, t) in texts.iter().enumerate() {
        let name = if texts.len() == 1 {
            what.to_string()
        } else {
            format!("{what}[{i}]")
        };
        if t.trim().is_empty() {
            return Err(ApiError::new(
                code::EMPTY_TEXT,
                format!("{name} is empty or only whitespace"),
            ));
        }
        text(&name, t, MAX_TEXT_BYTES)?;
    }
    Ok(())
}

/// Parses a JSON request body. Non-finite numbers (`NaN`, `Infinity`, or a
/// literal too large for f64) are a 422, anything else malformed a 400.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() && (names_non_finite(body, &e) || e.to_string().starts_with("number out of range")) {
            ApiError::new(
                code::INVALID_VECTOR,
                "vector values must be finite numbers (no NaN or Infinity)",
            )
        } else if e.is_data() && e.to_string().contains(crate::wire::F32_OVERFLOW) {
            ApiError::new(code::INVALID_VECTOR, e.to_string())
        } else if e.is_eof() && body.iter().all(u8::is_ascii_whitespace) {
            ApiError::new(code::MALFORMED_JSON, "request body is empty; a JSON object is expected")
        } else if e.is_data() {
            ApiError::new(
                code::INVALID_REQUEST,
                format!("request body does not match the API: {e}"),
            )
        } else {
            ApiError::new(code::MALFORMED_JSON, format!("request body is not valid JSON: {e}"))
        }
    })
}

/// Whether the syntax error `e` sits on a `NaN`/`Infinity` token, as some
/// JSON encoders (Python's, JavaScript's `String(x)`) write them.
fn names_non_finite(body: &[u8], e: &serde_json::Error) -> bool {
    let line_start: usize = body
        .split(|&b| b == b'\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    let at = line_start + e.column().saturating_sub(1);
    let from = at.saturating_sub(9);
    let window = &body[from.min(body.len())..(at + 9).min(body.len())];
    let window = String::from_utf8_lossy(window);
    window.contains("NaN") || window.contains("Infinity")
}

/// Decodes one percent-encoded path segment; `None` if it is not UTF-8 or
/// has a broken escape.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    /// The values of a search body's vector, as the API reads them.
    fn read(values: &str) -> Result<Vec<f32>, ApiError> {
        json_body::<crate::wire::Search>(format!(r#"{{"vector": [{values}]}}"#).as_bytes()).map(|s| s.vector)
    }

    #[test]
    fn decimals_round_once_to_f32() {
        // Through f64 this rounds twice, to 0x3F800002.
        assert_eq!(read("1.00000017881393432617187499").unwrap()[0].to_bits(), 0x3F80_0001);
        assert_eq!(read("3.4028235e38").unwrap(), vec![f32::MAX]);
        assert_eq!(read("-3.4028235e38").unwrap(), vec![f32::MIN]);
        let tiny = read("1e-40").unwrap()[0];
        assert!(tiny.is_subnormal() && tiny == 1e-40_f32);
        assert_eq!(read("-0, 0.5, 2E3").unwrap(), vec![-0.0, 0.5, 2000.0]);
        for overflow in ["3.5e38", "1e39", "1e400", "-1e39"] {
            let err = read(overflow).unwrap_err();
            assert_eq!(
                (err.kind, err.code.as_str()),
                (ErrorKind::Invalid, "invalid_vector"),
                "{overflow}"
            );
        }
        for not_a_number in [r#""1""#, "true", "null", "[1]"] {
            assert_eq!(
                read(not_a_number).unwrap_err().kind,
                ErrorKind::BadRequest,
                "{not_a_number}"
            );
        }
    }

    #[test]
    fn vectors_each_metric_can_score() {
        for metric in [Metric::Cosine, Metric::L2, Metric::Dot] {
            assert!(vector_for_metric(&[1.0, 0.0], metric).is_ok());
            assert!(vector_for_metric(&[9.0e18, 0.0], metric).is_ok());
            // pgvector's f32 sum of squares overflows (the issue's far vector).
            assert!(vector_for_metric(&[1e20, 1e19], metric).is_err());
            assert!(vector_for_metric(&[f32::MAX], metric).is_err());
        }
        // Only cosine needs a direction.
        for zero in [&[0.0f32, 0.0][..], &[1e-30, 1e-30]] {
            let err = vector_for_metric(zero, Metric::Cosine).unwrap_err();
            assert_eq!(err.code, "invalid_vector");
            assert!(err.message.contains("zero vector"), "{}", err.message);
            assert!(vector_for_metric(zero, Metric::L2).is_ok());
            assert!(vector_for_metric(zero, Metric::Dot).is_ok());
        }
    }

    #[test]
    fn names() {
        assert!(collection_name("docs_v2-A").is_ok());
        for bad in ["", "a b", "x;drop table y", "é", &"a".repeat(65)] {
            assert_eq!(collection_name(bad).unwrap_err().code, "invalid_name", "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        assert!(id("id", "doc/1 ' or 1=1 --").is_ok());
        assert!(id("id", &"é".repeat(64)).is_ok());
        assert!(id("id", &"é".repeat(65)).is_err());
        assert!(id("id", "").is_err());
        assert!(id("id", "a\0b").is_err());
    }

    #[test]
    fn vectors() {
        assert!(vector(&[0.1, 0.2], Some(2)).is_ok());
        assert_eq!(vector(&[], None).unwrap_err().code, "invalid_vector");
        assert_eq!(vector(&[f32::NAN], None).unwrap_err().code, "invalid_vector");
        assert_eq!(vector(&[f32::INFINITY], None).unwrap_err().code, "invalid_vector");
        assert_eq!(vector(&[1.0], Some(2)).unwrap_err().code, "dimension_mismatch");
    }

    #[test]
    fn k_bounds() {
        assert!(k(1).is_ok() && k(1000).is_ok());
        assert_eq!(k(0).unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(k(1001).unwrap_err().kind, ErrorKind::Invalid);
    }

    #[test]
    fn metadata_and_filters() {
        assert_eq!(metadata(&json!({"a": 1})).unwrap(), r#"{"a":1}"#);
        assert!(metadata(&json!([1])).is_err());
        assert!(metadata(&json!({"a": "x\u{0}"})).is_err());
    }

    /// The text `filter` returns is the filter's canonical form (what the
    /// edge caches by and sends the origin): compact JSON, keys in sorted
    /// order (so the same filter written in another order is the same cache
    /// shape), numbers as written (digits kept exactly; serde_json writes an
    /// exponent's `E` as `e`), strings escaped as JSON.
    #[test]
    fn filters_become_canonical_text() {
        // Parsed from text, as a request body is, so numbers keep their text.
        let text = |body: &str| filter(&serde_json::from_str(body).unwrap());
        for (body, canonical) in [
            ("{}", "{}"),
            (r#"{"tag": "a", "n": 2}"#, r#"{"n":2,"tag":"a"}"#),
            (r#"{ "n" : 2 , "tag" : "a" }"#, r#"{"n":2,"tag":"a"}"#),
            (
                r#"{"z": null, "b": true, "f": false}"#,
                r#"{"b":true,"f":false,"z":null}"#,
            ),
            (
                r#"{"price": 2.50, "big": 18446744073709551617, "e": -1E+3}"#,
                r#"{"big":18446744073709551617,"e":-1e+3,"price":2.50}"#,
            ),
            (
                r#"{"q": "say \"hi\"\\", "u": "\u00e9\u0001", "k y": "v"}"#,
                r#"{"k y":"v","q":"say \"hi\"\\","u":"é\u0001"}"#,
            ),
            (r#"{"s": "'); drop table x; --"}"#, r#"{"s":"'); drop table x; --"}"#),
            (
                r#"{"n": {"$lt": 5, "$gte": 1.0}, "$or": [{"a.b": {"$in": [1, "x"]}}, {"c": {"$exists": true}}]}"#,
                r#"{"$or":[{"a.b":{"$in":[1,"x"]}},{"c":{"$exists":true}}],"n":{"$gte":1.0,"$lt":5}}"#,
            ),
        ] {
            assert_eq!(text(body).unwrap(), canonical, "{body}");
        }
        let refused = |value: serde_json::Value| {
            let err = filter(&value).unwrap_err();
            (err.kind, err.code, err.message)
        };
        let invalid = |value: serde_json::Value, says: &str| {
            let (kind, code, message) = refused(value);
            assert_eq!((kind, code.as_str()), (ErrorKind::Invalid, "invalid_filter"));
            assert!(message.contains(says), "{message:?} does not say {says:?}");
        };
        invalid(json!({"tag": {"$regex": "a.*"}}), "unknown operator \"$regex\"");
        invalid(json!({"tag": {"$foo": 1}}), "\"$foo\"");
        invalid(json!({"tag": {"$gt": true}}), "number or a string");
        invalid(json!({"tag": {"$in": [[1]]}}), "scalar");
        invalid(json!({"tag": [1]}), "array");
        invalid(json!({"$and": []}), "non-empty");
        invalid(json!(["tag", "a"]), "JSON object");
        invalid(json!("tag"), "JSON object");
        invalid(json!({"tag": "a\u{0}"}), "NUL");
        invalid(json!({"a\u{0}": 1}), "NUL");
        invalid(json!({"t": {"$in": ["a\u{0}"]}}), "NUL");
        invalid(
            serde_json::from_str(r#"{"n": 1e131072}"#).unwrap(),
            "jsonb cannot store",
        );
        invalid(
            serde_json::from_str(r#"{"n": {"$gt": 1e-16384}}"#).unwrap(),
            "jsonb cannot store",
        );
        let long = json!({"tag": "x".repeat(MAX_METADATA_BYTES)});
        let (kind, code, _) = refused(long);
        assert_eq!((kind, code.as_str()), (ErrorKind::TooLarge, "filter_too_large"));
    }

    #[test]
    fn json_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "only deserialised, to see the errors")]
        struct V {
            values: Vec<f32>,
        }
        let err = |b: &str| json_body::<V>(b.as_bytes()).unwrap_err();
        assert_eq!(err(r#"{"values":[1.0, NaN]}"#).code, "invalid_vector");
        assert_eq!(err(r#"{"values":[-Infinity]}"#).code, "invalid_vector");
        assert_eq!(err(r#"{"values":[1e400]}"#).code, "invalid_vector");
        assert_eq!(err(r#"{"values":[1.0,"#).code, "malformed_json");
        assert_eq!(err("").code, "malformed_json");
        assert_eq!(err(r#"{"values":"x"}"#).code, "invalid_request");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c").unwrap(), "a/b c");
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%ff").is_none());
    }

    #[test]
    fn file_keys() {
        for good in ["a", "reports/2026/q1.pdf", "x-y_z.tar.gz", ".hidden"] {
            assert!(file_key(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_FILE_KEY_BYTES + 1);
        for bad in [
            "",
            "a//b",
            "/a",
            "a/",
            "../etc",
            "a/./b",
            "sp ace",
            "é",
            "a\\b",
            long.as_str(),
        ] {
            assert_eq!(file_key(bad).unwrap_err().code, "invalid_file_key", "{bad:?}");
        }
    }
}
