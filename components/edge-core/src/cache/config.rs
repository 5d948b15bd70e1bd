//! The cache's settings and how they are read from the environment.

use std::time::Duration;

/// Cache settings; the host passes them as environment variables.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// `ZERODB_CACHE_BYTES`: the most the cache holds (default 64 MiB).
    pub budget_bytes: usize,
    /// `ZERODB_CACHE_TTL_MS`: how long an entry is fresh (default 30 s).
    pub ttl: Duration,
    /// `ZERODB_HOT_COLLECTION_MAX_VECTORS`: largest collection loaded whole (default 20 000).
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
    /// Reads the `ZERODB_*` variables; a missing or unparsable one keeps its default.
    pub fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            std::env::var(name).ok()?.parse().ok()
        }
        let d = CacheConfig::default();
        CacheConfig {
            budget_bytes: var("ZERODB_CACHE_BYTES").unwrap_or(d.budget_bytes),
            ttl: var("ZERODB_CACHE_TTL_MS").map_or(d.ttl, Duration::from_millis),
            hot_max_vectors: var("ZERODB_HOT_COLLECTION_MAX_VECTORS").unwrap_or(d.hot_max_vectors),
            hot_admit_after: var("ZERODB_HOT_COLLECTION_ADMIT_AFTER").unwrap_or(d.hot_admit_after),
        }
    }
}
