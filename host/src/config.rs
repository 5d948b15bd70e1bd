//! `serve` configuration: flags, `ZERODB_*` environment variables, and an
//! optional TOML file, in that order of precedence; validated before any
//! socket is bound. The database URL is never printed (it may hold a password).
//! (Over 500 lines until the settings are declared once, each field is
//! spelled for flags and for the file.)

use crate::files::S3Config;
use crate::health::{ProbeConfig, ServiceId};
use crate::runtime::InstanceLimits;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "ZERODB_LISTEN")]
    listen: Option<String>,
    /// PostgreSQL connection URL.
    #[arg(long, env = "ZERODB_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The edge component (.wasm); by default the one built next to this binary.
    #[arg(long, env = "ZERODB_COMPONENT")]
    component: Option<PathBuf>,
    /// A TOML file with any of these settings (snake_case keys).
    #[arg(long, env = "ZERODB_CONFIG")]
    config: Option<PathBuf>,
    /// Apply pending schema migrations before serving.
    #[arg(long, env = "ZERODB_MIGRATE")]
    migrate: bool,
    /// Most PostgreSQL connections in the pool.
    #[arg(long, env = "ZERODB_DB_MAX_CONNECTIONS")]
    db_max_connections: Option<usize>,
    /// How long a request may wait for a free connection of a busy pool, in milliseconds.
    #[arg(long, env = "ZERODB_DB_POOL_WAIT_MS")]
    db_pool_wait_ms: Option<u64>,
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
    /// Byte budget of each edge instance's cache.
    #[arg(long, env = "ZERODB_CACHE_BYTES")]
    cache_bytes: Option<usize>,
    /// How long a cache entry is fresh, in milliseconds.
    #[arg(long, env = "ZERODB_CACHE_TTL_MS")]
    cache_ttl_ms: Option<u64>,
    /// Largest collection (in vectors) the edge loads whole and searches exactly.
    #[arg(long, env = "ZERODB_HOT_COLLECTION_MAX_VECTORS")]
    hot_collection_max_vectors: Option<u64>,
    /// Groups of edge instances; a collection's requests always go to the same group.
    #[arg(long, env = "ZERODB_EDGE_SHARDS")]
    edge_shards: Option<usize>,
    /// Most edge instances (and so requests in flight) per group; the rest queue.
    #[arg(long, env = "ZERODB_EDGE_INSTANCES_PER_SHARD")]
    edge_instances_per_shard: Option<usize>,
    /// How long a resolved API key is trusted before it is looked up again, in milliseconds.
    #[arg(long, env = "ZERODB_AUTH_CACHE_MS")]
    auth_cache_ms: Option<u64>,
    /// The embedding dimension of memory records, for every project that has
    /// not declared one with its first record (1 to 16000).
    #[arg(long, env = "ZERODB_MEMORY_DIMS")]
    memory_dims: Option<u32>,
    /// Serve the origin API (`/origin/v1/`) to edge components in other
    /// hosts, with this shared secret (at least 16 characters).
    #[arg(long, env = "ZERODB_ORIGIN_SECRET", hide_env_values = true)]
    origin_secret: Option<String>,
    #[command(flatten)]
    pub services: ServicesArgs,
}

