//! Sources: where cluster objects come from.
//!
//! A source turns what it reads into a stream of typed [`Change`]s and hands each to a
//! [`ChangeSink`]; the index behind the sink applies them and never learns who feeds
//! it. A source may have several feeds (one sink each), for instance one reflector per
//! kind: each feed declares the kinds it provides, a [`Change::Snapshot`] of a feed
//! replaces every object of those kinds, and the index is synced once every feed has
//! sent [`Change::Synced`].
//!
//! - [`manifest::ManifestSource`]: YAML/JSON files, re-read when they change;
//! - [`api::ApiSource`]: the Kubernetes API (list/watch), one feed per kind.

pub mod api;
pub mod decode;
pub mod manifest;

use std::sync::{Arc, Weak};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::index::Index;
use crate::object::{KindSet, Object, ObjectKey};

/// One change to the objects a feed provides.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// An object was added or modified.
    Apply(Object),
    /// An object was deleted.
    Delete(ObjectKey),
    /// The complete current set of the feed's kinds: everything else of those kinds is
    /// gone. Applied atomically, as the difference to what the index holds.
    Snapshot(Vec<Object>),
    /// A list of the feed's kinds begins: the objects sent with [`Change::Listed`] up
    /// to [`Change::ListDone`] are, together, a [`Change::Snapshot`]. A list begun
    /// again before it is done starts over. Sent object by object, a list is compared
    /// with the index as it arrives instead of being held whole: a large cluster's
    /// relist then costs little more memory than its changes.
    ListStart,
    /// One object of the list in progress.
    Listed(Object),
    /// The list in progress is complete: applied atomically, as a snapshot.
    ListDone,
    /// The feed's first full list is in (readiness).
    Synced,
}

/// Where a feed sends its changes. Holds the index weakly: once the plugin is gone
/// (a Corefile reload replaced it), [`ChangeSink::send`] says so and the source stops.
#[derive(Clone)]
pub struct ChangeSink {
    index: Weak<Index>,
    feed: usize,
    kinds: KindSet,
}

/// The index behind a sink is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl ChangeSink {
    /// A new feed of `index` providing `kinds`. Create every feed of a source before the
    /// first query, so that readiness waits for all of them.
    pub fn new(index: &Arc<Index>, kinds: KindSet) -> Self {
        Self {
            index: Arc::downgrade(index),
            feed: index.add_feed(kinds),
            kinds,
        }
    }

    /// The kinds this feed provides.
    pub fn kinds(&self) -> KindSet {
        self.kinds
    }

    /// Applies `change`.
    pub fn send(&self, change: Change) -> Result<(), Closed> {
        let index = self.index.upgrade().ok_or(Closed)?;
        match change {
            Change::Apply(object) => index.apply(self.feed, object),
            Change::Delete(key) => index.delete(self.feed, key),
            Change::Snapshot(objects) => index.snapshot(self.feed, objects),
            Change::ListStart => index.list_start(self.feed),
            Change::Listed(object) => index.listed(self.feed, object),
            Change::ListDone => index.list_done(self.feed),
            Change::Synced => index.feed_synced(self.feed),
        }
        Ok(())
    }

    /// Whether the index is still there.
    pub fn is_closed(&self) -> bool {
        self.index.strong_count() == 0
    }
}

/// A source of cluster objects.
pub trait Source: Send + 'static {
    /// What it reads, for logs (`manifests cluster.yaml`, `API https://...`).
    fn describe(&self) -> String;

    /// Feeds what can be had without waiting, at setup and without a runtime: the
    /// manifest source reads its files here so the first query is answered from them.
    fn prime(&mut self) {}

    /// Starts feeding in the background on `runtime`. Called once, as soon as a
    /// runtime is at hand (setup may run outside one). The tasks end when the returned
    /// handle is dropped or the sinks close.
    fn spawn(self: Box<Self>, runtime: &Handle) -> SourceTask;
}

/// The background tasks of a started source; dropping it stops them.
#[derive(Default)]
pub struct SourceTask {
    handles: Vec<JoinHandle<()>>,
}

impl SourceTask {
    /// A task made of `handles`.
    pub fn new(handles: Vec<JoinHandle<()>>) -> Self {
        Self { handles }
    }
}

impl Drop for SourceTask {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}
