//! The object store: objects, the global resourceVersion, the event log and the
//! open watches, all behind one lock.
//!
//! Like etcd, there is a single resourceVersion counter shared by every kind, and
//! every change is appended to a bounded event log. Keeping the watcher list under
//! the same lock as the log is what makes watches lossless: a watch copies its
//! replay from the log and subscribes to live events in one critical section, so
//! no change can fall between the two.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::Error;
use crate::event::{Event, EventType};
use crate::filter::{Filter, Seen};
use crate::kind::Kind;

/// `(namespace, name)`; the namespace is empty for cluster-scoped kinds.
pub(crate) type Key = (String, String);

/// What the store tells an open watch.
#[derive(Debug)]
pub(crate) enum Msg {
    Event(Arc<Event>),
    /// History was compacted past this watch: send 410 and end.
    Expired {
        oldest: u64,
    },
    /// End the stream at once, without an error event.
    Closed,
}

/// Where a new watch starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// Synthetic `ADDED` events for every current object, then live events.
    Current,
    /// Replay of logged events after this resourceVersion, then live events.
    Since(u64),
}

/// A watch that was registered with the store.
pub(crate) struct Opened {
    pub id: u64,
    pub rx: mpsc::UnboundedReceiver<Msg>,
    /// Events to send before any live one.
    pub initial: Vec<Seen>,
    /// The resourceVersion the initial events bring the watcher to.
    pub rv: u64,
}

/// The outcome of asking for a watch.
pub(crate) enum OpenResult {
    Opened(Opened),
    /// The requested resourceVersion is older than the retained history (or
    /// newer than any handed out, e.g. from before a fresh `ApiServer`): the
    /// client must relist. Carries the message for the 410 `Status`.
    Expired(String),
}

/// A consistent, sorted, filtered copy of a collection, for paginated lists.
pub(crate) struct Snapshot {
    pub rv: u64,
    pub items: Vec<Arc<Value>>,
}

struct Watcher {
    id: u64,
    kind: Kind,
    tx: mpsc::UnboundedSender<Msg>,
}

struct State {
    rv: u64,
    /// A watch from resourceVersion `r` can be served iff `r >= oldest_valid`.
    oldest_valid: u64,
    objects: [BTreeMap<Key, Arc<Value>>; Kind::ALL.len()],
    log: VecDeque<Arc<Event>>,
    log_capacity: usize,
    watchers: Vec<Watcher>,
    next_watch_id: u64,
    snapshots: VecDeque<(u64, Arc<Snapshot>)>,
    snapshot_capacity: usize,
    next_snapshot_id: u64,
    next_uid: u64,
}

/// The shared state of one fake API server.
pub(crate) struct Store {
    state: Mutex<State>,
}

impl Store {
    pub fn new(log_capacity: usize, snapshot_capacity: usize) -> Self {
        Store {
            state: Mutex::new(State {
                rv: 1,
                oldest_valid: 1,
                objects: Default::default(),
                log: VecDeque::new(),
                log_capacity,
                watchers: Vec::new(),
                next_watch_id: 1,
                snapshots: VecDeque::new(),
                snapshot_capacity: snapshot_capacity.max(1),
                next_snapshot_id: 1,
                next_uid: 1,
            }),
        }
    }

    /// Creates or updates every object, in order, each with its own
    /// resourceVersion. Nothing is stored if any object is invalid.
    /// Returns the resourceVersion after the last change.
    pub fn apply_all(&self, objects: Vec<Value>) -> Result<u64, Error> {
        let normalized = objects
            .into_iter()
            .map(normalize)
            .collect::<Result<Vec<_>, _>>()?;
        let now = now_rfc3339();
        let mut state = self.state.lock();
        for (kind, key, object) in normalized {
            state.put(kind, key, object, &now);
        }
        Ok(state.rv)
    }

