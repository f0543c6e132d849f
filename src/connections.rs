//! A bounded table of open stream connections that stays open to new clients under
//! pressure (RFC 7766 §6.2.3), shared by the DNS TCP front end and the HTTP servers.
//!
//! Refusing new connections when the table is full lets one client that opens many
//! and sends nothing deny service to everyone else. Instead, when the table is full
//! (or the new connection's source address holds its whole share), the connection
//! that has been idle longest is closed to admit the new one: an idle connection
//! costs its client nothing to reopen, while a refused one is a failed query or a
//! failed probe. Idle timeouts also shorten as the table fills, so idle connections
//! leave before they have to be evicted. Connections with a request in progress are
//! never evicted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use clusterdns_api::metrics::{Label, register};
use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedEarlyLabels {
    listener: Label,
    reason: &'static str,
}

/// `coredns_connections_closed_early_total{listener, reason}`: connections closed by
/// the server to make room (`table_full`, `source_share`), and new ones closed at once
/// because every open connection was busy (`all_busy`).
static CLOSED_EARLY: LazyLock<Family<ClosedEarlyLabels, Counter>> = LazyLock::new(|| {
    let family = Family::default();
    register(
        "connections_closed_early",
        "Counter of stream connections (DNS over TCP, HTTP) closed by the server before their client or idle timeout did, by listener and reason",
        family.clone(),
    );
    family
});

/// Counts a connection closed early on `listener` (`dns://:53`, `http://:8080`).
fn count_closed_early(listener: &Label, reason: Option<Eviction>) {
    CLOSED_EARLY
        .get_or_create(&ClosedEarlyLabels {
            listener: listener.clone(),
            reason: reason.map_or("all_busy", Eviction::as_str),
        })
        .inc();
}

/// Registers the metric, so that it is listed (at zero series) before any pressure.
pub(crate) fn register_metrics() {
    LazyLock::force(&CLOSED_EARLY);
}

/// Why a connection was closed before its client closed it or went idle for the
/// whole timeout: the `reason` label of the counting metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// The table was full.
    TableFull,
    /// The connection's source address held its whole share of the table.
    SourceShare,
}

impl Eviction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TableFull => "table_full",
            Self::SourceShare => "source_share",
        }
    }
}

/// The bounds of one table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableLimits {
    /// Connections open at once.
    pub max: usize,
    /// Connections one source address may hold at once.
    pub max_per_source: usize,
}

/// One open connection, as the table sees it.
#[derive(Debug)]
pub(crate) struct Tracked {
    id: u64,
    source: IpAddr,
    /// Milliseconds since the table's epoch of the last request read or answer written.
    last_active: AtomicU64,
    /// Requests read and not yet answered.
    busy: AtomicUsize,
    /// Cancelled when the table closes the connection early.
    closed: CancellationToken,
}

impl Tracked {
    /// Resolves when the table has closed this connection to admit another.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }
}

/// The table's handle on one connection; removes it from the table when dropped.
#[derive(Debug)]
pub(crate) struct Admission {
    table: Arc<ConnectionTable>,
    tracked: Arc<Tracked>,
}

impl Admission {
    /// The connection's entry.
    pub(crate) fn tracked(&self) -> &Arc<Tracked> {
        &self.tracked
    }

    /// Marks a request read: the connection is busy until [`Admission::done`].
    pub(crate) fn begin(&self) {
        self.tracked.busy.fetch_add(1, Ordering::AcqRel);
        self.touch();
    }

    /// Marks a request answered (or dropped).
    pub(crate) fn done(&self) {
        done(&self.table, &self.tracked);
    }

    /// Records activity now.
    pub(crate) fn touch(&self) {
        self.tracked
            .last_active
            .store(self.table.now_ms(), Ordering::Relaxed);
    }

    /// How long the connection may stay idle now, from `base`: see
    /// [`ConnectionTable::idle_timeout`].
    pub(crate) fn idle_timeout(&self, base: Duration) -> Duration {
        self.table.idle_timeout(base)
    }

