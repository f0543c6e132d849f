//! `coredns_build_info`, which CoreDNS dashboards use to show versions.

use std::sync::LazyLock;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// The `goversion` label: there is no Go here, so it names the Rust compiler, the way
/// Go's names the Go toolchain (`go1.22.1` there, `rust1.88.0` here).
pub(crate) fn toolchain() -> String {
    match option_env!("RUSTC_VERSION") {
        Some(version) if version.starts_with("rust") => version.to_owned(),
        Some(version) => format!("rust{version}"),
        None => "rust".to_owned(),
    }
}

/// The label set of `coredns_build_info`.
pub(crate) fn labels() -> Vec<(String, String)> {
    vec![
        ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        (
            "revision".to_owned(),
            option_env!("CLUSTERDNS_REVISION")
                .unwrap_or("unknown")
                .to_owned(),
        ),
        ("goversion".to_owned(), toolchain()),
    ]
}

static BUILD_INFO: LazyLock<()> = LazyLock::new(|| {
    let family = Family::<Vec<(String, String)>, Gauge>::default();
    family.get_or_create(&labels()).set(1);
    clusterdns_api::metrics::register(
        "build_info",
        "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
        family,
    );
});

/// Registers `coredns_build_info` the first time it is called.
pub(crate) fn register() {
    LazyLock::force(&BUILD_INFO);
}
