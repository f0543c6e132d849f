//! A fake Kubernetes API server for integration tests and benchmarks.
//!
//! It speaks enough of the real protocol for a kube-rs reflector over plain
//! HTTP: paginated lists with consistent snapshots, watches with replay from a
//! global resourceVersion, bookmarks, `sendInitialEvents` streaming lists,
//! `PartialObjectMetadata`, label and field selectors, and 410 `Expired`.
//! Unlike a real server it can be steered from tests: compact history
//! ([`ApiServer::expire`]), cut watches ([`ApiServer::drop_watches`]), inject
//! failures ([`ApiServer::fail_next`]), go down and come back
//! ([`Serving::stop`], [`ApiServer::serve`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use clusterdns_test_apiserver::{ApiServer, objects};
//! let api = ApiServer::new();
//! api.apply(objects::service("default", "web", &["10.96.0.20"], &[("http", 80, "TCP")]));
//! let serving = api.bind("127.0.0.1:0").await?;
//! println!("point the client at {}", serving.url());
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
mod encode;
mod error;
mod filter;
pub mod generate;
mod hooks;
mod kind;
mod list;
pub mod load;
pub mod objects;
mod routes;
pub mod selector;
mod server;
mod status;
mod store;
mod watch;

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, ToSocketAddrs};

pub use error::Error;
pub use hooks::{Fault, Received, Verb};
pub use kind::{AsKind, Kind};
pub use server::Serving;

use filter::Filter;
use hooks::Hooks;
use store::Store;

/// Tuning knobs for an [`ApiServer`].
#[derive(Clone, Debug)]
pub struct Options {
    /// How often a watch with `allowWatchBookmarks=true` gets a `BOOKMARK`.
    pub bookmark_interval: Duration,
    /// How many events the log keeps; older resourceVersions get 410.
    pub log_capacity: usize,
    /// How many paginated list snapshots are kept for `continue` tokens.
    pub snapshot_capacity: usize,
    /// How many requests [`ApiServer::requests`] remembers.
    pub request_log_capacity: usize,
    /// Watch duration when the client sends no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bookmark_interval: Duration::from_secs(1),
            log_capacity: 10_000,
            snapshot_capacity: 64,
            request_log_capacity: 10_000,
            default_watch_timeout: Duration::from_secs(1800),
        }
    }
}

pub(crate) struct Shared {
    pub store: Store,
    pub hooks: Hooks,
    pub options: Options,
}

/// A handle on one fake API server's state. Cheap to clone; all clones share
/// the same objects, history and hooks, whether or not it is being served.
#[derive(Clone)]
pub struct ApiServer {
    pub(crate) shared: Arc<Shared>,
}

impl Default for ApiServer {
    fn default() -> Self {
        ApiServer::new()
    }
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("resource_version", &self.resource_version())
            .field("open_watches", &self.open_watches())
            .finish()
    }
}

impl ApiServer {
    /// An empty server with default [`Options`].
    pub fn new() -> Self {
        ApiServer::with_options(Options::default())
    }

    /// An empty server.
    pub fn with_options(options: Options) -> Self {
        ApiServer {
            shared: Arc::new(Shared {
                store: Store::new(options.log_capacity, options.snapshot_capacity),
                hooks: Hooks::new(options.request_log_capacity),
                options,
            }),
        }
    }

    /// Creates or updates an object (its kind is taken from `kind`; a missing
    /// namespace of a namespaced kind defaults to `default`) and returns its
    /// new resourceVersion.
    ///
    /// # Panics
    ///
    /// If the object is invalid; see [`ApiServer::try_apply`].
    pub fn apply(&self, object: Value) -> u64 {
        match self.try_apply(object) {
            Ok(rv) => rv,
            Err(e) => panic!("ApiServer::apply: {e}"),
        }
    }

    /// Like [`ApiServer::apply`], reporting invalid objects as errors.
    pub fn try_apply(&self, object: Value) -> Result<u64, Error> {
        self.shared.store.apply_all(vec![object])
    }

    /// Applies many objects at once under one lock (fast enough for tens of
    /// thousands); returns the resourceVersion after the last one.
    ///
    /// # Panics
    ///
    /// If any object is invalid (then none is stored); see
    /// [`ApiServer::try_load_objects`].
    pub fn load_objects(&self, objects: Vec<Value>) -> u64 {
        match self.try_load_objects(objects) {
            Ok(rv) => rv,
            Err(e) => panic!("ApiServer::load_objects: {e}"),
        }
    }

