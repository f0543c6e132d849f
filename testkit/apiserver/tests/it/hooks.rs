//! Test hooks: dropped watches, injected failures, going down and coming back.

use std::time::Duration;

use clusterdns_test_apiserver::objects;

use crate::support::*;

fn svc(name: &str) -> serde_json::Value {
    objects::service("default", name, &["10.96.0.20"], &[("http", 80, "TCP")])
}

const WATCH: &str = "/api/v1/services?&watch=true&timeoutSeconds=290";

#[tokio::test]
async fn drop_watches_ends_streams_without_error() {
    let (api, serving) = start().await;
    let rv = api.apply(svc("a"));
    let mut w1 = watch(serving.addr(), &format!("{WATCH}&resourceVersion={rv}")).await;
    let mut w2 = watch(serving.addr(), "/api/v1/namespaces?watch=true").await;
    assert_eq!(api.open_watches(), 2);
    api.drop_watches();
    w1.ends().await;
    w2.ends().await;
    assert_eq!(api.open_watches(), 0);
    // Resuming works.
    let mut w = watch(serving.addr(), &format!("{WATCH}&resourceVersion={rv}")).await;
    api.apply(svc("b"));
    assert_eq!(summary(&w.change().await), pair("ADDED", "b"));
}

#[tokio::test]
async fn closed_client_unregisters_its_watch() {
    let (api, serving) = start().await;
    let w = watch(serving.addr(), "/api/v1/services?watch=true").await;
    assert_eq!(api.open_watches(), 1);
    drop(w);
    // The server notices when it next writes.
    for i in 0..100 {
        api.apply(svc(&format!("s{i}")));
        if api.open_watches() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("watch still registered");
}

#[tokio::test]
async fn fail_next_fails_exactly_n_requests() {
    let (api, serving) = start().await;
    let addr = serving.addr();
    api.fail_next(1, 500);
    let (code, status) = get(addr, "/api/v1/services").await;
    assert_eq!(code, 500);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "InternalError");
    assert_eq!(status["code"], 500);
    let (code, _) = get(addr, "/api/v1/services").await;
    assert_eq!(code, 200);

    api.fail_next(2, 503);
    assert_eq!(get(addr, "/version").await.0, 503);
    // Admin routes are exempt and do not use up failures.
    assert_eq!(get(addr, "/_test/state").await.0, 200);
    let (code, status) = get(addr, "/api/v1/pods?watch=true").await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (503, Some("ServiceUnavailable"))
    );
    assert_eq!(get(addr, "/api/v1/pods").await.0, 200);
}

#[tokio::test]
async fn stop_cuts_watches_and_serving_again_keeps_state() {
    let (api, serving) = start().await;
    let addr = serving.addr();
    let rv = api.apply(svc("a"));
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    serving.stop_and_wait().await;
    w.ends().await;
    assert_eq!(api.open_watches(), 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // The API server "comes back" on the same port with the same state.
    api.apply(svc("b"));
    let serving = api.bind(addr).await.unwrap();
    assert_eq!(serving.url(), format!("http://{addr}"));
    let (_, list) = get(addr, "/api/v1/services").await;
    assert_eq!(names(&list), ["a", "b"]);
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    assert_eq!(summary(&w.change().await), pair("ADDED", "b"));

    // Dropping the handle also cuts connections.
    drop(serving);
    w.ends().await;
}

#[tokio::test]
async fn sync_stop_then_immediate_rebind() {
    let (api, serving) = start().await;
    let addr = serving.addr();
    let rv = api.apply(svc("a"));
    let mut w = watch(addr, &format!("{WATCH}&resourceVersion={rv}")).await;
    serving.stop();
    let serving = api.bind(addr).await.unwrap();
    w.ends().await;
    let (_, list) = get(addr, "/api/v1/services").await;
    assert_eq!(names(&list), ["a"]);
    drop(serving);
}

#[tokio::test]
async fn stop_closes_idle_keep_alive_connections() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;

    let (_api, serving) = start().await;
    let stream = tokio::net::TcpStream::connect(serving.addr())
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get("/version")
        .header("host", "x")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    resp.into_body().collect().await.unwrap();
    serving.stop_and_wait().await;
    // The connection task finishes because the server closed the socket.
    tokio::time::timeout(WAIT, conn)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