/// The backing services besides Postgres, and how they are probed. A
/// service without a URL is `disabled`.
#[derive(clap::Args, Debug, Default)]
pub struct ServicesArgs {
    /// Qdrant's HTTP API, e.g. http://127.0.0.1:6333.
    #[arg(long, env = "ZERODB_QDRANT_URL")]
    qdrant_url: Option<String>,
    /// MinIO's S3 API, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "ZERODB_MINIO_URL")]
    minio_url: Option<String>,
    #[arg(long, env = "ZERODB_MINIO_ACCESS_KEY", hide_env_values = true)]
    minio_access_key: Option<String>,
    #[arg(long, env = "ZERODB_MINIO_SECRET_KEY", hide_env_values = true)]
    minio_secret_key: Option<String>,
    /// The bucket that holds files (it must exist).
    #[arg(long, env = "ZERODB_MINIO_BUCKET")]
    minio_bucket: Option<String>,
    #[arg(long, env = "ZERODB_MINIO_REGION")]
    minio_region: Option<String>,
    /// Redpanda's admin API, e.g. http://127.0.0.1:9644.
    #[arg(long, env = "ZERODB_REDPANDA_ADMIN_URL")]
    redpanda_admin_url: Option<String>,
    /// Kafka API brokers, comma-separated host:port.
    #[arg(long, env = "ZERODB_REDPANDA_BROKERS")]
    redpanda_brokers: Option<String>,
    /// The topic change events go to.
    #[arg(long, env = "ZERODB_REDPANDA_TOPIC")]
    redpanda_topic: Option<String>,
    /// Time between health probes, in milliseconds.
    #[arg(long, env = "ZERODB_HEALTH_INTERVAL_MS")]
    health_interval_ms: Option<u64>,
    /// Time between probes of a service that is down, in milliseconds.
    #[arg(long, env = "ZERODB_HEALTH_DOWN_INTERVAL_MS")]
    health_down_interval_ms: Option<u64>,
    /// How long a probe may take, in milliseconds.
    #[arg(long, env = "ZERODB_HEALTH_TIMEOUT_MS")]
    health_timeout_ms: Option<u64>,
    /// Consecutive failed probes before a service is down.
    #[arg(long, env = "ZERODB_HEALTH_UNHEALTHY_THRESHOLD")]
    health_unhealthy_threshold: Option<u32>,
    /// Consecutive good probes before a down service is healthy.
    #[arg(long, env = "ZERODB_HEALTH_HEALTHY_THRESHOLD")]
    health_healthy_threshold: Option<u32>,
    /// A probe slower than this marks its service degraded, in milliseconds.
    #[arg(long, env = "ZERODB_HEALTH_LATENCY_BOUND_MS")]
    health_latency_bound_ms: Option<u64>,
}

/// Validated service settings.
#[derive(Debug)]
pub struct ServicesConfig {
    pub probe: ProbeConfig,
    pub qdrant: Option<String>,
    pub s3: Option<S3Config>,
    pub redpanda_admin: Option<String>,
    pub brokers: Vec<String>,
    pub topic: String,
}

impl ServicesArgs {
    fn resolve(self, file: &FileConfig) -> anyhow::Result<ServicesConfig> {
        let defaults = ProbeConfig::default();
        let ms = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map_or(default, Duration::from_millis)
        };
        let interval = ms(self.health_interval_ms, file.health_interval_ms, defaults.interval);
        let probe = ProbeConfig {
            interval,
            down_interval: ms(
                self.health_down_interval_ms,
                file.health_down_interval_ms,
                defaults.down_interval.min(interval),
            ),
            timeout: ms(self.health_timeout_ms, file.health_timeout_ms, defaults.timeout),
            unhealthy_threshold: self
                .health_unhealthy_threshold
                .or(file.health_unhealthy_threshold)
                .unwrap_or(defaults.unhealthy_threshold),
            healthy_threshold: self
                .health_healthy_threshold
                .or(file.health_healthy_threshold)
                .unwrap_or(defaults.healthy_threshold),
            latency_bound: ms(
                self.health_latency_bound_ms,
                file.health_latency_bound_ms,
                defaults.latency_bound,
            ),
        };
        if probe.interval.is_zero() || probe.down_interval.is_zero() || probe.timeout.is_zero() {
            bail!("health intervals and timeout must be above 0 ms");
        }
        if probe.unhealthy_threshold == 0 || probe.healthy_threshold == 0 {
            bail!("health thresholds must be at least 1");
        }
        let qdrant = self.qdrant_url.or(file.qdrant_url.clone());
        let redpanda_admin = self.redpanda_admin_url.or(file.redpanda_admin_url.clone());
        for url in [&qdrant, &redpanda_admin].into_iter().flatten() {
            crate::health::checks::Endpoint::parse(url)?;
        }
        let s3 = match self.minio_url.or(file.minio_url.clone()) {
            None => None,
            Some(url) => {
                crate::health::checks::Endpoint::parse(&url)?;
                let need = |flag: Option<String>, file: &Option<String>, name: &str| {
                    flag.or(file.clone())
                        .with_context(|| format!("ZERODB_MINIO_URL is set, so {name} must be too"))
                };
                Some(S3Config {
                    access_key: need(self.minio_access_key, &file.minio_access_key, "ZERODB_MINIO_ACCESS_KEY")?,
                    secret_key: need(self.minio_secret_key, &file.minio_secret_key, "ZERODB_MINIO_SECRET_KEY")?,
                    bucket: need(self.minio_bucket, &file.minio_bucket, "ZERODB_MINIO_BUCKET")?,
                    region: self
                        .minio_region
                        .or(file.minio_region.clone())
                        .unwrap_or_else(|| "us-east-1".into()),
                    url,
                })
            }
        };
        let brokers: Vec<String> = self
            .redpanda_brokers
            .or(file.redpanda_brokers.clone())
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        Ok(ServicesConfig {
            probe,
            qdrant,
            s3,
            redpanda_admin,
            brokers,
            topic: self
                .redpanda_topic
                .or(file.redpanda_topic.clone())
                .unwrap_or_else(|| "zerodb.events".into()),
        })
    }
}

