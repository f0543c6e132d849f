//! `coredns_cache_*` metrics, registered once per process.
//!
//! The families are shared by every cache instance and survive reloads, as CoreDNS's
//! do. A query must not pay for building label sets: each instance keeps, per
//! `server` label (one per listener, so a handful), the counters of its fixed label
//! sets, and a query only clones an `Arc` out of a lock-free list and increments.

use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use clusterdns_api::metrics::{Label, register};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::lookup::PerStore;

/// `type` label values.
pub(crate) const SUCCESS: &str = "success";
pub(crate) const DENIAL: &str = "denial";

/// `{server, zones, view}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    server: Label,
    zones: Label,
    view: &'static str,
}

/// `{server, type, zones, view}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypedLabels {
    server: Label,
    r#type: &'static str,
    zones: Label,
    view: &'static str,
}

struct Families {
    entries: Family<TypedLabels, Gauge>,
    requests: Family<Labels, Counter>,
    hits: Family<TypedLabels, Counter>,
    misses: Family<Labels, Counter>,
    prefetch: Family<Labels, Counter>,
    drops: Family<Labels, Counter>,
    served_stale: Family<Labels, Counter>,
    evictions: Family<TypedLabels, Counter>,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| {
    let families = Families {
        entries: Family::default(),
        requests: Family::default(),
        hits: Family::default(),
        misses: Family::default(),
        prefetch: Family::default(),
        drops: Family::default(),
        served_stale: Family::default(),
        evictions: Family::default(),
    };
    // Counters are registered without `_total`: the encoder appends it.
    register(
        "cache_entries",
        "The number of elements in the cache.",
        families.entries.clone(),
    );
    register(
        "cache_requests",
        "The count of cache requests.",
        families.requests.clone(),
    );
    register(
        "cache_hits",
        "The count of cache hits.",
        families.hits.clone(),
    );
    register(
        "cache_misses",
        "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
        families.misses.clone(),
    );
    register(
        "cache_prefetch",
        "The number of times the cache has prefetched a cached item.",
        families.prefetch.clone(),
    );
    register(
        "cache_drops",
        "The number responses that are not cached, because the reply is malformed.",
        families.drops.clone(),
    );
    register(
        "cache_served_stale",
        "The number of requests served from stale cache entries.",
        families.served_stale.clone(),
    );
    register(
        "cache_evictions",
        "The count of cache evictions.",
        families.evictions.clone(),
    );
    families
});

/// Makes sure the families are registered (so `/metrics` lists them from the start).
pub(crate) fn init() {
    LazyLock::force(&FAMILIES);
}

/// The counters of one cache instance for one `server` label.
pub(crate) struct ServerMetrics {
    pub requests: Counter,
    pub misses: Counter,
    pub prefetch: Counter,
    pub drops: Counter,
    pub served_stale: Counter,
    pub hits: PerStore<Counter>,
    pub evictions: PerStore<Counter>,
    pub entries: PerStore<Gauge>,
}

impl ServerMetrics {
    fn new(server: &Label, zones: &Label) -> Self {
        let families = &*FAMILIES;
        let labels = Labels {
            server: server.clone(),
            zones: zones.clone(),
            view: "",
        };
        let typed = |kind: &'static str| TypedLabels {
            server: server.clone(),
            r#type: kind,
            zones: zones.clone(),
            view: "",
        };
        // One guard at a time: `get_or_create` holds the family's lock until the
        // handle is cloned, and a second call in the same expression would deadlock.
        let counter = |family: &Family<TypedLabels, Counter>, kind| {
            family.get_or_create(&typed(kind)).clone()
        };
        let gauge = |kind| families.entries.get_or_create(&typed(kind)).clone();
        let hits_success = counter(&families.hits, SUCCESS);
        let hits_denial = counter(&families.hits, DENIAL);
        let evictions_success = counter(&families.evictions, SUCCESS);
        let evictions_denial = counter(&families.evictions, DENIAL);
        let entries_success = gauge(SUCCESS);
        let entries_denial = gauge(DENIAL);
        let plain = |family: &Family<Labels, Counter>| family.get_or_create(&labels).clone();
        let requests = plain(&families.requests);
        let misses = plain(&families.misses);
        let prefetch = plain(&families.prefetch);
        let drops = plain(&families.drops);
        let served_stale = plain(&families.served_stale);
        Self {
            requests,
            misses,
            prefetch,
            drops,
            served_stale,
            hits: PerStore {
                success: hits_success,
                denial: hits_denial,
            },
            evictions: PerStore {
                success: evictions_success,
                denial: evictions_denial,
            },
            entries: PerStore {
                success: entries_success,
                denial: entries_denial,
            },
        }
    }
}

/// The per-server counters of one cache instance.
pub(crate) struct CacheMetrics {
    zones: Label,
    servers: ArcSwap<Vec<(Arc<str>, Arc<ServerMetrics>)>>,
}

/// The most `server` labels kept per instance; beyond, handles are built per query
/// (never happens with real listeners, but keeps the list bounded).
const MAX_SERVERS: usize = 64;

impl CacheMetrics {
    pub fn new(zones: &str) -> Self {
        init();
        Self {
            zones: Label::from(zones),
            servers: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// The counters for `server`.
    pub fn server(&self, server: &Arc<str>) -> Arc<ServerMetrics> {
        {
            let servers = self.servers.load();
            if let Some((_, metrics)) = servers
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, server) || **s == **server)
            {
                return metrics.clone();
            }
        }
        let metrics = Arc::new(ServerMetrics::new(&Label(server.clone()), &self.zones));
        self.servers.rcu(|servers| {
            let mut servers = Vec::clone(servers);
            if servers.len() < MAX_SERVERS && !servers.iter().any(|(s, _)| **s == **server) {
                servers.push((server.clone(), metrics.clone()));
            }
            servers
        });
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_per_server_and_counted_once() {
        let metrics = CacheMetrics::new("metrics-test.");
        let server: Arc<str> = Arc::from("dns://:1053");
        let a = metrics.server(&server);
        let b = metrics.server(&Arc::from("dns://:1053"));
        assert!(Arc::ptr_eq(&a, &b));
        a.requests.inc();
        b.hits.success.inc();
        let text = clusterdns_api::metrics::encode_text();
        assert!(
            text.contains(
                "coredns_cache_requests_total{server=\"dns://:1053\",zones=\"metrics-test.\",view=\"\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "coredns_cache_hits_total{server=\"dns://:1053\",type=\"success\",zones=\"metrics-test.\",view=\"\"} 1"
            ),
            "{text}"
        );
        for name in [
            "coredns_cache_entries",
            "coredns_cache_misses_total",
            "coredns_cache_prefetch_total",
            "coredns_cache_drops_total",
            "coredns_cache_served_stale_total",
            "coredns_cache_evictions_total",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
