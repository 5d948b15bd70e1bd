//! The backing services besides Postgres (Qdrant, Redpanda, MinIO for
//! files) and how they are probed. A service without a URL is `disabled`.
//! Their URLs are checked as probe endpoints by `app`, before anything starts.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Qdrant and Redpanda.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Services {
    /// Qdrant's HTTP API, e.g. http://127.0.0.1:6333.
    #[arg(long, env = "ZERODB_QDRANT_URL")]
    qdrant_url: Option<String>,
    /// Redpanda's admin API, e.g. http://127.0.0.1:9644.
    #[arg(long, env = "ZERODB_REDPANDA_ADMIN_URL")]
    redpanda_admin_url: Option<String>,
    /// Kafka API brokers, comma-separated host:port.
    #[arg(long, env = "ZERODB_REDPANDA_BROKERS")]
    redpanda_brokers: Option<String>,
    /// The topic change events go to.
    #[arg(long, env = "ZERODB_REDPANDA_TOPIC")]
    redpanda_topic: Option<String>,
}

/// MinIO, where files are stored.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Files {
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
}

/// Health probes.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct Probes {
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

/// All the services' settings, as `serve` and `health` take them.
#[derive(clap::Args, Serialize, Deserialize, Default)]
pub struct ServicesArgs {
    #[command(flatten)]
    #[serde(flatten)]
    services: Services,
    #[command(flatten)]
    #[serde(flatten)]
    files: Files,
    #[command(flatten)]
    #[serde(flatten)]
    probes: Probes,
}

/// How probes turn into states: Envoy-style thresholds.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    pub interval: Duration,
    /// Interval while a service is down.
    pub down_interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before `down`.
    pub unhealthy_threshold: u32,
    /// Consecutive successes before a `down` service is `healthy` again.
    pub healthy_threshold: u32,
    /// A probe slower than this marks the service `degraded`.
    pub latency_bound: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            interval: Duration::from_secs(5),
            down_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            latency_bound: Duration::from_secs(1),
        }
    }
}

/// Where files go: the S3 endpoint, credentials and bucket.
#[derive(Clone)]
pub struct S3Config {
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub bucket: String,
    pub region: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("url", &self.url)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
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

impl ServicesConfig {
    /// Every configured URL that is probed over HTTP.
    pub fn probed_urls(&self) -> impl Iterator<Item = &str> {
        let s3 = self.s3.as_ref().map(|s3| &s3.url);
        [&self.qdrant, &self.redpanda_admin]
            .into_iter()
            .flatten()
            .chain(s3)
            .map(String::as_str)
    }
}

impl ServicesArgs {
    pub fn resolve(self) -> anyhow::Result<ServicesConfig> {
        let Services {
            qdrant_url,
            redpanda_admin_url,
            redpanda_brokers,
            redpanda_topic,
        } = self.services;
        let brokers = redpanda_brokers
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        Ok(ServicesConfig {
            probe: self.probes.resolve()?,
            qdrant: qdrant_url,
            s3: self.files.resolve()?,
            redpanda_admin: redpanda_admin_url,
            brokers,
            topic: redpanda_topic.unwrap_or_else(|| "zerodb.events".into()),
        })
    }
}

impl Probes {
    fn resolve(self) -> anyhow::Result<ProbeConfig> {
        let defaults = ProbeConfig::default();
        let ms = |set: Option<u64>, default: Duration| set.map_or(default, Duration::from_millis);
        let interval = ms(self.health_interval_ms, defaults.interval);
        let probe = ProbeConfig {
            interval,
            // By default a service that is down is probed at least as often as one that is up.
            down_interval: ms(self.health_down_interval_ms, defaults.down_interval.min(interval)),
            timeout: ms(self.health_timeout_ms, defaults.timeout),
            unhealthy_threshold: self.health_unhealthy_threshold.unwrap_or(defaults.unhealthy_threshold),
            healthy_threshold: self.health_healthy_threshold.unwrap_or(defaults.healthy_threshold),
            latency_bound: ms(self.health_latency_bound_ms, defaults.latency_bound),
        };
        if probe.interval.is_zero() || probe.down_interval.is_zero() || probe.timeout.is_zero() {
            bail!("health intervals and timeout must be above 0 ms");
        }
        if probe.unhealthy_threshold == 0 || probe.healthy_threshold == 0 {
            bail!("health thresholds must be at least 1");
        }
        Ok(probe)
    }
}

impl Files {
    /// The S3 settings, when MinIO is configured: then credentials and a
    /// bucket are required too.
    fn resolve(self) -> anyhow::Result<Option<S3Config>> {
        let Some(url) = self.minio_url else {
            return Ok(None);
        };
        let need = |value: Option<String>, name: &str| {
            value.with_context(|| format!("ZERODB_MINIO_URL is set, so {name} must be too"))
        };
        Ok(Some(S3Config {
            access_key: need(self.minio_access_key, "ZERODB_MINIO_ACCESS_KEY")?,
            secret_key: need(self.minio_secret_key, "ZERODB_MINIO_SECRET_KEY")?,
            bucket: need(self.minio_bucket, "ZERODB_MINIO_BUCKET")?,
            region: self.minio_region.unwrap_or_else(|| "us-east-1".into()),
            url,
        }))
    }
}
