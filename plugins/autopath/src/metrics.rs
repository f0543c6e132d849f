//! `coredns_autopath_success_total{server}`, registered once per process.

use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

type Labels = Vec<(&'static str, String)>;

static TRANSLATED: LazyLock<Family<Labels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    clusterdns_api::metrics::register(
        "autopath_success",
        "Counter of requests that did autopath.",
        family.clone(),
    );
    family
});

/// Registers the family (so it is listed before the first success).
pub(crate) fn register() {
    LazyLock::force(&TRANSLATED);
}

/// Counts one autopathed query on `server`.
pub(crate) fn success(server: &str) {
    TRANSLATED
        .get_or_create(&vec![("server", server.to_owned())])
        .inc();
}
