//! `coredns_nodecache_setup_errors_total{errortype}`, node-cache's counter of failed
//! set-up steps, with its label values (`interface_add`, `interface_check`, `iptables`,
//! `iptables_lock`, `configmap`) present from the start at 0, and `nftables` for the
//! nftables backend. It goes to the process's registry, so the Corefile's `prometheus`
//! endpoint (`:9253` in NodeLocal DNSCache's template) exports it.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    errortype: &'static str,
}

/// node-cache's label values, then ours.
pub const ERROR_TYPES: [&str; 6] = [
    "interface_add",
    "interface_check",
    "iptables",
    "iptables_lock",
    "configmap",
    "nftables",
];

static SETUP_ERRORS: LazyLock<Family<ErrorLabels, Counter>> = LazyLock::new(|| {
    let family = Family::<ErrorLabels, Counter>::default();
    clusterdns_api::metrics::register(
        "nodecache_setup_errors",
        "The number of errors during periodic network setup for node-cache",
        family.clone(),
    );
    for errortype in ERROR_TYPES {
        let _ = family.get_or_create(&ErrorLabels { errortype });
    }
    family
});

/// Registers the counter (all label values at 0).
pub fn init() {
    LazyLock::force(&SETUP_ERRORS);
}

/// Counts one failed step.
pub fn count_error(errortype: &'static str) {
    SETUP_ERRORS.get_or_create(&ErrorLabels { errortype }).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_starts_at_zero_and_failures_count() {
        init();
        let text = clusterdns_api::metrics::encode_text();
        for errortype in ERROR_TYPES {
            assert!(
                text.contains(&format!(
                    "coredns_nodecache_setup_errors_total{{errortype=\"{errortype}\"}} "
                )),
                "{errortype}: {text}"
            );
        }
        count_error("iptables_lock");
        count_error("iptables_lock");
        assert!(
            clusterdns_api::metrics::encode_text()
                .contains("coredns_nodecache_setup_errors_total{errortype=\"iptables_lock\"} 2"),
        );
    }
}
