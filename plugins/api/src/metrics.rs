//! The process-wide metrics registry.
//!
//! CoreDNS exposes one set of metrics per process, whatever the number of server
//! blocks, and keeps counting across reloads. A single registry, created on first use,
//! gives the same behaviour: plugins register their families once (typically in a
//! `LazyLock`) and a reload reuses them.

use std::sync::LazyLock;

use parking_lot::Mutex;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::{Metric, Registry};

static REGISTRY: LazyLock<Mutex<Registry>> =
    LazyLock::new(|| Mutex::new(Registry::with_prefix("coredns")));

/// Registers `metric` as `coredns_<name>`. Counters are registered without `_total`:
/// the encoder appends it.
pub fn register(name: &str, help: &str, metric: impl Metric) {
    REGISTRY.lock().register(name, help, metric);
}

/// The OpenMetrics text of every registered metric.
pub fn encode_text() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &REGISTRY.lock());
    out
}

/// CoreDNS's buckets for request durations: 0.25 ms doubling sixteen times.
pub fn duration_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.00025, 2.0, 16)
}

/// CoreDNS's buckets for request and response sizes, in bytes.
pub const SIZE_BUCKETS: [f64; 14] = [
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];

/// A label value shared without copying: the server and zone labels are the same few
/// strings for every query, so they are reference-counted rather than cloned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(pub std::sync::Arc<str>);

impl From<&str> for Label {
    fn from(value: &str) -> Self {
        Self(std::sync::Arc::from(value))
    }
}

impl prometheus_client::encoding::EncodeLabelValue for Label {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, &self.0)
    }
}
