//! The cache's settings and how they travel in the environment.

use crate::env;
use std::time::Duration;

/// Cache settings; the host passes them as environment variables
/// (their names are in [`crate::env`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    /// `ZERODB_CACHE_BYTES`: the most the cache holds, in bytes (default 64 MiB).
    pub budget_bytes: usize,
    /// `ZERODB_CACHE_TTL_MS`: how long a search result or vector is fresh
    /// (default 30 s); hot copies, descriptions and embeddings have no TTL.
    pub ttl: Duration,
    /// `ZERODB_HOT_COLLECTION_MAX_VECTORS`: largest collection loaded whole, in vectors (default 20 000).
    pub hot_max_vectors: u64,
    /// `ZERODB_HOT_COLLECTION_ADMIT_AFTER`: searches of a collection before
    /// it is loaded whole (default 2).
    pub hot_admit_after: u32,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            budget_bytes: 64 << 20,
            ttl: Duration::from_secs(30),
            hot_max_vectors: 20_000,
            hot_admit_after: 2,
        }
    }
}

impl CacheConfig {
    /// Reads the process's variables; a missing or unparsable one keeps its default.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the variables `get` returns; a missing or unparsable one keeps its default.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        fn parse<T: std::str::FromStr>(value: Option<String>) -> Option<T> {
            value?.parse().ok()
        }
        let d = CacheConfig::default();
        CacheConfig {
            budget_bytes: parse(get(env::CACHE_BYTES)).unwrap_or(d.budget_bytes),
            ttl: parse(get(env::CACHE_TTL_MS)).map_or(d.ttl, Duration::from_millis),
            hot_max_vectors: parse(get(env::HOT_COLLECTION_MAX_VECTORS)).unwrap_or(d.hot_max_vectors),
            hot_admit_after: parse(get(env::HOT_COLLECTION_ADMIT_AFTER)).unwrap_or(d.hot_admit_after),
        }
    }

    /// The variables that give an instance these settings: what a host sets.
    pub fn to_env(&self) -> Vec<(String, String)> {
        [
            (env::CACHE_BYTES, self.budget_bytes.to_string()),
            (env::CACHE_TTL_MS, self.ttl.as_millis().to_string()),
            (env::HOT_COLLECTION_MAX_VECTORS, self.hot_max_vectors.to_string()),
            (env::HOT_COLLECTION_ADMIT_AFTER, self.hot_admit_after.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a host renders, the guest reads back unchanged.
    #[test]
    fn settings_survive_the_environment() {
        let config = CacheConfig {
            budget_bytes: 3 << 20,
            ttl: Duration::from_millis(1234),
            hot_max_vectors: 0,
            hot_admit_after: 5,
        };
        let vars = config.to_env();
        let read = CacheConfig::from_vars(|name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()));
        assert_eq!(read, config);
    }

    /// A missing or unparsable variable keeps its default.
    #[test]
    fn bad_or_missing_variables_keep_the_defaults() {
        let read = CacheConfig::from_vars(|name| (name == env::CACHE_BYTES).then(|| "lots".to_string()));
        assert_eq!(read, CacheConfig::default());
    }
}
