//! One watcher: a kube-runtime list/watch stream of one kind, turned into
//! [`Change`]s for that kind's feed.
//!
//! - The initial list, and every relist (after 410 Gone, or when a watch cannot be
//!   resumed), arrives as `Init`, `InitApply`..., `InitDone`, sent on as
//!   [`Change::ListStart`], [`Change::Listed`]..., [`Change::ListDone`]: the index
//!   compares each object as it comes (no copy of the whole list is held) and applies
//!   the list at the end as one difference, so a relist deletes what vanished while the
//!   watch was down and never empties the zone in between.
//! - Watch events patch the index one object at a time.
//! - Errors (API down, 5xx, expired versions) are retried by the stream with
//!   client-go's backoff (0.8 s doubling to 30 s, reset after 2 minutes of health);
//!   meanwhile the index keeps the last good state and answers from it.

use std::fmt::Debug;
use std::sync::Arc;

use futures_util::StreamExt;
use kube::Resource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

use crate::metrics;
use crate::object::{ConvertError, Kind, Object, ObjectKey};
use crate::source::{Change, ChangeSink};

/// Turns an API object into a slim one; `Ok(None)` for objects DNS ignores (a slice
/// without a service, a pod without an IP...).
pub type Convert<K> = fn(&K) -> Result<Option<Object>, ConvertError>;

/// Feeds `sink` from `api` until the sink closes (the plugin is gone).
pub async fn run<K>(
    api: kube::Api<K>,
    config: watcher::Config,
    kind: Kind,
    sink: ChangeSink,
    convert: Convert<K>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher::watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut state = State::new(kind);
    while let Some(event) = stream.next().await {
        let changes = state.handle(event, convert);
        for change in changes {
            if sink.send(change).is_err() {
                return;
            }
        }
        if sink.is_closed() {
            return;
        }
    }
}

/// What one watcher remembers between events.
struct State {
    kind: Kind,
    /// How many objects the list in progress has had (for the log).
    listed: usize,
    /// Whether the last thing seen was an error (to log the recovery once).
    failing: bool,
}

impl State {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            listed: 0,
            failing: false,
        }
    }

    /// The changes one watcher event makes (none, one, or the end of a list and
    /// `Synced`).
    fn handle<K: Resource>(
        &mut self,
        event: Result<Event<K>, watcher::Error>,
        convert: Convert<K>,
    ) -> Vec<Change> {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                metrics::count_watch_error(self.kind.as_str());
                if !self.failing {
                    tracing::warn!(
                        kind = %self.kind,
                        %error,
                        "kubernetes: list/watch failed; answering from the last synced state while retrying"
                    );
                } else {
                    tracing::debug!(kind = %self.kind, %error, "kubernetes: list/watch failed again");
                }
                self.failing = true;
                return Vec::new();
            }
        };
        match event {
            Event::Init => {
                self.listed = 0;
                vec![Change::ListStart]
            }
            Event::InitApply(object) => match self.convert(&object, convert) {
                Some(slim) => {
                    self.listed += 1;
                    vec![Change::Listed(slim)]
                }
                None => Vec::new(),
            },
            Event::InitDone => {
                let objects = std::mem::take(&mut self.listed);
                if self.failing {
                    tracing::info!(kind = %self.kind, objects, "kubernetes: list/watch recovered");
                    self.failing = false;
                } else {
                    tracing::debug!(kind = %self.kind, objects, "kubernetes: listed");
                }
                vec![Change::ListDone, Change::Synced]
            }
            Event::Apply(object) => {
                self.recovered();
                match convert(&object) {
                    Ok(Some(slim)) => vec![Change::Apply(slim)],
                    // No longer of interest (a pod that finished): as good as deleted.
                    Ok(None) => vec![Change::Delete(self.key(&object))],
                    Err(error) => {
                        // Keep what the index has: a bad update must not lose records.
                        tracing::warn!(kind = %self.kind, object = %self.key(&object), %error, "kubernetes: ignoring an update that cannot be used");
                        Vec::new()
                    }
                }
            }
            Event::Delete(object) => {
                self.recovered();
                vec![Change::Delete(self.key(&object))]
            }
        }
    }

    fn recovered(&mut self) {
        if self.failing {
            tracing::info!(kind = %self.kind, "kubernetes: watch recovered");
            self.failing = false;
        }
    }

    fn convert<K: Resource>(&self, object: &K, convert: Convert<K>) -> Option<Object> {
        match convert(object) {
            Ok(slim) => slim,
            Err(error) => {
                tracing::warn!(kind = %self.kind, object = %self.key(object), %error, "kubernetes: skipping an object that cannot be used");
                None
            }
        }
    }

    fn key<K: Resource>(&self, object: &K) -> ObjectKey {
        let meta = object.meta();
        let namespace = match self.kind {
            Kind::Namespace => "",
            _ => meta.namespace.as_deref().unwrap_or("default"),
        };
        ObjectKey {
            kind: self.kind,
            namespace: Arc::from(namespace),
            name: Arc::from(meta.name.as_deref().unwrap_or("")),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Service, ServiceSpec};
    use kube::api::ObjectMeta;

    use super::*;
    use crate::object::slim_service;

    fn service(name: &str, ip: &str) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                cluster_ips: Some(vec![ip.into()]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn convert(service: &Service) -> Result<Option<Object>, ConvertError> {
        slim_service(service).map(|s| Some(Object::Service(s)))
    }

    #[test]
    fn a_list_is_sent_object_by_object_then_done_and_synced() {
        let mut state = State::new(Kind::Service);
        assert_eq!(state.handle(Ok(Event::Init), convert), [Change::ListStart]);
        let mut names = Vec::new();
        for (name, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2")] {
            match &state.handle(Ok(Event::InitApply(service(name, ip))), convert)[..] {
                [Change::Listed(object)] => names.push(object.key().name),
                other => panic!("expected a listed object, got {other:?}"),
            }
        }
        assert_eq!(names, [Arc::from("a"), Arc::from("b")]);
        let mut bad = service("c", "10.0.0.3");
        bad.metadata.name = None;
        assert!(
            state.handle(Ok(Event::InitApply(bad)), convert).is_empty(),
            "an object that cannot be used is skipped"
        );
        assert_eq!(
            state.handle(Ok(Event::InitDone), convert),
            [Change::ListDone, Change::Synced]
        );
    }

    #[test]
    fn events_patch_and_a_bad_update_keeps_the_old_object() {
        let mut state = State::new(Kind::Service);
        let changes = state.handle(Ok(Event::Apply(service("a", "10.0.0.1"))), convert);
        assert!(matches!(&changes[..], [Change::Apply(Object::Service(s))] if &*s.name == "a"));
        let mut bad = service("a", "10.0.0.1");
        bad.metadata.name = None;
        assert!(state.handle(Ok(Event::Apply(bad)), convert).is_empty());
        let changes = state.handle(Ok(Event::Delete(service("a", "10.0.0.1"))), convert);
        assert_eq!(
            changes,
            [Change::Delete(ObjectKey {
                kind: Kind::Service,
                namespace: Arc::from("default"),
                name: Arc::from("a"),
            })]
        );
    }
}
