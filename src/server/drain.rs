//! Drain until quiet: after SIGTERM and the lameduck delay, keep answering for as long
//! as queries still arrive, and stop once none has come for a short quiet period (or
//! at a limit below the pod's grace period).
//!
//! Why: the Service stops sending a terminating replica new flows within a second, but
//! UDP conntrack entries made before that still point at it (kube-proxy deletes them,
//! unless it is slow or failing, or the node's kube-proxy lags), and a client that
//! reuses a source port refreshes such an entry with every query. Every query on such a
//! flow is lost once the replica exits; answering them until they stop costs nothing.
//!
//! The request path calls [`Drain::seen`] for every query, on both transports: one
//! relaxed load while serving normally. [`Drain::until_quiet`] is what the shutdown waits on.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clusterdns_api::metrics::register;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

/// `coredns_shutdown_requests_total{phase}`: queries received after SIGTERM, during the
/// lameduck delay (`lameduck`) and after it (`drain`). A `drain` count that keeps
/// growing at every rollout means stale conntrack entries (kube-proxy not cleaning up).
static SHUTDOWN_REQUESTS: LazyLock<Family<PhaseLabels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    register(
        "shutdown_requests",
        "Counter of DNS queries received after the server was told to stop, by phase (lameduck, drain)",
        family.clone(),
    );
    family
});

/// How the server drains after the lameduck delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainOptions {
    /// Stop once no query has arrived for this long; zero: stop right after lameduck.
    pub quiet: Duration,
    /// Stop at the latest this long after the shutdown began (SIGTERM), lameduck
    /// included. Keep it below the pod's `terminationGracePeriodSeconds`.
    pub limit: Duration,
}

impl Default for DrainOptions {
    /// 10 s quiet, 45 s limit, measured in the rollout lab (README, "Drain until
    /// quiet: the defaults, measured").
    ///
    /// Quiet: once only a few flows are pinned to the replica their queries come
    /// seconds apart (at 100 queries/s from a pod, a pinned source port comes back
    /// every few seconds), so 1 s and 5 s quiet periods ended the drain while queries
    /// were still coming. 10 s costs a replica with nothing pinned to it (conntrack
    /// cleaned) only 10 s more in Terminating.
    ///
    /// Limit: as long as the grace period allows. An ephemeral port reused more than 2 s
    /// after its entry was made turns the entry into a UDP stream, which conntrack
    /// keeps for `nf_conntrack_udp_timeout_stream` (120 s) after each packet instead of
    /// `nf_conntrack_udp_timeout` (30 s), so at hundreds of queries/s a pod keeps some
    /// flows pinned to an old replica for minutes: every second of drain answers queries
    /// that would otherwise be lost, and no limit below the grace period outlasts them
    /// all. 45 s with 5 s lameduck and a 10 s margin fits deploy/'s 60 s grace period.
    fn default() -> Self {
        Self {
            quiet: Duration::from_secs(10),
            limit: Duration::from_secs(45),
        }
    }
}

const SERVING: u8 = 0;
const LAMEDUCK: u8 = 1;
const DRAINING: u8 = 2;

/// A server's shutdown phase and when it last received a query.
#[derive(Debug)]
pub struct Drain {
    phase: AtomicU8,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last query seen after the shutdown began.
    last_query: AtomicU64,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    /// Serving normally.
    pub fn new() -> Self {
        Self {
            phase: AtomicU8::new(SERVING),
            epoch: Instant::now(),
            last_query: AtomicU64::new(0),
        }
    }

    /// Notes a query received.
    #[inline]
    pub fn seen(&self) {
        let phase = self.phase.load(Ordering::Relaxed);
        if phase == SERVING {
            return;
        }
        self.last_query.store(self.now_ms(), Ordering::Relaxed);
        SHUTDOWN_REQUESTS
            .get_or_create(&PhaseLabels {
                phase: if phase == LAMEDUCK {
                    "lameduck"
                } else {
                    "drain"
                },
            })
            .inc();
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The shutdown began: queries are counted from now on.
    pub fn begin_lameduck(&self) {
        LazyLock::force(&SHUTDOWN_REQUESTS);
        self.last_query.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(LAMEDUCK, Ordering::Relaxed);
    }

    /// How long since the last query (or since the shutdown began, if none came).
    fn idle(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_query.load(Ordering::Relaxed)),
        )
    }

    /// After the lameduck delay: returns once no query has arrived for
    /// `options.quiet`, or at `began + options.limit`. Returns how long it drained.
    pub async fn until_quiet(&self, options: DrainOptions, began: Instant) -> Duration {
        self.phase.store(DRAINING, Ordering::Relaxed);
        let start = Instant::now();
        let deadline = began + options.limit;
        loop {
            let idle = self.idle();
            let now = Instant::now();
            if idle >= options.quiet || now >= deadline {
                return start.elapsed();
            }
            let wait = (options.quiet - idle).min(deadline - now);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quiet_at_once_when_nothing_arrives() {
        let drain = Drain::new();
        drain.begin_lameduck();
        let options = DrainOptions {
            quiet: Duration::from_millis(50),
            limit: Duration::from_secs(10),
        };
        let drained = drain.until_quiet(options, Instant::now()).await;
        assert!(drained < Duration::from_secs(2), "{drained:?}");
    }

    #[tokio::test]
    async fn queries_keep_it_draining_until_the_limit() {
        let drain = std::sync::Arc::new(Drain::new());
        drain.begin_lameduck();
        let began = Instant::now();
        let options = DrainOptions {
            quiet: Duration::from_millis(200),
            limit: Duration::from_millis(600),
        };
        let feeder = {
            let drain = drain.clone();
            tokio::spawn(async move {
                while began.elapsed() < Duration::from_secs(3) {
                    drain.seen();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let drained = drain.until_quiet(options, began).await;
        feeder.abort();
        let total = began.elapsed();
        assert!(total >= Duration::from_millis(600), "{total:?}");
        assert!(
            total < Duration::from_secs(3),
            "stopped at the limit: {total:?}"
        );
        assert!(drained > Duration::ZERO);
    }
}
