//! Errors as ZeroDB's clients read them: `{"detail": "<message>"}` (plus
//! our `error_code`), and for a request that fails validation 422 with a
//! `detail` list of `{loc, msg, type}` (FastAPI's form). A bad filter and a
//! dimension mismatch are 400, as ZeroDB answers them; every other status
//! is the error kind's.

use crate::error::{code, ApiError, ErrorKind};
use crate::Response;
use serde_json::json;

/// A failure of a ZeroDB-dialect request: the core's error, and where in
/// the request it lies (`["body", "vector_embedding"]`, `["path",
/// "project_id"]`), for a 422's `loc`.
#[derive(Debug)]
pub struct Failure {
    pub error: ApiError,
    pub loc: Vec<String>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure {
            error,
            loc: vec!["body".into()],
        }
    }
}

/// A result of the dialect.
pub type Result<T> = std::result::Result<T, Failure>;

/// Places an error at a field of the request.
pub trait At<T> {
    /// The error, if any, as lying at `loc`.
    fn at(self, loc: &[&str]) -> Result<T>;
}

impl<T> At<T> for std::result::Result<T, ApiError> {
    fn at(self, loc: &[&str]) -> Result<T> {
        self.map_err(|error| Failure {
            error,
            loc: loc.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// The field serde named in a "missing field `x`" message, if it did.
fn missing_field(message: &str) -> Option<&str> {
    let rest = &message[message.find("missing field `")? + "missing field `".len()..];
    Some(&rest[..rest.find('`')?])
}

/// Errors ZeroDB answers 400 with a `detail` string rather than as a 422
/// validation list: a bad filter or dimension (its §6), and a model that is
/// not served or not the namespace's.
const AS_400: [crate::error::Code; 5] = [
    code::INVALID_FILTER,
    code::DIMENSION_MISMATCH,
    code::MODEL_NOT_LOADED,
    code::MODEL_MISMATCH,
    code::NO_MODEL_BOUND,
];

/// The answer for `failure`, in ZeroDB's shape.
pub fn render(failure: &Failure) -> Response {
    let err = &failure.error;
    let (status, body) = match err.kind {
        _ if AS_400.iter().any(|c| c.name == err.code) => (400, json!({"detail": err.message, "error_code": err.code})),
        ErrorKind::BadRequest | ErrorKind::Invalid => {
            let mut loc = failure.loc.clone();
            let kind = match missing_field(&err.message) {
                Some(field) => {
                    loc.push(field.to_string());
                    "missing".to_string()
                }
                None => err.code.clone(),
            };
            (422, json!({"detail": [{"loc": loc, "msg": err.message, "type": kind}]}))
        }
        kind => (kind.status(), json!({"detail": err.message, "error_code": err.code})),
    };
    let mut response = Response::json(status, &body);
    if let Some(secs) = err.retry_after_secs {
        response.headers.push(("retry-after".into(), secs.to_string()));
    }
    if status == 401 {
        response.headers.push(("www-authenticate".into(), "Bearer".into()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> serde_json::Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn shapes() {
        let missing = ApiError::new(code::INVALID_REQUEST, "missing field `vector_embedding` at line 1");
        let response = render(&missing.into());
        assert_eq!(response.status, 422);
        assert_eq!(body(&response)["detail"][0]["loc"], json!(["body", "vector_embedding"]));
        assert_eq!(body(&response)["detail"][0]["type"], "missing");

        let bad = Err::<(), _>(ApiError::new(code::INVALID_ID, "bad uuid")).at(&["path", "project_id"]);
        let response = render(&bad.unwrap_err());
        assert_eq!(body(&response)["detail"][0]["loc"], json!(["path", "project_id"]));

        let filter = render(&ApiError::new(code::INVALID_FILTER, "unknown operator $regex").into());
        assert_eq!(filter.status, 400);
        assert_eq!(body(&filter)["detail"], "unknown operator $regex");

        let key = render(&ApiError::new(code::INVALID_API_KEY, "no such key").into());
        assert_eq!((key.status, key.header("www-authenticate")), (401, Some("Bearer")));
        assert_eq!(
            body(&key),
            json!({"detail": "no such key", "error_code": "invalid_api_key"})
        );
    }
}
