//! The background task that re-reads the hosts file every `reload` interval.

use std::sync::Weak;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::MissedTickBehavior;

use crate::source::HostsSource;

/// Starts polling `source` on `runtime` every `period`.
///
/// The task holds only a weak reference: when a Corefile reload drops the plugin, the
/// next tick finds the source gone and the task ends, so old watchers never pile up.
/// The file is read on the blocking pool, never on a worker that answers queries.
pub(crate) fn spawn(runtime: &Handle, source: Weak<HostsSource>, period: Duration) {
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick completes at once; the file was read at setup.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(source) = source.upgrade() else {
                return;
            };
            if tokio::task::spawn_blocking(move || source.reload_if_changed())
                .await
                .is_err()
            {
                // The runtime is shutting down.
                return;
            }
        }
    });
}
