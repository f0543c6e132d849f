//! Lists: pagination, snapshots, selectors, object GETs, metadata-only lists.

use clusterdns_test_apiserver::{Kind, generate, objects};

use crate::support::*;

fn svc(ns: &str, name: &str, app: &str) -> serde_json::Value {
    objects::with_labels(
        objects::service(ns, name, &["10.96.0.20"], &[("http", 80, "TCP")]),
        &[("app", app)],
    )
}

#[tokio::test]
async fn pagination_uses_one_snapshot() {
    let (api, serving) = start().await;
    for name in ["e", "c", "a", "d", "b"] {
        api.apply(svc("default", name, "web"));
    }
    let addr = serving.addr();
    let (code, page1) = get(addr, "/api/v1/services?&limit=2").await;
    assert_eq!(code, 200);
    assert_eq!(page1["kind"], "ServiceList");
    assert_eq!(page1["apiVersion"], "v1");
    assert_eq!(names(&page1), ["a", "b"]);
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let rv = rv_of(&page1);
    assert_eq!(rv, api.resource_version());
    let item = &page1["items"][0];
    assert_eq!(item["kind"], "Service");
    assert_eq!(item["apiVersion"], "v1");
    assert!(item["metadata"]["uid"].is_string());
    assert!(item["metadata"]["creationTimestamp"].is_string());
    assert!(rv_of(item) <= rv);

    // Changes after the first page do not show up in later pages.
    api.apply(svc("default", "bb", "web"));
    api.delete("Service", "default", "d");

    let token = page1["metadata"]["continue"].as_str().unwrap();
    let (code, page2) = get(addr, &format!("/api/v1/services?&limit=2&continue={token}")).await;
    assert_eq!(code, 200);
    assert_eq!(names(&page2), ["c", "d"]);
    assert_eq!(rv_of(&page2), rv);
    let token = page2["metadata"]["continue"].as_str().unwrap();
    let (_, page3) = get(addr, &format!("/api/v1/services?&limit=2&continue={token}")).await;
    assert_eq!(names(&page3), ["e"]);
    assert_eq!(rv_of(&page3), rv);
    assert!(page3["metadata"].get("continue").is_none());

    // A fresh list sees the changes.
    let (_, all) = get(addr, "/api/v1/services").await;
    assert_eq!(names(&all), ["a", "b", "bb", "c", "e"]);
    assert!(rv_of(&all) > rv);
}

#[tokio::test]
async fn stale_continue_token_is_410() {
    let (api, serving) = start().await;
    for name in ["a", "b", "c"] {
        api.apply(svc("default", name, "web"));
    }
    let addr = serving.addr();
    let (code, status) = get(addr, "/api/v1/services?limit=1&continue=999-1").await;
    assert_eq!(code, 410);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Expired");
    assert_eq!(status["code"], 410);

    let (_, page1) = get(addr, "/api/v1/services?limit=1").await;
    let token = page1["metadata"]["continue"].as_str().unwrap().to_owned();
    api.expire();
    let (code, status) = get(addr, &format!("/api/v1/services?limit=1&continue={token}")).await;
    assert_eq!((code, status["reason"].as_str()), (410, Some("Expired")));
}

#[tokio::test]
async fn label_selector_on_list_and_requests_log() {
    let (api, serving) = start().await;
    api.apply(svc("default", "a", "web"));
    api.apply(svc("default", "b", "db"));
    api.apply(svc("other", "c", "web"));
    let addr = serving.addr();
    let (_, list) = get(addr, "/api/v1/services?labelSelector=app%3Dweb").await;
    assert_eq!(names(&list), ["a", "c"]);
    let (_, list) = get(addr, "/api/v1/services?labelSelector=app%20notin%20(web)").await;
    assert_eq!(names(&list), ["b"]);
    let (_, list) = get(addr, "/api/v1/namespaces/other/services?labelSelector=app").await;
    assert_eq!(names(&list), ["c"]);
    let (_, list) = get(
        addr,
        "/api/v1/services?fieldSelector=metadata.namespace%3Ddefault",
    )
    .await;
    assert_eq!(names(&list), ["a", "b"]);
    let (code, status) = get(addr, "/api/v1/services?labelSelector=app%20in%20web").await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert!(
        api.requests()
            .contains(&"/api/v1/services?labelSelector=app%3Dweb".to_owned())
    );
}