/// The TOML file: the same settings, all optional.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    component: Option<PathBuf>,
    migrate: Option<bool>,
    db_max_connections: Option<usize>,
    db_pool_wait_ms: Option<u64>,
    instance_max_requests: Option<usize>,
    instance_max_memory_mb: Option<usize>,
    request_timeout_ms: Option<u64>,
    max_response_bytes: Option<usize>,
    cache_bytes: Option<usize>,
    cache_ttl_ms: Option<u64>,
    hot_collection_max_vectors: Option<u64>,
    edge_shards: Option<usize>,
    edge_instances_per_shard: Option<usize>,
    auth_cache_ms: Option<u64>,
    memory_dims: Option<u32>,
    origin_secret: Option<String>,
    qdrant_url: Option<String>,
    minio_url: Option<String>,
    minio_access_key: Option<String>,
    minio_secret_key: Option<String>,
    minio_bucket: Option<String>,
    minio_region: Option<String>,
    redpanda_admin_url: Option<String>,
    redpanda_brokers: Option<String>,
    redpanda_topic: Option<String>,
    health_interval_ms: Option<u64>,
    health_down_interval_ms: Option<u64>,
    health_timeout_ms: Option<u64>,
    health_unhealthy_threshold: Option<u32>,
    health_healthy_threshold: Option<u32>,
    health_latency_bound_ms: Option<u64>,
}

/// Settings of `health`: the same services as `serve`, probed once.
#[derive(clap::Args, Debug)]
pub struct HealthArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "ZERODB_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A TOML file with any of the `serve` settings.
    #[arg(long, env = "ZERODB_CONFIG")]
    config: Option<PathBuf>,
    /// Services besides postgres whose being down fails the command (comma-separated).
    #[arg(long, value_delimiter = ',')]
    require: Vec<String>,
    #[command(flatten)]
    services: ServicesArgs,
}

impl HealthArgs {
    /// The database URL, the services, and which of them are required.
    pub fn resolve(self) -> anyhow::Result<(String, ServicesConfig, Vec<ServiceId>)> {
        let file = read_file(self.config.as_deref())?;
        let database_url = database_url(self.database_url, &file)?;
        let mut required = vec![ServiceId::Postgres];
        for name in &self.require {
            match ServiceId::ALL.iter().find(|s| s.name() == name.trim()) {
                Some(id) => required.push(*id),
                None => bail!("--require: unknown service {name:?} (postgres, qdrant, minio, redpanda)"),
            }
        }
        Ok((database_url, self.services.resolve(&file)?, required))
    }
}

fn database_url(flag: Option<String>, file: &FileConfig) -> anyhow::Result<String> {
    let Some(url) = flag.or(file.database_url.clone()) else {
        bail!("no database: pass --database-url or set ZERODB_DATABASE_URL");
    };
    url.parse::<tokio_postgres::Config>()
        .context("the database URL is not a valid PostgreSQL connection string")?;
    Ok(url)
}

