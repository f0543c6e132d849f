//! `coredns_health_*` metrics, registered once per process.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The health plugin's metrics, shared by every `health` directive and every reload.
struct HealthMetrics {
    duration: Histogram,
    /// Kept for CoreDNS dashboards; see the README for why it never grows here.
    failures: Counter,
}

static METRICS: LazyLock<HealthMetrics> = LazyLock::new(|| {
    let metrics = HealthMetrics {
        // CoreDNS's "slim" buckets: 0.25 ms to 2.5 s, ten times apart.
        duration: Histogram::new(exponential_buckets(0.00025, 10.0, 5)),
        failures: Counter::default(),
    };
    clusterdns_api::metrics::register(
        "health_request_duration_seconds",
        "Histogram of the time (in seconds) each request took.",
        metrics.duration.clone(),
    );
    clusterdns_api::metrics::register(
        "health_request_failures",
        "The number of times the health check failed.",
        metrics.failures.clone(),
    );
    metrics
});

/// Makes sure both families exist, so they are exported before the first request.
pub(crate) fn init() {
    LazyLock::force(&METRICS);
}

/// Records how long one `/health` request took.
pub(crate) fn observe(elapsed: Duration) {
    METRICS.duration.observe(elapsed.as_secs_f64());
}
