//! The task that runs a service's [`Check`] on a jittered interval until
//! shutdown, and the one-shot run of every check (`zerodb-edge health`).

use super::{Check, Outcome, ProbeConfig, Registry, ServiceId};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Resolves once `shutdown` turns true, or its sender is dropped.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Runs `check` once, bounded by `timeout`.
async fn run(check: &dyn Check, timeout: Duration) -> Outcome {
    tokio::time::timeout(timeout, check.check(timeout))
        .await
        .unwrap_or_else(|_| Outcome::Failed {
            error: format!("no answer within {} ms", timeout.as_millis()),
            refused: false,
        })
}

/// Runs `check` for `service` until `shutdown` turns true (or its sender is
/// dropped): every `interval` less up to 15 % jitter (so never later than the
/// interval), every `down_interval` while the service is down, each bounded
/// by `timeout`.
pub fn spawn(
    registry: Arc<Registry>,
    service: ServiceId,
    check: Box<dyn Check>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let config: ProbeConfig = registry.probe.clone();
        let target = registry.service(service).clone();
        let mut delay = first_delay(&config);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(shutdown.clone()) => return,
            }
            target.expire_ejection(Instant::now());
            let start = Instant::now();
            let outcome = tokio::select! {
                outcome = run(check.as_ref(), config.timeout) => outcome,
                _ = stopped(shutdown.clone()) => return,
            };
            target.record_probe(outcome, start.elapsed(), &config);
            delay = next_delay(&config, target.usable());
        }
    })
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

/// Runs every check once, at the same time (what `zerodb-edge health` shows).
pub async fn check_once(registry: &Registry, checks: Vec<(ServiceId, Box<dyn Check>)>) {
    let config = &registry.probe;
    let checks = checks.into_iter().map(|(id, check)| async move {
        let start = Instant::now();
        let outcome = run(check.as_ref(), config.timeout).await;
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

    /// Counts its calls and answers up.
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl Check for Counting {
        fn check(&self, _timeout: Duration) -> futures::future::BoxFuture<'_, Outcome> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async { Outcome::Up })
        }
    }

    #[tokio::test]
    async fn a_prober_stops_on_the_shutdown_signal() {
        let config = ProbeConfig {
            interval: Duration::from_millis(20),
            down_interval: Duration::from_millis(20),
            ..ProbeConfig::default()
        };
        let registry = Arc::new(Registry::new(config, [Some("pg".into()), None, None, None], false));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop, stopped) = watch::channel(false);
        let prober = spawn(
            registry,
            ServiceId::Postgres,
            Box::new(Counting(calls.clone())),
            stopped,
        );
        while calls.load(std::sync::atomic::Ordering::Relaxed) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), prober)
            .await
            .expect("the prober ends once told to stop")
            .unwrap();
    }
}
