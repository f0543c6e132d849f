//! The cluster index: what sources feed, kept the way queries arrive.
//!
//! Two layers:
//!
//! - the **view** is what queries read, under a `parking_lot` read lock that is never
//!   held across an await: (namespace, service) → an immutable `Arc<ServiceEntry>`,
//!   IP → reverse names, the set of namespaces, and (for `pods verified`) pod IPs;
//! - the **store** is what only the writer (whoever applies a change) needs besides,
//!   under a mutex: which service each slice belongs to, the namespaces and the pods.
//!
//! The entries are the one copy of the Services and of the slices' contents (their
//! ports and ready addresses): at 10,000 services and 100,000 endpoints a second copy
//! in the store cost as much memory as the entries themselves. A change is compared
//! with the entry, and the new entry is built from the old one and the change.
//!
//! A hit and a miss both cost one hash lookup per label looked up, never a scan.
//!
//! Every change, including a whole snapshot, is applied as one batch: the changes are
//! gathered per service, the entries of the services they touch are rebuilt outside
//! the write lock, then swapped into the view under one short write lock. A query
//! sees the state before the batch or after it, never half of it.
//!
//! A snapshot (or a list, which arrives object by object) is turned into the
//! difference against the index as it comes in: an object the index already holds
//! as it is only has its key noted, so a relist of an unchanged cluster costs little
//! more than its keys; a changed one is kept in the index's own compact form until
//! the end. Then the objects whose keys did not come are deleted (anti-entropy), and
//! the rest applied as one batch; unchanged services keep their entries.
//!
//! # Locks
//!
//! [`Index`] has three locks: `store` (a mutex, the writer's state), `view` (the
//! read-write lock queries read) and `feeds` (a mutex, each feed's sync state and list
//! in progress). Whoever holds more than one takes them in this order, and releases
//! them in reverse:
//!
//! 1. `store`, 2. `view`, 3. `feeds`.
//!
//! [`Index::listed`] is the one place that holds all three (it compares an object with
//! the store and the view, and notes it in the feed's list). Every other method takes
//! `feeds` alone and lets go of it before taking `store` (`feed_state`, `list_done`),
//! or takes `store` and then `view`. Never hold `view`, nor any of them, across an
//! await: they are `parking_lot` locks, and the writer runs on the sources' tasks while
//! queries read on the request path.

mod entry;
mod pods;
mod reverse;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::{HashMap, HashSet};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use smallvec::SmallVec;

pub use entry::{EndpointAddr, Key, NameRef, ServiceEntry, dashed};
pub use reverse::ReverseRef;

use crate::metrics;
use crate::object::{Kind, KindSet, Object, ObjectKey, ServiceKind, SlimPod, SlimService};
use entry::{SliceChange, SliceContent};
use pods::PodMap;
use reverse::ReverseIndex;

/// What queries read.
#[derive(Default)]
pub struct View {
    services: HashMap<Key, Arc<ServiceEntry>>,
    namespaces: HashSet<Arc<str>>,
    reverse: ReverseIndex,
    pods: PodMap,
}

impl View {
    /// The entry of `namespace`/`name` (lower case).
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<ServiceEntry>> {
        self.services.get(&NameRef { namespace, name })
    }

    /// Whether a Namespace object of that name exists.
    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    /// The reverse items of `ip`: each (namespace, service, endpoint label) once,
    /// ordered by namespace and service, a cluster IP before endpoint addresses.
    pub fn reverse(&self, ip: IpAddr) -> SmallVec<[ReverseRef; 2]> {
        self.reverse.get(ip)
    }

    /// Whether a pod in `namespace` has `ip`.
    pub fn pod_has_ip(&self, namespace: &str, ip: IpAddr) -> bool {
        self.pods.namespace_has(namespace, ip)
    }

    /// The namespace of a pod with `ip` (the first one indexed, when pods share it).
    pub fn pod_namespace(&self, ip: IpAddr) -> Option<&Arc<str>> {
        self.pods.namespace_of(ip)
    }

