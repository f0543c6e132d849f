//! clusterdns: a Kubernetes cluster DNS server, configured by a CoreDNS Corefile.
//!
//! # Layout
//!
//! - [`corefile`]: the Corefile grammar (blocks, directives, snippets, imports, env);
//! - [`config`]: server block keys (`[dns://]zone[:port]`, reverse CIDRs);
//! - [`registry`]: the plugins that exist and their fixed execution order;
//! - `assemble`: blocks → chains → listeners and HTTP routes;
//! - [`server`]: UDP and TCP listeners and the request path;
//! - `http`: `/health`, `/ready`, `/metrics`;
//! - `reload`: re-reading the Corefile while serving;
//! - `metrics`: CoreDNS's per-query metrics;
//! - [`inline`]: the request path without sockets, for benchmarks and fuzzing.
//!
//! [`Server`] is what `main` runs and what tests start on port 0. `ARCHITECTURE.md`
//! follows a query through both request paths and says where each decision lives.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod assemble;
pub mod config;
mod connections;
pub mod corefile;
mod http;
pub use http::share_ports_with_successor;
pub mod inline;
mod metrics;
pub mod registry;
mod reload;
pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::{ConfigError, Readiness};

use crate::assemble::Plan;
use crate::http::{HttpError, HttpServers, NewListeners, Retired};
use tokio_util::sync::CancellationToken;

use crate::server::{DnsListener, Drain, DrainOptions, ListenError, ListenerOptions};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Corefile.
    pub conf: PathBuf,
    /// The port of server blocks whose keys name none.
    pub dns_port: u16,
    /// Listener tuning.
    pub listener: ListenerOptions,
    /// How long to keep answering after the lameduck delay.
    pub drain: DrainOptions,
}

