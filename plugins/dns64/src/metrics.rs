//! `coredns_dns64_requests_translated_total{server}`, registered once per process.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

type Labels = Vec<(&'static str, String)>;

static TRANSLATED: LazyLock<Family<Labels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    clusterdns_api::metrics::register(
        "dns64_requests_translated",
        "Counter of DNS requests translated by dns64.",
        family.clone(),
    );
    family
});

/// Registers the family (so it is listed before the first translation).
pub(crate) fn register() {
    LazyLock::force(&TRANSLATED);
}

/// Counts one translated answer on `server`.
pub(crate) fn translated(server: &str) {
    TRANSLATED
        .get_or_create(&vec![("server", server.to_owned())])
        .inc();
}