    /// How many service entries there are.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }
}

/// What the writer keeps besides the view. Services and the contents of slices are
/// not here: the view's entries hold them.
#[derive(Default)]
struct Store {
    /// (namespace, slice name) → the slice's service and trigger time.
    slices: HashMap<Key, SliceMeta>,
    namespaces: HashSet<Arc<str>>,
    /// How many (address, pod) pairs the view's pod map holds (for the metrics).
    pod_count: usize,
    /// How many entries have their Service (the count of Service objects).
    services: usize,
}

/// What the store remembers of a slice.
struct SliceMeta {
    /// Its `kubernetes.io/service-name`.
    service: Arc<str>,
    /// Its last-change trigger time (to measure only changes that moved it).
    trigger_time_ms: Option<i64>,
}

impl Store {
    fn keys_of(&self, view: &View, kind: Kind) -> Vec<ObjectKey> {
        let key = |k: &Key| ObjectKey {
            kind,
            namespace: k.namespace.clone(),
            name: k.name.clone(),
        };
        match kind {
            Kind::Service => view
                .services
                .iter()
                .filter(|(_, entry)| entry.service.is_some())
                .map(|(k, _)| key(k))
                .collect(),
            Kind::EndpointSlice => self.slices.keys().map(key).collect(),
            // Pods are not kept by name: a list replaces the whole pod map instead.
            Kind::Pod => Vec::new(),
            Kind::Namespace => self
                .namespaces
                .iter()
                .map(|n| ObjectKey {
                    kind,
                    namespace: Arc::from(""),
                    name: n.clone(),
                })
                .collect(),
        }
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Service => self.services,
            Kind::EndpointSlice => self.slices.len(),
            Kind::Namespace => self.namespaces.len(),
            Kind::Pod => self.pod_count,
        }
    }
}

/// One operation of a batch, in the form the index keeps: a slice is already cut
/// down to what its entry holds (a list may keep many of these until it is done).
enum Op {
    /// A Service (boxed: it is the largest, and rarely what a batch holds most of).
    Service(Box<SlimService>),
    Slice(SliceUpdate),
    Namespace(Arc<str>),
    Pod(SlimPod),
    Remove(ObjectKey),
}

/// An EndpointSlice as the index takes it.
struct SliceUpdate {
    namespace: Arc<str>,
    name: Arc<str>,
    service: Arc<str>,
    trigger_time_ms: Option<i64>,
    content: SliceContent,
}

impl Op {
    fn upsert(object: Object, endpoint_pod_names: bool) -> Self {
        match object {
            Object::Service(service) => Op::Service(Box::new(service)),
            Object::EndpointSlice(slice) => Op::Slice(SliceUpdate {
                content: SliceContent::of(&slice, endpoint_pod_names),
                namespace: slice.namespace,
                name: slice.name,
                service: slice.service,
                trigger_time_ms: slice.trigger_time_ms,
            }),
            Object::Namespace(namespace) => Op::Namespace(namespace.name),
            Object::Pod(pod) => Op::Pod(pod),
        }
    }

    /// Whether applying it would change nothing at all.
    fn is_noop(&self, store: &Store, view: &View) -> bool {
        match self {
            Op::Service(service) => {
                view.service(&service.namespace, &service.name)
                    .and_then(|entry| entry.service.as_ref())
                    == Some(&**service)
            }
            Op::Slice(update) => {
                let key = NameRef {
                    namespace: &update.namespace,
                    name: &update.name,
                };
                store.slices.get(&key).is_some_and(|meta| {
                    meta.service == update.service && meta.trigger_time_ms == update.trigger_time_ms
                }) && view
                    .service(&update.namespace, &update.service)
                    .and_then(|entry| entry.slice(&update.name))
                    .is_some_and(|slice| slice.holds(&update.content))
            }
            Op::Namespace(name) => store.namespaces.contains(name),
            Op::Pod(pod) => match view.pods.find_owner(&pod.namespace, &pod.name) {
                Some(owner) => pod
                    .ips
                    .iter()
                    .all(|ip| view.pods.has(*ip, owner) == pod.live),
                None => !pod.live,
            },
            Op::Remove(_) => false,
        }
    }
}

