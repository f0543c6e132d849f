//! The cluster index: what sources feed, kept the way queries arrive.
//!
//! Two layers:
//!
//! - the **store** holds the slim objects by key; only the writer (whoever applies a
//!   change) touches it, under a mutex;
//! - the **view** is what queries read, under a `parking_lot` read lock that is never
//!   held across an await: (namespace, service) → an immutable `Arc<ServiceEntry>`,
//!   IP → reverse names, the set of namespaces, and (for `pods verified`) pod IPs.
//!
//! A hit and a miss both cost one hash lookup per label looked up, never a scan.
//!
//! Every change, including a whole snapshot, is applied as one batch: the store is
//! updated, the entries of the services it touched are rebuilt outside the view lock,
//! then swapped into the view under one short write lock. A query sees the state
//! before the batch or after it, never half of it. A snapshot is turned into the
//! difference against the store first (anti-entropy: objects missing from it are
//! deleted), so unchanged services keep their entries.

mod entry;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::{HashMap, HashSet};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use smallvec::SmallVec;

pub use entry::{EndpointAddr, Key, NameRef, ServiceEntry, dashed};

use crate::metrics;
use crate::object::{
    Kind, KindSet, Object, ObjectKey, ServiceKind, SlimPod, SlimService, SlimSlice,
};

/// A reverse-lookup item: a cluster IP of a service (`endpoint` is `None`), or an
/// endpoint address of a service, with its endpoint label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseRef {
    /// The service's namespace.
    pub namespace: Arc<str>,
    /// The service's name.
    pub service: Arc<str>,
    /// The endpoint label, for endpoint addresses.
    pub endpoint: Option<Arc<str>>,
}

/// What queries read.
#[derive(Default)]
pub struct View {
    services: HashMap<Key, Arc<ServiceEntry>>,
    namespaces: HashSet<Arc<str>>,
    /// Nearly every address belongs to one service: kept inline, no allocation.
    reverse: HashMap<IpAddr, SmallVec<[ReverseRef; 1]>>,
    pod_ips: HashMap<IpAddr, Vec<(Arc<str>, u32)>>,
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

    /// The reverse items of `ip`.
    pub fn reverse(&self, ip: IpAddr) -> &[ReverseRef] {
        self.reverse.get(&ip).map_or(&[], |items| items.as_slice())
    }

    /// Whether a pod in `namespace` has `ip`.
    pub fn pod_has_ip(&self, namespace: &str, ip: IpAddr) -> bool {
        self.pod_ips
            .get(&ip)
            .is_some_and(|owners| owners.iter().any(|(ns, _)| &**ns == namespace))
    }

    /// How many service entries there are.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    fn add_reverse(&mut self, entry: &ServiceEntry) {
        for (ip, endpoint) in entry.reverse_items() {
            let item = ReverseRef {
                namespace: entry.namespace.clone(),
                service: entry.name.clone(),
                endpoint: endpoint.cloned(),
            };
            let items = self.reverse.entry(ip).or_default();
            if !items.contains(&item) {
                items.push(item);
            }
        }
    }

    fn remove_reverse(&mut self, entry: &ServiceEntry) {
        for (ip, _) in entry.reverse_items() {
            if let Some(items) = self.reverse.get_mut(&ip) {
                items.retain(|r| !(r.namespace == entry.namespace && r.service == entry.name));
                if items.is_empty() {
                    self.reverse.remove(&ip);
                }
            }
        }
    }

    fn pod_ip(&mut self, namespace: &Arc<str>, ip: IpAddr, add: bool) {
        let owners = self.pod_ips.entry(ip).or_default();
        match owners.iter().position(|(ns, _)| ns == namespace) {
            Some(i) if add => owners[i].1 += 1,
            Some(i) => {
                owners[i].1 -= 1;
                if owners[i].1 == 0 {
                    owners.swap_remove(i);
                }
            }
            None if add => owners.push((namespace.clone(), 1)),
            None => {}
        }
        if owners.is_empty() {
            self.pod_ips.remove(&ip);
        }
    }
}

