//! A stored change: what the store logs, filters match and watches send. Its own
//! module so that the store and the filters both depend on it, not on each other.

use std::sync::Arc;

use serde_json::Value;

use crate::kind::Kind;

/// The type of a stored change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as logged and as sent to watchers.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: Kind,
    pub ty: EventType,
    /// The new state (for `DELETED`: the last state, stamped with `rv`).
    pub object: Arc<Value>,
    /// The state before a `MODIFIED` change, to decide selector transitions.
    pub old: Option<Arc<Value>>,
}
