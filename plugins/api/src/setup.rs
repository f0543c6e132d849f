//! What a plugin sees while it is built from its Corefile directive.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::{ClusterHandle, Readiness};

/// A reply of one of the small HTTP endpoints (`/health`, `/ready`, `/metrics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl HttpReply {
    /// A `text/plain` reply.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// Produces the reply of an HTTP endpoint. Handlers are synchronous and cheap: they
/// read state, they never wait.
pub type HttpHandler = Arc<dyn Fn() -> HttpReply + Send + Sync>;

/// An HTTP endpoint a plugin asks the server to serve.
#[derive(Clone)]
pub struct HttpRoute {
    /// Listen address as written in the Corefile, normalised to `host:port`
    /// (`:8080` means every address).
    pub addr: String,
    /// The path, e.g. `/health`.
    pub path: &'static str,
    /// The handler.
    pub handler: HttpHandler,
}

impl std::fmt::Debug for HttpRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRoute")
            .field("addr", &self.addr)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How often `reload` looks at the Corefile: every `every`, plus a random part of
/// `jitter` each time (so replicas reading the same ConfigMap do not reload in step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadSchedule {
    /// The check interval.
    pub every: Duration,
    /// The most added to one wait, at random.
    pub jitter: Duration,
}

/// The server block a plugin is built in, and what the plugin registers with the server.
#[derive(Debug)]
pub struct SetupCtx {
    /// The block's zones, fully qualified and lower case.
    pub zones: Vec<Name>,
    /// The port the block listens on.
    pub port: u16,
    /// The directory of the Corefile, against which relative paths are resolved.
    pub base_dir: PathBuf,
    /// Process-wide readiness, read by `/ready`.
    pub readiness: Arc<Readiness>,
    /// HTTP endpoints to serve (from `health`, `ready`, `prometheus`).
    pub http_routes: Vec<HttpRoute>,
    /// Addresses to listen on (from `bind`); empty means every address.
    pub bind: Vec<IpAddr>,
    /// How long to keep answering after SIGTERM (from `health { lameduck }`).
    pub lameduck: Option<Duration>,
    /// Whether the block records CoreDNS's per-query metrics (from `prometheus`).
    pub metrics: bool,
    /// The block's UDP payload size (`bufsize`): answers to EDNS clients are at most
    /// this large, and advertise it; `None` keeps the server's 1232.
    pub bufsize: Option<u16>,
    /// How often to check the Corefile for changes, and the random spread added to
    /// each wait (from `reload`).
    pub reload: Option<ReloadSchedule>,
    /// The block's cluster directory: `kubernetes` provides it, `autopath` and
    /// `k8s_external` (which run before it) read it (see [`crate::cluster`]).
    pub cluster: ClusterHandle,
}

impl SetupCtx {
    /// A context for a block serving `zones` on `port`.
    pub fn new(zones: Vec<Name>, port: u16, base_dir: PathBuf, readiness: Arc<Readiness>) -> Self {
        Self {
            zones,
            port,
            base_dir,
            readiness,
            http_routes: Vec::new(),
            bind: Vec::new(),
            bufsize: None,
            lameduck: None,
            metrics: false,
            reload: None,
            cluster: ClusterHandle::default(),
        }
    }

    /// Resolves `path` against the Corefile's directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }
}