/// Where the database is, without credentials, for display.
pub fn database_endpoint(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "postgres".into();
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// Reads the TOML file, if one is given.
fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
        None => Ok(FileConfig::default()),
    }
}

/// Validated settings of `serve`.
pub struct ServeConfig {
    pub listen: String,
    pub database_url: String,
    pub component: PathBuf,
    pub migrate: bool,
    pub max_connections: usize,
    pub pool_wait: Duration,
    pub limits: InstanceLimits,
    pub shards: usize,
    pub auth_cache: Duration,
    /// Memory records' dimension where a project has declared none; none:
    /// the first record declares it.
    pub memory_dims: Option<u32>,
    pub origin_secret: Option<String>,
    pub max_response_bytes: usize,
    pub services: ServicesConfig,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("database_url", &"<hidden>")
            .field("component", &self.component)
            .field("migrate", &self.migrate)
            .field("max_connections", &self.max_connections)
            .field("pool_wait", &self.pool_wait)
            .field("limits", &self.limits)
            .field("shards", &self.shards)
            .field("auth_cache", &self.auth_cache)
            .field("memory_dims", &self.memory_dims)
            .field("services", &self.services)
            .finish()
    }
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = read_file(self.config.as_deref())?;
        let defaults = InstanceLimits::default();
        let env = cache_env(&self, &file)?;
        let services = self.services.resolve(&file)?;
        let origin_secret = self.origin_secret.or(file.origin_secret.clone());
        if origin_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("the origin secret must be at least 16 characters");
        }
        let memory_dims = self.memory_dims.or(file.memory_dims);
        if memory_dims.is_some_and(|d| d == 0 || d > edge_core::validate::MAX_DIMS) {
            bail!("memory dims must be between 1 and {}", edge_core::validate::MAX_DIMS);
        }
        let database_url = database_url(self.database_url, &file)?;
        let component = match self.component.or(file.component) {
            Some(path) => path,
            None => default_component()?,
        };
        if !component.is_file() {
            bail!("edge component {} does not exist", component.display());
        }
        let max_connections = self.db_max_connections.or(file.db_max_connections).unwrap_or(16);
        if max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        let limits = InstanceLimits {
            max_requests: self
                .instance_max_requests
                .or(file.instance_max_requests)
                .unwrap_or(defaults.max_requests)
                .max(1),
            max_memory_bytes: self
                .instance_max_memory_mb
                .or(file.instance_max_memory_mb)
                .map_or(defaults.max_memory_bytes, |mb| mb << 20),
            request_timeout: self
                .request_timeout_ms
                .or(file.request_timeout_ms)
                .map_or(defaults.request_timeout, Duration::from_millis),
            idle_timeout: defaults.idle_timeout,
            max_per_shard: self
                .edge_instances_per_shard
                .or(file.edge_instances_per_shard)
                .unwrap_or(defaults.max_per_shard)
                .max(1),
            env,
        };
        if limits.max_memory_bytes < 16 << 20 {
            bail!("instance_max_memory_mb must be at least 16");
        }
        Ok(ServeConfig {
            listen: self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            database_url,
            component,
            migrate: self.migrate || file.migrate.unwrap_or(false),
            max_connections,
            pool_wait: self
                .db_pool_wait_ms
                .or(file.db_pool_wait_ms)
                .map_or(crate::store::POOL_WAIT_TIMEOUT, Duration::from_millis),
            limits,
            shards: self
                .edge_shards
                .or(file.edge_shards)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .clamp(1, 64),
            auth_cache: Duration::from_millis(self.auth_cache_ms.or(file.auth_cache_ms).unwrap_or(2000)),
            memory_dims,
            origin_secret,
            max_response_bytes: self
                .max_response_bytes
                .or(file.max_response_bytes)
                .unwrap_or(256 << 20)
                .max(1 << 16),
            services,
        })
    }
}