    /// Deletes an object; returns the resourceVersion of the deletion.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<u64> {
        let key = key_for(kind, namespace, name);
        let mut state = self.state.lock();
        let old = state.objects[kind.index()].remove(&key)?;
        state.rv += 1;
        let rv = state.rv;
        let mut last = (*old).clone();
        set_meta(&mut last, "resourceVersion", Value::String(rv.to_string()));
        state.record(Event {
            rv,
            kind,
            ty: EventType::Deleted,
            object: Arc::new(last),
            old: None,
        });
        Some(rv)
    }

    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let key = key_for(kind, namespace, name);
        self.state.lock().objects[kind.index()].get(&key).cloned()
    }

    /// The current resourceVersion and the objects `filter` selects, sorted by
    /// namespace/name.
    pub fn select(&self, filter: &Filter) -> (u64, Vec<Arc<Value>>) {
        let state = self.state.lock();
        (state.rv, state.select(filter))
    }

    pub fn current_rv(&self) -> u64 {
        self.state.lock().rv
    }

    /// Keeps a snapshot for later pages; returns its id.
    pub fn save_snapshot(&self, snapshot: Arc<Snapshot>) -> u64 {
        let mut state = self.state.lock();
        let id = state.next_snapshot_id;
        state.next_snapshot_id += 1;
        if state.snapshots.len() >= state.snapshot_capacity {
            state.snapshots.pop_front();
        }
        state.snapshots.push_back((id, snapshot));
        id
    }

    pub fn find_snapshot(&self, id: u64) -> Option<Arc<Snapshot>> {
        let state = self.state.lock();
        state
            .snapshots
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.clone())
    }

    /// Registers a watch and computes what it must see first, atomically.
    pub fn open_watch(&self, filter: &Filter, start: Start) -> OpenResult {
        let mut state = self.state.lock();
        let initial = match start {
            Start::Current => state
                .select(filter)
                .into_iter()
                .map(|object| Seen {
                    ty: EventType::Added,
                    object,
                })
                .collect(),
            Start::Since(since) => {
                if since < state.oldest_valid {
                    return OpenResult::Expired(format!(
                        "too old resource version: {since} ({})",
                        state.oldest_valid
                    ));
                }
                if since > state.rv {
                    return OpenResult::Expired(format!(
                        "resource version {since} is newer than the current {}; relist",
                        state.rv
                    ));
                }
                let from = state.log.partition_point(|e| e.rv <= since);
                state
                    .log
                    .iter()
                    .skip(from)
                    .filter_map(|e| filter.view(e))
                    .collect()
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let id = state.next_watch_id;
        state.next_watch_id += 1;
        state.watchers.push(Watcher {
            id,
            kind: filter.kind,
            tx,
        });
        OpenResult::Opened(Opened {
            id,
            rx,
            initial,
            rv: state.rv,
        })
    }

    pub fn unregister(&self, id: u64) {
        self.state.lock().watchers.retain(|w| w.id != id);
    }

    pub fn watcher_count(&self) -> usize {
        self.state.lock().watchers.len()
    }

    /// Forgets all history: every resourceVersion handed out so far becomes too
    /// old, open watches are told so, and continue tokens stop working.
    pub fn expire(&self) {
        let mut state = self.state.lock();
        state.rv += 1;
        state.oldest_valid = state.rv;
        state.log.clear();
        state.snapshots.clear();
        let oldest = state.oldest_valid;
        for w in state.watchers.drain(..) {
            let _ = w.tx.send(Msg::Expired { oldest });
        }
    }

    /// Ends every open watch without an error event.
    pub fn close_watches(&self) {
        let mut state = self.state.lock();
        for w in state.watchers.drain(..) {
            let _ = w.tx.send(Msg::Closed);
        }
    }
}

impl State {
    fn select(&self, filter: &Filter) -> Vec<Arc<Value>> {
        let objects = &self.objects[filter.kind.index()];
        match &filter.namespace {
            Some(ns) if filter.kind.namespaced() => objects
                .range((ns.clone(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, o)| o)
                .filter(|o| filter.matches(o))
                .cloned()
                .collect(),
            _ => objects
                .values()
                .filter(|o| filter.matches(o))
                .cloned()
                .collect(),
        }
    }

    fn put(&mut self, kind: Kind, key: Key, mut object: Value, now: &str) {
        self.rv += 1;
        let rv = self.rv;
        let old = self.objects[kind.index()].get(&key).cloned();
        let old_meta = |field: &str| {
            old.as_ref()
                .and_then(|o| o.pointer(&format!("/metadata/{field}")))
                .cloned()
        };
        let uid = match old_meta("uid") {
            Some(uid) => uid,
            None => match object.pointer("/metadata/uid") {
                Some(uid) => uid.clone(),
                None => {
                    self.next_uid += 1;
                    Value::String(format!("00000000-0000-4000-8000-{:012x}", self.next_uid))
                }
            },
        };
        let created = old_meta("creationTimestamp")
            .or_else(|| object.pointer("/metadata/creationTimestamp").cloned())
            .unwrap_or_else(|| Value::String(now.to_owned()));
        set_meta(&mut object, "uid", uid);
        set_meta(&mut object, "creationTimestamp", created);
        set_meta(
            &mut object,
            "resourceVersion",
            Value::String(rv.to_string()),
        );
        let object = Arc::new(object);
        self.objects[kind.index()].insert(key, object.clone());
        let ty = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv,
            kind,
            ty,
            object,
            old,
        });
    }

    /// Appends to the log (compacting the oldest entries) and fans out.
    fn record(&mut self, event: Event) {
        let event = Arc::new(event);
        self.log.push_back(event.clone());
        while self.log.len() > self.log_capacity {
            if let Some(dropped) = self.log.pop_front() {
                self.oldest_valid = self.oldest_valid.max(dropped.rv);
            }
        }
        let kind = event.kind;
        self.watchers
            .retain(|w| w.kind != kind || w.tx.send(Msg::Event(event.clone())).is_ok());
    }
}

