use std::sync::Arc;

use super::*;
use crate::index::Index;
use crate::object::KindSet;
use crate::test_support::{F1, TempDir};

const SHOP: &str = "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.12.5
";

fn source(paths: Vec<PathBuf>) -> (Arc<Index>, ManifestSource) {
    let index = Index::new(false, "test.");
    let kinds = KindSet::of(&Kind::ALL);
    let feed = ChangeSink::new(&index, kinds);
    let filter = Filter {
        kinds,
        ..Filter::default()
    };
    (index, ManifestSource::new(paths, filter, feed))
}

fn cluster_ips(index: &Index, namespace: &str, name: &str) -> Vec<String> {
    let view = index.read();
    match view
        .service(namespace, name)
        .and_then(|e| e.service.as_ref())
    {
        Some(service) => match &service.kind {
            crate::object::ServiceKind::ClusterIp(ips) => {
                ips.iter().map(ToString::to_string).collect()
            }
            other => vec![format!("{other:?}")],
        },
        None => Vec::new(),
    }
}

/// Waits until the file system's clock has moved on, so a rewrite gets a new mtime
/// even on file systems with coarse timestamps.
fn tick() {
    std::thread::sleep(Duration::from_millis(20));
}

#[test]
fn reads_files_and_directories_at_start() {
    let dir = TempDir::new("manifest-start");
    let sub = dir.path().join("cluster");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("f1.yaml"), F1).unwrap();
    std::fs::write(sub.join("ignored.txt"), "not a manifest").unwrap();
    std::fs::write(sub.join(".hidden.yaml"), "kind: [broken").unwrap();
    let shop = dir.write("shop.yml", SHOP);
    let (index, mut source) = source(vec![sub, shop]);
    assert!(!index.synced());
    source.prime();
    assert!(index.synced());
    assert_eq!(cluster_ips(&index, "testns", "svc1"), ["10.0.0.1"]);
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    assert!(source.describe().starts_with("manifests "));
}

#[test]
fn rereads_a_file_edited_in_place_or_replaced_by_rename() {
    let dir = TempDir::new("manifest-edit");
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    let serial = index.serial();

    tick();
    std::fs::write(&path, SHOP.replace("10.96.12.5", "10.96.12.6")).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.6"]);

    // Replaced by rename, same size and possibly the same mtime: the inode differs.
    let staged = dir.write("shop.yaml.new", &SHOP.replace("10.96.12.5", "10.96.12.7"));
    std::fs::rename(&staged, &path).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.7"]);
    assert!(index.serial() >= serial);

    // Unchanged: nothing is re-read or sent.
    let before = index.read().service("shop", "web").cloned().unwrap();
    source.poll();
    let after = index.read().service("shop", "web").cloned().unwrap();
    assert!(Arc::ptr_eq(&before, &after));
}

#[test]
fn a_broken_file_keeps_its_last_good_content() {
    let dir = TempDir::new("manifest-broken");
    let path = dir.write("shop.yaml", SHOP);
    let other = dir.write("f1.yaml", F1);
    let (index, mut source) = source(vec![path.clone(), other]);
    source.prime();
    tick();
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n",
    )
    .unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    assert_eq!(cluster_ips(&index, "testns", "svc1"), ["10.0.0.1"]);
    // Fixed again: the new content is served.
    tick();
    std::fs::write(&path, SHOP.replace("10.96.12.5", "10.96.12.8")).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.8"]);
}

#[test]
fn a_file_broken_from_the_start_is_skipped() {
    let dir = TempDir::new("manifest-broken-start");
    let broken = dir.write("broken.yaml", "kind: Service\nspec: {clusterIP: [\n");
    let good = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![broken, good]);
    source.prime();
    assert!(index.synced());
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
}

#[test]
fn files_removed_from_a_directory_take_their_objects_along() {
    let dir = TempDir::new("manifest-dir");
    let shop = dir.write("shop.yaml", SHOP);
    dir.write("f1.yaml", F1);
    let (index, mut source) = source(vec![dir.path().to_path_buf()]);
    source.prime();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    std::fs::remove_file(&shop).unwrap();
    source.poll();
    assert!(cluster_ips(&index, "shop", "web").is_empty());
    assert!(!index.read().namespace_exists("shop"));
    assert_eq!(cluster_ips(&index, "testns", "svc1"), ["10.0.0.1"]);
    // New files appear.
    dir.write(
        "shop2.json",
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}"#,
    );
    source.poll();
    assert!(index.read().namespace_exists("shop"));
}

#[test]
fn a_listed_file_that_disappears_keeps_its_content() {
    let dir = TempDir::new("manifest-gone");
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    std::fs::remove_file(&path).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
}