    /// A handle that marks requests begun and done from other tasks.
    pub(crate) fn activity(&self) -> Activity {
        Activity {
            table: self.table.clone(),
            tracked: self.tracked.clone(),
        }
    }

    /// How much longer the connection may stay idle with `base` as the idle timeout
    /// (shortened as the table fills); `None` while a request is in progress.
    pub(crate) fn idle_remaining(&self, base: Duration) -> Option<Duration> {
        if self.tracked.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self
            .table
            .now_ms()
            .saturating_sub(self.tracked.last_active.load(Ordering::Relaxed));
        Some(
            self.table
                .idle_timeout(base)
                .saturating_sub(Duration::from_millis(since)),
        )
    }
}

fn done(table: &ConnectionTable, tracked: &Tracked) {
    // Saturating: a request is marked done once, but never let a miscount wrap.
    let _ = tracked
        .busy
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    tracked.last_active.store(table.now_ms(), Ordering::Relaxed);
}

/// Marks the requests of a connection begun and done from the tasks that serve them.
#[derive(Clone, Debug)]
pub(crate) struct Activity {
    table: Arc<ConnectionTable>,
    tracked: Arc<Tracked>,
}

impl Activity {
    /// A request was read.
    pub(crate) fn begin(&self) {
        self.tracked.busy.fetch_add(1, Ordering::AcqRel);
        self.tracked
            .last_active
            .store(self.table.now_ms(), Ordering::Relaxed);
    }

    /// A request was answered (or dropped).
    pub(crate) fn done(&self) {
        done(&self.table, &self.tracked);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.table.remove(&self.tracked);
    }
}

/// The open connections of one listener.
#[derive(Debug)]
pub(crate) struct ConnectionTable {
    limits: TableLimits,
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<Tracked>>,
    per_source: HashMap<IpAddr, usize>,
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Arc<Tracked>> {
        let tracked = self.open.remove(&id)?;
        if let Some(count) = self.per_source.get_mut(&tracked.source) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_source.remove(&tracked.source);
            }
        }
        Some(tracked)
    }

    /// The idle connection (no request in progress) that has been idle longest, among
    /// those from `source` when given.
    fn idle_longest(&self, source: Option<IpAddr>) -> Option<u64> {
        self.open
            .values()
            .filter(|t| source.is_none_or(|s| t.source == s))
            .filter(|t| t.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|t| (t.last_active.load(Ordering::Relaxed), t.id))
            .map(|t| t.id)
    }
}