#[tokio::test]
async fn endpointslices_and_namespaced_paths() {
    let (api, serving) = start().await;
    api.apply(objects::endpoint_slice(
        "ns1",
        "web-abc",
        "web",
        "IPv4",
        &[objects::Endpoint::new("10.244.0.5").with_hostname("web-0")],
        &[("http", 8080, "TCP")],
    ));
    api.apply(objects::namespace("ns1", &[("team", "a")]));
    let addr = serving.addr();
    let (_, list) = get(addr, "/apis/discovery.k8s.io/v1/endpointslices?&limit=500").await;
    assert_eq!(list["kind"], "EndpointSliceList");
    assert_eq!(list["apiVersion"], "discovery.k8s.io/v1");
    assert_eq!(list["items"][0]["apiVersion"], "discovery.k8s.io/v1");
    assert_eq!(list["items"][0]["endpoints"][0]["hostname"], "web-0");
    let (_, list) = get(
        addr,
        "/apis/discovery.k8s.io/v1/namespaces/ns2/endpointslices",
    )
    .await;
    assert_eq!(names(&list), Vec::<String>::new());
    let (code, one) = get(
        addr,
        "/apis/discovery.k8s.io/v1/namespaces/ns1/endpointslices/web-abc",
    )
    .await;
    assert_eq!((code, one["kind"].as_str()), (200, Some("EndpointSlice")));
    let (code, ns) = get(addr, "/api/v1/namespaces/ns1").await;
    assert_eq!(
        (code, ns["metadata"]["labels"]["team"].as_str()),
        (200, Some("a"))
    );
    let (code, status) = get(addr, "/api/v1/namespaces/ns1/services/nope").await;
    assert_eq!(code, 404);
    assert_eq!(status["reason"], "NotFound");
    let (code, _) = get(addr, "/api/v1/configmaps").await;
    assert_eq!(code, 404);
    let (code, version) = get(addr, "/version").await;
    assert_eq!(
        (code, version["gitVersion"].as_str()),
        (200, Some("v1.33.0"))
    );
}

#[tokio::test]
async fn partial_object_metadata_list() {
    let (api, serving) = start().await;
    api.apply(objects::namespace("a", &[("x", "y")]));
    let accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let (code, list) = get_accept(serving.addr(), "/api/v1/namespaces?&limit=500", accept).await;
    assert_eq!(code, 200);
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    let item = &list["items"][0];
    assert_eq!(item["kind"], "PartialObjectMetadata");
    assert_eq!(item["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(item["metadata"]["name"], "a");
    assert_eq!(item["metadata"]["labels"]["x"], "y");
    assert!(item.get("spec").is_none() && item.get("status").is_none());
}

#[tokio::test]
async fn bulk_load_and_page_through() {
    let (api, serving) = start().await;
    let objects = generate::cluster(10_000, 1, 0.1);
    let started = std::time::Instant::now();
    api.load_objects(objects);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let addr = serving.addr();
    let mut seen = 0;
    let mut path = "/api/v1/services?&limit=500".to_owned();
    let mut rv = None;
    loop {
        let (code, page) = get(addr, &path).await;
        assert_eq!(code, 200);
        seen += page["items"].as_array().unwrap().len();
        assert_eq!(*rv.get_or_insert(rv_of(&page)), rv_of(&page));
        match page["metadata"]["continue"].as_str() {
            Some(token) => path = format!("/api/v1/services?&limit=500&continue={token}"),
            None => break,
        }
    }
    assert_eq!(seen, 10_000);
    assert_eq!(api.list(Kind::Namespace).len(), 100);
}
