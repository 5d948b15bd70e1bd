//! The host's service registry as the tests see it: fast probe settings
//! and polling of `/v1/health`.

use crate::harness::Server;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Milliseconds between probes (up and down), as [`probe_env`] sets them.
pub const INTERVAL_MS: u64 = 200;
/// A probe's timeout, in milliseconds.
pub const TIMEOUT_MS: u64 = 300;
/// Failed probes in a row that mark a service down.
pub const UNHEALTHY: u64 = 3;
/// Passed probes in a row that mark a service healthy again.
pub const HEALTHY: u64 = 2;
/// Milliseconds that polling `/v1/health` and scheduling add to every measurement.
pub const SLACK_MS: u64 = 150;

/// The `ZERODB_HEALTH_*` settings of a server whose probes run fast: every
/// [`INTERVAL_MS`], with [`TIMEOUT_MS`], [`UNHEALTHY`] and [`HEALTHY`].
pub fn probe_env() -> Vec<(&'static str, String)> {
    vec![
        ("ZERODB_HEALTH_INTERVAL_MS", INTERVAL_MS.to_string()),
        ("ZERODB_HEALTH_DOWN_INTERVAL_MS", INTERVAL_MS.to_string()),
        ("ZERODB_HEALTH_TIMEOUT_MS", TIMEOUT_MS.to_string()),
        ("ZERODB_HEALTH_UNHEALTHY_THRESHOLD", UNHEALTHY.to_string()),
        ("ZERODB_HEALTH_HEALTHY_THRESHOLD", HEALTHY.to_string()),
    ]
}

/// The service's entry in `/v1/health`.
pub fn service(server: &Server, key: &str, name: &str) -> Value {
    let health = server.call("GET", "/v1/health", key, None).ok();
    health["services"][name].clone()
}

/// The service's `status` in `/v1/health` (`?` when absent).
pub fn status(server: &Server, key: &str, name: &str) -> String {
    service(server, key, name)["status"].as_str().unwrap_or("?").to_string()
}

/// Waits for `name` to reach `want`; returns how long that took. Panics
/// past `limit`, with the service's entry.
pub fn wait_status(server: &Server, key: &str, name: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = status(server, key, name);
        if now == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{name} still {now} (not {want}) after {limit:?}: {}",
            service(server, key, name)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
