//! The HTTP health checks (Qdrant, MinIO, the Redpanda admin API), each read
//! the way the service's own sources define its endpoints (the README's health table),
//! and [`Sequence`], which runs checks in order. The Postgres check lives
//! with the store, the Kafka check with the event publisher.

use super::{Check, Outcome};
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use std::time::Duration;

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

/// `GET /readyz`; in cluster mode also `GET /cluster`.
pub struct Qdrant(pub Endpoint);

impl Check for Qdrant {
    fn check(&self, _timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(async move { qdrant(&self.0).await.unwrap_or_else(|o| o) })
    }
}

/// Write and read quorum: `GET /minio/health/cluster` and `/minio/health/cluster/read`.
/// (`/minio/health/live` answers 200 even while the node is offline.)
pub struct Minio(pub Endpoint);

impl Check for Minio {
    fn check(&self, _timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(async move { minio(&self.0).await.unwrap_or_else(|o| o) })
    }
}

/// Redpanda's admin API: `GET /v1/status/ready` (always 200: the body
/// decides) and `GET /v1/cluster/health_overview`.
pub struct RedpandaAdmin(pub Endpoint);

impl Check for RedpandaAdmin {
    fn check(&self, _timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(async move { redpanda_admin(&self.0).await.unwrap_or_else(|o| o) })
    }
}

/// Runs its checks in order and stops at the first failure; otherwise the
/// first degraded outcome, else up.
pub struct Sequence(pub Vec<Box<dyn Check>>);

impl Check for Sequence {
    fn check(&self, timeout: Duration) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let mut result = Outcome::Up;
            for check in &self.0 {
                match check.check(timeout).await {
                    Outcome::Up => {}
                    Outcome::Degraded(reason) => {
                        if matches!(result, Outcome::Up) {
                            result = Outcome::Degraded(reason);
                        }
                    }
                    failed => return failed,
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Outcome);

    impl Check for Fixed {
        fn check(&self, _timeout: Duration) -> BoxFuture<'_, Outcome> {
            Box::pin(async move { self.0.clone() })
        }
    }

    fn failed(error: &str) -> Outcome {
        Outcome::Failed {
            error: error.into(),
            refused: false,
        }
    }

    async fn run(outcomes: Vec<Outcome>) -> Outcome {
        let checks = outcomes
            .into_iter()
            .map(|o| Box::new(Fixed(o)) as Box<dyn Check>)
            .collect();
        Sequence(checks).check(Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn a_sequence_answers_its_first_failure_else_its_first_degradation() {
        assert_eq!(run(vec![]).await, Outcome::Up);
        assert_eq!(run(vec![Outcome::Up, Outcome::Up]).await, Outcome::Up);
        let degraded = Outcome::Degraded("unhealthy".into());
        assert_eq!(run(vec![degraded.clone(), Outcome::Up]).await, degraded);
        assert_eq!(run(vec![degraded.clone(), failed("kafka")]).await, failed("kafka"));
        assert_eq!(run(vec![failed("admin"), failed("kafka")]).await, failed("admin"));
        assert_eq!(
            run(vec![Outcome::Up, degraded.clone(), Outcome::Degraded("later".into())]).await,
            degraded
        );
    }
}
