//! The `forward` plugin in the query chain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clusterdns_api::proto::op::{Message, ResponseCode};
use clusterdns_api::proto::rr::Name;
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Protocol, Response};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::coalesce::{Coalescer, Key, Role, personalise};
use crate::config::{ATTEMPTS_PER_UPSTREAM, ForwardConfig};
use crate::errors::{ExchangeError, ForwardError, SetupError};
use crate::exchange::Outgoing;
use crate::metrics;
use crate::policy::Selector;
use crate::upstream::{Client, Upstream};

/// The longest one query is worked on before SERVFAIL: shorter than the 5s a stub
/// resolver waits before it gives up on an attempt (so the SERVFAIL still reaches it),
/// long enough for two full attempts at the default read timeout.
const QUERY_DEADLINE: Duration = Duration::from_millis(4500);
/// A ceiling on attempts per query even when `max_connect_attempts 0` lifts the cap,
/// so upstreams that refuse at once cannot make a query spin.
const ATTEMPTS_CEILING: u32 = 100;

/// Forwards queries for a zone to upstream resolvers.
pub struct Forward {
    client: Arc<Client>,
    from: Name,
    except: Vec<Name>,
    selector: Selector,
    force_tcp: bool,
    prefer_udp: bool,
    max_attempts: u32,
    max_concurrent: Option<usize>,
    in_flight: AtomicUsize,
    failover: Vec<ResponseCode>,
    next: Vec<ResponseCode>,
    next_on_nodata: bool,
    failfast: bool,
    coalescer: Coalescer,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("from", &self.from)
            .field("upstreams", &self.client.upstreams)
            .finish_non_exhaustive()
    }
}

