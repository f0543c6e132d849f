//! Manifest text → slim objects.
//!
//! Accepts what people and tools write: one object per file, multi-document YAML
//! (`---`), `kind: List` as `kubectl get -o yaml` prints it (and typed lists such as
//! `ServiceList`, whose items may leave out `kind`), and the same as JSON (a JSON array
//! of objects too). Objects are read with the k8s-openapi types, then cut down to
//! their slim form; kinds DNS does not use (Deployments, ConfigMaps, Endpoints...) are
//! counted and skipped.

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;
use serde_json::Value;

use crate::object::{
    ConvertError, Kind, KindSet, Object, slim_namespace, slim_pod, slim_service, slim_slice,
};
use crate::selector::Selector;

/// Why manifest text could not be read. The whole text is refused (a file is taken
/// whole or not at all); the message names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The text is not YAML.
    #[error("invalid YAML: {0}")]
    Yaml(#[source] serde_norway::Error),
    /// A document (or list item) is not a mapping.
    #[error("expected an object with apiVersion and kind")]
    NotAnObject,
    /// A document has no `kind`.
    #[error("kind is missing")]
    MissingKind,
    /// A list's `items` is not a list.
    #[error("{kind}: items must be a list")]
    ItemsNotAList {
        /// The list's kind.
        kind: String,
    },
    /// An object of a kind DNS uses does not have that kind's shape.
    #[error("{kind} {name}: {source}")]
    Invalid {
        /// Its kind.
        kind: String,
        /// `namespace/name`.
        name: String,
        /// What does not fit.
        source: serde_json::Error,
    },
    /// An object has the right shape but cannot be used (a cluster IP that is not an
    /// IP address...).
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// The document of a multi-document text where the error is.
    #[error("document {index}: {source}")]
    Document {
        /// Counted from 1.
        index: usize,
        /// The error.
        source: Box<DecodeError>,
    },
    /// The item of a JSON array or a `List` where the error is.
    #[error("{list}item {index}: {source}")]
    Item {
        /// The list's kind and a space, or nothing for a JSON array.
        list: String,
        /// Counted from 1.
        index: usize,
        /// The error.
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    fn in_document(self, index: usize) -> Self {
        DecodeError::Document {
            index,
            source: Box::new(self),
        }
    }

    fn in_item(self, list: String, index: usize) -> Self {
        DecodeError::Item {
            list,
            index,
            source: Box::new(self),
        }
    }
}

/// Which objects a source keeps: the kinds its feed provides, and the `labels` and
/// `namespace_labels` selectors (what the API server would filter).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Kinds to keep.
    pub kinds: KindSet,
    /// Applied to Services, EndpointSlices and Pods.
    pub labels: Option<Selector>,
    /// Applied to Namespaces.
    pub namespace_labels: Option<Selector>,
}

/// What one file held.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// The objects kept.
    pub objects: Vec<Object>,
    /// Objects of kinds DNS does not use, or filtered out.
    pub skipped: usize,
    /// The documents the text had (a JSON text is one; empty YAML documents do not
    /// count): 0 for an empty file, which tells it from an explicit empty `List`.
    pub documents: usize,
}

/// Reads every object in `text`. `json` picks the JSON reader (by file extension or
/// because the text starts with `{` or `[`); YAML otherwise. Any error fails the
/// whole text: a file is taken whole or not at all.
pub fn decode(text: &str, json: bool, filter: &Filter) -> Result<Decoded, DecodeError> {
    let mut decoded = Decoded::default();
    let trimmed = text.trim_start();
    if json || trimmed.starts_with('{') || trimmed.starts_with('[') {
        if trimmed.is_empty() {
            return Ok(decoded);
        }
        let value: Value = serde_json::from_str(text).map_err(DecodeError::Json)?;
        decoded.documents = 1;
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    object(item, filter, &mut decoded)
                        .map_err(|e| e.in_item(String::new(), i + 1))?;
                }
            }
            value => object(value, filter, &mut decoded)?,
        }
        return Ok(decoded);
    }
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value =
            Value::deserialize(document).map_err(|e| DecodeError::Yaml(e).in_document(i + 1))?;
        if value.is_null() {
            continue;
        }
        decoded.documents += 1;
        object(value, filter, &mut decoded).map_err(|e| e.in_document(i + 1))?;
    }
    Ok(decoded)
}