/// A list in progress (see [`crate::source::Change::ListStart`]): the operations
/// that change something, and the key of every object listed.
#[derive(Default)]
struct Listing {
    ops: Vec<Op>,
    seen: HashSet<ObjectKey>,
    /// The live pods listed, as the map that replaces the view's.
    pods: PodMap,
}

/// What a batch changes in one entry.
#[derive(Default)]
struct Pending {
    /// The new Service (`Some(None)`: deleted), when it changed.
    service: Option<Option<Box<SlimService>>>,
    /// The slices changed, each name once (most services have one slice).
    slices: SmallVec<[(Arc<str>, SliceChange); 1]>,
}

impl Pending {
    fn set_slice(&mut self, name: &Arc<str>, change: SliceChange) {
        match self.slices.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = change,
            None => self.slices.push((name.clone(), change)),
        }
    }
}

/// What a batch changed, gathered while the store is updated.
#[derive(Default)]
struct Touched {
    /// (namespace, service) → its changes.
    services: HashMap<Key, Pending>,
    namespaces: Vec<(Arc<str>, bool)>,
    /// Pods whose addresses to note (live) or forget.
    pods: Vec<SlimPod>,
    /// (namespace, service, trigger time) of changed slices.
    triggers: Vec<(Arc<str>, Arc<str>, f64)>,
}

impl Touched {
    fn pending(&mut self, namespace: &Arc<str>, service: &Arc<str>) -> &mut Pending {
        self.services
            .entry(Key::new(namespace, service))
            .or_default()
    }

    /// The Service of `key` as the batch has left it so far.
    fn service<'a>(&'a self, view: &'a View, key: &Key) -> Option<&'a SlimService> {
        match self.services.get(key).and_then(|p| p.service.as_ref()) {
            Some(pending) => pending.as_deref(),
            None => view.services.get(key).and_then(|e| e.service.as_ref()),
        }
    }

    /// Whether slice `name` of service `key` holds `content`, as the batch has left it
    /// so far.
    fn slice_holds(&self, view: &View, key: &Key, name: &str, content: &SliceContent) -> bool {
        let pending = self
            .services
            .get(key)
            .and_then(|p| p.slices.iter().find(|(n, _)| &**n == name));
        match pending {
            Some((_, change)) => change.as_ref() == Some(content),
            None => view
                .services
                .get(key)
                .and_then(|entry| entry.slice(name))
                .is_some_and(|slice| slice.holds(content)),
        }
    }
}

/// The state of one feed (see [`crate::source::ChangeSink`]).
struct Feed {
    kinds: KindSet,
    synced: bool,
    /// The list in progress, if any.
    listing: Option<Listing>,
}

/// The cluster index. Shared by the plugin (which reads it) and the sources' sinks
/// (which write it, holding it weakly).
pub struct Index {
    endpoint_pod_names: bool,
    /// The metrics label: the plugin's primary zone.
    label: String,
    store: Mutex<Store>,
    view: RwLock<View>,
    feeds: Mutex<Vec<Feed>>,
    synced: AtomicBool,
    serial: AtomicU32,
}

impl Index {
    /// An empty index; `label` names it in metrics.
    pub fn new(endpoint_pod_names: bool, label: &str) -> Arc<Self> {
        metrics::init_synced(label);
        Arc::new(Self {
            endpoint_pod_names,
            label: label.to_owned(),
            store: Mutex::new(Store::default()),
            view: RwLock::new(View::default()),
            feeds: Mutex::new(Vec::new()),
            synced: AtomicBool::new(false),
            serial: AtomicU32::new(unix_now()),
        })
    }

