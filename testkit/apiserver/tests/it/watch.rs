//! Watches: replay from a list's resourceVersion, live events, selectors,
//! bookmarks, streaming lists, metadata-only watches.

use std::time::Duration;

use clusterdns_test_apiserver::{Kind, Options, objects};
use serde_json::json;

use crate::support::*;

fn svc(name: &str) -> serde_json::Value {
    objects::service("default", name, &["10.96.0.20"], &[("http", 80, "TCP")])
}

fn labelled(name: &str, app: &str) -> serde_json::Value {
    let mut s = svc(name);
    s["metadata"]["labels"] = json!({ "app": app });
    s
}

const WATCH: &str = "/api/v1/services?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true";

#[tokio::test]
async fn watch_from_list_rv_sees_every_change_in_order() {
    let (api, serving) = start().await;
    api.apply(svc("before"));
    let addr = serving.addr();
    let (_, list) = get(addr, "/api/v1/services?&limit=500").await;
    let rv = rv_of(&list);
    // A change between the list and the watch must not be lost.
    api.apply(svc("between"));
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    let e = w.change().await;
    assert_eq!(summary(&e), pair("ADDED", "between"));
    assert_eq!(e["object"]["kind"], "Service");

    api.apply(svc("x"));
    let mut updated = svc("x");
    updated["spec"]["clusterIP"] = json!("10.96.0.21");
    let update_rv = api.apply(updated);
    let delete_rv = api.delete(Kind::Service, "default", "x").unwrap();
    assert_eq!(summary(&w.change().await), pair("ADDED", "x"));
    let modified = w.change().await;
    assert_eq!(summary(&modified), pair("MODIFIED", "x"));
    assert_eq!(modified["object"]["spec"]["clusterIP"], "10.96.0.21");
    assert_eq!(rv_of(&modified["object"]), update_rv);
    let deleted = w.change().await;
    assert_eq!(summary(&deleted), pair("DELETED", "x"));
    assert_eq!(rv_of(&deleted["object"]), delete_rv);
    // Other kinds are not delivered.
    api.apply(objects::namespace("n", &[]));
    api.apply(svc("last"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "last"));
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_current_objects() {
    let (api, serving) = start().await;
    api.apply(svc("a"));
    api.apply(svc("b"));
    let mut w = watch(serving.addr(), &format!("{WATCH}&resourceVersion=0")).await;
    assert_eq!(summary(&w.change().await), pair("ADDED", "a"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "b"));
    api.apply(svc("c"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "c"));
}

#[tokio::test]
async fn label_selector_on_watch_turns_transitions_into_added_and_deleted() {
    let (api, serving) = start().await;
    let rv = api.apply(labelled("a", "web"));
    let addr = serving.addr();
    let mut w = watch(
        addr,
        &format!("{WATCH}&labelSelector=app%3Dweb&resourceVersion={}", rv - 1),
    )
    .await;
    assert_eq!(summary(&w.change().await), pair("ADDED", "a"));
    api.apply(labelled("other", "db"));
    api.apply(labelled("a", "db")); // stops matching
    let e = w.change().await;
    assert_eq!(summary(&e), pair("DELETED", "a"));
    assert_eq!(rv_of(&e["object"]), api.resource_version());
    api.apply(labelled("other", "web")); // starts matching
    assert_eq!(summary(&w.change().await), pair("ADDED", "other"));
    api.apply(labelled("other", "web"));
    assert_eq!(summary(&w.change().await), pair("MODIFIED", "other"));
    api.delete(Kind::Service, "default", "a"); // not selected: unseen
    api.delete(Kind::Service, "default", "other");
    assert_eq!(summary(&w.change().await), pair("DELETED", "other"));
    assert!(
        api.requests()
            .iter()
            .any(|r| r.contains("labelSelector=app%3Dweb"))
    );
}

#[tokio::test]
async fn expire_sends_410_to_open_and_resuming_watches() {
    let (api, serving) = start().await;
    let rv = api.apply(svc("a"));
    let addr = serving.addr();
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    api.expire();
    let e = w.event().await;
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["kind"], "Status");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    w.ends().await;

    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    let e = w.event().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["code"].as_u64()),
        (Some("ERROR"), Some(410))
    );
    w.ends().await;

    // A fresh list gives a resourceVersion that can be watched from.
    let (_, list) = get(addr, "/api/v1/services").await;
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={}", rv_of(&list))).await;
    api.apply(svc("b"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "b"));
}