/// The slim objects, by key.
#[derive(Default)]
struct Store {
    services: HashMap<Key, SlimService>,
    slices: HashMap<Key, SlimSlice>,
    /// (namespace, service) → names of its slices, in name order.
    slices_of: HashMap<Key, BTreeSet<Arc<str>>>,
    namespaces: HashSet<Arc<str>>,
    pods: HashMap<Key, SlimPod>,
}

impl Store {
    fn keys_of(&self, kind: Kind) -> Vec<ObjectKey> {
        let key = |k: &Key| ObjectKey {
            kind,
            namespace: k.namespace.clone(),
            name: k.name.clone(),
        };
        match kind {
            Kind::Service => self.services.keys().map(key).collect(),
            Kind::EndpointSlice => self.slices.keys().map(key).collect(),
            Kind::Pod => self.pods.keys().map(key).collect(),
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
            Kind::Service => self.services.len(),
            Kind::EndpointSlice => self.slices.len(),
            Kind::Namespace => self.namespaces.len(),
            Kind::Pod => self.pods.len(),
        }
    }

    fn entry(&self, key: &Key, endpoint_pod_names: bool) -> Option<ServiceEntry> {
        let slices = self
            .slices_of
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|slice| {
                self.slices.get(&NameRef {
                    namespace: &key.namespace,
                    name: slice,
                })
            });
        ServiceEntry::build(
            &key.namespace,
            &key.name,
            self.services.get(key),
            slices,
            endpoint_pod_names,
        )
    }
}

/// One operation of a batch.
enum Op {
    Upsert(Object),
    Remove(ObjectKey),
}

/// What a batch changed, gathered while the store is updated.
#[derive(Default)]
struct Touched {
    services: HashSet<Key>,
    namespaces: Vec<(Arc<str>, bool)>,
    pod_ips: Vec<(Arc<str>, IpAddr, bool)>,
    /// (namespace, service, trigger time) of changed slices.
    triggers: Vec<(Arc<str>, Arc<str>, f64)>,
}

