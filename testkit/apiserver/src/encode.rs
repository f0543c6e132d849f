//! Serialisation of lists, watch events and bookmarks, in full or as
//! `PartialObjectMetadata`.
//!
//! Bodies are written straight into byte buffers from the shared `Arc<Value>`s,
//! so large lists and initial event bursts cost no deep copies.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use crate::event::EventType;
use crate::kind::Kind;

/// Whether the client asked for full objects or only their metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Full,
    /// `Accept: application/json;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1`.
    Metadata,
}

#[derive(Serialize)]
struct PartialObjectMetadata<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    metadata: &'a Value,
}

static EMPTY: Value = Value::Null;

/// Writes one object in the requested shape.
pub(crate) fn write_object(out: &mut Vec<u8>, object: &Value, shape: Shape) {
    let result = match shape {
        Shape::Full => serde_json::to_writer(&mut *out, object),
        Shape::Metadata => serde_json::to_writer(
            &mut *out,
            &PartialObjectMetadata {
                api_version: "meta.k8s.io/v1",
                kind: "PartialObjectMetadata",
                metadata: object.get("metadata").unwrap_or(&EMPTY),
            },
        ),
    };
    // Writing a `Value` into a `Vec` cannot fail.
    debug_assert!(result.is_ok());
}

/// The body of a list response.
pub(crate) fn list<'a>(
    kind: Kind,
    shape: Shape,
    rv: u64,
    continue_token: Option<&str>,
    remaining: Option<usize>,
    items: impl IntoIterator<Item = &'a Value>,
) -> Vec<u8> {
    let (api_version, list_kind) = match shape {
        Shape::Full => (kind.api_version(), kind.list_kind()),
        Shape::Metadata => ("meta.k8s.io/v1", "PartialObjectMetadataList"),
    };
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if let Some(token) = continue_token {
        metadata["continue"] = token.into();
    }
    if let Some(remaining) = remaining {
        metadata["remainingItemCount"] = remaining.into();
    }
    let head = json!({ "apiVersion": api_version, "kind": list_kind, "metadata": metadata });
    let mut out = head.to_string().into_bytes();
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_object(&mut out, item, shape);
    }
    out.extend_from_slice(b"]}");
    out
}

/// Appends one watch event line (`{"type":..,"object":..}\n`).
pub(crate) fn event(out: &mut Vec<u8>, ty: EventType, object: &Value, shape: Shape) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ty.as_str().as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    write_object(out, object, shape);
    out.extend_from_slice(b"}\n");
}

/// A `BOOKMARK` event line; `initial_end` adds the
/// `k8s.io/initial-events-end` annotation that ends a streaming list.
pub(crate) fn bookmark(kind: Kind, shape: Shape, rv: u64, initial_end: bool) -> Bytes {
    let (api_version, kind) = match shape {
        Shape::Full => (kind.api_version(), kind.name()),
        Shape::Metadata => ("meta.k8s.io/v1", "PartialObjectMetadata"),
    };
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if initial_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    line(json!({
        "type": "BOOKMARK",
        "object": { "kind": kind, "apiVersion": api_version, "metadata": metadata },
    }))
}

/// An `ERROR` event line carrying a `Status`.
pub(crate) fn error(status: Value) -> Bytes {
    line(json!({ "type": "ERROR", "object": status }))
}

fn line(value: Value) -> Bytes {
    let mut out = value.to_string().into_bytes();
    out.push(b'\n');
    Bytes::from(out)
}
