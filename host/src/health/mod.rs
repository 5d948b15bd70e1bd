//! The service registry: which backing service can serve right now, and the
//! routing table derived from it (the README's health and routing section).
//!
//! A leaf module: it knows services by id and endpoint string, and checks
//! them through the [`Check`] trait; the checks themselves live beside their
//! clients (the store, the event publisher) or in [`checks`] (plain HTTP),
//! and `app` wires them to the registry.
//!
//! Each configured service has one prober task ([`probe`]) that feeds
//! [`Service::record_probe`]; real traffic feeds [`Service::record_traffic`]
//! (passive ejection). Request paths only read [`Service::usable`], an atomic,
//! so a dead service costs a request nothing: Postgres' circuit breaker, the
//! file routes and the event publisher all consult it before trying.

pub mod checks;
pub mod probe;
mod service;

pub use service::Service;

use futures::future::BoxFuture;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Configured, not probed yet; treated as usable.
    Unknown,
    Healthy,
    /// Answers, but reports trouble or answers slower than the latency bound.
    Degraded,
    Down,
    /// No URL configured.
    Disabled,
}

impl Status {
    const ALL: [Status; 5] = [
        Status::Unknown,
        Status::Healthy,
        Status::Degraded,
        Status::Down,
        Status::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Disabled => "disabled",
        }
    }

    fn usable(self) -> bool {
        matches!(self, Status::Unknown | Status::Healthy | Status::Degraded)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceId {
    Postgres,
    Qdrant,
    Minio,
    Redpanda,
}

impl ServiceId {
    pub const ALL: [ServiceId; 4] = [
        ServiceId::Postgres,
        ServiceId::Qdrant,
        ServiceId::Minio,
        ServiceId::Redpanda,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServiceId::Postgres => "postgres",
            ServiceId::Qdrant => "qdrant",
            ServiceId::Minio => "minio",
            ServiceId::Redpanda => "redpanda",
        }
    }
}

/// What one probe found.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Up,
    /// Answers, but says it is not well (e.g. Redpanda `is_healthy: false`).
    Degraded(String),
    /// No good answer. `refused` (nothing listens) counts as down at once.
    Failed {
        error: String,
        refused: bool,
    },
}

/// One service's active health check. `timeout` bounds the whole check (the
/// prober enforces it too); a check may use it for its own client.
pub trait Check: Send + Sync + 'static {
    fn check(&self, timeout: Duration) -> BoxFuture<'_, Outcome>;
}

/// How probes turn into states; a setting of `serve` and `health`.
pub use crate::config::ProbeConfig;

/// One operation's route: the service that serves it now and what happens
/// when that one cannot.
#[derive(Serialize)]
pub struct Route {
    pub operation: &'static str,
    pub route: &'static str,
    pub fallback: &'static str,
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred: Option<&'static str>,
}

/// Every service's health, shared by the whole process.
pub struct Registry {
    pub services: [Arc<Service>; 4],
    pub probe: ProbeConfig,
    /// Whether change events are published (Kafka brokers are configured).
    pub events: bool,
    /// Events still waiting in the Postgres outbox (-1: not known yet).
    pub outbox_depth: std::sync::atomic::AtomicI64,
}

impl Registry {
    /// The registry of the services at `endpoints` (Postgres, Qdrant, MinIO,
    /// Redpanda; none: not configured), probed by `probe`; `events` says
    /// whether change events are published (Kafka brokers are configured).
    pub fn new(probe: ProbeConfig, endpoints: [Option<String>; 4], events: bool) -> Registry {
        let [pg, qdrant, minio, redpanda] = endpoints;
        Registry {
            services: [
                Arc::new(Service::new(ServiceId::Postgres, pg)),
                Arc::new(Service::new(ServiceId::Qdrant, qdrant)),
                Arc::new(Service::new(ServiceId::Minio, minio)),
                Arc::new(Service::new(ServiceId::Redpanda, redpanda)),
            ],
            events,
            probe,
            outbox_depth: std::sync::atomic::AtomicI64::new(-1),
        }
    }

    pub fn service(&self, id: ServiceId) -> &Arc<Service> {
        &self.services[ServiceId::ALL.iter().position(|s| *s == id).unwrap_or(0)]
    }

    /// The routing table, from the services' states now.
    pub fn routes(&self) -> Vec<Route> {
        let pg = self.service(ServiceId::Postgres).usable();
        let qdrant = self.service(ServiceId::Qdrant).status();
        let minio = self.service(ServiceId::Minio);
        let redpanda = self.service(ServiceId::Redpanda);
        let events_on = self.events;
        vec![
            Route {
                operation: "search",
                route: "postgres",
                fallback: "edge cache, served stale; a miss answers 503",
                available: pg,
                // Searches stay on pgvector until a Qdrant client exists.
                preferred: matches!(qdrant, Status::Healthy | Status::Degraded).then_some("qdrant"),
            },
            Route {
                operation: "read",
                route: "postgres",
                fallback: "edge cache, served stale; a miss answers 503",
                available: pg,
                preferred: None,
            },
            Route {
                operation: "write",
                route: "postgres",
                fallback: "none: 503 with Retry-After",
                available: pg,
                preferred: None,
            },
            Route {
                operation: "events",
                route: match (events_on, redpanda.usable()) {
                    (false, _) => "none (redpanda not configured)",
                    (true, true) => "redpanda",
                    (true, false) => "outbox",
                },
                fallback: "postgres outbox, drained in order when redpanda is back",
                available: events_on && pg,
                preferred: None,
            },
            Route {
                operation: "files",
                route: "minio",
                fallback: "none: 503 with Retry-After",
                available: minio.usable() && minio.status() != Status::Disabled,
                preferred: None,
            },
        ]
    }