/// Releases a `max_concurrent` slot.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Forward {
    pub(crate) fn new(config: &ForwardConfig) -> Result<Self, SetupError> {
        let count = u32::try_from(config.upstreams.len()).unwrap_or(u32::MAX);
        let max_attempts = match config.max_connect_attempts {
            None => ATTEMPTS_PER_UPSTREAM.saturating_mul(count),
            Some(0) => ATTEMPTS_CEILING,
            Some(n) => n.min(ATTEMPTS_CEILING),
        };
        Ok(Self {
            client: Arc::new(Client::new(config)?),
            from: config.from.clone(),
            except: config.except.clone(),
            selector: Selector::new(config.policy),
            force_tcp: config.force_tcp,
            prefer_udp: config.prefer_udp,
            max_attempts,
            max_concurrent: config.max_concurrent,
            in_flight: AtomicUsize::new(0),
            failover: config.failover.clone(),
            next: config.next.clone(),
            next_on_nodata: config.next_on_nodata,
            failfast: config.failfast,
            coalescer: Coalescer::default(),
        })
    }

    /// Whether `name` is forwarded: in FROM, and not under an `except` name (FROM
    /// itself always is).
    fn handles(&self, name: &Name) -> bool {
        if !self.from.zone_of(name) {
            return false;
        }
        name.eq_ignore_root(&self.from) || !self.except.iter().any(|e| e.zone_of(name))
    }

    /// The transport to the upstreams: `force_tcp` wins over `prefer_udp`, and by
    /// default the client's own.
    fn proto(&self, client: Protocol) -> Protocol {
        if self.force_tcp {
            Protocol::Tcp
        } else if self.prefer_udp {
            Protocol::Udp
        } else {
            match client {
                Protocol::Udp => Protocol::Udp,
                Protocol::Tcp => Protocol::Tcp,
            }
        }
    }

    /// Takes a `max_concurrent` slot, or `None` when all are taken.
    fn admit(&self) -> Option<InFlight<'_>> {
        let count = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let slot = InFlight(&self.in_flight);
        match self.max_concurrent {
            Some(max) if count > max => None,
            _ => Some(slot),
        }
    }

    async fn forward<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> Result<Response, PluginError> {
        let Some(slot) = self.admit() else {
            metrics::max_concurrent_reject();
            return Ok(Response::new(ctx, "forward", ResponseCode::Refused));
        };
        let outgoing =
            Outgoing::from_ctx(ctx).map_err(|e| self.error(ctx, &ForwardError::Query(e)))?;
        let proto = self.proto(ctx.protocol);
        let role = match Key::new(ctx, proto, &outgoing.options) {
            Some(key) => self.coalescer.join(key),
            None => Role::Alone,
        };
        let resolved = match role {
            Role::Lead(lead) => {
                let result = self.resolve(&outgoing, proto).await.map_err(Arc::new);
                let waiters = lead.finish(&result);
                if waiters > 0 {
                    metrics::coalesced(waiters);
                }
                result
            }
            Role::Follow(leader) => match leader.await {
                Ok(shared) => shared.map(|reply| personalise(reply, ctx)),
                // The leader was cancelled: ask on our own.
                Err(_) => self.resolve(&outgoing, proto).await.map_err(Arc::new),
            },
            Role::Alone => self.resolve(&outgoing, proto).await.map_err(Arc::new),
        };
        let reply = resolved.map_err(|error| self.error(ctx, &error))?;
        drop(slot);
        let rcode = reply.metadata.response_code;
        if self.next.contains(&rcode)
            || (self.next_on_nodata && rcode == ResponseCode::NoError && reply.answers.is_empty())
        {
            return next.run(ctx).await;
        }
        let mut message = reply;
        message.edns = None;
        message.signature = None;
        message.metadata.id = ctx.metadata.id;
        Ok(Response {
            message,
            writer: "forward",
        })
    }

    /// The error at the chain's boundary, as text: `QNAME QTYPE: ERROR`.
    fn error(&self, ctx: &Ctx, error: &ForwardError) -> PluginError {
        PluginError::failed(
            "forward",
            format!("{} {}: {error}", ctx.qname(), ctx.qtype()),
        )
    }

    /// Tries the upstreams in the policy's order until one answers, within
    /// [`QUERY_DEADLINE`] and `max_attempts` attempts. Down upstreams are skipped;
    /// when all are down, a random one is tried (unless `failfast`).
    ///
    /// An attempt that has not answered within the read timeout is counted as a
    /// failure of its upstream and another attempt starts beside it, but it keeps
    /// listening: whichever answer arrives first before the deadline is used. An
    /// upstream that answers just after the read timeout is slow, not dead, and
    /// dropping its answer would turn every such query into a SERVFAIL.
    async fn resolve(&self, outgoing: &Outgoing, proto: Protocol) -> Result<Message, ForwardError> {
        let upstreams = &self.client.upstreams;
        let count = upstreams.len();
        if count == 0 {
            return Err(ForwardError::NoUpstreams);
        }
        let mut picker = Picker::new(self.selector.order(count));
        let overall = Instant::now() + QUERY_DEADLINE;
        let read_timeout = self.client.read_timeout();
        let mut attempts: u32 = 0;
        let mut failovers = 0;
        let mut last_reply: Option<Message> = None;
        let mut last_error: Option<(SocketAddr, ExchangeError)> = None;
        let mut pending = FuturesUnordered::new();
        let mut in_flight: Vec<InFlightAttempt> = Vec::new();
        // When the newest attempt has waited a read timeout and the next one is due.
        let mut next_attempt = Some(Instant::now());
        loop {
            let now = Instant::now();
            if next_attempt.is_some_and(|at| at <= now) {
                next_attempt = None;
                if attempts < self.max_attempts && now < overall {
                    // `None`: every upstream is down and `failfast` forbids trying one.
                    if let Some(index) = picker.next(self, upstreams) {
                        attempts += 1;
                        in_flight.push(InFlightAttempt {
                            id: attempts,
                            index,
                            started: now,
                            counted: false,
                        });
                        pending.push(self.attempt(attempts, index, outgoing, proto, overall));
                        next_attempt = Some(now + read_timeout);
                    }
                }
            }
            if pending.is_empty() {
                break;
            }
            let wake = next_attempt.unwrap_or(overall).min(overall);
            let (id, index, started, result) = tokio::select! {
                Some(done) = pending.next() => done,
                () = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= overall {
                        break;
                    }
                    // The newest attempt had its read timeout: count it against its
                    // upstream (an answer later still clears it) and start another.
                    if let Some(newest) = in_flight.last_mut().filter(|a| !a.counted) {
                        newest.counted = true;
                        self.client.failed(&upstreams[newest.index]);
                    }
                    continue;
                }
            };
            let counted = in_flight
                .iter()
                .position(|a| a.id == id)
                .is_some_and(|at| in_flight.remove(at).counted);
            let upstream = &upstreams[index];
            match result {
                Ok(reply) => {
                    upstream.record_success();
                    let rcode = reply.metadata.response_code;
                    metrics::request_duration(&upstream.label, rcode, started.elapsed());
                    if self.failover.contains(&rcode) {
                        failovers += 1;
                        if failovers < count {
                            last_reply = Some(reply);
                            next_attempt = Some(Instant::now());
                            continue;
                        }
                    }
                    return Ok(reply);
                }
                Err(error) => {
                    tracing::debug!(upstream = %upstream.addr, proto = proto.as_str(), %error, "forward: upstream failed");
                    // Over its budget is not a failure of the upstream.
                    if !counted && !matches!(error, ExchangeError::OverBudget(_)) {
                        self.client.failed(upstream);
                    }
                    last_error = Some((upstream.addr, error));
                    // Try the next upstream at once (earlier attempts keep waiting).
                    next_attempt = Some(Instant::now());
                }
            }
        }
        if let Some(reply) = last_reply {
            return Ok(reply);
        }
        // Attempts still waiting at the deadline: the newest one is named.
        if let Some(newest) = in_flight.last() {
            last_error = Some((
                upstreams[newest.index].addr,
                ExchangeError::Timeout(overall.saturating_duration_since(newest.started)),
            ));
        }
        match last_error {
            Some((upstream, last)) => Err(ForwardError::AllFailed {
                attempts,
                upstream,
                proto: proto.as_str(),
                last,
            }),
            None => Err(ForwardError::NoHealthy),
        }
    }

    /// One attempt at `upstreams[index]`, listening until `deadline`; its id, the
    /// upstream's index, when it started and how it ended.
    async fn attempt(
        &self,
        id: u32,
        index: usize,
        outgoing: &Outgoing,
        proto: Protocol,
        deadline: Instant,
    ) -> (u32, usize, Instant, Result<Message, ExchangeError>) {
        let started = Instant::now();
        let upstream = &self.client.upstreams[index];
        let result = self
            .client
            .exchange(upstream, outgoing, proto, deadline)
            .await;
        (id, index, started, result)
    }
}

