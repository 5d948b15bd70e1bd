//! One backing service's health: its status, driven by probes (Envoy-style
//! thresholds) and by real traffic (passive ejection), read by request
//! paths through one atomic.

use super::{Outcome, ProbeConfig, ServiceId, Status};
use crate::histogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Consecutive traffic failures that eject a service.
const EJECT_AFTER_FAILURES: u32 = 5;
const EJECT_BASE: Duration = Duration::from_secs(30);
const EJECT_MAX: Duration = Duration::from_secs(300);

struct State {
    status: Status,
    consecutive_failures: u32,
    consecutive_successes: u32,
    last_latency: Option<Duration>,
    last_check: Option<SystemTime>,
    last_error: Option<String>,
    ejected_until: Option<Instant>,
    ejections: u32,
}

/// One backing service's health, shared by its prober and its users.
pub struct Service {
    pub id: ServiceId,
    /// Where it is probed (no credentials), for display.
    pub endpoint: Option<String>,
    state: Mutex<State>,
    usable: AtomicBool,
    traffic_failures: AtomicU32,
    /// Transitions into each status, indexed as [`Status::ALL`].
    transitions: [AtomicU64; 5],
    pub probe_latency: Histogram,
}

/// A service's state as `/v1/health` shows it.
#[derive(Serialize)]
pub struct Snapshot {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub latency_ms: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub last_check_ms: Option<u64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

impl Service {
    pub fn new(id: ServiceId, endpoint: Option<String>) -> Service {
        let status = if endpoint.is_some() {
            Status::Unknown
        } else {
            Status::Disabled
        };
        Service {
            id,
            endpoint,
            state: Mutex::new(State {
                status,
                consecutive_failures: 0,
                consecutive_successes: 0,
                last_latency: None,
                last_check: None,
                last_error: None,
                ejected_until: None,
                ejections: 0,
            }),
            usable: AtomicBool::new(status.usable()),
            traffic_failures: AtomicU32::new(0),
            transitions: Default::default(),
            probe_latency: Histogram::default(),
        }
    }

