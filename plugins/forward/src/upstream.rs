//! The upstreams: their health, their idle TCP connections, and the background tasks
//! that check the one and close the other.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use clusterdns_api::metrics::Label;
use clusterdns_api::proto::op::Message;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::RateBudget;
use crate::config::ForwardConfig;
use crate::errors::SetupError;
use crate::exchange::{self, Conn, ExchangeError, Outgoing};
use crate::metrics;
use crate::tls::{self, TlsTarget};
use clusterdns_api::Protocol;

/// How long a health check waits for its answer (CoreDNS: 1s).
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// The most idle connections kept per upstream when `max_idle_conns` does not say.
const DEFAULT_MAX_IDLE: usize = 64;

/// One upstream server.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Where it is.
    pub addr: SocketAddr,
    /// Its `to` label: `IP:PORT`, as CoreDNS writes it.
    pub label: Label,
    /// How to reach it over TLS, for a `tls://` upstream.
    pub tls: Option<TlsTarget>,
    /// Consecutive failures (queries and health checks); reset by any answer.
    fails: AtomicU32,
    /// Whether a health-check task is running for it.
    probing: AtomicBool,
    /// Idle TCP connections, oldest first.
    idle: Mutex<VecDeque<Idle>>,
    /// Queries a second it may be sent (`upstream_rate`).
    budget: Option<RateBudget>,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

impl Upstream {
    pub fn new(addr: SocketAddr, tls: Option<TlsTarget>, rate: Option<u32>) -> Self {
        Self {
            budget: rate.map(RateBudget::new),
            addr,
            label: Label::from(addr.to_string().as_str()),
            tls,
            fails: AtomicU32::new(0),
            probing: AtomicBool::new(false),
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether it has failed `max_fails` times in a row (never, when `max_fails` is 0).
    pub fn is_down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::Relaxed) >= max_fails
    }

