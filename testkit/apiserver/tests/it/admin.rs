//! The `/_test/` admin routes used by shell scripts.

use clusterdns_test_apiserver::Kind;

use crate::support::*;

const MANIFEST: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: team
spec:
  clusterIP: 10.96.0.50
  ports:
  - {name: http, port: 80, protocol: TCP}
";

#[tokio::test]
async fn admin_routes() {
    let (api, serving) = start().await;
    let addr = serving.addr();
    let (code, r) = call(addr, "POST", "/_test/apply", MANIFEST).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["applied"], 2);
    assert!(api.get(Kind::Namespace, "", "team").is_some());
    assert_eq!(
        api.get(Kind::Service, "team", "web").unwrap()["spec"]["clusterIP"],
        "10.96.0.50"
    );

    let json = r#"{"apiVersion":"v1","kind":"List","items":[{"kind":"Pod","metadata":{"name":"p"},"status":{"podIP":"10.244.0.9"}}]}"#;
    let (code, _) = call(addr, "POST", "/_test/apply", json).await;
    assert_eq!(code, 200);
    assert!(api.get(Kind::Pod, "default", "p").is_some());

    let (code, r) = call(
        addr,
        "POST",
        "/_test/apply",
        "kind: Widget\nmetadata: {name: w}",
    )
    .await;
    assert_eq!((code, r["kind"].as_str()), (400, Some("Status")));

    let (code, obj) = get(addr, "/_test/objects/namespace/_/team").await;
    assert_eq!(
        (code, obj["metadata"]["name"].as_str()),
        (200, Some("team"))
    );
    let (code, _) = call(addr, "DELETE", "/_test/objects/services/team/web", "").await;
    assert_eq!(code, 200);
    assert!(api.get(Kind::Service, "team", "web").is_none());
    let (code, _) = call(addr, "DELETE", "/_test/objects/Service/team/web", "").await;
    assert_eq!(code, 404);
    let (code, _) = call(addr, "DELETE", "/_test/objects/Namespace/_/team", "").await;
    assert_eq!(code, 200);

    let (code, _) = call(addr, "POST", "/_test/fail_next?n=1&code=503", "").await;
    assert_eq!(code, 200);
    assert_eq!(get(addr, "/api/v1/services").await.0, 503);
    assert_eq!(get(addr, "/api/v1/services").await.0, 200);

    let rv = api.resource_version();
    let mut w = watch(
        addr,
        &format!("/api/v1/services?watch=true&resourceVersion={rv}"),
    )
    .await;
    let (code, _) = call(addr, "POST", "/_test/drop_watches", "").await;
    assert_eq!(code, 200);
    w.ends().await;

    let mut w = watch(
        addr,
        &format!("/api/v1/services?watch=true&resourceVersion={rv}"),
    )
    .await;
    let (code, _) = call(addr, "POST", "/_test/expire", "").await;
    assert_eq!(code, 200);
    assert_eq!(w.event().await["object"]["code"], 410);

    let (_, requests) = get(addr, "/_test/requests").await;
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "/api/v1/services")
    );
    let (_, state) = get(addr, "/_test/state").await;
    assert_eq!(state["watches"], 0);
}
