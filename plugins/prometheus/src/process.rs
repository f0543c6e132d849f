//! The standard process metrics (`process_*`) and `go_goroutines`, which the CoreDNS
//! dashboards plot (memory, CPU, goroutines). They are read from `/proc/self` on each
//! scrape, as Go's process collector does, and exported without the `coredns_` prefix.
//!
//! `go_goroutines` has no Go meaning here. It is the number of tokio tasks alive plus
//! the number of OS threads of the process: the units of concurrent work, as goroutines
//! are in Go. Like the goroutine count, it grows with connections and queries in flight
//! and with background work (API watches, health checks), so a leak or a pile-up shows
//! as a climb in the same panel.

use std::sync::LazyLock;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The clock ticks per second of `/proc/self/stat` times (`USER_HZ`, 100 on Linux
/// whatever the kernel's internal rate).
const TICKS_PER_SECOND: f64 = 100.0;

/// What one scrape reads of the process.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub start_time_seconds: f64,
    pub open_fds: f64,
    pub max_fds: f64,
    pub threads: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; fields that cannot be read stay 0.
    pub fn read() -> Self {
        let mut stats = Self::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            stats.read_stat(&stat, boot_time().unwrap_or(0.0));
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            stats.resident_bytes = status_kib(&status, "VmRSS:").map_or(0.0, |kib| kib * 1024.0);
            stats.threads = status_kib(&status, "Threads:").unwrap_or(0.0);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            stats.max_fds = max_open_files(&limits).unwrap_or(0.0);
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            stats.open_fds = entries.count() as f64;
        }
        stats
    }

    /// Fills the CPU time, virtual size and start time from `/proc/self/stat`.
    fn read_stat(&mut self, stat: &str, boot_time: f64) {
        // The command name (field 2) may hold spaces and parentheses: the fields
        // after it start after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field N is at index N - 3.
        let field = |n: usize| -> f64 {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        self.cpu_seconds = (field(14) + field(15)) / TICKS_PER_SECOND;
        self.start_time_seconds = boot_time + field(22) / TICKS_PER_SECOND;
        self.virtual_bytes = field(23);
    }
}

/// Seconds since the epoch at which the system booted (`btime` of `/proc/stat`).
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The number after `key` in `/proc/self/status` (`VmRSS:   1234 kB` gives 1234).
fn status_kib(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    let rest = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    let soft = rest.split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::MAX);
    }
    soft.parse().ok()
}

/// Live tokio tasks of the runtime that serves the scrape (0 outside one).
fn tokio_tasks() -> f64 {
    tokio::runtime::Handle::try_current().map_or(0.0, |h| h.metrics().num_alive_tasks() as f64)
}

/// Encodes the process metrics on each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = ProcessStats::read();
        let counter = ConstCounter::new(stats.cpu_seconds);
        counter.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            None,
            counter.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                stats.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stats.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                stats.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                stats.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                stats.max_fds,
            ),
            (
                "go_goroutines",
                "Number of tokio tasks alive plus OS threads of the process (what goroutines are to a Go server).",
                tokio_tasks() + stats.threads,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The registry of the unprefixed families.
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector));
    registry
});

/// The OpenMetrics text of the process families, without the `# EOF` line.
pub(crate) fn encode_text(out: &mut String) {
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode_registry(out, &REGISTRY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_name_with_spaces() {
        let stat = "4242 (clus ter) dns) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 150 0 0 20 0 9 0 12345 987654321 4321 18446744073709551615";
        let mut stats = ProcessStats::default();
        stats.read_stat(stat, 1_700_000_000.0);
        assert_eq!(stats.cpu_seconds, 4.0);
        assert_eq!(stats.start_time_seconds, 1_700_000_000.0 + 123.45);
        assert_eq!(stats.virtual_bytes, 987_654_321.0);
    }

    #[test]
    fn this_process_is_read() {
        let stats = ProcessStats::read();
        assert!(stats.resident_bytes > 1e5, "{stats:?}");
        assert!(stats.open_fds >= 3.0, "{stats:?}");
        assert!(stats.max_fds >= stats.open_fds, "{stats:?}");
        assert!(stats.threads >= 1.0, "{stats:?}");
        assert!(stats.start_time_seconds > 1e9, "{stats:?}");
    }

    #[test]
    fn limits_and_status_lines() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        let status = "Name:\tclusterdns\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(20480.0));
        assert_eq!(status_kib(status, "Threads:"), Some(9.0));
    }
}