/// The edge component's cache settings, handed to each instance as
/// environment variables.
fn cache_env(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = Vec::new();
    if let Some(bytes) = args.cache_bytes.or(file.cache_bytes) {
        if bytes < 1 << 20 {
            bail!("cache_bytes must be at least 1 MiB");
        }
        env.push(("ZERODB_CACHE_BYTES".to_string(), bytes.to_string()));
    }
    if let Some(ttl) = args.cache_ttl_ms.or(file.cache_ttl_ms) {
        env.push(("ZERODB_CACHE_TTL_MS".to_string(), ttl.to_string()));
    }
    if let Some(max) = args.hot_collection_max_vectors.or(file.hot_collection_max_vectors) {
        env.push(("ZERODB_HOT_COLLECTION_MAX_VECTORS".to_string(), max.to_string()));
    }
    Ok(env)
}

/// Where the project's build puts the edge component, relative to this binary:
/// beside it (an installed layout) or in cargo's target directory.
fn default_component() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [
        dir.join("edge.wasm"),
        dir.join("../wasm32-wasip2/release/edge.wasm"),
        dir.join("../../wasm32-wasip2/release/edge.wasm"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .context("edge component not found next to the binary; run scripts/build or pass --component")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// The default the README's configuration table gives for `variable`
    /// (its third column, up to the first space, without backticks).
    fn readme_default(variable: &str) -> String {
        let row = include_str!("../../README.md")
            .lines()
            .find(|l| l.starts_with(&format!("| `{variable}`")))
            .unwrap_or_else(|| panic!("the README has no row for {variable}"));
        let cell = row.split('|').nth(3).unwrap().trim().replace('`', "");
        cell.split(' ').next().unwrap().to_string()
    }

    /// `serve` with nothing set uses the defaults the README documents.
    #[test]
    fn defaults_are_the_documented_ones() {
        let component = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let cli =
            Cli::try_parse_from(["serve", "--database-url", "postgres://u@h/db", "--component", component]).unwrap();
        let c = cli.serve.resolve().unwrap();
        let cache = edge_core::cache::CacheConfig::default();
        let probe = &c.services.probe;
        let ms = |d: Duration| d.as_millis().to_string();
        let expected = [
            ("ZERODB_LISTEN", c.listen.clone()),
            ("ZERODB_DB_MAX_CONNECTIONS", c.max_connections.to_string()),
            ("ZERODB_DB_POOL_WAIT_MS", ms(c.pool_wait)),
            ("ZERODB_INSTANCE_MAX_REQUESTS", c.limits.max_requests.to_string()),
            (
                "ZERODB_INSTANCE_MAX_MEMORY_MB",
                (c.limits.max_memory_bytes >> 20).to_string(),
            ),
            ("ZERODB_REQUEST_TIMEOUT_MS", ms(c.limits.request_timeout)),
            ("ZERODB_MAX_RESPONSE_BYTES", c.max_response_bytes.to_string()),
            ("ZERODB_CACHE_BYTES", cache.budget_bytes.to_string()),
            ("ZERODB_CACHE_TTL_MS", ms(cache.ttl)),
            ("ZERODB_HOT_COLLECTION_MAX_VECTORS", cache.hot_max_vectors.to_string()),
            ("ZERODB_EDGE_INSTANCES_PER_SHARD", c.limits.max_per_shard.to_string()),
            ("ZERODB_AUTH_CACHE_MS", ms(c.auth_cache)),
            ("ZERODB_REDPANDA_TOPIC", c.services.topic.clone()),
            ("ZERODB_HEALTH_INTERVAL_MS", ms(probe.interval)),
            ("ZERODB_HEALTH_DOWN_INTERVAL_MS", ms(probe.down_interval)),
            ("ZERODB_HEALTH_TIMEOUT_MS", ms(probe.timeout)),
            (
                "ZERODB_HEALTH_UNHEALTHY_THRESHOLD",
                probe.unhealthy_threshold.to_string(),
            ),
            ("ZERODB_HEALTH_HEALTHY_THRESHOLD", probe.healthy_threshold.to_string()),
            ("ZERODB_HEALTH_LATENCY_BOUND_MS", ms(probe.latency_bound)),
        ];
        for (variable, value) in expected {
            assert_eq!(readme_default(variable), value, "{variable}");
        }
    }
}
