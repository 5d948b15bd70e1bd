//! Active health checks, each read the way the service's own sources define
//! its endpoints (DESIGN.md §5), and the task that runs them on a jittered
//! interval.

use super::{Outcome, ProbeConfig, Registry, ServiceId};
use crate::config::ServicesConfig;
use crate::store::Store;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A plain-HTTP service address: `http://host:port[/prefix]`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let uri: http::Uri = url.parse().map_err(|e| anyhow::anyhow!("{url:?} is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            anyhow::bail!("{url:?}: health probes speak plain http:// (put TLS in front of the probe path)");
        }
        let host = uri.host().ok_or_else(|| anyhow::anyhow!("{url:?} has no host"))?;
        Ok(Endpoint {
            host: host.trim_matches(['[', ']']).to_string(),
            port: uri.port_u16().unwrap_or(80),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// `GET prefix + path`: status and body (at most 64 KiB).
    async fn get(&self, path: &str) -> Result<(u16, Bytes), Outcome> {
        let failed = |error: String, refused| Outcome::Failed { error, refused };
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                let refused = e.kind() == std::io::ErrorKind::ConnectionRefused;
                failed(format!("connect {}:{}: {e}", self.host, self.port), refused)
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(format!("http handshake: {e}"), false))?;
        let conn = tokio::spawn(conn);
        let request = http::Request::get(format!("{}{path}", self.prefix))
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(e.to_string(), false))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| failed(format!("GET {path}: {e}"), false))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), 64 << 10)
            .collect()
            .await
            .map_err(|e| failed(format!("GET {path}: body: {e}"), false))?
            .to_bytes();
        conn.abort();
        Ok((status, body))
    }
}

/// How one service is checked.
pub enum Probe {
    /// `SELECT 1` on the store's probe connection, past the circuit breaker.
    Postgres(Store),
    /// `GET /readyz`; in cluster mode also `GET /cluster`.
    Qdrant(Endpoint),
    /// Write and read quorum: `GET /minio/health/cluster` and `/minio/health/cluster/read`.
    /// (`/minio/health/live` answers 200 even while the node is offline.)
    Minio(Endpoint),
    /// Admin API `GET /v1/status/ready` (always 200: the body decides) and
    /// `GET /v1/cluster/health_overview`; and the Kafka API (connect + Metadata).
    Redpanda {
        admin: Option<Endpoint>,
        brokers: Vec<String>,
    },
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
}

/// A health endpoint that answered, but not "healthy".
fn answered(path: &str, status: u16, body: &[u8]) -> Outcome {
    let short = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
    Outcome::Failed {
        error: format!("{path} answered {status} {short}"),
        refused: false,
    }
}

impl Probe {
    pub async fn check(&self, timeout: Duration) -> Outcome {
        match self {
            Probe::Postgres(store) => match store.ping().await {
                Ok(()) => Outcome::Up,
                Err((error, refused)) => Outcome::Failed { error, refused },
            },
            Probe::Qdrant(endpoint) => qdrant(endpoint).await.unwrap_or_else(|o| o),
            Probe::Minio(endpoint) => minio(endpoint).await.unwrap_or_else(|o| o),
            Probe::Redpanda { admin, brokers } => {
                let admin = match admin {
                    Some(admin) => redpanda_admin(admin).await.unwrap_or_else(|o| o),
                    None => Outcome::Up,
                };
                if matches!(admin, Outcome::Failed { .. }) || brokers.is_empty() {
                    return admin;
                }
                match kafka(brokers, timeout).await {
                    Outcome::Up => admin,
                    failed => failed,
                }
            }
        }
    }
}

async fn qdrant(endpoint: &Endpoint) -> Result<Outcome, Outcome> {
    let (status, body) = endpoint.get("/readyz").await?;
    if status != 200 {
        return Ok(answered("/readyz", status, &body));
    }
    // Only a cluster-mode node has consensus to report on.
    if let Ok((200, body)) = endpoint.get("/cluster").await {
        let cluster = json(&body);
        let result = &cluster["result"];
        if result["status"] == "enabled" {
            let consensus = &result["consensus_thread_status"]["consensus_thread_status"];
            if consensus != "working" {
                return Ok(Outcome::Degraded(format!("cluster consensus thread is {consensus}")));
            }
        }
    }
    Ok(Outcome::Up)
}

async fn minio(endpoint: &Endpoint) -> Result<Outcome, Outcome> {
    for path in ["/minio/health/cluster", "/minio/health/cluster/read"] {
        let (status, body) = endpoint.get(path).await?;
        if status != 200 {
            return Ok(answered(path, status, &body));
        }
    }
    Ok(Outcome::Up)
}

async fn redpanda_admin(endpoint: &Endpoint) -> Result<Outcome, Outcome> {
    let (status, body) = endpoint.get("/v1/status/ready").await?;
    let ready = json(&body);
    if status != 200 || ready["status"] != "ready" {
        return Ok(answered("/v1/status/ready", status, &body));
    }
    let (status, body) = endpoint.get("/v1/cluster/health_overview").await?;
    let overview = json(&body);
    Ok(match overview["is_healthy"].as_bool() {
        Some(true) => Outcome::Up,
        Some(false) => Outcome::Degraded(format!(
            "cluster unhealthy: {}",
            overview.get("unhealthy_reasons").unwrap_or(&serde_json::Value::Null)
        )),
        None => answered("/v1/cluster/health_overview", status, &body),
    })
}