/// The state of one feed (see [`crate::source::ChangeSink`]).
struct Feed {
    kinds: KindSet,
    synced: bool,
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
        self.apply_batch(vec![Op::Upsert(object)], synced);
    }

    /// Removes one object.
    pub(crate) fn delete(&self, feed: usize, key: ObjectKey) {
        let (_, synced) = self.feed_state(feed);
        self.apply_batch(vec![Op::Remove(key)], synced);
    }

    /// Replaces every object of the feed's kinds with `objects`, as one batch.
    pub(crate) fn snapshot(&self, feed: usize, objects: Vec<Object>) {
        let (kinds, synced) = self.feed_state(feed);
        let mut ops: Vec<Op> = Vec::with_capacity(objects.len());
        {
            let store = self.store.lock();
            let present: std::collections::HashSet<ObjectKey> =
                objects.iter().map(Object::key).collect();
            for kind in kinds.iter() {
                for key in store.keys_of(kind) {
                    if !present.contains(&key) {
                        ops.push(Op::Remove(key));
                    }
                }
            }
        }
        ops.extend(objects.into_iter().map(Op::Upsert));
        self.apply_batch(ops, synced);
    }

    fn apply_batch(&self, ops: Vec<Op>, record_latency: bool) {
        let mut store = self.store.lock();
        let mut touched = Touched::default();
        for op in ops {
            match op {
                Op::Upsert(object) => upsert(&mut store, object, &mut touched),
                Op::Remove(key) => remove(&mut store, &key, &mut touched),
            }
        }
        // Rebuild outside the view lock: queries go on reading the old entries.
        let rebuilt: Vec<(Key, Option<Arc<ServiceEntry>>)> = touched
            .services
            .iter()
            .map(|key| {
                let entry = store.entry(key, self.endpoint_pod_names).map(Arc::new);
                (key.clone(), entry)
            })
            .collect();
        let mut changed = false;
        {
            let mut view = self.view.write();
            for (key, new) in rebuilt {
                let old = view.services.get(&key).cloned();
                if old.as_deref() == new.as_deref() {
                    continue;
                }
                changed = true;
                if let Some(old) = &old {
                    view.remove_reverse(old);
                }
                match new {
                    Some(new) => {
                        view.add_reverse(&new);
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
            for (namespace, ip, add) in touched.pod_ips {
                changed = true;
                view.pod_ip(&namespace, ip, add);
            }
        }
        if changed {
            self.serial.store(unix_now(), Ordering::Relaxed);
        }
        if record_latency {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            for (namespace, service, trigger) in touched.triggers {
                let headless = store
                    .services
                    .get(&NameRef {
                        namespace: &namespace,
                        name: &service,
                    })
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

fn key_of(namespace: &Arc<str>, name: &Arc<str>) -> Key {
    Key::new(namespace, name)
}

fn upsert(store: &mut Store, object: Object, touched: &mut Touched) {
    match object {
        Object::Service(service) => {
            let key = key_of(&service.namespace, &service.name);
            if store.services.get(&key) != Some(&service) {
                store.services.insert(key.clone(), service);
                touched.services.insert(key);
            }
        }
        Object::EndpointSlice(slice) => {
            let key = key_of(&slice.namespace, &slice.name);
            let service_key = key_of(&slice.namespace, &slice.service);
            let previous = store
                .slices
                .get(&key)
                .map(|old| (*old == slice, old.service.clone(), old.trigger_time_ms));
            let mut old_trigger = None;
            match previous {
                Some((true, _, _)) => return,
                Some((false, old_service, trigger)) => {
                    old_trigger = trigger;
                    if old_service != slice.service {
                        let old_key = key_of(&slice.namespace, &old_service);
                        unlink_slice(store, &old_key, &slice.name);
                        touched.services.insert(old_key);
                    }
                }
                None => {}
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
            store
                .slices_of
                .entry(service_key.clone())
                .or_default()
                .insert(slice.name.clone());
            store.slices.insert(key, slice);
            touched.services.insert(service_key);
        }
        Object::Namespace(namespace) => {
            if store.namespaces.insert(namespace.name.clone()) {
                touched.namespaces.push((namespace.name, true));
            }
        }
        Object::Pod(pod) => {
            let key = key_of(&pod.namespace, &pod.name);
            let old_ips = store
                .pods
                .get(&key)
                .map(|p| p.ips.clone())
                .unwrap_or_default();
            if old_ips == pod.ips {
                store.pods.insert(key, pod);
                return;
            }
            for ip in old_ips {
                touched.pod_ips.push((pod.namespace.clone(), ip, false));
            }
            for ip in &pod.ips {
                touched.pod_ips.push((pod.namespace.clone(), *ip, true));
            }
            store.pods.insert(key, pod);
        }
    }
}

fn unlink_slice(store: &mut Store, service_key: &Key, slice: &Arc<str>) {
    if let Some(names) = store.slices_of.get_mut(service_key) {
        names.remove(slice);
        if names.is_empty() {
            store.slices_of.remove(service_key);
        }
    }
}

fn remove(store: &mut Store, key: &ObjectKey, touched: &mut Touched) {
    let name = NameRef {
        namespace: &key.namespace,
        name: &key.name,
    };
    match key.kind {
        Kind::Service => {
            if let Some((key, _)) = store.services.remove_entry(&name) {
                touched.services.insert(key);
            }
        }
        Kind::EndpointSlice => {
            if let Some(old) = store.slices.remove(&name) {
                let service_key = key_of(&old.namespace, &old.service);
                unlink_slice(store, &service_key, &old.name);
                touched.services.insert(service_key);
            }
        }
        Kind::Namespace => {
            if let Some(namespace) = store.namespaces.take(&*key.name) {
                touched.namespaces.push((namespace, false));
            }
        }
        Kind::Pod => {
            if let Some(old) = store.pods.remove(&name) {
                for ip in old.ips {
                    touched.pod_ips.push((old.namespace.clone(), ip, false));
                }
            }
        }
    }
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests;