    /// Like [`ApiServer::load_objects`], reporting invalid objects as errors.
    pub fn try_load_objects(&self, objects: Vec<Value>) -> Result<u64, Error> {
        self.shared.store.apply_all(objects)
    }

    /// Deletes an object; returns the deletion's resourceVersion, or `None` if
    /// there was no such object. `namespace` is ignored for cluster-scoped kinds.
    ///
    /// `kind` is a [`Kind`] or a name such as `"Service"` (see [`AsKind`]).
    pub fn delete(&self, kind: impl AsKind, namespace: &str, name: &str) -> Option<u64> {
        self.shared.store.delete(kind.as_kind(), namespace, name)
    }

    /// The stored object, as served. `namespace` is ignored for cluster-scoped kinds.
    pub fn get(&self, kind: impl AsKind, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .store
            .get(kind.as_kind(), namespace, name)
            .map(|o| (*o).clone())
    }

    /// Every stored object of `kind`, sorted by namespace and name.
    pub fn list(&self, kind: impl AsKind) -> Vec<Value> {
        let (_, objects) = self.shared.store.select(&Filter::all(kind.as_kind()));
        objects.iter().map(|o| (**o).clone()).collect()
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// Compacts all history: open watches get a 410 `Expired` `ERROR` event
    /// and end, and any watch or `continue` token from a resourceVersion handed
    /// out before this call gets 410 too.
    pub fn expire(&self) {
        self.shared.store.expire();
    }

    /// Ends every open watch stream (the body ends, no error event).
    pub fn drop_watches(&self) {
        self.shared.store.close_watches();
    }

    /// The number of watch streams currently open.
    pub fn open_watches(&self) -> usize {
        self.shared.store.watcher_count()
    }

    /// Makes the next `n` API requests (any path outside `/_test/`) fail
    /// with `status_code` and a matching `Status` body. Replaces any pending
    /// failures; `n == 0` clears them.
    pub fn fail_next(&self, n: u32, status_code: u16) {
        self.shared.hooks.fail_next(n, status_code);
    }

    /// Makes every matching API request fail (or be slow) until
    /// [`ApiServer::clear_faults`]; see [`Fault`]. Open watches are not touched
    /// (use [`ApiServer::drop_watches`] to make them start again).
    pub fn add_fault(&self, fault: Fault) {
        self.shared.hooks.add_fault(fault);
    }

    /// Removes every fault added with [`ApiServer::add_fault`].
    pub fn clear_faults(&self) {
        self.shared.hooks.clear_faults();
    }

    /// Takes every [`Serving`] of this state down: the listener is closed
    /// (connections are refused) and every open connection is cut, until
    /// [`ApiServer::set_down`]`(false)` binds the same address again. The
    /// state is kept and may be changed meanwhile.
    pub fn set_down(&self, down: bool) {
        self.shared.hooks.set_down(down);
    }

    /// Received API requests with their arrival times, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.shared.hooks.received()
    }

    /// The paths and queries of received API requests, oldest first (bounded
    /// by [`Options::request_log_capacity`]).
    pub fn requests(&self) -> Vec<String> {
        self.shared.hooks.requests()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.hooks.clear_requests();
    }

    /// Serves this state on `listener` until the returned [`Serving`] is
    /// stopped or dropped. Must be called within a Tokio runtime.
    pub fn serve(&self, listener: TcpListener) -> Serving {
        Serving::start(
            listener,
            routes::router(self.clone()),
            Some(self.shared.hooks.down()),
        )
    }

    /// Serves only the `/_test/` admin routes on `listener`, never taken down by
    /// [`ApiServer::set_down`]: scripts steer the API through it while it is down.
    pub fn serve_admin(&self, listener: TcpListener) -> Serving {
        Serving::start(listener, routes::admin_router(self.clone()), None)
    }

    /// Binds `addr` and serves on it.
    ///
    /// While the address is in use this retries for up to two seconds, so that
    /// a server can come back on the port of one that was just
    /// [stopped](Serving::stop) without waiting for its sockets to close.
    pub async fn bind(&self, addr: impl ToSocketAddrs) -> std::io::Result<Serving> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match TcpListener::bind(&addr).await {
                Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                bound => return Ok(self.serve(bound?)),
            }
        }
    }
}
