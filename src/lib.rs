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
pub mod corefile;
mod http;
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

use crate::http::{HttpError, HttpServers};
use tokio_util::sync::CancellationToken;

use crate::server::{DnsListener, ListenError, ListenerOptions};

/// How to run the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Corefile.
    pub conf: PathBuf,
    /// The port of server blocks whose keys name none.
    pub dns_port: u16,
    /// Listener tuning.
    pub listener: ListenerOptions,
}

impl Options {
    /// Defaults for `conf`: port 53, one UDP worker per core.
    pub fn new(conf: impl Into<PathBuf>) -> Self {
        Self {
            conf: conf.into(),
            dns_port: 53,
            listener: ListenerOptions::default(),
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
    #[error(transparent)]
    Listen(#[from] ListenError),
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
    running: tokio::sync::Mutex<Running>,
    bound: parking_lot::RwLock<BoundAddrs>,
}

/// The listeners and HTTP servers in service, and the configuration they came from.
struct Running {
    listeners: Vec<(ListenerKey, DnsListener)>,
    http: Option<HttpServers>,
    http_routes: Vec<(String, &'static str)>,
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
            running: tokio::sync::Mutex::new(Running {
                listeners: Vec::new(),
                http: None,
                http_routes: Vec::new(),
                lameduck: None,
                reload: None,
                digest: String::new(),
            }),
            bound: parking_lot::RwLock::new(BoundAddrs::default()),
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

    /// The process's readiness state.
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.shared.readiness
    }

    /// Shuts down gracefully: `/ready` fails at once, queries are still answered for
    /// the lameduck delay (so the Service removes this replica before it stops), then
    /// the listeners close.
    pub async fn shutdown(self) {
        if let Some((stop, task)) = self.reload {
            stop.cancel();
            let _ = task.await;
        }
        self.shared.readiness.begin_shutdown();
        let mut running = self.shared.running.lock().await;
        if let Some(delay) = running.lameduck {
            tracing::info!(?delay, "lameduck: still answering before shutdown");
            tokio::time::sleep(delay).await;
        }
        for (_, listener) in running.listeners.drain(..) {
            listener.stop().await;
        }
        if let Some(http) = running.http.take() {
            http.stop().await;
        }
    }
}

impl Shared {
    /// Builds the configuration in `text` and puts it in service. On any error the
    /// configuration in service is left as it was (apart from new listeners opened and
    /// closed again).
    pub(crate) async fn load(&self, text: &str) -> Result<(), StartError> {
        let conf = &self.options.conf;
        let file = conf.to_string_lossy();
        let base_dir = conf.parent().unwrap_or(Path::new("."));
        let blocks =
            corefile::parse_str(text, &file, base_dir).map_err(|e| StartError::Config(vec![e]))?;
        let plan = assemble::plan(&blocks, conf, self.options.dns_port, &self.readiness)
            .map_err(StartError::Config)?;
        let mut running = self.running.lock().await;
        let runtime = tokio::runtime::Handle::current();

        // Open the listeners that are new; keep the others.
        let mut opened: Vec<(ListenerKey, DnsListener)> = Vec::new();
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
                &runtime,
            ) {
                Ok(started) => {
                    tracing::info!(udp = %started.udp_addr(), tcp = %started.tcp_addr(), "listening");
                    opened.push((key, started));
                }
                Err(error) => {
                    for (_, listener) in opened {
                        listener.stop().await;
                    }
                    return Err(error.into());
                }
            }
        }

        // HTTP servers are kept when their addresses and paths are the same (their
        // handlers read process-wide state); otherwise they are replaced.
        let mut routes: Vec<(String, &'static str)> = plan
            .http_routes
            .iter()
            .map(|r| (r.addr.clone(), r.path))
            .collect();
        routes.sort();
        routes.dedup();
        if routes != running.http_routes || running.http.is_none() {
            if let Some(old) = running.http.take() {
                old.stop().await;
            }
            match HttpServers::start(&plan.http_routes).await {
                Ok(http) => {
                    running.http = Some(http);
                    running.http_routes = routes;
                }
                Err(error) => {
                    for (_, listener) in opened {
                        listener.stop().await;
                    }
                    return Err(error.into());
                }
            }
        }

        // Commit: swap the chains of kept listeners, close the ones that are gone.
        let mut closed = Vec::new();
        let mut kept = Vec::new();
        for (key, listener) in running.listeners.drain(..) {
            match plan.listeners.iter().find(|l| (l.ip, l.port) == key) {
                Some(new) => {
                    listener.swap_routes(new.routes.clone());
                    kept.push((key, listener));
                }
                None => closed.push(listener),
            }
        }
        kept.append(&mut opened);
        running.listeners = kept;
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
            http: running
                .http
                .as_ref()
                .map(HttpServers::bound)
                .unwrap_or_default(),
        };
        drop(running);
        for listener in closed {
            listener.stop().await;
        }
        Ok(())
    }
}
