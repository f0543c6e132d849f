//! The `cache` plugin: looks answers up before the rest of the chain, stores what the
//! rest of the chain answers.
//!
//! The server polls a query's chain future once, inline, on the UDP worker that read
//! it. A hit is therefore decided and answered synchronously in [`Plugin::serve`]: the
//! future it returns is already complete, no lock is held past the lookup, and the
//! worker never hands the query to the runtime. Only misses, prefetches and stale
//! refreshes, which must ask the rest of the chain, return a future that waits.

use std::future::ready;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use clusterdns_api::wire::{Wire, WireName, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::Name;

use crate::classify::{Class, cache_ttl, classify, set_ttls, storable};
use crate::config::{CacheConfig, RefreshMode};
use crate::item::{Item, RefreshClaim};
use crate::lookup::{Lookup, PerStore, StoreKind};
use crate::metrics::{CacheMetrics, ServerMetrics};
use crate::question::Question;
use crate::store::{Key, KeyHasher, Store};

/// The `cache` plugin.
pub struct Cache {
    pub(crate) config: CacheConfig,
    /// Whether the zones include the root, so every name is cached.
    all_zones: bool,
    /// The zones, for matching on the wire path.
    zones_wire: Vec<WireName>,
    pub(crate) keys: KeyHasher,
    pub(crate) stores: PerStore<Store>,
    pub(crate) metrics: CacheMetrics,
}

impl Cache {
    /// A cache configured by `config`, with empty stores.
    pub(crate) fn new(config: CacheConfig) -> Self {
        let metrics = CacheMetrics::new(&config.zones_label());
        Self {
            all_zones: config.zones.iter().any(Name::is_root),
            zones_wire: config.zones.iter().map(WireName::new).collect(),
            keys: KeyHasher::default(),
            stores: PerStore {
                success: Store::new(config.success.shard_capacity()),
                denial: Store::new(config.denial.shard_capacity()),
            },
            metrics,
            config,
        }
    }

    fn in_zones(&self, qname: &Name) -> bool {
        self.all_zones || self.config.zones.iter().any(|zone| zone.zone_of(qname))
    }

    /// [`in_zones`](Self::in_zones) for a query on the wire path.
    pub(crate) fn in_zones_wire(&self, query: &WireQuery<'_>) -> bool {
        self.all_zones
            || self
                .zones_wire
                .iter()
                .any(|zone| zone.start_in(query).is_some())
    }

    fn key(&self, ctx: &Ctx) -> Key {
        self.keys.key(
            ctx.qname(),
            ctx.qtype(),
            ctx.qclass(),
            ctx.dnssec_ok(),
            ctx.metadata.checking_disabled,
        )
    }

    /// How long past expiry an entry may still be served (`serve_stale`), in seconds.
    pub(crate) fn stale_window(&self) -> i64 {
        self.config
            .serve_stale
            .as_ref()
            .map_or(0, |s| i64::try_from(s.up_to.as_secs()).unwrap_or(i64::MAX))
    }

    /// Looks `ctx`'s question up by the one rule ([`PerStore::find`]) and counts the
    /// hit or miss.
    fn lookup(&self, ctx: &Ctx, key: Key, now: Instant, metrics: &ServerMetrics) -> Lookup {
        let lookup = self.stores.find(
            key,
            |question| question.matches(ctx),
            self.stale_window(),
            now,
        );
        match &lookup {
            Lookup::Fresh(_, kind) | Lookup::Stale(_, kind) => {
                metrics.hits.get(*kind).inc();
            }
            Lookup::Miss => {
                metrics.misses.inc();
            }
        }
        lookup
    }

    /// The answer from a live entry, its TTLs counted down (or kept, with `keepttl`).
    fn answer(&self, item: &Item, ctx: &Ctx, now: Instant) -> Response {
        let ttl = if self.config.keepttl {
            item.ttl
        } else {
            u32::try_from(item.remaining(now).max(0)).unwrap_or(0)
        };
        item.to_response(ctx, ttl)
    }

    /// Whether a hit on `item` should refresh it now: prefetch is on, the entry has
    /// seen AMOUNT queries without a gap of DURATION, and at most PERCENTAGE of its
    /// TTL is left (at least one second, as the percentage is rounded up).
    fn should_prefetch(&self, item: &Item, now: Instant) -> bool {
        let Some(prefetch) = &self.config.prefetch else {
            return false;
        };
        let hits = item.hit(prefetch.window, now);
        let threshold = (u64::from(prefetch.percentage) * u64::from(item.ttl)).div_ceil(100);
        hits >= prefetch.amount
            && item.remaining(now) <= i64::try_from(threshold).unwrap_or(i64::MAX)
    }

    /// Runs the rest of the chain for `ctx`, with AD set on the query as CoreDNS does
    /// for its refreshes (so the stored entry records AD whatever the first client
    /// asked), optionally within `timeout`. `ctx` is left as it was.
    async fn ask(
        &self,
        ctx: &mut Ctx,
        next: Next<'_>,
        timeout: Option<Duration>,
    ) -> Result<Response, PluginError> {
        let authentic_data = ctx.metadata.authentic_data;
        ctx.metadata.authentic_data = true;
        let result = match timeout {
            None => next.run(ctx).await,
            Some(timeout) => {
                // A plugin cut off mid-way could not restore a rewritten question.
                let query = ctx.query.clone();
                let result = tokio::time::timeout(timeout, next.run(ctx)).await;
                ctx.query = query;
                result.unwrap_or_else(|_| {
                    Err(PluginError::failed("cache", "serve_stale verify timed out"))
                })
            }
        };
        ctx.metadata.authentic_data = authentic_data;
        result
    }

    /// Caches `response`, the chain's answer to `ctx`, if it may be cached, and
    /// prepares it for the client: every record's TTL set to the cache TTL (as CoreDNS
    /// does, so the first answer agrees with the cached ones), AD cleared for clients
    /// that did not ask for it. `previous` is the entry a refresh replaces, whose
    /// popularity carries over.
    fn store(
        &self,
        ctx: &Ctx,
        key: Key,
        response: &mut Response,
        metrics: &ServerMetrics,
        previous: Option<&Item>,
    ) {
        let question = Question::of(ctx);
        let message = &mut response.message;
        let class = classify(message, &question.name, question.qtype, question.qclass);
        let ttl = cache_ttl(message, class, &self.config);
        // Errors that are never cached are passed on as they are.
        if class != Class::Other {
            set_ttls(message, ttl);
        }
        let cacheable = ttl > 0
            && storable(
                message,
                class,
                &question.name,
                question.qtype,
                question.qclass,
            );
        if cacheable {
            self.insert(ctx, key, question, response, class, ttl, metrics, previous);
        }
        if !ctx.dnssec_ok() && !ctx.metadata.authentic_data {
            response.message.metadata.authentic_data = false;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        ctx: &Ctx,
        key: Key,
        question: Question,
        response: &Response,
        class: Class,
        ttl: u32,
        metrics: &ServerMetrics,
        previous: Option<&Item>,
    ) {
        // Cure53 DNS-01-003: never store an answer to another question.
        if !answers_our_question(&response.message, ctx) {
            metrics.drops.inc();
            return;
        }
        let denial = class.is_denial();
        let disabled = if denial {
            &self.config.disable_denial
        } else {
            &self.config.disable_success
        };
        if disabled.iter().any(|zone| zone.zone_of(&question.name)) {
            return;
        }
        let item = Arc::new(Item::new(question, &response.message, ttl, Instant::now()));
        if let Some(previous) = previous {
            item.inherit_hits(previous);
        }
        let kind = if denial {
            StoreKind::Denial
        } else {
            StoreKind::Success
        };
        if self.stores.get(kind).insert(key, item) {
            metrics.evictions.get(kind).inc();
        }
        // The newest answer wins; but a SERVFAIL leaves a positive entry in place
        // (lookups prefer it), as CoreDNS does.
        if class != Class::ServerError {
            self.stores.get(kind.other()).remove(key);
        }
        self.set_entries(metrics);
    }

    fn set_entries(&self, metrics: &ServerMetrics) {
        for kind in [StoreKind::Success, StoreKind::Denial] {
            let len = self.stores.get(kind).len();
            metrics
                .entries
                .get(kind)
                .set(i64::try_from(len).unwrap_or(i64::MAX));
        }
    }

    /// A miss: ask the rest of the chain, store its answer.
    async fn fetch(
        &self,
        ctx: &mut Ctx,
        next: Next<'_>,
        key: Key,
        metrics: Arc<ServerMetrics>,
    ) -> Result<Response, PluginError> {
        let mut response = self.ask(ctx, next, None).await?;
        self.store(ctx, key, &mut response, &metrics, None);
        Ok(response)
    }

    /// The chain's answer, if it is one that may replace a cached entry (RFC 8767 §4:
    /// NOERROR or NXDOMAIN, complete, to our question); it is stored. `None` when the
    /// chain failed or answered something else, which is not stored either.
    fn refreshed(
        &self,
        ctx: &Ctx,
        key: Key,
        result: Result<Response, PluginError>,
        metrics: &ServerMetrics,
        previous: &Item,
    ) -> Option<Response> {
        let mut response = result.ok()?;
        let message = &response.message;
        let usable = !message.metadata.truncation
            && answers_our_question(message, ctx)
            && matches!(
                message.metadata.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            );
        if !usable {
            return None;
        }
        self.store(ctx, key, &mut response, metrics, Some(previous));
        Some(response)
    }

    /// A popular entry near expiry: this query refreshes it through the rest of the
    /// chain and gets the fresh answer; should the chain fail, the still-valid entry
    /// answers.
    async fn prefetch(
        &self,
        ctx: &mut Ctx,
        next: Next<'_>,
        key: Key,
        item: Arc<Item>,
        mut claim: RefreshClaim,
        metrics: Arc<ServerMetrics>,
    ) -> Result<Response, PluginError> {
        metrics.prefetch.inc();
        let result = self.ask(ctx, next, None).await;
        let fresh = self.refreshed(ctx, key, result, &metrics, &item);
        claim.set_refreshed(fresh.is_some());
        drop(claim);
        Ok(match fresh {
            Some(response) => response,
            None => self.answer(&item, ctx, Instant::now()),
        })
    }

    /// An expired entry within the `serve_stale` window: refresh it if allowed, and
    /// answer stale when that fails.
    async fn stale(
        &self,
        ctx: &mut Ctx,
        next: Next<'_>,
        key: Key,
        item: Arc<Item>,
        metrics: Arc<ServerMetrics>,
        now: Instant,
    ) -> Result<Response, PluginError> {
        let Some(stale) = self.config.serve_stale.clone() else {
            // Lookups only find stale entries with serve_stale on.
            return self.fetch(ctx, next, key, metrics).await;
        };
        // `immediate` refreshes an entry one query at a time (the others are answered
        // stale meanwhile); `verify` asks for every query unless a failure recheck is set.
        let track = stale.mode == RefreshMode::Immediate || !stale.failure_recheck.is_zero();
        let claim = if track {
            RefreshClaim::new(&item, stale.failure_recheck, now).map(Some)
        } else {
            Some(None)
        };
        if let Some(mut claim) = claim {
            if stale.mode == RefreshMode::Immediate {
                metrics.prefetch.inc();
            }
            let result = self.ask(ctx, next, stale.verify_timeout).await;
            let fresh = self.refreshed(ctx, key, result, &metrics, &item);
            if let Some(claim) = &mut claim {
                claim.set_refreshed(fresh.is_some());
            }
            drop(claim);
            if let Some(response) = fresh {
                return Ok(response);
            }
        }
        metrics.served_stale.inc();
        Ok(item.to_response(ctx, stale.response_ttl))
    }
}

impl Plugin for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        if !self.in_zones(ctx.qname()) {
            return next.run(ctx);
        }
        let now = Instant::now();
        let metrics = self.metrics.server(&ctx.server);
        metrics.requests.inc();
        let key = self.key(ctx);
        match self.lookup(ctx, key, now, &metrics) {
            Lookup::Fresh(item, _) => {
                if self.should_prefetch(&item, now)
                    && let Some(claim) = RefreshClaim::new(&item, Duration::ZERO, now)
                {
                    return Box::pin(self.prefetch(ctx, next, key, item, claim, metrics));
                }
                // The hit path: complete before the first poll.
                Box::pin(ready(Ok(self.answer(&item, ctx, now))))
            }
            Lookup::Stale(item, _) => Box::pin(self.stale(ctx, next, key, item, metrics, now)),
            Lookup::Miss => Box::pin(self.fetch(ctx, next, key, metrics)),
        }
    }

    fn serve_wire(&self, query: &mut WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        self.wire_hit(query, buf)
    }
}

/// Whether `message` answers `ctx`'s question: the same type, class and name, or no
/// question at all. Only such an answer may be stored or refresh an entry.
fn answers_our_question(message: &Message, ctx: &Ctx) -> bool {
    message.queries.first().is_none_or(|q| {
        q.query_type() == ctx.qtype() && q.query_class() == ctx.qclass() && q.name() == ctx.qname()
    })
}

#[cfg(test)]
impl Cache {
    pub(crate) fn entries(&self) -> (usize, usize) {
        (self.stores.success.len(), self.stores.denial.len())
    }

    pub(crate) fn capacities(&self) -> (usize, usize) {
        (
            self.stores.success.capacity(),
            self.stores.denial.capacity(),
        )
    }
}
