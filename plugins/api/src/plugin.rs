//! The `Plugin` trait and the chain cursor `Next`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::wire::{Wire, WireQuery};
use crate::{Ctx, Response};

/// A boxed, sendable future: the chain is assembled at run time from the Corefile, so
/// plugins are `dyn` objects, and async functions in `dyn` traits need a box.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One link of the plugin chain.
///
/// A plugin either answers the query itself or hands it to the rest of the chain with
/// [`Next::run`], and may look at or change the answer that comes back (as `cache`,
/// `loadbalance` and `log` do).
pub trait Plugin: Send + Sync + 'static {
    /// The directive name, as written in the Corefile (`hosts`, `whoami`, ...).
    fn name(&self) -> &'static str;

    /// Answers `ctx`'s query, possibly by calling `next`.
    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>>;

    /// Whether this plugin is ready to serve; feeds `/ready`. Plugins that load data
    /// (the cluster zone) answer `false` until their first full load.
    fn ready(&self) -> bool {
        true
    }

    /// Whether this plugin answers queries of `class` (other than IN). The server
    /// answers REFUSED to a query of any other class unless a plugin of its block says
    /// so here (`chaos` for CH), so that no plugin meets a class it was not written for.
    fn answers_class(&self, _class: hickory_proto::rr::DNSClass) -> bool {
        false
    }

    /// Called once the listeners of the plugin's server block are bound (at start and
    /// after a reload that built this plugin), with their UDP addresses. `loop` sends
    /// its probe to them; most plugins need nothing here.
    fn started(&self, _listen: &[std::net::SocketAddr]) {}

    /// Offers a plain query on the wire path (see [`crate::wire`]): `Pass` when this
    /// plugin would hand it on untouched, `Answered` after writing the whole answer
    /// into `buf`, `Ordinary` (the default) to have it served through [`serve`](Self::serve).
    /// Whatever is answered here must be what `serve` would answer.
    fn serve_wire(&self, _query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        Wire::Ordinary
    }
}

/// The rest of the chain after the current plugin.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Plugin>],
}

impl<'a> Next<'a> {
    /// A cursor at the start of `chain`.
    pub fn new(chain: &'a [Arc<dyn Plugin>]) -> Self {
        Self { rest: chain }
    }

    /// Whether any plugin is left after this point.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Runs the rest of the chain. When nothing is left, the query falls off the end of
    /// the chain, which CoreDNS answers with SERVFAIL and an error naming the zone: we do
    /// the same through [`PluginError::NoNextPlugin`].
    pub fn run<'b>(self, ctx: &'b mut Ctx) -> BoxFuture<'b, Result<Response, PluginError>>
    where
        'a: 'b,
    {
        match self.rest.split_first() {
            Some((first, rest)) => first.serve(ctx, Next { rest }),
            None => Box::pin(async { Err(PluginError::NoNextPlugin) }),
        }
    }
}

/// Why a plugin could not produce an answer. The server answers SERVFAIL for all of
/// them; the `errors` plugin logs them.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The query reached the end of the chain without an answer.
    #[error("no next plugin found")]
    NoNextPlugin,
    /// An upstream (or other I/O) failed.
    #[error("{plugin}: {message}")]
    Failed {
        /// The plugin that failed.
        plugin: &'static str,
        /// What went wrong, for the log.
        message: String,
    },
}

impl PluginError {
    /// A failure of `plugin`, described by `message`.
    pub fn failed(plugin: &'static str, message: impl Into<String>) -> Self {
        Self::Failed {
            plugin,
            message: message.into(),
        }
    }
}
