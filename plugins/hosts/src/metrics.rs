//! `coredns_hosts_*` metrics, registered once per process.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

type Labels = Vec<(String, String)>;

/// The hosts plugin's metric families. Shared by every instance and every reload, so
/// values carry over a Corefile reload the way CoreDNS's do.
pub(crate) struct HostsMetrics {
    entries: Family<Labels, Gauge>,
    reload_timestamp: Family<Labels, Gauge<f64, AtomicU64>>,
}

static METRICS: LazyLock<HostsMetrics> = LazyLock::new(|| {
    let metrics = HostsMetrics {
        entries: Family::default(),
        reload_timestamp: Family::default(),
    };
    clusterdns_api::metrics::register(
        "hosts_entries",
        "The combined number of entries in hosts and Corefile.",
        metrics.entries.clone(),
    );
    clusterdns_api::metrics::register(
        "hosts_reload_timestamp_seconds",
        "The timestamp of the last reload of hosts file.",
        metrics.reload_timestamp.clone(),
    );
    metrics
});

fn labels(hostsfile: &str) -> Labels {
    vec![("hostsfile".to_owned(), hostsfile.to_owned())]
}

/// Records the number of entries served for `hostsfile` (file and inline together).
pub(crate) fn set_entries(hostsfile: &str, entries: usize) {
    let value = i64::try_from(entries).unwrap_or(i64::MAX);
    METRICS.entries.get_or_create(&labels(hostsfile)).set(value);
}

/// Records that `hostsfile` was (re)loaded; the value is the file's modification
/// time, as in CoreDNS, so it tells when the content changed, not when it was polled.
pub(crate) fn set_reload_timestamp(hostsfile: &str, seconds: f64) {
    METRICS
        .reload_timestamp
        .get_or_create(&labels(hostsfile))
        .set(seconds);
}