    /// Overall: `down` when Postgres is, `degraded` when another configured
    /// service is not healthy.
    pub fn overall(&self) -> &'static str {
        if !self.service(ServiceId::Postgres).usable() {
            return "down";
        }
        let all_well = self
            .services
            .iter()
            .all(|s| matches!(s.status(), Status::Healthy | Status::Unknown | Status::Disabled));
        if all_well {
            "ok"
        } else {
            "degraded"
        }
    }

    /// What `/v1/health` shows.
    pub fn to_json(&self) -> serde_json::Value {
        let services: serde_json::Map<String, serde_json::Value> = self
            .services
            .iter()
            .map(|s| (s.id.name().to_string(), serde_json::json!(s.snapshot())))
            .collect();
        let depth = self.outbox_depth.load(Ordering::Relaxed);
        serde_json::json!({
            "status": self.overall(),
            "services": services,
            "routes": self.routes(),
            "outbox": {"depth": (depth >= 0).then_some(depth)},
        })
    }

    /// The table `zerodb-edge health` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<10} {:<9} {:>10} {:>9}  {:<32} {}\n",
            "SERVICE", "STATUS", "LATENCY", "FAILURES", "ENDPOINT", "LAST ERROR"
        );
        for service in &self.services {
            let s = service.snapshot();
            out += &format!(
                "{:<10} {:<9} {:>10} {:>9}  {:<32} {}\n",
                service.id.name(),
                s.status.as_str(),
                s.latency_ms.map_or("-".into(), |ms| format!("{ms:.1} ms")),
                s.consecutive_failures,
                s.endpoint.as_deref().unwrap_or("-"),
                s.last_error.as_deref().unwrap_or("-"),
            );
        }
        out += &format!(
            "\n{:<10} {:<32} {:<10} {}\n",
            "OPERATION", "ROUTE", "AVAILABLE", "FALLBACK"
        );
        for route in self.routes() {
            let name = match route.preferred {
                Some(p) => format!("{} (preferred: {p})", route.route),
                None => route.route.to_string(),
            };
            out += &format!(
                "{:<10} {:<32} {:<10} {}\n",
                route.operation,
                name,
                if route.available { "yes" } else { "no" },
                route.fallback
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config() -> ProbeConfig {
        ProbeConfig {
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            latency_bound: Duration::from_millis(500),
            ..ProbeConfig::default()
        }
    }

    /// A probe's latency well under every bound.
    pub(super) const FAST: Duration = Duration::from_millis(1);

    pub(super) fn fail() -> Outcome {
        Outcome::Failed {
            error: "503".into(),
            refused: false,
        }
    }

    #[test]
    fn a_service_not_probed_yet_is_unknown_and_used() {
        let r = Registry::new(
            config(),
            [Some("pg".into()), Some("q".into()), Some("m".into()), Some("rp".into())],
            true,
        );
        for s in &r.services {
            assert_eq!(s.status(), Status::Unknown, "{}", s.id.name());
            assert!(s.usable(), "{} is used before its first probe", s.id.name());
        }
        for route in r.routes() {
            assert!(route.available, "{} is available before any probe", route.operation);
        }
        let route = |op: &str| r.routes().into_iter().find(|x| x.operation == op).unwrap();
        assert_eq!(route("events").route, "redpanda");
        // Preferred only once a probe has seen it answer.
        assert_eq!(route("search").preferred, None);
        assert_eq!(r.overall(), "ok");
        let json = r.to_json();
        for name in ["postgres", "qdrant", "minio", "redpanda"] {
            assert_eq!(json["services"][name]["status"], "unknown", "{json}");
        }

        // Without a URL: disabled, never used.
        let r = Registry::new(config(), [Some("pg".into()), None, None, None], false);
        let minio = r.service(ServiceId::Minio);
        assert_eq!(minio.status(), Status::Disabled);
        assert!(!minio.usable());
        assert!(!r.routes().iter().find(|x| x.operation == "files").unwrap().available);
    }

    #[test]
    fn routes_follow_states() {
        let c = config();
        let r = Registry::new(
            c.clone(),
            [Some("pg".into()), Some("q".into()), None, Some("rp".into())],
            true,
        );
        let route = |op: &str| r.routes().into_iter().find(|x| x.operation == op).unwrap();
        assert!(!route("files").available);
        r.service(ServiceId::Qdrant).record_probe(Outcome::Up, FAST, &c);
        assert_eq!(route("search").preferred, Some("qdrant"));
        r.service(ServiceId::Redpanda).record_probe(fail(), FAST, &c);
        assert_eq!(route("events").route, "outbox");
        assert_eq!(r.overall(), "degraded");
        r.service(ServiceId::Postgres).record_probe(fail(), FAST, &c);
        assert_eq!(r.overall(), "down");
        assert!(!route("write").available);
    }
}