fn key_for(kind: Kind, namespace: &str, name: &str) -> Key {
    let ns = if kind.namespaced() { namespace } else { "" };
    (ns.to_owned(), name.to_owned())
}

fn set_meta(object: &mut Value, field: &str, value: Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(field.to_owned(), value);
    }
}

/// Validates an object and fills in what Kubernetes would: canonical
/// apiVersion/kind, the `default` namespace, no namespace for cluster-scoped kinds.
fn normalize(mut object: Value) -> Result<(Kind, Key, Value), Error> {
    let map = object.as_object_mut().ok_or(Error::NotAnObject)?;
    let kind_name = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(Error::MissingKind)?;
    let kind =
        Kind::from_kind_name(kind_name).ok_or_else(|| Error::UnknownKind(kind_name.to_owned()))?;
    map.insert("apiVersion".into(), kind.api_version().into());
    map.insert("kind".into(), kind.name().into());
    let missing_name = || Error::MissingName { kind: kind.name() };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(missing_name)?;
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(missing_name)?
        .to_owned();
    let namespace = if kind.namespaced() {
        let ns = meta
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_owned();
        meta.insert("namespace".into(), Value::String(ns.clone()));
        ns
    } else {
        meta.remove("namespace");
        String::new()
    };
    Ok((kind, (namespace, name), object))
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamp_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn compaction_moves_oldest_valid() {
        let store = Store::new(2, 4);
        let svc = |n: &str| json!({"kind": "Service", "metadata": {"name": n}});
        let rv1 = store.apply_all(vec![svc("a")]).unwrap();
        store.apply_all(vec![svc("b"), svc("c")]).unwrap();
        let filter = Filter::all(Kind::Service);
        assert!(matches!(
            store.open_watch(&filter, Start::Since(rv1 - 1)),
            OpenResult::Expired(_)
        ));
        match store.open_watch(&filter, Start::Since(rv1)) {
            OpenResult::Opened(o) => assert_eq!(o.initial.len(), 2),
            OpenResult::Expired(m) => panic!("{m}"),
        }
    }

    #[test]
    fn normalize_defaults() {
        let (kind, key, obj) =
            normalize(json!({"kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}}))
                .unwrap();
        assert_eq!(kind, Kind::Namespace);
        assert_eq!(key, (String::new(), "x".to_owned()));
        assert!(obj.pointer("/metadata/namespace").is_none());
        assert_eq!(obj["apiVersion"], "v1");
        let (_, key, _) = normalize(json!({"kind": "Pod", "metadata": {"name": "p"}})).unwrap();
        assert_eq!(key.0, "default");
        assert!(normalize(json!({"kind": "Pod", "metadata": {}})).is_err());
        assert!(normalize(json!({"kind": "Widget", "metadata": {"name": "w"}})).is_err());
    }
}
