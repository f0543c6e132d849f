//! `coredns_proxy_*` and `coredns_forward_*` metrics, registered once per process.

use std::sync::LazyLock;
use std::time::Duration;

use clusterdns_api::metrics::{Label, duration_buckets};
use clusterdns_api::proto::op::ResponseCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::rcode;

/// The `proxy_name` label of every `coredns_proxy_*` series.
const PROXY_NAME: &str = "forward";

type ToLabels = [(&'static str, Label); 2];
type ToLabelsWith = [(&'static str, Label); 3];

/// The plugin's metric families, shared by every instance and kept across reloads.
struct Metrics {
    request_duration: Family<ToLabelsWith, Histogram, fn() -> Histogram>,
    healthcheck_failures: Family<ToLabels, Counter>,
    conn_cache_hits: Family<ToLabelsWith, Counter>,
    conn_cache_misses: Family<ToLabelsWith, Counter>,
    healthcheck_broken: Counter,
    max_concurrent_rejects: Counter,
    coalesced: Counter,
    over_budget: Family<ToLabels, Counter>,
}

fn duration_histogram() -> Histogram {
    Histogram::new(duration_buckets())
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let metrics = Metrics {
        request_duration: Family::new_with_constructor(duration_histogram),
        healthcheck_failures: Family::default(),
        conn_cache_hits: Family::default(),
        conn_cache_misses: Family::default(),
        healthcheck_broken: Counter::default(),
        max_concurrent_rejects: Counter::default(),
        coalesced: Counter::default(),
        over_budget: Family::default(),
    };
    clusterdns_api::metrics::register(
        "proxy_request_duration_seconds",
        "Histogram of the time each request took.",
        metrics.request_duration.clone(),
    );
    clusterdns_api::metrics::register(
        "proxy_healthcheck_failures",
        "Counter of the number of failed healthchecks.",
        metrics.healthcheck_failures.clone(),
    );
    clusterdns_api::metrics::register(
        "proxy_conn_cache_hits",
        "Counter of connection cache hits per upstream and protocol.",
        metrics.conn_cache_hits.clone(),
    );
    clusterdns_api::metrics::register(
        "proxy_conn_cache_misses",
        "Counter of connection cache misses per upstream and protocol.",
        metrics.conn_cache_misses.clone(),
    );
    clusterdns_api::metrics::register(
        "forward_healthcheck_broken",
        "Counter of the number of complete failures of the healthchecks.",
        metrics.healthcheck_broken.clone(),
    );
    clusterdns_api::metrics::register(
        "forward_max_concurrent_rejects",
        "Counter of the number of queries rejected because the concurrent queries were at maximum.",
        metrics.max_concurrent_rejects.clone(),
    );
    clusterdns_api::metrics::register(
        "forward_coalesced_requests",
        "Counter of queries answered with the upstream answer of an identical query already in flight.",
        metrics.coalesced.clone(),
    );
    clusterdns_api::metrics::register(
        "forward_upstream_budget_exceeded",
        "Counter of queries not sent to an upstream because its upstream_rate budget was spent.",
        metrics.over_budget.clone(),
    );
    metrics
});

fn proxy_name() -> (&'static str, Label) {
    ("proxy_name", Label::from(PROXY_NAME))
}

/// Registers the families now, so that `/metrics` lists them before the first query.
pub(crate) fn init() {
    LazyLock::force(&METRICS);
}

/// An answer from upstream `to` with `rcode` that took `elapsed`.
pub(crate) fn request_duration(to: &Label, rcode: ResponseCode, elapsed: Duration) {
    let labels = [
        proxy_name(),
        ("to", to.clone()),
        ("rcode", Label::from(rcode::name(rcode).as_ref())),
    ];
    METRICS
        .request_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
}

/// A failed health check of `to`.
pub(crate) fn healthcheck_failure(to: &Label) {
    METRICS
        .healthcheck_failures
        .get_or_create(&[proxy_name(), ("to", to.clone())])
        .inc();
}

/// A query to `to` over `proto` that reused a cached connection (`hit`) or opened one.
pub(crate) fn conn_cache(to: &Label, proto: &'static str, hit: bool) {
    let labels = [
        proxy_name(),
        ("to", to.clone()),
        ("proto", Label::from(proto)),
    ];
    let family = if hit {
        &METRICS.conn_cache_hits
    } else {
        &METRICS.conn_cache_misses
    };
    family.get_or_create(&labels).inc();
}

/// Every upstream was down, so a random one was tried.
pub(crate) fn healthcheck_broken() {
    METRICS.healthcheck_broken.inc();
}

/// A query answered REFUSED because `max_concurrent` queries were in flight.
pub(crate) fn max_concurrent_reject() {
    METRICS.max_concurrent_rejects.inc();
}

/// `count` queries were answered with an identical query's upstream answer.
pub(crate) fn coalesced(count: usize) {
    METRICS
        .coalesced
        .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
}

/// A query was not sent to `to`: its `upstream_rate` budget was spent.
pub(crate) fn over_budget(to: &Label) {
    METRICS
        .over_budget
        .get_or_create(&[proxy_name(), ("to", to.clone())])
        .inc();
}
