//! The edge component's instances: how many, their limits, and the cache
//! settings handed to each (the guest reads them as `edge_core::env` says).

use anyhow::bail;
use edge_core::cache::CacheConfig;
use edge_core::env;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Requests an instance runs at once by default, besides those waiting on
/// the origin. Each running request is a guest task in the instance's
/// store; past a few dozen, their interleaving costs more than it gains
/// (on a 2-core machine, cache hits at 1000 connections: 16 per instance
/// served about 1.5 times the rate of no bound).
pub const DEFAULT_MAX_RUNNING: usize = 16;

/// Instances and the requests they serve.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Instances {
    /// Requests an edge instance serves before it is replaced.
    #[arg(long, env = "ZERODB_INSTANCE_MAX_REQUESTS")]
    instance_max_requests: Option<usize>,
    /// Linear-memory ceiling of an edge instance, in MiB.
    #[arg(long, env = "ZERODB_INSTANCE_MAX_MEMORY_MB")]
    instance_max_memory_mb: Option<usize>,
    /// Deadline of one request, in milliseconds.
    #[arg(long, env = "ZERODB_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Largest answer the edge component may send, in bytes.
    #[arg(long, env = "ZERODB_MAX_RESPONSE_BYTES")]
    max_response_bytes: Option<usize>,
    /// Groups of edge instances; a collection's requests always go to the same group.
    #[arg(long, env = "ZERODB_EDGE_SHARDS")]
    edge_shards: Option<usize>,
    /// Edge instances of a group that serve its requests as they come, many
    /// at once each; each has a cache of its own.
    #[arg(long, env = "ZERODB_EDGE_INSTANCES_PER_SHARD")]
    edge_instances_per_shard: Option<usize>,
    /// Extra instances a group may start while its instances leave requests
    /// waiting (a guest computing or blocked); each ends once idle.
    #[arg(long, env = "ZERODB_EDGE_OVERFLOW_INSTANCES")]
    edge_overflow_instances: Option<usize>,
    /// Most requests in flight per group; the rest wait until their deadline.
    #[arg(long, env = "ZERODB_EDGE_REQUESTS_PER_SHARD")]
    edge_requests_per_shard: Option<usize>,
    /// Most requests an edge instance runs at once, not counting those
    /// waiting on the origin; the rest wait in its group's queue.
    #[arg(long, env = "ZERODB_EDGE_REQUESTS_PER_INSTANCE")]
    edge_requests_per_instance: Option<usize>,
}

/// Validated instance settings.
#[derive(Clone, Debug)]
pub struct InstancesConfig {
    /// Requests an instance serves before it is replaced.
    pub max_requests: usize,
    /// Linear memory an instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// How long one request may run.
    pub request_timeout: Duration,
    /// Largest answer of the component, in bytes.
    pub max_response_bytes: usize,
    /// Groups of warm instances (1 to 64).
    pub shards: usize,
    /// Instances of one shard that take its requests as they come.
    pub instances_per_shard: usize,
    /// Overflow instances one shard may add while those are stuck.
    pub overflow_instances: usize,
    /// Most requests in flight in one shard.
    pub max_in_flight: usize,
    /// Most requests one instance runs at once, besides those waiting on the origin.
    pub max_running: usize,
}

impl Instances {
    pub fn resolve(self) -> anyhow::Result<InstancesConfig> {
        let config = InstancesConfig {
            max_requests: self.instance_max_requests.unwrap_or(10_000_000).max(1),
            max_memory_bytes: self.instance_max_memory_mb.unwrap_or(512) << 20,
            request_timeout: Duration::from_millis(self.request_timeout_ms.unwrap_or(30_000)),
            max_response_bytes: self.max_response_bytes.unwrap_or(256 << 20).max(1 << 16),
            shards: self
                .edge_shards
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .clamp(1, 64),
            instances_per_shard: self.edge_instances_per_shard.unwrap_or(2).clamp(1, 64),
            overflow_instances: self.edge_overflow_instances.unwrap_or(2).min(64),
            max_in_flight: self.edge_requests_per_shard.unwrap_or(2048).max(1),
            max_running: self.edge_requests_per_instance.unwrap_or(DEFAULT_MAX_RUNNING).max(1),
        };
        if config.max_memory_bytes < 16 << 20 {
            bail!("instance_max_memory_mb must be at least 16");
        }
        Ok(config)
    }
}

/// The cache of each instance.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Cache {
    /// Byte budget of each edge instance's cache.
    #[arg(long, env = env::CACHE_BYTES)]
    cache_bytes: Option<usize>,
    /// How long a cached search result or vector is fresh, in milliseconds
    /// (hot copies and collection descriptions have none).
    #[arg(long, env = env::CACHE_TTL_MS)]
    cache_ttl_ms: Option<u64>,
    /// Largest collection (in vectors) the edge loads whole and searches exactly.
    #[arg(long, env = env::HOT_COLLECTION_MAX_VECTORS)]
    hot_collection_max_vectors: Option<u64>,
}

impl Cache {
    /// The guest's cache settings: these, or the guest's own defaults.
    pub fn resolve(self) -> anyhow::Result<CacheConfig> {
        let defaults = CacheConfig::default();
        let config = CacheConfig {
            budget_bytes: self.cache_bytes.unwrap_or(defaults.budget_bytes),
            ttl: self.cache_ttl_ms.map_or(defaults.ttl, Duration::from_millis),
            hot_max_vectors: self.hot_collection_max_vectors.unwrap_or(defaults.hot_max_vectors),
            ..defaults
        };
        if config.budget_bytes < 1 << 20 {
            bail!("cache_bytes must be at least 1 MiB");
        }
        Ok(config)
    }
}
