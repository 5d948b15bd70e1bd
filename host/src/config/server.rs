//! The settings of the process itself: where it listens, the database and
//! its pool, the component it runs, keys, memory records and the origin API.

use super::layers::is_off;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a request may queue for a busy pool's next free connection, by
/// default (and in the commands besides `serve`). Longer than a connect: a
/// full pool under load is slow, not broken.
pub const POOL_WAIT: Duration = Duration::from_secs(10);

/// The database, for `serve` and `health`.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Database {
    /// PostgreSQL connection URL.
    #[arg(long, env = "ZERODB_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

impl Database {
    /// The URL, checked to be a PostgreSQL connection string (never printed:
    /// it may hold a password).
    pub fn resolve(self) -> anyhow::Result<String> {
        let Some(url) = self.database_url else {
            bail!("no database: pass --database-url or set ZERODB_DATABASE_URL");
        };
        url.parse::<tokio_postgres::Config>()
            .context("the database URL is not a valid PostgreSQL connection string")?;
        Ok(url)
    }
}

/// Where `serve` listens and what it runs.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Server {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, env = "ZERODB_LISTEN")]
    listen: Option<String>,
    /// The edge component (.wasm); by default the one built next to this binary.
    #[arg(long, env = "ZERODB_COMPONENT")]
    component: Option<PathBuf>,
    /// Apply pending schema migrations before serving.
    #[arg(long, env = "ZERODB_MIGRATE")]
    #[serde(default, skip_serializing_if = "is_off")]
    migrate: bool,
}

impl Server {
    /// The listen address, the component (checked to exist) and whether to migrate.
    pub fn resolve(self) -> anyhow::Result<(String, PathBuf, bool)> {
        let component = match self.component {
            Some(path) => path,
            None => default_component()?,
        };
        if !component.is_file() {
            bail!("edge component {} does not exist", component.display());
        }
        let listen = self.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        Ok((listen, component, self.migrate))
    }
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

/// The PostgreSQL connection pool.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Pool {
    /// Most PostgreSQL connections in the pool.
    #[arg(long, env = "ZERODB_DB_MAX_CONNECTIONS")]
    db_max_connections: Option<usize>,
    /// How long a request may wait for a free connection of a busy pool, in milliseconds.
    #[arg(long, env = "ZERODB_DB_POOL_WAIT_MS")]
    db_pool_wait_ms: Option<u64>,
}

/// Validated pool settings.
#[derive(Debug)]
pub struct PoolConfig {
    pub max_connections: usize,
    /// How long a request waits for a free connection.
    pub wait: Duration,
}

impl Pool {
    pub fn resolve(self) -> anyhow::Result<PoolConfig> {
        let max_connections = self.db_max_connections.unwrap_or(16);
        if max_connections == 0 {
            bail!("db_max_connections must be at least 1");
        }
        Ok(PoolConfig {
            max_connections,
            wait: self.db_pool_wait_ms.map_or(POOL_WAIT, Duration::from_millis),
        })
    }
}

/// What the store keeps: resolved keys, and memory records' dimension.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Records {
    /// How long a resolved API key is trusted before it is looked up again, in milliseconds.
    #[arg(long, env = "ZERODB_AUTH_CACHE_MS")]
    auth_cache_ms: Option<u64>,
    /// The embedding dimension of memory records, for every project that has
    /// not declared one with its first record (1 to 16000).
    #[arg(long, env = "ZERODB_MEMORY_DIMS")]
    memory_dims: Option<u32>,
}

impl Records {
    /// How long a key is trusted, and the memory dimension if one is set.
    pub fn resolve(self) -> anyhow::Result<(Duration, Option<u32>)> {
        if self
            .memory_dims
            .is_some_and(|d| d == 0 || d > edge_core::validate::MAX_DIMS)
        {
            bail!("memory dims must be between 1 and {}", edge_core::validate::MAX_DIMS);
        }
        Ok((
            Duration::from_millis(self.auth_cache_ms.unwrap_or(2000)),
            self.memory_dims,
        ))
    }
}

/// The origin API served to edge components in other hosts.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct OriginApi {
    /// Serve the origin API (`/origin/v1/`) to edge components in other
    /// hosts, with this shared secret (at least 16 characters).
    #[arg(long, env = "ZERODB_ORIGIN_SECRET", hide_env_values = true)]
    origin_secret: Option<String>,
}

impl OriginApi {
    /// The shared secret, when the API is on.
    pub fn resolve(self) -> anyhow::Result<Option<String>> {
        if self.origin_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("the origin secret must be at least 16 characters");
        }
        Ok(self.origin_secret)
    }
}