    /// Read access for a query. Hold it only while building the answer: never across
    /// an await.
    pub fn read(&self) -> RwLockReadGuard<'_, View> {
        self.view.read()
    }

    /// Whether every feed has completed its first full sync (and at least one exists).
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// The SOA serial: Unix time of the last change that altered an answer.
    pub fn serial(&self) -> u32 {
        self.serial.load(Ordering::Relaxed)
    }

    /// Registers a feed providing `kinds`; returns its number.
    pub(crate) fn add_feed(&self, kinds: KindSet) -> usize {
        let mut feeds = self.feeds.lock();
        feeds.push(Feed {
            kinds,
            synced: false,
            listing: None,
        });
        feeds.len() - 1
    }

    /// Marks feed `feed` as synced; the index is synced once all are.
    pub(crate) fn feed_synced(&self, feed: usize) {
        let mut feeds = self.feeds.lock();
        if let Some(f) = feeds.get_mut(feed) {
            f.synced = true;
        }
        if !feeds.is_empty() && feeds.iter().all(|f| f.synced) && !self.synced() {
            self.synced.store(true, Ordering::Release);
            metrics::set_synced(&self.label, true);
            tracing::info!(zone = %self.label, "kubernetes: synced");
        }
    }

    fn feed_state(&self, feed: usize) -> (KindSet, bool) {
        self.feeds
            .lock()
            .get(feed)
            .map_or((KindSet::empty(), false), |f| (f.kinds, f.synced))
    }

    /// Adds or replaces one object.
    pub(crate) fn apply(&self, feed: usize, object: Object) {
        let (_, synced) = self.feed_state(feed);
        let op = Op::upsert(object, self.endpoint_pod_names);
        let mut store = self.store.lock();
        self.apply_batch(&mut store, [op], synced);
    }

    /// Removes one object.
    pub(crate) fn delete(&self, feed: usize, key: ObjectKey) {
        let (_, synced) = self.feed_state(feed);
        let mut store = self.store.lock();
        self.apply_batch(&mut store, [Op::Remove(key)], synced);
    }

    /// Replaces every object of the feed's kinds with `objects`, as one batch.
    pub(crate) fn snapshot(&self, feed: usize, objects: Vec<Object>) {
        let (kinds, synced) = self.feed_state(feed);
        let mut store = self.store.lock();
        let mut listing = Listing::default();
        {
            let view = self.view.read();
            for object in objects {
                self.stage(&store, &view, &mut listing, object);
            }
        }
        self.commit(&mut store, kinds, listing, synced);
    }

    /// Starts a list of the feed's kinds, dropping one left unfinished.
    pub(crate) fn list_start(&self, feed: usize) {
        if let Some(f) = self.feeds.lock().get_mut(feed) {
            f.listing = Some(Listing::default());
        }
    }

    /// Adds one object to the feed's list in progress. Takes `store`, `view`, then
    /// `feeds`: the lock order (see the module docs).
    pub(crate) fn listed(&self, feed: usize, object: Object) {
        let store = self.store.lock();
        let view = self.view.read();
        let mut feeds = self.feeds.lock();
        if let Some(f) = feeds.get_mut(feed) {
            let listing = f.listing.get_or_insert_default();
            self.stage(&store, &view, listing, object);
        }
    }

    /// Applies the feed's list: everything of its kinds that was not listed goes.
    pub(crate) fn list_done(&self, feed: usize) {
        let state = self
            .feeds
            .lock()
            .get_mut(feed)
            .map(|f| (f.kinds, f.synced, f.listing.take().unwrap_or_default()));
        if let Some((kinds, synced, listing)) = state {
            let mut store = self.store.lock();
            self.commit(&mut store, kinds, listing, synced);
        }
    }

    /// Notes `object` in `listing`, keeping it only if it changes something.
    fn stage(&self, store: &Store, view: &View, listing: &mut Listing, object: Object) {
        if let Object::Pod(pod) = object {
            if pod.live {
                let owner = listing.pods.owner(&pod.namespace, &pod.name);
                for ip in pod.ips {
                    listing.pods.add(ip, owner);
                }
            }
            return;
        }
        listing.seen.insert(object.key());
        let op = Op::upsert(object, self.endpoint_pod_names);
        if !op.is_noop(store, view) {
            listing.ops.push(op);
        }
    }

    /// Applies a complete list of `kinds` as one batch.
    fn commit(&self, store: &mut Store, kinds: KindSet, listing: Listing, record_latency: bool) {
        let Listing { ops, seen, pods } = listing;
        let removed: Vec<ObjectKey> = {
            let view = self.view.read();
            kinds
                .iter()
                .flat_map(|kind| store.keys_of(&view, kind))
                .filter(|key| !seen.contains(key))
                .collect()
        };
        drop(seen);
        let ops = removed.into_iter().map(Op::Remove).chain(ops);
        self.apply_batch(store, ops, record_latency);
        if kinds.contains(Kind::Pod) {
            let old = {
                let mut view = self.view.write();
                store.pod_count = pods.len();
                std::mem::replace(&mut view.pods, pods)
            };
            if old.len() != store.pod_count {
                self.serial.store(unix_now(), Ordering::Relaxed);
            }
            metrics::set_objects(&self.label, Kind::Pod.as_str(), store.pod_count);
        }
    }

    fn apply_batch(
        &self,
        store: &mut Store,
        ops: impl IntoIterator<Item = Op>,
        record_latency: bool,
    ) {
        let ops = ops.into_iter();
        let mut touched = Touched::default();
        // Sized once for a list's worth of services, instead of grown step by step
        // (each step leaves the smaller table behind in the allocator).
        touched.services.reserve(ops.size_hint().0);
        // Rebuild outside the write lock: queries go on reading the old entries.
        let rebuilt: Vec<Rebuilt> = {
            let view = self.view.read();
            for op in ops {
                apply_op(store, &view, op, &mut touched);
            }
            touched
                .services
                .drain()
                .filter_map(|(key, pending)| {
                    let old = view.services.get(&key).cloned();
                    let mut changes = pending.slices.into_vec();
                    changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    let new = ServiceEntry::rebuild(
                        &key.namespace,
                        &key.name,
                        old.as_deref(),
                        pending.service.map(|s| s.map(|s| *s)),
                        changes,
                    )
                    .map(Arc::new);
                    // An entry equal to the old one (slice names included) is dropped
                    // here: the old one stays, and so does every reference to it.
                    (old.as_deref() != new.as_deref()).then_some(Rebuilt { key, old, new })
                })
                .collect()
        };
        let mut changed = false;
        {
            let mut view = self.view.write();
            let mut added = 0usize;
            for Rebuilt { old, new, .. } in &rebuilt {
                changed |= match (old, new) {
                    (Some(old), Some(new)) => !old.same_answers(new),
                    _ => true,
                };
                if let Some(old) = old {
                    view.reverse.remove(old);
                    store.services = store
                        .services
                        .saturating_sub(usize::from(old.service.is_some()));
                }
                if let Some(new) = new {
                    added += ReverseIndex::count(new);
                    store.services += usize::from(new.service.is_some());
                }
            }
            // One allocation for what the batch adds, not a doubling per growth.
            view.reverse.reserve(added);
            let new_keys = rebuilt
                .iter()
                .filter(|r| r.old.is_none() && r.new.is_some())
                .count();
            view.services.reserve(new_keys);
            for Rebuilt { key, new, .. } in rebuilt {
                match new {
                    Some(new) => {
                        view.reverse.add(&new);
                        view.services.insert(key, new);
                    }
                    None => {
                        view.services.remove(&key);
                    }
                }
            }
            for (namespace, add) in touched.namespaces {
                changed = true;
                if add {
                    view.namespaces.insert(namespace);
                } else {
                    view.namespaces.remove(&namespace);
                }
            }
            for pod in touched.pods {
                let owner = view.pods.owner(&pod.namespace, &pod.name);
                for ip in pod.ips {
                    changed |= if pod.live {
                        view.pods.add(ip, owner)
                    } else {
                        view.pods.remove(ip, owner)
                    };
                }
            }
            store.pod_count = view.pods.len();
        }
        if changed {
            self.serial.store(unix_now(), Ordering::Relaxed);
        }
        if record_latency && !touched.triggers.is_empty() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let view = self.view.read();
            for (namespace, service, trigger) in touched.triggers {
                let headless = view
                    .service(&namespace, &service)
                    .and_then(|entry| entry.service.as_ref())
                    .is_some_and(|s| s.kind == ServiceKind::Headless);
                // As CoreDNS: only headless services are measured; their answers
                // are the endpoints themselves.
                if headless {
                    metrics::observe_programming("headless_with_selector", now - trigger);
                }
            }
        }
        for kind in Kind::ALL {
            metrics::set_objects(&self.label, kind.as_str(), store.count(kind));
        }
    }
}