    /// Counts one more consecutive failure.
    pub fn record_failure(&self) {
        let _ = self
            .fails
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| f.checked_add(1));
    }

    /// An answer came back: the upstream is up.
    pub fn record_success(&self) {
        self.fails.store(0, Ordering::Relaxed);
    }

    /// The oldest idle connection not older than `expire`; older ones are closed.
    fn take_idle(&self, expire: Duration) -> Option<Conn> {
        let mut stale = Vec::new();
        let mut idle = self.idle.lock();
        let found = loop {
            match idle.pop_front() {
                Some(idle) if idle.since.elapsed() <= expire => break Some(idle.conn),
                Some(idle) => stale.push(idle),
                None => break None,
            }
        };
        drop(idle);
        drop(stale);
        found
    }

    /// Keeps `conn` for reuse, unless `max` connections are already idle.
    fn put_idle(&self, conn: Conn, max: usize) {
        let mut idle = self.idle.lock();
        if idle.len() < max {
            idle.push_back(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// The `proto` label of its connections: `tcp`, or `tcp-tls` as CoreDNS writes it.
    fn stream_proto(&self) -> &'static str {
        if self.tls.is_some() { "tcp-tls" } else { "tcp" }
    }

    /// Closes the idle connections older than `expire`.
    fn purge_idle(&self, expire: Duration) {
        let mut idle = self.idle.lock();
        let mut stale = Vec::new();
        while idle
            .front()
            .is_some_and(|conn| conn.since.elapsed() > expire)
        {
            stale.extend(idle.pop_front());
        }
        drop(idle);
        drop(stale);
    }

    /// Closes every idle connection (the upstream closed one: it likely closed all).
    fn clear_idle(&self) {
        let stale: Vec<Idle> = self.idle.lock().drain(..).collect();
        drop(stale);
    }
}

/// What exchanges and background tasks of one `forward` share.
#[derive(Debug)]
pub(crate) struct Client {
    pub upstreams: Vec<Arc<Upstream>>,
    pub read_timeout: Duration,
    pub max_fails: u32,
    expire: Duration,
    max_idle: usize,
    health_check: Duration,
    health_query: Outgoing,
    health_over_tcp: bool,
    /// Cancelled when the plugin is dropped: every background task ends with it.
    pub cancel: CancellationToken,
    cleaner: AtomicBool,
}

impl Client {
    pub fn new(config: &ForwardConfig) -> Result<Self, SetupError> {
        let mut tls_config = config.tls_config.clone();
        let mut upstreams = Vec::with_capacity(config.upstreams.len());
        for upstream in &config.upstreams {
            let tls = if upstream.tls {
                let client_config = match &tls_config {
                    Some(client_config) => client_config.clone(),
                    None => tls_config.insert(tls::client_config(None, None)?).clone(),
                };
                // Without a name, the certificate must be valid for the IP address.
                let name = upstream
                    .server_name
                    .clone()
                    .or_else(|| config.tls_servername.clone())
                    .unwrap_or_else(|| upstream.addr.ip().to_string());
                Some(TlsTarget::new(client_config, tls::server_name(&name)?))
            } else {
                None
            };
            upstreams.push(Arc::new(Upstream::new(
                upstream.addr,
                tls,
                config.upstream_rate,
            )));
        }
        Ok(Self {
            upstreams,
            read_timeout: config.read_timeout,
            max_fails: config.max_fails,
            expire: config.expire,
            max_idle: match config.max_idle_conns {
                0 => DEFAULT_MAX_IDLE,
                n => n,
            },
            health_check: config.health_check,
            health_query: Outgoing::health_check(
                &config.health_check_domain,
                config.health_check_rd,
            )
            .map_err(SetupError::HealthQuery)?,
            health_over_tcp: config.force_tcp,
            cancel: CancellationToken::new(),
            cleaner: AtomicBool::new(false),
        })
    }

    /// Asks `upstream` over `proto` (always TLS for a `tls://` upstream), listening for
    /// the answer until `deadline` (the query's: the caller starts another attempt
    /// beside this one after a read timeout, and takes whichever answer comes first). A
    /// truncated UDP answer is asked again over TCP; should that fail, the truncated
    /// answer is returned (the client can retry over TCP itself).
    pub async fn exchange(
        self: &Arc<Self>,
        upstream: &Upstream,
        outgoing: &Outgoing,
        proto: Protocol,
        deadline: Instant,
    ) -> Result<Message, ExchangeError> {
        if let Some(rate) = &upstream.budget
            && !rate.try_take()
        {
            metrics::over_budget(&upstream.label);
            return Err(ExchangeError::OverBudget(rate.per_second()));
        }
        let budget = deadline.saturating_duration_since(Instant::now());
        let proto = if upstream.tls.is_some() {
            Protocol::Tcp
        } else {
            proto
        };
        match proto {
            Protocol::Tcp => self.tcp(upstream, outgoing, deadline, budget).await,
            Protocol::Udp => {
                let reply = match exchange::udp(upstream.addr, outgoing, deadline, budget).await {
                    Ok(reply) if !reply.metadata.truncation => return Ok(reply),
                    Ok(reply) => reply,
                    Err(ExchangeError::Oversized) => {
                        let budget = deadline.saturating_duration_since(Instant::now());
                        return self.tcp(upstream, outgoing, deadline, budget).await;
                    }
                    Err(error) => return Err(error),
                };
                let budget = deadline.saturating_duration_since(Instant::now());
                match self.tcp(upstream, outgoing, deadline, budget).await {
                    Ok(full) => Ok(full),
                    Err(error) => {
                        tracing::debug!(upstream = %upstream.addr, %error, "forward: TCP retry of a truncated answer failed");
                        Ok(reply)
                    }
                }
            }
        }
    }

    /// How long an attempt waits before another one is started beside it.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// One exchange over TCP (or TLS), on an idle connection when there is one. A cached
    /// connection the upstream has closed is replaced by a fresh one, once.
    async fn tcp(
        self: &Arc<Self>,
        upstream: &Upstream,
        outgoing: &Outgoing,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Message, ExchangeError> {
        let mut reuse = !self.expire.is_zero();
        loop {
            let cached = if reuse {
                upstream.take_idle(self.expire)
            } else {
                None
            };
            let hit = cached.is_some();
            metrics::conn_cache(&upstream.label, upstream.stream_proto(), hit);
            let mut conn = match cached {
                Some(conn) => conn,
                None => {
                    exchange::connect(upstream.addr, upstream.tls.as_ref(), deadline, budget)
                        .await?
                }
            };
            match exchange::over_stream(&mut conn, outgoing, deadline, budget).await {
                Ok(reply) => {
                    self.keep_idle(upstream, conn);
                    return Ok(reply);
                }
                Err(ExchangeError::Closed) if hit => {
                    upstream.clear_idle();
                    reuse = false;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn keep_idle(self: &Arc<Self>, upstream: &Upstream, conn: Conn) {
        if self.expire.is_zero() || self.cancel.is_cancelled() {
            return;
        }
        upstream.put_idle(conn, self.max_idle);
        self.ensure_cleaner();
    }

    /// Starts, once, the task that closes connections idle for longer than `expire`.
    fn ensure_cleaner(self: &Arc<Self>) {
        if self.cleaner.load(Ordering::Relaxed) || self.cleaner.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            self.cleaner.store(false, Ordering::SeqCst);
            return;
        };
        let client = Arc::clone(self);
        runtime.spawn(async move {
            let period = client.expire.max(Duration::from_millis(100));
            loop {
                tokio::select! {
                    () = client.cancel.cancelled() => return,
                    () = tokio::time::sleep(period) => {}
                }
                for upstream in &client.upstreams {
                    upstream.purge_idle(client.expire);
                }
            }
        });
    }

    /// Records a failed exchange with `upstream` and starts health-checking it.
    pub fn failed(self: &Arc<Self>, upstream: &Arc<Upstream>) {
        upstream.record_failure();
        if self.max_fails == 0
            || self.health_check.is_zero()
            || upstream.probing.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            upstream.probing.store(false, Ordering::SeqCst);
            return;
        };
        let client = Arc::clone(self);
        let upstream = Arc::clone(upstream);
        runtime.spawn(async move {
            client.health_check_until_up(&upstream).await;
            upstream.probing.store(false, Ordering::SeqCst);
        });
    }

    /// Checks `upstream` now and then every `health_check` until it answers, or the
    /// plugin is dropped. Each failed check counts as one more failure.
    async fn health_check_until_up(&self, upstream: &Upstream) {
        loop {
            let result = tokio::select! {
                () = self.cancel.cancelled() => return,
                result = self.check(upstream) => result,
            };
            match result {
                Ok(()) => {
                    tracing::debug!(upstream = %upstream.addr, "forward: upstream is healthy again");
                    upstream.record_success();
                    return;
                }
                Err(error) => {
                    tracing::debug!(upstream = %upstream.addr, %error, "forward: health check failed");
                    metrics::healthcheck_failure(&upstream.label);
                    upstream.record_failure();
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(self.health_check) => {}
            }
        }
    }

    /// One health check: any reply to `DOMAIN IN NS` means the upstream is up. It
    /// goes over UDP, TCP with `force_tcp`, TLS to a `tls://` upstream, always on a
    /// connection of its own.
    async fn check(&self, upstream: &Upstream) -> Result<(), ExchangeError> {
        let deadline = Instant::now() + HEALTH_CHECK_TIMEOUT;
        if self.health_over_tcp || upstream.tls.is_some() {
            let mut conn = exchange::connect(
                upstream.addr,
                upstream.tls.as_ref(),
                deadline,
                HEALTH_CHECK_TIMEOUT,
            )
            .await?;
            exchange::over_stream(
                &mut conn,
                &self.health_query,
                deadline,
                HEALTH_CHECK_TIMEOUT,
            )
            .await?;
        } else {
            exchange::udp(
                upstream.addr,
                &self.health_query,
                deadline,
                HEALTH_CHECK_TIMEOUT,
            )
            .await?;
        }
        Ok(())
    }
}