/// Connects to the brokers and asks for the cluster's metadata.
async fn kafka(brokers: &[String], timeout: Duration) -> Outcome {
    let check = async {
        let client = crate::events::kafka_client(brokers, timeout).await?;
        client.list_topics().await.map(|_| ())
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(Ok(())) => Outcome::Up,
        Ok(Err(e)) => {
            let error = e.to_string();
            let refused = error.to_ascii_lowercase().contains("connection refused");
            Outcome::Failed { error, refused }
        }
        Err(_) => Outcome::Failed {
            error: "kafka metadata timed out".into(),
            refused: false,
        },
    }
}

/// Runs `probe` for `service` until the process ends: every `interval` less
/// up to 15 % jitter (so never later than the interval), every
/// `down_interval` while the service is down, each bounded by `timeout`.
pub fn spawn(registry: Arc<Registry>, service: ServiceId, probe: Probe) {
    tokio::spawn(async move {
        let config: ProbeConfig = registry.probe.clone();
        let target = registry.service(service).clone();
        tokio::time::sleep(first_delay(&config)).await;
        loop {
            target.expire_ejection(Instant::now());
            let start = Instant::now();
            let outcome = match tokio::time::timeout(config.timeout, probe.check(config.timeout)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Failed {
                    error: format!("no answer within {} ms", config.timeout.as_millis()),
                    refused: false,
                },
            };
            target.record_probe(outcome, start.elapsed(), &config);
            tokio::time::sleep(next_delay(&config, target.usable())).await;
        }
    });
}

/// Before a prober's first probe: an initial jitter, so that probers
/// started together spread out.
fn first_delay(config: &ProbeConfig) -> Duration {
    jittered(config.interval / 10)
}

/// Between probes: the interval, or the down interval while the service is
/// not usable, less up to 15 % jitter (so never later than the interval).
fn next_delay(config: &ProbeConfig, usable: bool) -> Duration {
    jittered(if usable { config.interval } else { config.down_interval })
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 - rand::thread_rng().gen_range(0.0..0.15))
}

/// The probe of every configured service.
pub fn configured(config: &ServicesConfig, store: &Store) -> anyhow::Result<Vec<(ServiceId, Probe)>> {
    let mut probes = vec![(ServiceId::Postgres, Probe::Postgres(store.clone()))];
    if let Some(url) = &config.qdrant {
        probes.push((ServiceId::Qdrant, Probe::Qdrant(Endpoint::parse(url)?)));
    }
    if let Some(s3) = &config.s3 {
        probes.push((ServiceId::Minio, Probe::Minio(Endpoint::parse(&s3.url)?)));
    }
    if !config.brokers.is_empty() || config.redpanda_admin.is_some() {
        let admin = config.redpanda_admin.as_deref().map(Endpoint::parse).transpose()?;
        probes.push((
            ServiceId::Redpanda,
            Probe::Redpanda {
                admin,
                brokers: config.brokers.clone(),
            },
        ));
    }
    Ok(probes)
}

/// Runs every probe once, at the same time (what `zerodb-edge health` shows).
pub async fn check_once(registry: &Registry, probes: Vec<(ServiceId, Probe)>) {
    let config = &registry.probe;
    let checks = probes.into_iter().map(|(id, probe)| async move {
        let start = Instant::now();
        let outcome = tokio::time::timeout(config.timeout, probe.check(config.timeout))
            .await
            .unwrap_or_else(|_| Outcome::Failed {
                error: format!("no answer within {} ms", config.timeout.as_millis()),
                refused: false,
            });
        registry.service(id).record_probe(outcome, start.elapsed(), config);
    });
    futures::future::join_all(checks).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks 1000 draws of `delay` against `[85 % of full, full]`, and that
    /// they spread over that range.
    fn spread(delay: impl Fn() -> Duration, full: Duration) {
        let draws: Vec<Duration> = (0..1000).map(|_| delay()).collect();
        for d in &draws {
            assert!(*d <= full, "{d:?} is later than {full:?}");
            assert!(*d >= full.mul_f64(0.85), "{d:?} is below 85 % of {full:?}");
        }
        let (min, max) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        // With 1000 uniform draws, both ends of the range are reached.
        assert!(*min < full.mul_f64(0.87), "no draw near 85 %: min {min:?} of {full:?}");
        assert!(*max > full.mul_f64(0.98), "no draw near 100 %: max {max:?} of {full:?}");
    }

    #[test]
    fn probes_come_every_interval_less_up_to_15_percent() {
        let config = ProbeConfig {
            interval: Duration::from_millis(5000),
            down_interval: Duration::from_millis(2000),
            ..ProbeConfig::default()
        };
        spread(|| next_delay(&config, true), config.interval);
        // While the service is down, the down interval, jittered alike.
        spread(|| next_delay(&config, false), config.down_interval);
        // The first probe waits a jittered tenth of the interval.
        spread(|| first_delay(&config), config.interval / 10);
    }
}