#[test]
fn later_files_win_for_objects_defined_twice() {
    let dir = TempDir::new("manifest-twice");
    dir.write("a.yaml", SHOP);
    dir.write("b.yaml", &SHOP.replace("10.96.12.5", "10.96.12.9"));
    let (index, mut source) = source(vec![dir.path().to_path_buf()]);
    source.prime();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_sees_changes_and_stops_with_the_index() {
    let dir = TempDir::new("manifest-poll");
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    let source = Box::new(source.with_interval(Duration::from_millis(20)));
    let task = source.spawn(&Handle::current());
    tokio::time::sleep(Duration::from_millis(30)).await;
    std::fs::write(&path, SHOP.replace("10.96.12.5", "10.96.12.10")).unwrap();
    let mut seen = false;
    for _ in 0..200 {
        if cluster_ips(&index, "shop", "web") == ["10.96.12.10"] {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen, "the poller re-read the file");
    drop(task);
}

/// `shop.yaml` loaded, then replaced by `content` (a new inode, as a rename does):
/// the index must keep the last good service, and [`load`] must name the file.
fn replaced_by(name: &str, content: &[u8]) -> LoadError {
    let dir = TempDir::new(name);
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    let serial = index.serial();
    let staged = dir.path().join(".staged");
    std::fs::write(&staged, content).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"], "{name}");
    assert_eq!(index.serial(), serial, "{name}: nothing was published");
    let error = load(&path, &source.filter).unwrap_err();
    assert!(
        error.to_string().starts_with(&path.display().to_string()),
        "{name}: {error}"
    );
    error
}

#[test]
fn binary_garbage_is_refused_naming_the_file() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i * 7919 % 251) as u8 | 0x80)
        .collect();
    let error = replaced_by("manifest-garbage", &garbage);
    assert!(
        matches!(error, LoadError::NotText { offset: 0, .. }),
        "{error}"
    );
}

#[test]
fn alias_bombs_are_refused_before_they_expand() {
    let error = replaced_by(
        "manifest-wide-alias-bomb",
        bounds::tests::wide_alias_bomb().as_bytes(),
    );
    assert!(
        matches!(
            error,
            LoadError::TooBig {
                limit: TooBig::Values(_),
                ..
            }
        ),
        "{error}"
    );
    let error = replaced_by(
        "manifest-deep-alias-bomb",
        bounds::tests::deep_alias_bomb().as_bytes(),
    );
    assert!(
        matches!(
            error,
            LoadError::TooBig {
                limit: TooBig::Values(_),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        "kind: List\nitems: {}{}\n",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let error = replaced_by("manifest-deep", deep.as_bytes());
    assert!(
        matches!(
            error,
            LoadError::TooBig {
                limit: TooBig::Depth,
                ..
            }
        ),
        "{error}"
    );
}

/// A 200 MB file (sparse: no disk is used) is refused from its size, unread.
#[test]
fn a_200_mb_file_is_refused() {
    let dir = TempDir::new("manifest-huge");
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    tick();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(200_000_000).unwrap();
    drop(file);
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    let error = load(&path, &source.filter).unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::TooLarge {
                size: 200_000_000,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("shop.yaml"), "{error}");
}

/// A device named as a file would never end: refused without reading.
#[cfg(unix)]
#[test]
fn a_device_is_not_read() {
    let zero = PathBuf::from("/dev/zero");
    let dir = TempDir::new("manifest-device");
    let shop = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![zero.clone(), shop]);
    source.prime();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    let error = load(&zero, &source.filter).unwrap_err();
    assert!(matches!(error, LoadError::NotAFile { .. }), "{error}");
    assert_eq!(error.to_string(), "/dev/zero: not a regular file");
}

#[test]
fn decoding_errors_name_the_file_the_document_and_the_object() {
    let bad = SHOP.replace("10.96.12.5", "10.96.12.500");
    let error = replaced_by("manifest-bad-object", bad.as_bytes());
    let message = error.to_string();
    assert!(matches!(error, LoadError::Decode { .. }), "{message}");
    for part in ["shop.yaml", "document 2", "shop/web", "10.96.12.500"] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
}

#[test]
fn an_emptied_file_keeps_its_last_content_but_an_empty_list_is_applied() {
    let dir = TempDir::new("manifest-empty");
    let path = dir.write("shop.yaml", SHOP);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);

    // Truncated (an editor, or `kubectl get ... > shop.yaml` that failed): kept, and
    // counted.
    for empty in ["", "\n", "# nothing here\n", "---\n"] {
        let before = metrics::manifest_empty_count();
        tick();
        std::fs::write(&path, empty).unwrap();
        source.poll();
        assert_eq!(
            cluster_ips(&index, "shop", "web"),
            ["10.96.12.5"],
            "{empty:?} emptied the zone"
        );
        assert!(metrics::manifest_empty_count() > before, "{empty:?}");
    }

    // Written again: read again.
    tick();
    std::fs::write(&path, SHOP.replace("10.96.12.5", "10.96.12.7")).unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.7"]);

    // An explicit empty list removes everything.
    tick();
    std::fs::write(&path, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    source.poll();
    assert!(cluster_ips(&index, "shop", "web").is_empty());
}

#[test]
fn an_empty_json_array_is_content_and_an_empty_json_file_is_not() {
    let dir = TempDir::new("manifest-empty-json");
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"clusterIP": "10.96.12.5"}}]}"#;
    let path = dir.write("shop.json", json);
    let (index, mut source) = source(vec![path.clone()]);
    source.prime();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    tick();
    std::fs::write(&path, "").unwrap();
    source.poll();
    assert_eq!(cluster_ips(&index, "shop", "web"), ["10.96.12.5"]);
    tick();
    std::fs::write(&path, "[]").unwrap();
    source.poll();
    assert!(cluster_ips(&index, "shop", "web").is_empty());
}