/// A service whose entry a batch replaces (`new` is `None` when it goes).
struct Rebuilt {
    key: Key,
    old: Option<Arc<ServiceEntry>>,
    new: Option<Arc<ServiceEntry>>,
}

fn apply_op(store: &mut Store, view: &View, op: Op, touched: &mut Touched) {
    match op {
        Op::Service(service) => {
            let key = Key::new(&service.namespace, &service.name);
            if touched.service(view, &key) != Some(&*service) {
                touched.services.entry(key).or_default().service = Some(Some(service));
            }
        }
        Op::Slice(slice) => {
            let key = Key::new(&slice.namespace, &slice.name);
            let (old_service, old_trigger) = match store.slices.get(&key) {
                Some(meta) => (Some(meta.service.clone()), meta.trigger_time_ms),
                None => (None, None),
            };
            let unchanged = old_service.as_ref() == Some(&slice.service)
                && touched.slice_holds(
                    view,
                    &Key::new(&slice.namespace, &slice.service),
                    &slice.name,
                    &slice.content,
                );
            if unchanged && old_trigger == slice.trigger_time_ms {
                return;
            }
            // Only a trigger time that moved measures a change: a hand-edited manifest
            // keeps the old annotation, which would count the file's age.
            if let Some(trigger) = slice.trigger_time_ms.filter(|t| Some(*t) != old_trigger) {
                touched.triggers.push((
                    slice.namespace.clone(),
                    slice.service.clone(),
                    trigger as f64 / 1000.0,
                ));
            }
            if let Some(old_service) = old_service.filter(|s| *s != slice.service) {
                touched
                    .pending(&slice.namespace, &old_service)
                    .set_slice(&slice.name, None);
            }
            if !unchanged {
                touched
                    .pending(&slice.namespace, &slice.service)
                    .set_slice(&slice.name, Some(slice.content));
            }
            store.slices.insert(
                key,
                SliceMeta {
                    service: slice.service,
                    trigger_time_ms: slice.trigger_time_ms,
                },
            );
        }
        Op::Namespace(name) => {
            if store.namespaces.insert(name.clone()) {
                touched.namespaces.push((name, true));
            }
        }
        Op::Pod(pod) => touched.pods.push(pod),
        Op::Remove(key) => remove(store, view, &key, touched),
    }
}

fn remove(store: &mut Store, view: &View, key: &ObjectKey, touched: &mut Touched) {
    let name = NameRef {
        namespace: &key.namespace,
        name: &key.name,
    };
    match key.kind {
        Kind::Service => {
            let service_key = Key::new(&key.namespace, &key.name);
            if touched.service(view, &service_key).is_some() {
                touched.services.entry(service_key).or_default().service = Some(None);
            }
        }
        Kind::EndpointSlice => {
            if let Some(old) = store.slices.remove(&name) {
                touched
                    .pending(&key.namespace, &old.service)
                    .set_slice(&key.name, None);
            }
        }
        Kind::Namespace => {
            if let Some(namespace) = store.namespaces.take(&*key.name) {
                touched.namespaces.push((namespace, false));
            }
        }
        // Pods are not kept by name: a pod forgets its addresses through a change
        // that carries them (see `pods`).
        Kind::Pod => {}
    }
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests;
