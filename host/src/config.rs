//! `serve` configuration: flags, `ZERODB_*` environment variables, and an
//! optional TOML file, in that order of precedence; validated before any
//! socket is bound. The database URL is never printed (it may hold a password).

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
    /// Requests an edge instance serves before it is replaced.
    #[arg(long, env = "ZERODB_INSTANCE_MAX_REQUESTS")]
    instance_max_requests: Option<usize>,
    /// Linear-memory ceiling of an edge instance, in MiB.
    #[arg(long, env = "ZERODB_INSTANCE_MAX_MEMORY_MB")]
    instance_max_memory_mb: Option<usize>,
    /// Deadline of one request, in milliseconds.
    #[arg(long, env = "ZERODB_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
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
    /// How long a resolved API key is trusted before it is looked up again, in milliseconds.
    #[arg(long, env = "ZERODB_AUTH_CACHE_MS")]
    auth_cache_ms: Option<u64>,
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
    instance_max_requests: Option<usize>,
    instance_max_memory_mb: Option<usize>,
    request_timeout_ms: Option<u64>,
    cache_bytes: Option<usize>,
    cache_ttl_ms: Option<u64>,
    hot_collection_max_vectors: Option<u64>,
    edge_shards: Option<usize>,
    auth_cache_ms: Option<u64>,
}

/// Validated settings of `serve`.
pub struct ServeConfig {
    pub listen: String,
    pub database_url: String,
    pub component: PathBuf,
    pub migrate: bool,
    pub max_connections: usize,
    pub limits: InstanceLimits,
    pub shards: usize,
    pub auth_cache: Duration,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("database_url", &"<hidden>")
            .field("component", &self.component)
            .field("migrate", &self.migrate)
            .field("max_connections", &self.max_connections)
            .field("limits", &self.limits)
            .field("shards", &self.shards)
            .field("auth_cache", &self.auth_cache)
            .finish()
    }
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let defaults = InstanceLimits::default();
        let env = cache_env(&self, &file)?;
        let Some(database_url) = self.database_url.or(file.database_url) else {
            bail!("no database: pass --database-url or set ZERODB_DATABASE_URL");
        };
        database_url
            .parse::<tokio_postgres::Config>()
            .context("the database URL is not a valid PostgreSQL connection string")?;
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
            limits,
            shards: self
                .edge_shards
                .or(file.edge_shards)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .clamp(1, 64),
            auth_cache: Duration::from_millis(self.auth_cache_ms.or(file.auth_cache_ms).unwrap_or(2000)),
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