#[tokio::test]
async fn log_compaction_expires_old_resource_versions() {
    let (api, serving) = start_with(Options {
        log_capacity: 3,
        ..Options::default()
    })
    .await;
    let first = api.apply(svc("a"));
    for name in ["b", "c", "d", "e"] {
        api.apply(svc(name));
    }
    let mut w = watch(serving.addr(), &format!("{WATCH}&resourceVersion={first}")).await;
    assert_eq!(w.event().await["object"]["reason"], "Expired");
    let mut w = watch(
        serving.addr(),
        &format!("{WATCH}&resourceVersion={}", first + 1),
    )
    .await;
    assert_eq!(summary(&w.change().await), pair("ADDED", "c"));
}

#[tokio::test]
async fn bookmarks_carry_the_current_resource_version() {
    let (api, serving) = start_with(Options {
        bookmark_interval: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let rv = api.apply(svc("a"));
    let mut w = watch(serving.addr(), &format!("{WATCH}&resourceVersion={rv}")).await;
    let b = w.event().await;
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(b["object"]["kind"], "Service");
    assert_eq!(b["object"]["apiVersion"], "v1");
    assert_eq!(rv_of(&b["object"]), rv);
    // Changes to other kinds still advance bookmarks.
    let ns_rv = api.apply(objects::namespace("n", &[]));
    loop {
        let b = w.event().await;
        assert_eq!(b["type"], "BOOKMARK");
        if rv_of(&b["object"]) == ns_rv {
            break;
        }
    }
    // No bookmarks unless asked for.
    let mut w = watch(
        serving.addr(),
        &format!("/api/v1/services?watch=true&resourceVersion={ns_rv}"),
    )
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), w.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn watch_ends_after_timeout_seconds() {
    let (_api, serving) = start().await;
    let started = std::time::Instant::now();
    let mut w = watch(serving.addr(), "/api/v1/pods?watch=1&timeoutSeconds=1").await;
    w.ends().await;
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn send_initial_events_streams_the_list() {
    let (api, serving) = start().await;
    api.apply(svc("b"));
    api.apply(svc("a"));
    let rv = api.resource_version();
    let mut w = watch(
        serving.addr(),
        &format!(
            "{WATCH}&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0"
        ),
    )
    .await;
    assert_eq!(summary(&w.event().await), pair("ADDED", "a"));
    assert_eq!(summary(&w.event().await), pair("ADDED", "b"));
    let end = w.event().await;
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(rv_of(&end["object"]), rv);
    api.apply(svc("c"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "c"));
}

#[tokio::test]
async fn partial_object_metadata_watch() {
    let (api, serving) = start().await;
    let rv = api.resource_version();
    let mut w = watch_accept(
        serving.addr(),
        &format!("/api/v1/namespaces?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion={rv}"),
        Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"),
    )
    .await;
    api.apply(objects::namespace("team-a", &[("team", "a")]));
    let e = w.change().await;
    assert_eq!(summary(&e), pair("ADDED", "team-a"));
    assert_eq!(e["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(e["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(e["object"]["metadata"]["labels"]["team"], "a");
    assert!(e["object"].get("spec").is_none());
}

#[tokio::test]
async fn many_concurrent_events_arrive_in_order() {
    let (api, serving) = start().await;
    let rv = api.resource_version();
    let mut w = watch(serving.addr(), &format!("{WATCH}&resourceVersion={rv}")).await;
    let writer = {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0..500 {
                api.apply(svc(&format!("s{i}")));
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut last = rv;
    for i in 0..500 {
        let e = w.change().await;
        assert_eq!(summary(&e), pair("ADDED", &format!("s{i}")));
        let this = rv_of(&e["object"]);
        assert!(this > last);
        last = this;
    }
    writer.await.unwrap();
}

#[tokio::test]
async fn watch_from_a_future_resource_version_is_410() {
    let (api, serving) = start().await;
    let rv = api.resource_version();
    let mut w = watch(
        serving.addr(),
        &format!("{WATCH}&resourceVersion={}", rv + 100),
    )
    .await;
    let e = w.event().await;
    assert_eq!(
        (e["type"].as_str(), e["object"]["code"].as_u64()),
        (Some("ERROR"), Some(410))
    );
    w.ends().await;
}