impl Options {
    /// Defaults for `conf`: port 53, one UDP worker per core.
    pub fn new(conf: impl Into<PathBuf>) -> Self {
        Self {
            conf: conf.into(),
            dns_port: 53,
            listener: ListenerOptions::default(),
            drain: DrainOptions::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Corefile is wrong; every error found.
    #[error("{}", join_errors(.0))]
    Config(Vec<ConfigError>),
    /// A DNS listener could not bind.
    #[error("{at}: {source}")]
    Listen {
        /// `file:line:column` of the server block key that asks for it.
        at: String,
        /// Why.
        #[source]
        source: ListenError,
    },
    /// An HTTP endpoint could not bind.
    #[error(transparent)]
    Http(#[from] HttpError),
}

fn join_errors(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses the Corefile and builds every plugin, without opening any socket.
pub fn check(conf: &Path, dns_port: u16) -> Result<(), Vec<ConfigError>> {
    let text = reload::read_corefile(conf).map_err(|e| vec![e])?;
    check_text(&text, conf, dns_port)
}

/// [`check`] of Corefile text already in memory, named `conf` in errors, its relative
/// paths resolved from `conf`'s directory.
pub fn check_text(text: &str, conf: &Path, dns_port: u16) -> Result<(), Vec<ConfigError>> {
    assemble::plan_text(text, conf, dns_port, &Readiness::new()).map(|_| ())
}

/// A running server.
pub struct Server {
    shared: Arc<Shared>,
    reload: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// What the server and its reload task share.
pub(crate) struct Shared {
    options: Options,
    readiness: Arc<Readiness>,
    drain: Arc<Drain>,
    running: tokio::sync::Mutex<Running>,
    bound: parking_lot::RwLock<BoundAddrs>,
    /// Reloads that failed (also counted, process-wide, in `coredns_reload_failed_total`).
    failed_reloads: std::sync::atomic::AtomicU64,
}

/// The listeners and HTTP servers in service, and the configuration they came from.
struct Running {
    listeners: Vec<(ListenerKey, DnsListener)>,
    http: HttpServers,
    lameduck: Option<Duration>,
    reload: Option<clusterdns_api::ReloadSchedule>,
    digest: String,
}

/// A listener's identity across reloads: its configured address and port.
type ListenerKey = (Option<std::net::IpAddr>, u16);

/// Bound addresses, readable without waiting for a reload to finish.
#[derive(Default)]
struct BoundAddrs {
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
    http: Vec<(&'static str, SocketAddr)>,
}

impl Server {
    /// Reads the Corefile, builds the chains and starts every listener. Must be called
    /// within a multi-threaded tokio runtime.
    pub async fn start(options: &Options) -> Result<Self, StartError> {
        let readiness = Readiness::new();
        let shared = Arc::new(Shared {
            options: options.clone(),
            readiness,
            drain: Arc::new(Drain::new()),
            running: tokio::sync::Mutex::new(Running {
                listeners: Vec::new(),
                http: HttpServers::default(),
                lameduck: None,
                reload: None,
                digest: String::new(),
            }),
            bound: parking_lot::RwLock::new(BoundAddrs::default()),
            failed_reloads: std::sync::atomic::AtomicU64::new(0),
        });
        let text = reload::read_corefile(&options.conf).map_err(|e| StartError::Config(vec![e]))?;
        shared.load(&text).await?;
        let reload = if shared.running.lock().await.reload.is_some() {
            let stop = CancellationToken::new();
            let task = tokio::spawn(reload::watch(shared.clone(), stop.clone()));
            Some((stop, task))
        } else {
            None
        };
        Ok(Self { shared, reload })
    }

    /// The UDP addresses the server answers on.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.shared.bound.read().udp.clone()
    }

    /// The TCP addresses the server answers on.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.shared.bound.read().tcp.clone()
    }

    /// Where `path` (`/health`, `/ready`, `/metrics`) is served, if it is.
    pub fn http_addr(&self, path: &str) -> Option<SocketAddr> {
        self.shared
            .bound
            .read()
            .http
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, addr)| *addr)
    }

    /// How many times a changed Corefile could not be put in service (and the running
    /// configuration was kept).
    pub fn failed_reloads(&self) -> u64 {
        self.shared
            .failed_reloads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The process's readiness state.
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.shared.readiness
    }

    /// Shuts down gracefully: `/ready` fails at once, queries are still answered for
    /// the lameduck delay (so the Service removes this replica before it stops), then,
    /// while queries still arrive (flows pinned here by stale conntrack entries), until
    /// none has for [`DrainOptions::quiet`] or [`DrainOptions::limit`] has passed; then
    /// the listeners close. Without a lameduck delay they close at once.
    pub async fn shutdown(self) {
        let began = std::time::Instant::now();
        self.shared.readiness.begin_shutdown();
        self.shared.drain.begin_lameduck();
        if let Some((stop, task)) = self.reload {
            stop.cancel();
            let _ = task.await;
        }
        let mut running = self.shared.running.lock().await;
        if let Some(delay) = running.lameduck {
            tracing::info!(?delay, "lameduck: still answering before shutdown");
            tokio::time::sleep(delay.saturating_sub(began.elapsed())).await;
            let drain = self.shared.options.drain;
            if !drain.quiet.is_zero() {
                let drained = self.shared.drain.until_quiet(drain, began).await;
                tracing::info!(
                    ?drained,
                    "drained: no query for {:?} (or at the limit)",
                    drain.quiet
                );
            }
        }
        for (_, listener) in running.listeners.drain(..) {
            listener.stop().await;
        }
        std::mem::take(&mut running.http).stop().await;
    }
}

/// What a reload opened before it changes anything in service: the DNS listeners and
/// HTTP sockets the new configuration has and the running one does not.
struct Opened {
    listeners: Vec<(ListenerKey, DnsListener)>,
    http: NewListeners,
}

/// Stops DNS listeners a failed reload opened (the HTTP sockets it bound close when
/// dropped).
async fn close_listeners(listeners: Vec<(ListenerKey, DnsListener)>) {
    for (_, listener) in listeners {
        listener.stop().await;
    }
}

/// What a reload took out of service, to stop once the new configuration serves.
struct Released {
    listeners: Vec<DnsListener>,
    http: Retired,
}

impl Released {
    async fn stop(self) {
        for listener in self.listeners {
            listener.stop().await;
        }
        self.http.stop().await;
    }
}

impl Shared {
    /// Builds the configuration in `text` and puts it in service, all or nothing: every
    /// listener (DNS and HTTP) it needs is opened before anything in service changes,
    /// and on any error the running configuration keeps every listener it has.
    pub(crate) async fn load(&self, text: &str) -> Result<(), StartError> {
        let plan = self.plan(text)?;
        let mut running = self.running.lock().await;
        let opened = self.open(&running, &plan).await?;
        let released = self.commit(&mut running, plan, opened, text);
        drop(running);
        released.stop().await;
        Ok(())
    }

    /// Step 1: parses `text` and builds every plugin; no socket is touched.
    fn plan(&self, text: &str) -> Result<Plan, StartError> {
        assemble::plan_text(
            text,
            &self.options.conf,
            self.options.dns_port,
            &self.readiness,
        )
        .map_err(StartError::Config)
    }

    /// Step 2: opens the DNS listeners and binds the HTTP addresses that `plan` has
    /// and `running` does not. On error, closes what it opened; `running` is untouched.
    async fn open(&self, running: &Running, plan: &Plan) -> Result<Opened, StartError> {
        let runtime = tokio::runtime::Handle::current();
        let mut listeners: Vec<(ListenerKey, DnsListener)> = Vec::new();
        for listener in &plan.listeners {
            let key = (listener.ip, listener.port);
            if running.listeners.iter().any(|(k, _)| *k == key) {
                continue;
            }
            match DnsListener::start(
                listener.ip,
                listener.port,
                &listener.label,
                listener.routes.clone(),
                self.options.listener,
                self.drain.clone(),
                &runtime,
            ) {
                Ok(started) => {
                    tracing::info!(udp = %started.udp_addr(), tcp = %started.tcp_addr(), "listening");
                    listeners.push((key, started));
                }
                Err(source) => {
                    close_listeners(listeners).await;
                    let key = &listener.key;
                    return Err(StartError::Listen {
                        at: format!("{}:{}:{}", key.file, key.line, key.column),
                        source,
                    });
                }
            }
        }
        match running.http.bind_new(&plan.http_routes) {
            Ok(http) => Ok(Opened { listeners, http }),
            Err(error) => {
                close_listeners(listeners).await;
                Err(error.into())
            }
        }
    }

    /// Step 3, which cannot fail: puts `plan` in service on the kept and opened
    /// listeners, and returns the listeners it no longer needs (still running).
    fn commit(&self, running: &mut Running, plan: Plan, opened: Opened, text: &str) -> Released {
        let mut released = Vec::new();
        let mut kept = Vec::new();
        for (key, listener) in running.listeners.drain(..) {
            match plan.listeners.iter().find(|l| (l.ip, l.port) == key) {
                Some(new) => {
                    listener.swap_routes(new.routes.clone());
                    kept.push((key, listener));
                }
                None => released.push(listener),
            }
        }
        kept.extend(opened.listeners);
        running.listeners = kept;
        let retired = running.http.commit(&plan.http_routes, opened.http);
        running.lameduck = plan.lameduck;
        running.reload = plan.reload;
        running.digest = reload::digest(text);
        reload::set_version(&running.digest);
        self.readiness.set_plugins(plan.plugins.clone());
        for (key, listener) in &running.listeners {
            if let Some(new) = plan.listeners.iter().find(|l| (l.ip, l.port) == *key) {
                for block in new.routes.blocks() {
                    for plugin in &block.chain {
                        plugin.started(&[listener.udp_addr()]);
                    }
                }
            }
        }
        *self.bound.write() = BoundAddrs {
            udp: running
                .listeners
                .iter()
                .map(|(_, l)| l.udp_addr())
                .collect(),
            tcp: running
                .listeners
                .iter()
                .map(|(_, l)| l.tcp_addr())
                .collect(),
            http: running.http.bound(),
        };
        Released {
            listeners: released,
            http: retired,
        }
    }
}
