//! The API source when the API server fails: the real kube client (inside the real
//! server) against the test API server's fault routes over HTTP on loopback.
//!
//! - Sustained failures (500, 403, connections closed) are retried on client-go's
//!   schedule (0.8 s doubling to 30 s), per kind, counted at the API server.
//! - `Retry-After` is honoured.
//! - After an outage long enough to push every kind deep into its backoff, all kinds
//!   catch up within seconds of the API's first answer.
//! - A dropped watch resumes from its resourceVersion: no list.
//!
//! The windows are short and the bounds generous: the schedule allows at most 6
//! requests per kind in 14 s even with the jitter at its shortest (waits of 0.4, 0.8,
//! 1.6, 3.2, 6.4 s), where retrying about once a second would send 14.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterdns_test_apiserver::objects;
use clusterdns_test_apiserver::{ApiServer, Fault, Kind, Verb};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use parking_lot::Mutex;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::kubernetes_api::{
    NXDOMAIN, Rcode, Records, cluster, corefile, endpoint, expect, expect_a, load, synced,
};
use crate::support::TestServer;

/// The request paths of each kind, as the reflector sends them.
const KINDS: [(&str, &str); 4] = [
    ("services", "/api/v1/services"),
    ("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"),
    ("namespaces", "/api/v1/namespaces"),
    ("pods", "/api/v1/pods"),
];

/// The requests (lists and watches) for each kind in `paths`.
fn per_kind(paths: &[String]) -> Vec<(&'static str, usize)> {
    KINDS
        .iter()
        .map(|(name, prefix)| {
            let count = paths
                .iter()
                .filter(|p| p.starts_with(prefix) && p[prefix.len()..].starts_with('?'))
                .count();
            (*name, count)
        })
        .collect()
}

/// Asserts that each kind asked between 2 and 7 times in a 14 s window (today's
/// schedule: at most 6; retrying every second: 14).
fn assert_backed_off(counts: &[(&str, usize)], what: &str) {
    for (kind, count) in counts {
        assert!(
            (2..=7).contains(count),
            "{what}: {kind} asked {count} times in 14 s: {counts:?}"
        );
    }
}

