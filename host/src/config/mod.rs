//! `serve` and `health` configuration: flags, `ZERODB_*` environment
//! variables, and an optional TOML file, in that order of precedence;
//! validated before any socket is bound. The database URL is never printed
//! (it may hold a password).
//!
//! Each concern is one struct whose fields are declared once (see `layers`):
//! the process in `server`, the edge instances and their cache in
//! `instances`, the backing services and probes in `services`. This module
//! imports no other part of the host; they take its validated values.

mod embedding;
mod instances;
mod layers;
mod server;
mod services;

pub use embedding::{EmbeddingConfig, ModelSpec, Pooling};
pub use instances::InstancesConfig;
pub use server::{PoolConfig, POOL_WAIT};
pub use services::{ProbeConfig, S3Config, ServicesConfig};

use edge_core::cache::CacheConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Every `serve` setting.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct ServeSettings {
    #[command(flatten)]
    #[serde(flatten)]
    database: server::Database,
    #[command(flatten)]
    #[serde(flatten)]
    server: server::Server,
    #[command(flatten)]
    #[serde(flatten)]
    pool: server::Pool,
    #[command(flatten)]
    #[serde(flatten)]
    instances: instances::Instances,
    #[command(flatten)]
    #[serde(flatten)]
    cache: instances::Cache,
    #[command(flatten)]
    #[serde(flatten)]
    records: server::Records,
    #[command(flatten)]
    #[serde(flatten)]
    origin: server::OriginApi,
    #[command(flatten)]
    #[serde(flatten)]
    embedding: embedding::Embedding,
    #[command(flatten)]
    #[serde(flatten)]
    services: services::ServicesArgs,
}

#[derive(clap::Args, Default)]
pub struct ServeArgs {
    /// A TOML file with any of these settings (snake_case keys).
    #[arg(long, env = "ZERODB_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: ServeSettings,
}

/// Validated settings of `serve`.
pub struct ServeConfig {
    pub listen: String,
    pub database_url: String,
    pub component: PathBuf,
    pub migrate: bool,
    pub pool: PoolConfig,
    pub instances: InstancesConfig,
    /// What each instance's cache is told.
    pub cache: CacheConfig,
    /// How long a resolved key is trusted.
    pub auth_cache: Duration,
    /// Memory records' dimension where a project has declared none; none:
    /// the first record declares it.
    pub memory_dims: Option<u32>,
    pub origin_secret: Option<String>,
    /// The embedding models and their queues.
    pub embedding: EmbeddingConfig,
    pub services: ServicesConfig,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("database_url", &"<hidden>")
            .field("component", &self.component)
            .field("migrate", &self.migrate)
            .field("pool", &self.pool)
            .field("instances", &self.instances)
            .field("cache", &self.cache)
            .field("auth_cache", &self.auth_cache)
            .field("memory_dims", &self.memory_dims)
            .field("embedding", &self.embedding)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = layers::read_file::<ServeSettings>(self.config.as_deref())?;
        let s = layers::stack(&self.settings, &file)?;
        let cache = s.cache.resolve()?;
        let services = s.services.resolve()?;
        let origin_secret = s.origin.resolve()?;
        let (auth_cache, memory_dims) = s.records.resolve()?;
        let database_url = s.database.resolve()?;
        let (listen, component, migrate) = s.server.resolve()?;
        let pool = s.pool.resolve()?;
        let instances = s.instances.resolve()?;
        let embedding = s.embedding.resolve()?;
        Ok(ServeConfig {
            listen,
            database_url,
            component,
            migrate,
            pool,
            instances,
            cache,
            auth_cache,
            memory_dims,
            origin_secret,
            embedding,
            services,
        })
    }
}

/// The `health` settings: the database and the services of `serve`.
#[derive(clap::Args, Serialize, Deserialize)]
struct HealthSettings {
    #[command(flatten)]
    #[serde(flatten)]
    database: server::Database,
    #[command(flatten)]
    #[serde(flatten)]
    services: services::ServicesArgs,
}

/// Settings of `health`: the same services as `serve`, probed once.
#[derive(clap::Args)]
pub struct HealthArgs {
    /// A TOML file with any of the `serve` settings.
    #[arg(long, env = "ZERODB_CONFIG")]
    config: Option<PathBuf>,
    /// Services besides postgres whose being down fails the command (comma-separated).
    #[arg(long, value_delimiter = ',')]
    require: Vec<String>,
    #[command(flatten)]
    settings: HealthSettings,
}

impl HealthArgs {
    /// The database URL, the services, and the names of those `--require`d.
    pub fn resolve(self) -> anyhow::Result<(String, ServicesConfig, Vec<String>)> {
        let file = layers::read_file::<ServeSettings>(self.config.as_deref())?;
        let s = layers::stack(&self.settings, &file)?;
        Ok((s.database.resolve()?, s.services.resolve()?, self.require))
    }
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

#[cfg(test)]
mod tests;
