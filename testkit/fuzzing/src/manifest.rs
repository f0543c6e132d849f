//! The manifest reader's target: any bytes as a manifest file, YAML and JSON.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use clusterdns_kubernetes::index::Index;
use clusterdns_kubernetes::object::{Kind, KindSet, Object, ServiceKind};
use clusterdns_kubernetes::source::decode::Filter;
use clusterdns_kubernetes::source::manifest::{ManifestSource, load};
use clusterdns_kubernetes::source::{ChangeSink, Source};

/// The file's good content before the fuzzed bytes replace it: one service, `shop/web`.
const GOOD_YAML: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.12.5, ports: [{name: http, port: 80}]}
";

const GOOD_JSON: &str = r#"[
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
 "spec": {"clusterIP": "10.96.12.5", "ports": [{"name": "http", "port": 80}]}}
]"#;

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

fn all_kinds() -> Filter {
    Filter {
        kinds: KindSet::of(&Kind::ALL),
        ..Filter::default()
    }
}

/// Bytes as a manifest file, once named `.yaml` and once `.json`: the manifest source
/// reads the good file, then `data` replaces it (by a rename, as a ConfigMap update
/// does). No panic; then either the file loads and the index holds exactly its
/// services, or the error starts with the file's path and the good service is kept
/// (as it is when the file is emptied: no document at all).
///
/// # Panics
///
/// When the reader panics or an expectation fails.
pub fn manifest(data: &[u8]) {
    for (extension, good) in [("yaml", GOOD_YAML), ("json", GOOD_JSON)] {
        let path = dir().join(format!("cluster.{extension}"));
        replace(&path, good.as_bytes());
        let index = Index::new(false, "cluster.local.");
        let filter = all_kinds();
        let feed = ChangeSink::new(&index, filter.kinds);
        let mut source = ManifestSource::new(vec![path.clone()], filter.clone(), feed);
        source.prime();
        assert!(
            good_service_is_served(&index),
            "the good {extension} file is not served"
        );
        replace(&path, data);
        source.poll();
        match load(&path, &filter) {
            // An emptied file (no document at all) keeps its last good content.
            Ok(decoded) if decoded.documents == 0 => assert!(
                good_service_is_served(&index),
                "an emptied file did not keep its last good content"
            ),
            Ok(decoded) => served_exactly(&index, &decoded.objects),
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.starts_with(&path.display().to_string())
                        && message.len() > path.as_os_str().len() + 2,
                    "an error that does not name the file or say what: {message}"
                );
                assert!(
                    good_service_is_served(&index),
                    "the last good content was not kept after: {message}"
                );
            }
        }
    }
}

/// Replaces the file at `path` by a new one holding `data`.
fn replace(path: &Path, data: &[u8]) {
    let staged: PathBuf = path.with_extension("staged");
    std::fs::write(&staged, data).expect("the staged file is written");
    std::fs::rename(&staged, path).expect("the staged file is renamed");
}

fn good_service_is_served(index: &Index) -> bool {
    let view = index.read();
    view.service("shop", "web")
        .and_then(|entry| entry.service.as_ref())
        .is_some_and(|service| {
            service.kind == ServiceKind::ClusterIp(vec!["10.96.12.5".parse().expect("an IP")])
        })
}

/// The index holds the services of `objects` (the last definition of each) and no other.
fn served_exactly(index: &Index, objects: &[Object]) {
    let mut services = std::collections::HashMap::new();
    for object in objects {
        if let Object::Service(service) = object {
            services.insert((service.namespace.clone(), service.name.clone()), service);
        }
    }
    let view = index.read();
    for ((namespace, name), service) in &services {
        let held = view
            .service(namespace, name)
            .and_then(|entry| entry.service.as_ref());
        assert_eq!(held, Some(*service), "service {namespace}/{name}");
    }
    let good: (Arc<str>, Arc<str>) = (Arc::from("shop"), Arc::from("web"));
    if !services.contains_key(&good) {
        assert!(
            !good_service_is_served(index),
            "shop/web outlived a file that loaded without it"
        );
    }
}