const WINDOW: Duration = Duration::from_secs(14);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_server_errors_back_off_per_kind() {
    let api = ApiServer::new();
    load(&api, cluster());
    api.add_fault(Fault {
        code: 500,
        ..Fault::default()
    });
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let server = TestServer::start(&corefile(&serving.url(), "pods verified"), &[]).await;
    tokio::time::sleep(WINDOW).await;
    let counts = per_kind(&api.requests());
    assert_backed_off(&counts, "HTTP 500");
    // Still failing: not synced, SERVFAIL rather than a wrong NXDOMAIN.
    expect_a(&server, "web", Rcode(ResponseCode::ServFail)).await;
    // And once the API answers, it syncs.
    api.clear_faults();
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_kind_backs_off_while_the_others_work() {
    let api = ApiServer::new();
    load(&api, cluster());
    api.add_fault(Fault {
        code: 403,
        kind: Some(Kind::Pod),
        ..Fault::default()
    });
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let _server = TestServer::start(&corefile(&serving.url(), "pods verified"), &[]).await;
    tokio::time::sleep(WINDOW).await;
    let counts = per_kind(&api.requests());
    let pods = counts[3];
    assert!(
        (2..=7).contains(&pods.1),
        "403: pods asked {} times in 14 s: {counts:?}",
        pods.1
    );
}

/// A server that reads each request, notes its path and closes the connection
/// without an answer (a broken proxy in front of the API server).
async fn closing_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let mut read = 0;
                while read < buffer.len() {
                    match stream.read(&mut buffer[read..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => read += n,
                    }
                    if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buffer[..read]).into_owned();
                if let Some(path) = head.split_whitespace().nth(1) {
                    seen.lock().push(path.to_owned());
                }
                // Dropped: the connection closes with no answer.
            });
        }
    });
    (addr, paths)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_back_off_per_kind() {
    let (addr, paths) = closing_server().await;
    let _server = TestServer::start(&corefile(&format!("http://{addr}"), ""), &[]).await;
    tokio::time::sleep(WINDOW).await;
    let paths = paths.lock().clone();
    let counts = per_kind(&paths);
    assert_backed_off(&counts[..3], "connection closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let api = ApiServer::new();
    load(&api, cluster());
    api.add_fault(Fault {
        code: 429,
        kind: Some(Kind::Service),
        verb: Verb::List,
        retry_after: Some(5),
        ..Fault::default()
    });
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let _server = TestServer::start(&corefile(&serving.url(), ""), &[]).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let lists: Vec<Instant> = api
        .received()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/services?"))
        .map(|r| r.at)
        .collect();
    assert!(
        (2..=3).contains(&lists.len()),
        "Retry-After 5 s: {} service lists in 12 s",
        lists.len()
    );
    for pair in lists.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(4900),
            "asked again {gap:?} after a Retry-After of 5 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_catches_up_within_seconds_of_the_first_answer() {
    let (api, _serving, server) = synced(cluster(), "pods verified").await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    let pod = "10-244-7-7.default.pod.cluster.local.";
    expect(&server, pod, RecordType::A, NXDOMAIN).await;

    // Down for 20 s: every kind's watch breaks and backs off to waits of 6.4 to
    // 25.6 s. Meanwhile a change of every kind.
    api.set_down(true);
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    api.delete("Service", "default", "web");
    api.apply(objects::service("default", "new", &["10.96.0.50"], &[]));
    api.apply(objects::endpoint_slice(
        "default",
        "db-xyz",
        "db",
        "IPv4",
        &[endpoint("10.244.2.9", true, Some("db-9"))],
        &[("pg", 5432, "TCP")],
    ));
    api.apply(objects::namespace("shop", &[]));
    api.apply(objects::service("shop", "front", &["10.96.0.60"], &[]));
    api.apply(objects::pod("default", "worker", "10.244.7.7"));
    let elapsed = down.elapsed();
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(elapsed)).await;
    // Still the last good state.
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    let before = api.received().len();
    api.set_down(false);
    let up = Instant::now();

    // Every change shows. The first kind to retry may wait out its backoff (up to
    // 25.6 s, the cap at worst); the others must follow within seconds of it.
    let deadline = Duration::from_secs(40);
    let checks: [(&str, RecordType, Vec<String>, ResponseCode); 5] = [
        (
            "web.default.svc.cluster.local.",
            RecordType::A,
            vec![],
            ResponseCode::NXDomain,
        ),
        (
            "new.default.svc.cluster.local.",
            RecordType::A,
            vec!["10.96.0.50".into()],
            ResponseCode::NoError,
        ),
        (
            "db.default.svc.cluster.local.",
            RecordType::A,
            vec!["10.244.2.9".into()],
            ResponseCode::NoError,
        ),
        (
            "front.shop.svc.cluster.local.",
            RecordType::A,
            vec!["10.96.0.60".into()],
            ResponseCode::NoError,
        ),
        (
            pod,
            RecordType::A,
            vec!["10.244.7.7".into()],
            ResponseCode::NoError,
        ),
    ];
    loop {
        let mut missing = None;
        for (name, qtype, want, rcode) in &checks {
            let got = crate::kubernetes_api::ask(&server, name, *qtype).await;
            if got.0 != *rcode || got.1 != *want {
                missing = Some((name, got));
                break;
            }
        }
        let Some(missing) = missing else {
            break;
        };
        assert!(
            up.elapsed() < deadline,
            "not every change visible {deadline:?} after the API came back: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let visible = Instant::now();
    let first_answer = api
        .received()
        .get(before)
        .map(|r| r.at)
        .expect("a request after the API came back");
    let catch_up = visible.duration_since(first_answer);
    assert!(
        catch_up < Duration::from_secs(5),
        "the kinds caught up {catch_up:?} after the API's first answer ({:?} after it came back)",
        visible.duration_since(up)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes_from_its_version_without_a_list() {
    let (api, _serving, server) = synced(cluster(), "").await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    let lists = |api: &ApiServer| {
        api.requests()
            .iter()
            .filter(|r| !r.contains("watch=true") && !r.starts_with("/version"))
            .count()
    };
    let watches = |api: &ApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("/api/v1/services?") && r.contains("watch=true"))
            .count()
    };
    let lists_before = lists(&api);
    let watches_before = watches(&api);
    for round in 0..3 {
        api.drop_watches();
        let name = format!("after-{round}");
        let ip = format!("10.96.1.{round}");
        api.apply(objects::service("default", &name, &[&ip], &[]));
        let qname = format!("{name}.default.svc.cluster.local.");
        let start = Instant::now();
        loop {
            let got = crate::kubernetes_api::ask(&server, &qname, RecordType::A).await;
            if got.0 == ResponseCode::NoError && got.1 == [ip.clone()] {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "{name}: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(
        watches(&api) > watches_before,
        "the watch was started again"
    );
    assert_eq!(
        lists(&api),
        lists_before,
        "a dropped watch with a valid version lists nothing: {:?}",
        api.requests()
    );
    // Resumed from a version, not from scratch.
    let last = api
        .requests()
        .into_iter()
        .rfind(|r| r.starts_with("/api/v1/services?") && r.contains("watch=true"))
        .unwrap();
    assert!(
        last.contains("resourceVersion=") && !last.contains("resourceVersion=0&"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_are_waited_for_without_a_storm() {
    // Lists that take 2 s each: answered, so the zone syncs, with one list per kind.
    let api = ApiServer::new();
    load(&api, cluster());
    api.add_fault(Fault {
        code: 0,
        verb: Verb::List,
        delay: Duration::from_secs(2),
        ..Fault::default()
    });
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let server = TestServer::start(&corefile(&serving.url(), ""), &[]).await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    let counts = per_kind(
        &api.requests()
            .into_iter()
            .filter(|r| !r.contains("watch=true"))
            .collect::<Vec<_>>(),
    );
    for (kind, count) in &counts[..3] {
        assert_eq!(*count, 1, "{kind}: {counts:?}");
    }
}
