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

use crate::object::{Kind, KindSet, Object, slim_namespace, slim_pod, slim_service, slim_slice};
use crate::selector::Selector;

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
}

/// Reads every object in `text`. `json` picks the JSON reader (by file extension or
/// because the text starts with `{` or `[`); YAML otherwise. Any error fails the
/// whole text: a file is taken whole or not at all.
pub fn decode(text: &str, json: bool, filter: &Filter) -> Result<Decoded, String> {
    let mut decoded = Decoded::default();
    let trimmed = text.trim_start();
    if json || trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        match value {
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    object(item, filter, &mut decoded)
                        .map_err(|e| format!("item {}: {e}", i + 1))?;
                }
            }
            value => object(value, filter, &mut decoded)?,
        }
        return Ok(decoded);
    }
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| format!("document {}: invalid YAML: {e}", i + 1))?;
        if value.is_null() {
            continue;
        }
        object(value, filter, &mut decoded).map_err(|e| format!("document {}: {e}", i + 1))?;
    }
    Ok(decoded)
}

/// Reads one object (or list of objects).
fn object(value: Value, filter: &Filter, out: &mut Decoded) -> Result<(), String> {
    let Value::Object(map) = &value else {
        return Err("expected an object with apiVersion and kind".to_owned());
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("kind is missing")?
        .to_owned();
    if kind == "List" || (kind.ends_with("List") && map.contains_key("items")) {
        return list(value, &kind, filter, out);
    }
    let describe = |e: serde_json::Error| format!("{kind} {}: {e}", name_of(&value));
    let selected = |labels: Option<&std::collections::BTreeMap<String, String>>,
                    selector: &Option<Selector>| {
        selector.as_ref().is_none_or(|s| s.matches(labels))
    };
    let kept = match kind.as_str() {
        "Service" if filter.kinds.contains(Kind::Service) => {
            let service = Service::deserialize(&value).map_err(describe)?;
            selected(service.metadata.labels.as_ref(), &filter.labels)
                .then(|| slim_service(&service).map(Object::Service))
                .transpose()
                .map_err(|e| e.0)?
        }
        "EndpointSlice" if filter.kinds.contains(Kind::EndpointSlice) => {
            let slice = EndpointSlice::deserialize(&value).map_err(describe)?;
            if selected(slice.metadata.labels.as_ref(), &filter.labels) {
                slim_slice(&slice)
                    .map_err(|e| e.0)?
                    .map(Object::EndpointSlice)
            } else {
                None
            }
        }
        "Namespace" if filter.kinds.contains(Kind::Namespace) => {
            let namespace = Namespace::deserialize(&value).map_err(describe)?;
            selected(namespace.metadata.labels.as_ref(), &filter.namespace_labels)
                .then(|| slim_namespace(&namespace).map(Object::Namespace))
                .transpose()
                .map_err(|e| e.0)?
        }
        "Pod" if filter.kinds.contains(Kind::Pod) => {
            let pod = Pod::deserialize(&value).map_err(describe)?;
            if selected(pod.metadata.labels.as_ref(), &filter.labels) {
                slim_pod(&pod).map_err(|e| e.0)?.map(Object::Pod)
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
fn list(value: Value, kind: &str, filter: &Filter, out: &mut Decoded) -> Result<(), String> {
    let Value::Object(mut map) = value else {
        return Ok(());
    };
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let api_version = map.get("apiVersion").cloned();
    let items = match map.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(format!("{kind}: items must be a list")),
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
        object(item, filter, out).map_err(|e| format!("{kind} item {}: {e}", i + 1))?;
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
