//! Reading manifests: JSON or YAML text, single or multi-document, plain
//! objects or `kind: List` (and typed lists such as `ServiceList`), from strings,
//! files and directories.
//!
//! This is how the binary's `--load` and `POST /_test/apply` accept the same
//! files people keep for `kubectl apply`.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

/// Parses every object in a manifest, in order. Lists are flattened (items of
/// a typed list without a `kind` get the list's item kind); empty documents
/// are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, Error> {
    let trimmed = text.trim_start();
    let mut documents = Vec::new();
    let json = (trimmed.starts_with('{') || trimmed.starts_with('['))
        .then(|| serde_json::from_str::<Value>(text).ok())
        .flatten();
    match json {
        Some(doc) => documents.push(doc),
        None => {
            for doc in serde_norway::Deserializer::from_str(text) {
                documents.push(Value::deserialize(doc).map_err(|e| Error::Parse(e.to_string()))?);
            }
        }
    }
    let mut objects = Vec::new();
    for doc in documents {
        flatten(doc, None, &mut objects);
    }
    Ok(objects)
}

fn flatten(doc: Value, item_kind: Option<&str>, out: &mut Vec<Value>) {
    match doc {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                flatten(item, item_kind, out);
            }
        }
        Value::Object(mut map) => {
            let kind = map.get("kind").and_then(Value::as_str).map(str::to_owned);
            match (kind, map.get("items")) {
                (Some(kind), Some(Value::Array(_))) if kind.ends_with("List") => {
                    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
                    if let Some(Value::Array(items)) = map.remove("items") {
                        for item in items {
                            flatten(item, item_kind, out);
                        }
                    }
                }
                (None, _) => {
                    if let Some(kind) = item_kind {
                        map.insert("kind".into(), Value::String(kind.to_owned()));
                    }
                    out.push(Value::Object(map));
                }
                _ => out.push(Value::Object(map)),
            }
        }
        other => out.push(other),
    }
}

/// Reads a manifest file, or every `*.yaml`, `*.yml` and `*.json` file in a
/// directory (sorted by name, not recursive).
pub fn load_path(path: &Path) -> Result<Vec<Value>, Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
            })
            .collect();
        files.sort();
        let mut objects = Vec::new();
        for file in files {
            objects.extend(load_path(&file)?);
        }
        Ok(objects)
    } else {
        let text = std::fs::read_to_string(path).map_err(io)?;
        parse_documents(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_multi_doc_and_lists() {
        let text = "\
apiVersion: v1
kind: Namespace
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- kind: Service
  metadata: {name: s, namespace: a}
- apiVersion: v1
  kind: ServiceList
  items:
  - metadata: {name: t}
";
        let objects = parse_documents(text).unwrap();
        let kinds: Vec<_> = objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Namespace", "Service", "Service"]);
        assert_eq!(objects[2]["metadata"]["name"], "t");
    }

    #[test]
    fn json() {
        let objects = parse_documents(r#"{"kind":"Pod","metadata":{"name":"p"}}"#).unwrap();
        assert_eq!(objects.len(), 1);
        let objects = parse_documents(r#"[{"kind":"Pod"},{"kind":"Pod"}]"#).unwrap();
        assert_eq!(objects.len(), 2);
        assert!(parse_documents("a: [").is_err());
    }
}
