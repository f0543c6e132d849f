//! `coredns_kubernetes_*` metrics, registered once per process.
//!
//! - `coredns_kubernetes_dns_programming_duration_seconds{service_kind}`: CoreDNS's
//!   DNS programming latency SLI, from the EndpointSlice trigger-time annotation;
//! - `coredns_kubernetes_synced{zone}`: 1 once the source's first full sync is in;
//! - `coredns_kubernetes_objects{zone,kind}`: objects held, per kind;
//! - `coredns_kubernetes_watch_errors_total{kind}`: failed list/watch requests;
//! - `coredns_kubernetes_invalid_trigger_times_total`: EndpointSlice trigger-time
//!   annotations that are no RFC 3339 timestamp (ignored: no latency sample);
//! - `coredns_kubernetes_manifest_empty_total`: manifest files found empty where they
//!   had objects (their last good content is kept).
//!
//! `zone` is the plugin's primary zone, which tells several `kubernetes` blocks apart.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

type Labels = Vec<(&'static str, String)>;

struct Metrics {
    programming: Family<Labels, Histogram, fn() -> Histogram>,
    synced: Family<Labels, Gauge>,
    objects: Family<Labels, Gauge>,
    invalid_trigger_times: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let metrics = Metrics {
        programming: Family::new_with_constructor(programming_histogram as fn() -> Histogram),
        synced: Family::default(),
        objects: Family::default(),
        invalid_trigger_times: Counter::default(),
    };
    clusterdns_api::metrics::register(
        "kubernetes_invalid_trigger_times",
        "EndpointSlice trigger-time annotations that could not be read, and were ignored",
        metrics.invalid_trigger_times.clone(),
    );
    clusterdns_api::metrics::register(
        "kubernetes_dns_programming_duration_seconds",
        "Histogram of the time (in seconds) it took to program a dns instance",
        metrics.programming.clone(),
    );
    clusterdns_api::metrics::register(
        "kubernetes_synced",
        "Whether the kubernetes plugin's source completed its first full sync (1) or not (0)",
        metrics.synced.clone(),
    );
    clusterdns_api::metrics::register(
        "kubernetes_objects",
        "The number of Kubernetes objects the kubernetes plugin holds, per kind",
        metrics.objects.clone(),
    );
    metrics
});

fn programming_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// Counts a trigger-time annotation that could not be read.
pub fn invalid_trigger_time() {
    METRICS.invalid_trigger_times.inc();
}

/// Records one DNS programming latency sample.
pub fn observe_programming(service_kind: &'static str, seconds: f64) {
    METRICS
        .programming
        .get_or_create(&vec![("service_kind", service_kind.to_owned())])
        .observe(seconds.max(0.0));
}

/// Sets the sync state of the instance serving `zone`.
pub fn set_synced(zone: &str, synced: bool) {
    METRICS
        .synced
        .get_or_create(&vec![("zone", zone.to_owned())])
        .set(i64::from(synced));
}

/// Shows an instance for `zone` as not synced, unless one already reports a state:
/// an instance built by a Corefile reload must not hide the synced state of the one
/// still serving.
pub fn init_synced(zone: &str) {
    let labels = vec![("zone", zone.to_owned())];
    if METRICS.synced.get(&labels).is_none() {
        METRICS.synced.get_or_create(&labels).set(0);
    }
}

/// Sets the number of objects of `kind` held for `zone`.
pub fn set_objects(zone: &str, kind: &'static str, count: usize) {
    METRICS
        .objects
        .get_or_create(&vec![("zone", zone.to_owned()), ("kind", kind.to_owned())])
        .set(i64::try_from(count).unwrap_or(i64::MAX));
}

static WATCH_ERRORS: LazyLock<Family<Labels, prometheus_client::metrics::counter::Counter>> =
    LazyLock::new(|| {
        let family = Family::default();
        clusterdns_api::metrics::register(
            "kubernetes_watch_errors",
            "Failed list or watch requests to the Kubernetes API, per kind",
            family.clone(),
        );
        family
    });

/// Counts one failed list or watch request for `kind`.
pub fn count_watch_error(kind: &'static str) {
    WATCH_ERRORS
        .get_or_create(&vec![("kind", kind.to_owned())])
        .inc();
}

static MANIFEST_EMPTY: LazyLock<prometheus_client::metrics::counter::Counter> =
    LazyLock::new(|| {
        let counter = prometheus_client::metrics::counter::Counter::default();
        clusterdns_api::metrics::register(
            "kubernetes_manifest_empty",
            "Manifest files found empty where they had objects; their last good content is kept",
            counter.clone(),
        );
        counter
    });

/// Counts one manifest file found empty where it had objects.
pub fn count_manifest_empty() {
    MANIFEST_EMPTY.inc();
}

/// How many manifest files were found empty where they had objects.
#[cfg(test)]
pub fn manifest_empty_count() -> u64 {
    MANIFEST_EMPTY.get()
}
