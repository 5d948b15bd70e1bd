//! The parameters ZeroDB's routes share: namespaces, limits and query-string
//! numbers, each checked with ZeroDB's error for its place in the request.

use super::error::{At, Result};
use super::DEFAULT_NAMESPACE;
use crate::error::{code, ApiError};
use crate::validate;

/// The namespace named, or `default`; 422 at `loc` when it cannot be a
/// collection name (1 to 64 of `A-Za-z0-9_-`, not beginning with
/// `_zerodb`, the edge's own).
pub fn namespace(name: Option<String>, loc: &[&str]) -> Result<String> {
    let name = name.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    validate::public_collection_name(&name).at(loc)?;
    Ok(name)
}

/// A limit between 1 and `max` (`default` when not given); 422 at `loc`.
pub fn limit(given: Option<i64>, default: i64, max: i64, loc: &[&str]) -> Result<u32> {
    let limit = given.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::new(
            code::INVALID_LIMIT,
            format!("limit must be from 1 to {max}"),
        ))
        .at(loc);
    }
    Ok(limit as u32)
}

/// A request's query string, read parameter by parameter.
pub struct Query<'a>(pub &'a str);

impl Query<'_> {
    /// The parameter `name`, percent-decoded; 422 when it is not valid
    /// percent-encoded UTF-8 (never read as absent).
    pub fn text(&self, name: &str) -> Result<Option<String>> {
        crate::api::query_param(self.0, name).at(&["query", name])
    }

    /// The parameter `name` as an integer from 0 to `max`; 422 otherwise.
    pub fn number(&self, name: &str, max: u64) -> Result<Option<u64>> {
        let Some(text) = self.text(name)? else { return Ok(None) };
        match text.parse::<u64>() {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(ApiError::new(
                code::INVALID_REQUEST,
                format!("{name} must be an integer from 0 to {max}"),
            ))
            .at(&["query", name]),
        }
    }
}
