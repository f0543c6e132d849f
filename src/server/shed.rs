//! The bounded set of UDP queries waiting for I/O (forwarding), which sheds the oldest
//! first.
//!
//! A UDP worker answers cluster names and cache hits inline; only a query whose chain
//! must wait (an upstream) becomes a task. Under a flood of such queries (an NXDOMAIN
//! storm, a dead or slow upstream) the set fills. Refusing the newest query then would
//! keep the set full of the queries closest to their client's timeout, whose answers are
//! least likely to be used (the client has retried or given up); so the oldest waiting
//! query is cancelled to admit the new one, and counted in
//! `coredns_shed_dropped_total{server, reason="oldest_waiting"}` (the name of CoreDNS
//! 1.14's `shed` plugin). Memory stays bounded by the set's size, and the workers never
//! wait: cluster names keep their latency whatever the upstreams do.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, LazyLock};

use clusterdns_api::metrics::{Label, register};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    server: Label,
    reason: &'static str,
}

/// `coredns_shed_dropped_total{server, reason}`: queries dropped under overload.
static SHED: LazyLock<Family<ShedLabels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    register(
        "shed_dropped",
        "Counter of queries dropped under overload, by server and reason (oldest_waiting: the oldest query waiting for an upstream, cancelled to admit a new one)",
        family.clone(),
    );
    family
});

/// Queries waiting in the runtime, oldest first, at most `max`.
pub struct WaitingSet {
    max: usize,
    server: Label,
    inner: Mutex<Inner>,
}

struct Inner {
    next: u64,
    tasks: BTreeMap<u64, AbortHandle>,
}

impl WaitingSet {
    /// An empty set of at most `max` (at least 1) queries, counted under `server`.
    pub fn new(max: usize, server: Label) -> Arc<Self> {
        LazyLock::force(&SHED);
        Arc::new(Self {
            max: max.max(1),
            server,
            inner: Mutex::new(Inner {
                next: 0,
                tasks: BTreeMap::new(),
            }),
        })
    }

    /// Runs `task` on `runtime` as a waiting query; when the set is full, the oldest
    /// waiting query is cancelled first.
    pub fn spawn<F>(self: &Arc<Self>, runtime: &Handle, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut inner = self.inner.lock();
        while inner.tasks.len() >= self.max {
            let Some((_, oldest)) = inner.tasks.pop_first() else {
                break;
            };
            oldest.abort();
            SHED.get_or_create(&ShedLabels {
                server: self.server.clone(),
                reason: "oldest_waiting",
            })
            .inc();
        }
        let id = inner.next;
        inner.next += 1;
        let set = self.clone();
        // Spawned under the lock: the task removes itself under it too, so it cannot
        // finish before it is listed.
        let handle = runtime.spawn(async move {
            task.await;
            set.inner.lock().tasks.remove(&id);
        });
        inner.tasks.insert(id, handle.abort_handle());
    }

    /// How many queries wait now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_oldest_are_cancelled_to_admit_new_ones() {
        let set = WaitingSet::new(3, Label::from("dns://test"));
        let finished = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..5 {
            let (finished, order) = (finished.clone(), order.clone());
            set.spawn(&Handle::current(), async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                order.lock().push(i);
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert!(set.len() <= 3);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut done = order.lock().clone();
        done.sort_unstable();
        assert_eq!(done, [2, 3, 4], "the two oldest were shed");
        assert_eq!(set.len(), 0, "finished tasks leave the set");
    }
}
