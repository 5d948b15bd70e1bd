//! The guest's environment contract: every variable a host sets for the
//! edge component and the origin adapter composed into it, named once here.
//! The guest parses them (`CacheConfig::from_env`, the adapter's settings)
//! and a host renders them (`CacheConfig::to_env`); a missing or unparsable
//! variable keeps its default.

/// The cache's byte budget, in bytes.
pub const CACHE_BYTES: &str = "ZERODB_CACHE_BYTES";
/// How long a cache entry is fresh, in milliseconds.
pub const CACHE_TTL_MS: &str = "ZERODB_CACHE_TTL_MS";
/// Largest collection loaded whole, in vectors.
pub const HOT_COLLECTION_MAX_VECTORS: &str = "ZERODB_HOT_COLLECTION_MAX_VECTORS";
/// Searches of a collection before it is loaded whole.
pub const HOT_COLLECTION_ADMIT_AFTER: &str = "ZERODB_HOT_COLLECTION_ADMIT_AFTER";

/// The origin adapter: the origin's base URL (`http://host:port`).
pub const ORIGIN_URL: &str = "ZERODB_ORIGIN_URL";
/// The origin adapter: the origin API's shared secret.
pub const ORIGIN_SECRET: &str = "ZERODB_ORIGIN_SECRET";
/// The origin adapter: how long a collection's token is trusted without
/// asking the origin, in milliseconds.
pub const VERSION_LEASE_MS: &str = "ZERODB_VERSION_LEASE_MS";
/// Default of [`VERSION_LEASE_MS`], in milliseconds.
pub const DEFAULT_VERSION_LEASE_MS: u64 = 1000;

/// The variable `name` of this process, parsed; none when missing or unparsable.
pub fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}
