//! The request path without sockets: a Corefile's first listener, its plugins built and
//! started, asked packets directly.
//!
//! For what needs the server's answers without the network in between: the hot-path
//! benchmarks (`benches/hot_path.rs`) and the fuzz targets (`fuzz/`, and their corpus
//! replayed by `testkit/fuzzing`'s tests). The running server does not use it: it is
//! [`crate::Server`] minus the sockets, the HTTP endpoints and reload.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use clusterdns_api::metrics::Label;
use clusterdns_api::{ConfigError, Plugin, Protocol, Readiness};

use crate::server::{ListenerState, RequestPath, answer_inline};
use crate::{assemble, join_errors};

/// Why an [`InlineServer`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InlineError {
    /// The Corefile is wrong; every error found.
    #[error("{}", join_errors(.0))]
    Config(Vec<ConfigError>),
    /// The Corefile has no server block.
    #[error("the Corefile has no server block")]
    NoListener,
    /// A plugin was not ready in time (the cluster did not load).
    #[error("not ready within {0:?}")]
    NotReady(Duration),
}

/// A Corefile's first listener, served in-process.
pub struct InlineServer {
    state: ListenerState,
    /// Every block's plugins, kept so that their sources and tasks live as long as
    /// the server.
    _plugins: Vec<Arc<dyn Plugin>>,
}

impl InlineServer {
    /// Builds every plugin of `corefile` (relative paths are read from `dir`), starts
    /// them, and waits up to `ready_within` until all are ready. Plugins that run
    /// tasks need a tokio runtime entered on this thread.
    pub fn start(corefile: &str, dir: &Path, ready_within: Duration) -> Result<Self, InlineError> {
        let plan = assemble::plan_text(corefile, &dir.join("Corefile"), 53, &Readiness::new())
            .map_err(InlineError::Config)?;
        let listener = plan
            .listeners
            .into_iter()
            .next()
            .ok_or(InlineError::NoListener)?;
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, listener.port));
        for plugin in &plan.plugins {
            plugin.started(&[local]);
        }
        let start = Instant::now();
        while !plan.plugins.iter().all(|plugin| plugin.ready()) {
            if start.elapsed() > ready_within {
                return Err(InlineError::NotReady(ready_within));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Self {
            state: ListenerState {
                server: Label::from(listener.label.as_str()),
                routes: ArcSwap::new(listener.routes),
                local,
                drain: std::sync::Arc::new(crate::server::Drain::new()),
            },
            _plugins: plan.plugins,
        })
    }

    /// Answers `packet` from `src` over `protocol` into `buf`, on the wire path when a
    /// plugin takes it there or on the ordinary path only, as `path` says; `false` when
    /// there is nothing to send (dropped, or the chain would have to wait for I/O).
    pub fn answer(
        &self,
        packet: &[u8],
        src: SocketAddr,
        protocol: Protocol,
        path: RequestPath,
        buf: &mut Vec<u8>,
    ) -> bool {
        answer_inline(&self.state, packet, src, protocol, path, buf)
    }
}
