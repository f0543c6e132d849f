//! The `kubernetes` plugin in the query chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};
use parking_lot::Mutex;

use crate::answer::{Outcome, Settings, decide};
use crate::index::Index;
use crate::source::{Source, SourceTask};
use crate::wire::{self, WireZones};

/// Answers the cluster zone from an [`Index`] that a [`Source`] feeds.
pub struct Kubernetes {
    settings: Settings,
    /// The zones, for the wire path.
    wire_zones: WireZones,
    index: Arc<Index>,
    /// When the plugin was built: the start of `startup_timeout`.
    created: Instant,
    startup_timeout: Duration,
    /// Set once `startup_timeout` has passed (saves reading the clock per query).
    startup_over: AtomicBool,
    /// The source, until a runtime is at hand to start it.
    pending: Mutex<Option<Box<dyn Source>>>,
    started: AtomicBool,
    /// The running source; dropping the plugin stops it.
    task: Mutex<Option<SourceTask>>,
}

impl Kubernetes {
    /// A plugin answering from `index`, fed by `source` once started.
    pub fn new(
        settings: Settings,
        index: Arc<Index>,
        source: Box<dyn Source>,
        startup_timeout: Duration,
    ) -> Self {
        Self {
            wire_zones: WireZones::new(&settings),
            settings,
            index,
            created: Instant::now(),
            startup_timeout,
            startup_over: AtomicBool::new(startup_timeout.is_zero()),
            pending: Mutex::new(Some(source)),
            started: AtomicBool::new(false),
            task: Mutex::new(None),
        }
    }

    /// What answers are made of.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The index answers are read from.
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// Starts the source's background work once, as soon as a Tokio runtime is at
    /// hand: setup may run outside one, and every query runs inside one.
    pub fn ensure_started(&self) {
        if self.started.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(source) = self.pending.lock().take() else {
            return;
        };
        tracing::debug!(source = %source.describe(), "kubernetes: starting source");
        *self.task.lock() = Some(source.spawn(&runtime));
        if !self.index.synced() && !self.startup_timeout.is_zero() {
            let index = Arc::downgrade(&self.index);
            let wait = self.startup_timeout.saturating_sub(self.created.elapsed());
            runtime.spawn(async move {
                tokio::time::sleep(wait).await;
                if index.upgrade().is_some_and(|index| !index.synced()) {
                    tracing::warn!("kubernetes: starting server with unsynced Kubernetes API");
                }
            });
        }
    }

    fn startup_over(&self) -> bool {
        if self.startup_over.load(Ordering::Relaxed) {
            return true;
        }
        if self.created.elapsed() >= self.startup_timeout {
            self.startup_over.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

impl Plugin for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        self.ensure_started();
        let startup_over = self.index.synced() || self.startup_over();
        match decide(&self.settings, &self.index, ctx, startup_over) {
            Outcome::Answer(response) => Box::pin(std::future::ready(Ok(response))),
            Outcome::Next => next.run(ctx),
            Outcome::Chase { response, target } => Box::pin(chase(ctx, next, response, target)),
        }
    }

    fn serve_wire(&self, query: &mut WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        self.ensure_started();
        let startup_over = self.index.synced() || self.startup_over();
        wire::answer(
            &self.settings,
            &self.wire_zones,
            &self.index,
            startup_over,
            query,
            buf,
        )
    }

    fn ready(&self) -> bool {
        self.index.synced()
    }

    fn started(&self, _listen: &[std::net::SocketAddr]) {
        self.ensure_started();
    }
}

/// Finishes an answer that ends in a CNAME to a name outside the zone: the rest of
/// the chain (forward, usually) resolves the target with the query's type, and its
/// records follow the CNAME. A failure there leaves the CNAME alone; a truncated
/// reply truncates ours.
async fn chase(
    ctx: &mut Ctx,
    next: Next<'_>,
    mut response: Response,
    target: clusterdns_api::proto::rr::Name,
) -> Result<Response, PluginError> {
    if next.is_empty() {
        return Ok(response);
    }
    let mut sub = ctx.clone();
    sub.query.set_name(target);
    if let Ok(reply) = next.run(&mut sub).await {
        if reply.message.metadata.truncation {
            response.message.metadata.truncation = true;
        }
        response.message.answers.extend(reply.message.answers);
    }
    Ok(response)
}
