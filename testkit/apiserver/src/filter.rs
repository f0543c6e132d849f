//! Which objects and events one list or watch request sees.
//!
//! A request names a kind, maybe a namespace, and maybe label/field selectors.
//! The same [`Filter`] is applied to lists, to replayed events and to live
//! events, so that all three agree. For watches it also rewrites events the way
//! Kubernetes does when an update moves an object into or out of the selection.

use std::sync::Arc;

use serde_json::Value;

use crate::event::{Event, EventType};
use crate::kind::Kind;
use crate::selector::{FieldSelector, LabelSelector};

/// The selection made by one request.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

/// One event as a particular watcher sees it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub ty: EventType,
    pub object: Arc<Value>,
}

impl Filter {
    /// A filter that selects every object of `kind`.
    pub fn all(kind: Kind) -> Self {
        Filter {
            kind,
            namespace: None,
            labels: LabelSelector::default(),
            fields: FieldSelector::default(),
        }
    }

    /// Whether an object of this filter's kind is selected.
    pub fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            let have = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if have != ns {
                return false;
            }
        }
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// How a watcher with this filter sees `event`, if at all.
    ///
    /// An update that makes an object stop matching is seen as `DELETED` (of the
    /// previous state, stamped with the event's resourceVersion); one that makes
    /// it start matching is seen as `ADDED`.
    pub fn view(&self, event: &Event) -> Option<Seen> {
        if event.kind != self.kind {
            return None;
        }
        let now = self.matches(&event.object);
        let seen = |ty| {
            Some(Seen {
                ty,
                object: event.object.clone(),
            })
        };
        match event.ty {
            EventType::Added | EventType::Deleted => now.then(|| seen(event.ty)).flatten(),
            EventType::Modified => {
                let before = event.old.as_deref().is_some_and(|o| self.matches(o));
                match (before, now) {
                    (true, true) => seen(EventType::Modified),
                    (false, true) => seen(EventType::Added),
                    (true, false) => {
                        let mut old = event.old.as_deref().cloned().unwrap_or(Value::Null);
                        if let Some(meta) = old.get_mut("metadata").and_then(Value::as_object_mut) {
                            meta.insert(
                                "resourceVersion".into(),
                                Value::String(event.rv.to_string()),
                            );
                        }
                        Some(Seen {
                            ty: EventType::Deleted,
                            object: Arc::new(old),
                        })
                    }
                    (false, false) => None,
                }
            }
        }
    }
}
