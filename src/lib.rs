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
//! - `metrics`: CoreDNS's per-query metrics.
//!
//! [`Server`] is what `main` runs and what tests start on port 0.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod assemble;
pub mod config;
pub mod corefile;
mod http;
mod metrics;
pub mod registry;
pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clusterdns_api::{ConfigError, Readiness};

use crate::http::{HttpError, HttpServers};
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
    let blocks = corefile::parse_file(conf).map_err(|e| vec![e])?;
    assemble::plan(&blocks, conf, dns_port, &Readiness::new()).map(|_| ())
}

/// A running server.
pub struct Server {
    listeners: Vec<DnsListener>,
    http: HttpServers,
    readiness: Arc<Readiness>,
    lameduck: Option<Duration>,
}

impl Server {
    /// Reads the Corefile, builds the chains and starts every listener. Must be called
    /// within a multi-threaded tokio runtime.
    pub async fn start(options: &Options) -> Result<Self, StartError> {
        let blocks =
            corefile::parse_file(&options.conf).map_err(|e| StartError::Config(vec![e]))?;
        let readiness = Readiness::new();
        let plan = assemble::plan(&blocks, &options.conf, options.dns_port, &readiness)
            .map_err(StartError::Config)?;
        readiness.set_plugins(plan.plugins.clone());
        let runtime = tokio::runtime::Handle::current();
        let mut listeners = Vec::with_capacity(plan.listeners.len());
        for listener in &plan.listeners {
            match DnsListener::start(
                listener.ip,
                listener.port,
                &listener.label,
                listener.routes.clone(),
                options.listener,
                &runtime,
            ) {
                Ok(started) => {
                    tracing::info!(udp = %started.udp_addr(), tcp = %started.tcp_addr(), "listening");
                    listeners.push(started);
                }
                Err(error) => {
                    for started in listeners {
                        started.stop().await;
                    }
                    return Err(error.into());
                }
            }
        }
        let http = match HttpServers::start(&plan.http_routes).await {
            Ok(http) => http,
            Err(error) => {
                for started in listeners {
                    started.stop().await;
                }
                return Err(error.into());
            }
        };
        Ok(Self {
            listeners,
            http,
            readiness,
            lameduck: plan.lameduck,
        })
    }

    /// The UDP addresses the server answers on.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(DnsListener::udp_addr).collect()
    }

    /// The TCP addresses the server answers on.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(DnsListener::tcp_addr).collect()
    }

    /// Where `path` (`/health`, `/ready`, `/metrics`) is served, if it is.
    pub fn http_addr(&self, path: &str) -> Option<SocketAddr> {
        self.http.addr_of(path)
    }

    /// The process's readiness state.
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// Shuts down gracefully: `/ready` fails at once, queries are still answered for
    /// the lameduck delay (so the Service removes this replica before it stops), then
    /// the listeners close.
    pub async fn shutdown(self) {
        self.readiness.begin_shutdown();
        if let Some(delay) = self.lameduck {
            tracing::info!(?delay, "lameduck: still answering before shutdown");
            tokio::time::sleep(delay).await;
        }
        for listener in self.listeners {
            listener.stop().await;
        }
        self.http.stop().await;
    }
}
