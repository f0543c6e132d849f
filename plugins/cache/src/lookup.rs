//! The cache's one lookup rule, used by both request paths: which store is asked
//! first, when an entry is fresh, stale but servable, or gone, and which hit the
//! metrics count.
//!
//! The ordinary path (`plugin.rs`) serves every outcome: fresh hits (refreshing
//! popular entries first when `prefetch` says so), stale hits (refreshing them as
//! `serve_stale` says) and misses. The wire path (`wire.rs`) serves only fresh hits
//! of caches without `prefetch`, and hands everything else to the ordinary path
//! unanswered and uncounted: deciding a prefetch counts the entry's hit, and a query
//! must not count twice.

use std::sync::Arc;

use tokio::time::Instant;

use crate::item::Item;
use crate::question::Question;
use crate::store::{Key, Store};

/// The two stores, or anything kept once per store.
#[derive(Debug, Default)]
pub(crate) struct PerStore<T> {
    /// For positive answers.
    pub success: T,
    /// For NXDOMAIN, NODATA and (briefly) SERVFAIL.
    pub denial: T,
}

impl<T> PerStore<T> {
    /// The one of `kind`.
    pub fn get(&self, kind: StoreKind) -> &T {
        match kind {
            StoreKind::Success => &self.success,
            StoreKind::Denial => &self.denial,
        }
    }
}

/// Which store an entry lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// Positive answers.
    Success,
    /// Negative answers and server failures.
    Denial,
}

impl StoreKind {
    /// The other store.
    pub fn other(self) -> Self {
        match self {
            Self::Success => Self::Denial,
            Self::Denial => Self::Success,
        }
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// A live entry, and the store it came from.
    Fresh(Arc<Item>, StoreKind),
    /// An expired entry still within the `serve_stale` window.
    Stale(Arc<Item>, StoreKind),
    /// Nothing usable.
    Miss,
}

impl PerStore<Store> {
    /// Looks `key` up: the denial store first, then the success store, as CoreDNS
    /// does, except that a cached SERVFAIL does not hide a usable positive entry.
    /// `asks` tells whether an entry answers the query's question (the key is a hash,
    /// so a collision is possible). An entry expired for more than `stale_window`
    /// seconds is removed on the way, rather than left to eviction.
    pub fn find(
        &self,
        key: Key,
        asks: impl Fn(&Question) -> bool,
        stale_window: i64,
        now: Instant,
    ) -> Lookup {
        // Some(true): live; Some(false): stale but servable; None: not usable.
        let usable = |kind: StoreKind, item: &Arc<Item>| -> Option<bool> {
            if !asks(&item.question) {
                return None;
            }
            let remaining = item.remaining(now);
            if remaining > 0 {
                Some(true)
            } else if -remaining < stale_window {
                Some(false)
            } else {
                self.get(kind).remove_if_same(key, item);
                None
            }
        };
        let found = |item: Arc<Item>, kind: StoreKind, fresh: bool| {
            if fresh {
                Lookup::Fresh(item, kind)
            } else {
                Lookup::Stale(item, kind)
            }
        };
        if let Some(item) = self.denial.get(key)
            && let Some(fresh) = usable(StoreKind::Denial, &item)
        {
            if item.is_server_error()
                && let Some(positive) = self.success.get(key)
                && let Some(positive_fresh) = usable(StoreKind::Success, &positive)
            {
                return found(positive, StoreKind::Success, positive_fresh);
            }
            return found(item, StoreKind::Denial, fresh);
        }
        if let Some(item) = self.success.get(key)
            && let Some(fresh) = usable(StoreKind::Success, &item)
        {
            return found(item, StoreKind::Success, fresh);
        }
        Lookup::Miss
    }
}