/// An attempt of [`Forward::resolve`] still waiting for its answer.
struct InFlightAttempt {
    id: u32,
    /// Its upstream's index.
    index: usize,
    started: Instant,
    /// Whether its read timeout passed and it was counted as a failure.
    counted: bool,
}

/// The upstreams in the policy's order, round and round, skipping those that are down.
struct Picker {
    order: Vec<usize>,
    position: usize,
    skipped: usize,
}

impl Picker {
    fn new(order: Vec<usize>) -> Self {
        Self {
            order,
            position: 0,
            skipped: 0,
        }
    }

    /// The next upstream to try: the next healthy one in order; when all are down, a
    /// random one, or `None` with `failfast`.
    fn next(&mut self, forward: &Forward, upstreams: &[Arc<Upstream>]) -> Option<usize> {
        let count = self.order.len();
        loop {
            if self.position >= count {
                self.position = 0;
                self.skipped = 0;
            }
            let index = self.order[self.position];
            self.position += 1;
            if !upstreams[index].is_down(forward.client.max_fails) {
                return Some(index);
            }
            self.skipped += 1;
            if self.skipped < count {
                continue;
            }
            metrics::healthcheck_broken();
            self.skipped = 0;
            if forward.failfast {
                return None;
            }
            return Some(rand::random_range(0..count));
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        // Ends the health checks and the idle-connection cleaner.
        self.client.cancel.cancel();
    }
}

impl Plugin for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        if !self.handles(ctx.qname()) {
            return next.run(ctx);
        }
        Box::pin(self.forward(ctx, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_api::testing::{directive, setup_ctx};

    fn forward(text: &str) -> Forward {
        let config = ForwardConfig::parse(&directive(text), &setup_ctx()).unwrap();
        Forward::new(&config).unwrap()
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn handles_from_minus_except() {
        let f = forward("forward Example.org 10.0.0.1 {\nexcept internal.example.org\n}");
        assert!(f.handles(&name("example.org.")));
        assert!(f.handles(&name("WWW.EXAMPLE.ORG.")));
        assert!(!f.handles(&name("example.com.")));
        assert!(!f.handles(&name("a.Internal.example.org.")));
        assert!(!f.handles(&name("internal.example.org.")));
        let f = forward("forward example.org 10.0.0.1 {\nexcept example.org\n}");
        assert!(
            f.handles(&name("example.org.")),
            "FROM itself is always forwarded"
        );
        assert!(!f.handles(&name("www.example.org.")));
    }

    #[test]
    fn transport_follows_the_options() {
        let f = forward("forward . 10.0.0.1");
        assert_eq!(f.proto(Protocol::Udp), Protocol::Udp);
        assert_eq!(f.proto(Protocol::Tcp), Protocol::Tcp);
        let f = forward("forward . 10.0.0.1 {\nprefer_udp\n}");
        assert_eq!(f.proto(Protocol::Tcp), Protocol::Udp);
        let f = forward("forward . 10.0.0.1 {\nprefer_udp\nforce_tcp\n}");
        assert_eq!(f.proto(Protocol::Udp), Protocol::Tcp);
    }

    #[test]
    fn attempts_default_to_two_per_upstream() {
        assert_eq!(forward("forward . 10.0.0.1 10.0.0.2").max_attempts, 4);
        let f = forward("forward . 10.0.0.1 {\nmax_connect_attempts 0\n}");
        assert_eq!(f.max_attempts, ATTEMPTS_CEILING);
        let f = forward("forward . 10.0.0.1 {\nmax_connect_attempts 3\n}");
        assert_eq!(f.max_attempts, 3);
    }

    #[test]
    fn max_concurrent_slots_are_released() {
        let f = forward("forward . 10.0.0.1 {\nmax_concurrent 2\n}");
        let a = f.admit();
        let b = f.admit();
        assert!(a.is_some() && b.is_some());
        assert!(f.admit().is_none());
        drop(a);
        assert!(f.admit().is_some());
        assert_eq!(f.in_flight.load(Ordering::SeqCst), 1);
    }
}