impl ConnectionTable {
    pub(crate) fn new(limits: TableLimits) -> Arc<Self> {
        Arc::new(Self {
            limits: TableLimits {
                max: limits.max.max(1),
                max_per_source: limits.max_per_source.clamp(1, limits.max.max(1)),
            },
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a connection from `source`, closing the idle-longest connection of that
    /// source (when it holds its whole share) or of the table (when it is full) to make
    /// room. `None` when there is no room and every candidate is busy: the new
    /// connection is then the one closed.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> Option<(Admission, Option<Eviction>)> {
        let mut inner = self.inner.lock();
        let mut evicted = None;
        let held = inner.per_source.get(&source).copied().unwrap_or(0);
        if held >= self.limits.max_per_source {
            let victim = inner.idle_longest(Some(source))?;
            close(inner.remove(victim));
            evicted = Some(Eviction::SourceShare);
        } else if inner.open.len() >= self.limits.max {
            let victim = inner.idle_longest(None)?;
            close(inner.remove(victim));
            evicted = Some(Eviction::TableFull);
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let tracked = Arc::new(Tracked {
            id,
            source,
            last_active: AtomicU64::new(self.now_ms()),
            busy: AtomicUsize::new(0),
            closed: CancellationToken::new(),
        });
        inner.open.insert(id, tracked.clone());
        *inner.per_source.entry(source).or_default() += 1;
        drop(inner);
        Some((
            Admission {
                table: self.clone(),
                tracked,
            },
            evicted,
        ))
    }

    /// [`admit`](Self::admit) for a connection accepted by `listener`, counting in
    /// `coredns_connections_closed_early_total` whichever connection it closes: an
    /// evicted one, or the new one when every other is busy (`None`).
    pub(crate) fn admit_counted(
        self: &Arc<Self>,
        source: IpAddr,
        listener: &Label,
    ) -> Option<Admission> {
        match self.admit(source) {
            Some((admission, evicted)) => {
                if evicted.is_some() {
                    count_closed_early(listener, evicted);
                }
                Some(admission)
            }
            None => {
                count_closed_early(listener, None);
                None
            }
        }
    }

    fn remove(&self, tracked: &Tracked) {
        self.inner.lock().remove(tracked.id);
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().open.len()
    }

    /// The idle timeout for a table as full as this one now: `base` while it is at
    /// most half full, then shorter in proportion to the room left, down to a
    /// twentieth of `base` (and at least 200 ms) when full.
    pub(crate) fn idle_timeout(&self, base: Duration) -> Duration {
        let open = self.len();
        let half = self.limits.max / 2;
        if open <= half {
            return base;
        }
        let room = self.limits.max.saturating_sub(open) as f64;
        let share = room / (self.limits.max - half).max(1) as f64;
        let floor = (base / 20).max(Duration::from_millis(200)).min(base);
        base.mul_f64(share).max(floor)
    }
}

fn close(tracked: Option<Arc<Tracked>>) {
    if let Some(tracked) = tracked {
        tracked.closed.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_full_table_closes_the_connection_idle_longest() {
        let table = ConnectionTable::new(TableLimits {
            max: 3,
            max_per_source: 3,
        });
        let (first, _) = table.admit(ip(1)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let (second, _) = table.admit(ip(2)).unwrap();
        let (third, _) = table.admit(ip(3)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        first.touch();
        let (_fourth, evicted) = table.admit(ip(4)).unwrap();
        assert_eq!(evicted, Some(Eviction::TableFull));
        assert!(second.tracked().closed().is_cancelled(), "idle longest");
        assert!(!first.tracked().closed().is_cancelled());
        assert!(!third.tracked().closed().is_cancelled());
        assert_eq!(table.len(), 3);
        drop(second);
        assert_eq!(table.len(), 3, "an evicted connection is counted once");
    }

    #[test]
    fn busy_connections_are_not_evicted() {
        let table = ConnectionTable::new(TableLimits {
            max: 2,
            max_per_source: 2,
        });
        let (a, _) = table.admit(ip(1)).unwrap();
        let (b, _) = table.admit(ip(2)).unwrap();
        a.begin();
        b.begin();
        assert!(table.admit(ip(3)).is_none(), "every connection is busy");
        b.done();
        let (_c, evicted) = table.admit(ip(3)).unwrap();
        assert_eq!(evicted, Some(Eviction::TableFull));
        assert!(b.tracked().closed().is_cancelled());
        assert!(!a.tracked().closed().is_cancelled());
    }

    #[test]
    fn one_source_recycles_its_own_share() {
        let table = ConnectionTable::new(TableLimits {
            max: 10,
            max_per_source: 2,
        });
        let (other, _) = table.admit(ip(9)).unwrap();
        let (a, _) = table.admit(ip(1)).unwrap();
        let (_b, _) = table.admit(ip(1)).unwrap();
        let (_c, evicted) = table.admit(ip(1)).unwrap();
        assert_eq!(evicted, Some(Eviction::SourceShare));
        assert!(a.tracked().closed().is_cancelled());
        assert!(!other.tracked().closed().is_cancelled());
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn idle_timeouts_shorten_as_the_table_fills() {
        let table = ConnectionTable::new(TableLimits {
            max: 10,
            max_per_source: 10,
        });
        let base = Duration::from_secs(10);
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(table.admit(ip(1)).unwrap());
        }
        assert_eq!(table.idle_timeout(base), base);
        for _ in 0..3 {
            held.push(table.admit(ip(1)).unwrap());
        }
        assert_eq!(table.idle_timeout(base), Duration::from_secs(4));
        for _ in 0..2 {
            held.push(table.admit(ip(1)).unwrap());
        }
        assert_eq!(table.idle_timeout(base), Duration::from_millis(500));
    }
}