    /// Whether requests should be sent to it now.
    pub fn usable(&self) -> bool {
        self.usable.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> Status {
        self.lock().status
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set(&self, state: &mut State, status: Status) {
        if state.status != status {
            let (service, from, to) = (self.id.name(), state.status.as_str(), status.as_str());
            if status.usable() {
                tracing::info!(service, from, to, "service state changed");
            } else {
                tracing::warn!(service, from, to, error = ?state.last_error, "service state changed");
            }
            state.status = status;
            let index = Status::ALL.iter().position(|s| *s == status).unwrap_or(0);
            self.transitions[index].fetch_add(1, Ordering::Relaxed);
        }
        self.usable.store(status.usable(), Ordering::Relaxed);
    }

    /// Applies one probe's outcome.
    pub fn record_probe(&self, outcome: Outcome, latency: Duration, config: &ProbeConfig) {
        self.probe_latency.observe(latency);
        let mut state = self.lock();
        state.last_latency = Some(latency);
        state.last_check = Some(SystemTime::now());
        let outcome = match outcome {
            Outcome::Up if latency > config.latency_bound => Outcome::Degraded(format!(
                "probe took {} ms, over the {} ms bound",
                latency.as_millis(),
                config.latency_bound.as_millis()
            )),
            other => other,
        };
        match outcome {
            Outcome::Up | Outcome::Degraded(_) => {
                state.consecutive_failures = 0;
                state.consecutive_successes += 1;
                let target = match outcome {
                    Outcome::Degraded(reason) => {
                        state.last_error = Some(reason);
                        Status::Degraded
                    }
                    _ => {
                        state.last_error = None;
                        Status::Healthy
                    }
                };
                // A successful probe also lifts a passive ejection (as
                // Envoy's `successful_active_health_check_uneject_host`),
                // once the healthy threshold is met.
                let recovering = state.status == Status::Down;
                if !recovering || state.consecutive_successes >= config.healthy_threshold {
                    state.ejected_until = None;
                    self.traffic_failures.store(0, Ordering::Relaxed);
                    self.set(&mut state, target);
                }
            }
            Outcome::Failed { error, refused } => {
                state.consecutive_successes = 0;
                state.consecutive_failures += 1;
                state.last_error = Some(error);
                if refused
                    || state.consecutive_failures >= config.unhealthy_threshold
                    || state.status == Status::Unknown
                {
                    self.set(&mut state, Status::Down);
                }
            }
        }
    }

    /// Real traffic's verdict (passive ejection): after
    /// [`EJECT_AFTER_FAILURES`] failures in a row the service is ejected
    /// for 30 s, doubling with each ejection up to 300 s, or until probes
    /// see it healthy again.
    pub fn record_traffic(&self, ok: bool) {
        self.record_traffic_at(ok, Instant::now());
    }

    /// [`record_traffic`](Self::record_traffic) with the time it happened.
    fn record_traffic_at(&self, ok: bool, now: Instant) {
        if ok {
            if self.traffic_failures.load(Ordering::Relaxed) != 0 {
                self.traffic_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        if self.traffic_failures.fetch_add(1, Ordering::Relaxed) + 1 < EJECT_AFTER_FAILURES {
            return;
        }
        self.traffic_failures.store(0, Ordering::Relaxed);
        let mut state = self.lock();
        if state.status.usable() {
            let period = EJECT_BASE.saturating_mul(1 << state.ejections.min(4)).min(EJECT_MAX);
            state.ejections += 1;
            state.ejected_until = Some(now + period);
            state.consecutive_successes = 0;
            state.last_error = Some(format!("ejected for {} s after failed requests", period.as_secs()));
            self.set(&mut state, Status::Down);
        }
    }

    /// Ends an ejection whose period is over at `now`; the prober calls it
    /// before each probe, so that the probe's outcome decides what follows.
    pub(super) fn expire_ejection(&self, now: Instant) {
        let mut state = self.lock();
        if state.ejected_until.is_some_and(|until| now >= until) {
            state.ejected_until = None;
            self.set(&mut state, Status::Unknown);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.lock();
        Snapshot {
            status: state.status,
            endpoint: self.endpoint.clone(),
            latency_ms: state.last_latency.map(|d| d.as_secs_f64() * 1e3),
            last_check_ms: state
                .last_check
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
            consecutive_failures: state.consecutive_failures,
            last_error: state.last_error.clone(),
        }
    }

    /// `(status, transitions into it)` for `/metrics`.
    pub fn transitions(&self) -> impl Iterator<Item = (Status, u64)> + '_ {
        Status::ALL
            .iter()
            .zip(&self.transitions)
            .map(|(s, n)| (*s, n.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::{config, fail, FAST};

    #[test]
    fn thresholds_and_flapping() {
        let c = config();
        let s = Service::new(ServiceId::Minio, Some("http://x".into()));
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Healthy);
        // Failures below the threshold, broken by a success, never flip it.
        for _ in 0..5 {
            s.record_probe(fail(), FAST, &c);
            s.record_probe(fail(), FAST, &c);
            s.record_probe(Outcome::Up, FAST, &c);
            assert_eq!(s.status(), Status::Healthy);
        }
        for _ in 0..3 {
            s.record_probe(fail(), FAST, &c);
        }
        assert_eq!(s.status(), Status::Down);
        assert!(!s.usable());
        // One success is not enough to come back; two are.
        s.record_probe(Outcome::Up, FAST, &c);
        s.record_probe(fail(), FAST, &c);
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Down);
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Healthy);
    }

    #[test]
    fn refused_is_down_at_once_and_slow_is_degraded() {
        let c = config();
        let s = Service::new(ServiceId::Qdrant, Some("http://x".into()));
        s.record_probe(Outcome::Up, FAST, &c);
        s.record_probe(
            Outcome::Failed {
                error: "refused".into(),
                refused: true,
            },
            FAST,
            &c,
        );
        assert_eq!(s.status(), Status::Down);
        s.record_probe(Outcome::Up, Duration::from_secs(1), &c);
        s.record_probe(Outcome::Up, Duration::from_secs(1), &c);
        assert_eq!(s.status(), Status::Degraded);
        assert!(s.usable());
    }

    #[test]
    fn traffic_failures_eject_until_probes_recover() {
        let c = config();
        let s = Service::new(ServiceId::Postgres, Some("pg".into()));
        s.record_probe(Outcome::Up, FAST, &c);
        for _ in 0..4 {
            s.record_traffic(false);
        }
        s.record_traffic(true);
        for _ in 0..4 {
            s.record_traffic(false);
        }
        assert_eq!(s.status(), Status::Healthy, "a success in between resets the count");
        s.record_traffic(false);
        assert_eq!(s.status(), Status::Down);
        s.record_probe(Outcome::Up, FAST, &c);
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Healthy);
    }

    /// `n` failed requests in a row at `now`.
    fn fail_traffic(s: &Service, n: u32, now: Instant) {
        for _ in 0..n {
            s.record_traffic_at(false, now);
        }
    }

    fn ejected_until(s: &Service) -> Option<Instant> {
        s.lock().ejected_until
    }

    #[test]
    fn ejections_last_30_s_doubling_up_to_300_s_and_expire() {
        let c = config();
        let s = Service::new(ServiceId::Minio, Some("m".into()));
        s.record_probe(Outcome::Up, FAST, &c);
        let mut now = Instant::now();
        for secs in [30, 60, 120, 240, 300, 300] {
            fail_traffic(&s, 4, now);
            assert_eq!(s.status(), Status::Healthy, "four failures do not eject");
            fail_traffic(&s, 1, now);
            assert_eq!(s.status(), Status::Down);
            assert!(!s.usable());
            let until = ejected_until(&s).expect("ejected");
            assert_eq!(until - now, Duration::from_secs(secs), "ejection period");
            assert_eq!(
                s.snapshot().last_error.as_deref(),
                Some(format!("ejected for {secs} s after failed requests").as_str())
            );
            // More failures while ejected neither extend nor double it.
            fail_traffic(&s, 5, now + Duration::from_secs(1));
            assert_eq!(ejected_until(&s), Some(until));
            // Not over a moment before its end; over at its end, when the
            // service is unknown (and used) until the next probe says.
            s.expire_ejection(until - Duration::from_millis(1));
            assert_eq!(s.status(), Status::Down);
            s.expire_ejection(until);
            assert_eq!(s.status(), Status::Unknown);
            assert!(s.usable());
            assert_eq!(ejected_until(&s), None);
            s.record_probe(Outcome::Up, FAST, &c);
            assert_eq!(s.status(), Status::Healthy);
            now = until + Duration::from_secs(5);
        }
    }

    #[test]
    fn healthy_probes_end_an_ejection_early() {
        let c = config();
        let s = Service::new(ServiceId::Postgres, Some("pg".into()));
        s.record_probe(Outcome::Up, FAST, &c);
        let now = Instant::now();
        fail_traffic(&s, 5, now);
        assert_eq!(s.status(), Status::Down);
        // One good probe is below the healthy threshold: still ejected.
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Down);
        assert!(ejected_until(&s).is_some());
        // The second ends the ejection long before its 30 s.
        s.record_probe(Outcome::Up, FAST, &c);
        assert_eq!(s.status(), Status::Healthy);
        assert_eq!(ejected_until(&s), None);
        // Its old end passes without effect.
        s.expire_ejection(now + Duration::from_secs(30));
        assert_eq!(s.status(), Status::Healthy);
        // And the failure count started again: four more do not eject.
        fail_traffic(&s, 4, now);
        assert_eq!(s.status(), Status::Healthy);
    }
}