/// Reads one object (or list of objects).
fn object(value: Value, filter: &Filter, out: &mut Decoded) -> Result<(), DecodeError> {
    let Value::Object(map) = &value else {
        return Err(DecodeError::NotAnObject);
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(DecodeError::MissingKind)?
        .to_owned();
    if kind == "List" || (kind.ends_with("List") && map.contains_key("items")) {
        return list(value, &kind, filter, out);
    }
    let describe = |source: serde_json::Error| DecodeError::Invalid {
        kind: kind.clone(),
        name: name_of(&value),
        source,
    };
    let selected = |labels: Option<&std::collections::BTreeMap<String, String>>,
                    selector: &Option<Selector>| {
        selector.as_ref().is_none_or(|s| s.matches(labels))
    };
    let kept = match kind.as_str() {
        "Service" if filter.kinds.contains(Kind::Service) => {
            let service = Service::deserialize(&value).map_err(describe)?;
            selected(service.metadata.labels.as_ref(), &filter.labels)
                .then(|| slim_service(&service).map(Object::Service))
                .transpose()?
        }
        "EndpointSlice" if filter.kinds.contains(Kind::EndpointSlice) => {
            let slice = EndpointSlice::deserialize(&value).map_err(describe)?;
            if selected(slice.metadata.labels.as_ref(), &filter.labels) {
                slim_slice(&slice)?.map(Object::EndpointSlice)
            } else {
                None
            }
        }
        "Namespace" if filter.kinds.contains(Kind::Namespace) => {
            let namespace = Namespace::deserialize(&value).map_err(describe)?;
            selected(namespace.metadata.labels.as_ref(), &filter.namespace_labels)
                .then(|| slim_namespace(&namespace).map(Object::Namespace))
                .transpose()?
        }
        "Pod" if filter.kinds.contains(Kind::Pod) => {
            let pod = Pod::deserialize(&value).map_err(describe)?;
            if selected(pod.metadata.labels.as_ref(), &filter.labels) {
                slim_pod(&pod)?.map(Object::Pod)
            } else {
                None
            }
        }
        _ => None,
    };
    match kept {
        Some(object) => out.objects.push(object),
        None => out.skipped += 1,
    }
    Ok(())
}

/// Reads the items of a `List` (or `ServiceList`, ...). Items of typed lists may leave
/// out `kind` and `apiVersion`: they are filled in from the list.
fn list(value: Value, kind: &str, filter: &Filter, out: &mut Decoded) -> Result<(), DecodeError> {
    let Value::Object(mut map) = value else {
        return Ok(());
    };
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let api_version = map.get("apiVersion").cloned();
    let items = match map.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(DecodeError::ItemsNotAList {
                kind: kind.to_owned(),
            });
        }
    };
    for (i, mut item) in items.into_iter().enumerate() {
        if let (Value::Object(fields), Some(item_kind)) = (&mut item, item_kind) {
            fields
                .entry("kind")
                .or_insert_with(|| Value::String(item_kind.to_owned()));
            if let Some(api_version) = &api_version {
                fields
                    .entry("apiVersion")
                    .or_insert_with(|| api_version.clone());
            }
        }
        object(item, filter, out).map_err(|e| e.in_item(format!("{kind} "), i + 1))?;
    }
    Ok(())
}

/// `namespace/name` of an object, for messages.
fn name_of(value: &Value) -> String {
    let meta = value.get("metadata");
    let get = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    match (get("namespace"), get("name")) {
        ("", name) => format!("{name:?}"),
        (namespace, name) => format!("{namespace}/{name}"),
    }
}

#[cfg(test)]
mod tests;
