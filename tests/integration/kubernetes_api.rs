//! The cluster zone synced from the Kubernetes API: the real kube client (inside the
//! real server) against the test API server over HTTP on loopback, answers asked over
//! real UDP.
//!
//! Covers what a cluster does to DNS: objects of each kind created, changed and
//! deleted; a watch that drops while objects change; 410 Gone forcing a relist; the
//! API down when the server starts, and down after it synced.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clusterdns_test_apiserver::objects::{self, Endpoint};
use clusterdns_test_apiserver::{ApiServer, Serving};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::support::{TestServer, http_get, query, udp};

/// How long a change may take to show in answers before a test gives up (generous:
/// CI machines are slow; the figure itself is measured by benches/api-latency).
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

pub(crate) fn corefile(api: &str, extra: &str) -> String {
    format!(
        ".:0 {{
    bind 127.0.0.1
    ready 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa {{
        endpoint {api}
        ttl 7
        startup_timeout 1s
        {extra}
    }}
}}
"
    )
}

/// A small cluster: namespace `default`, a ClusterIP service `web` with one ready
/// endpoint, a headless `db` with two endpoints (one not ready).
pub(crate) fn cluster() -> Vec<Value> {
    vec![
        objects::namespace("default", &[]),
        objects::service("default", "web", &["10.96.0.20"], &[("http", 80, "TCP")]),
        objects::endpoint_slice(
            "default",
            "web-abc",
            "web",
            "IPv4",
            &[endpoint("10.244.1.10", true, None)],
            &[("http", 8080, "TCP")],
        ),
        objects::headless_service("default", "db", &[("pg", 5432, "TCP")]),
        objects::endpoint_slice(
            "default",
            "db-xyz",
            "db",
            "IPv4",
            &[
                endpoint("10.244.2.1", true, Some("db-0")),
                endpoint("10.244.2.2", false, Some("db-1")),
            ],
            &[("pg", 5432, "TCP")],
        ),
    ]
}

pub(crate) fn endpoint(ip: &str, ready: bool, hostname: Option<&str>) -> Endpoint {
    Endpoint {
        addresses: vec![ip.to_owned()],
        ready,
        hostname: hostname.map(str::to_owned),
        target_pod: None,
        node: None,
    }
}

pub(crate) fn load(api: &ApiServer, objects: Vec<Value>) {
    for object in objects {
        api.apply(object);
    }
}

/// The answer to `name`/`qtype`, as (rcode, sorted record data).
pub(crate) async fn ask(
    server: &TestServer,
    name: &str,
    qtype: RecordType,
) -> (ResponseCode, Vec<String>) {
    let answer: Message = udp(server.udp(), &query(name, qtype)).await;
    let mut data: Vec<String> = answer
        .answers
        .iter()
        .filter(|r| r.record_type() == qtype)
        .map(|r| r.data.to_string())
        .collect();
    data.sort();
    (answer.metadata.response_code, data)
}

/// Asks until the answer is `want` (NOERROR with these records, or the rcode with
/// none); panics with the last answer after [`DEADLINE`].
pub(crate) async fn expect(server: &TestServer, name: &str, qtype: RecordType, want: Want) {
    let start = Instant::now();
    loop {
        let got = ask(server, name, qtype).await;
        if want.matches(&got) {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{name} {qtype}: wanted {want:?}, still {got:?} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`expect`] for the A records of service `name` in namespace `default`.
pub(crate) async fn expect_a(server: &TestServer, name: &str, want: Want) {
    let qname = format!("{name}.default.svc.cluster.local.");
    expect(server, &qname, RecordType::A, want).await;
}

#[derive(Debug)]
pub(crate) enum Want {
    Records(&'static [&'static str]),
    Rcode(ResponseCode),
}

impl Want {
    pub(crate) fn matches(&self, (rcode, data): &(ResponseCode, Vec<String>)) -> bool {
        match self {
            Want::Records(want) => {
                let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
                want.sort();
                *rcode == ResponseCode::NoError && *data == want
            }
            Want::Rcode(code) => rcode == code && data.is_empty(),
        }
    }
}

pub(crate) use Want::{Rcode, Records};
pub(crate) const NXDOMAIN: Want = Rcode(ResponseCode::NXDomain);

pub(crate) async fn ready_status(server: &TestServer) -> u16 {
    http_get(server.http("/ready"), "/ready").await.0
}

/// The test API server holding `objects`, and a server watching it with `extra` in
/// its `kubernetes` block, synced.
pub(crate) async fn synced(objects: Vec<Value>, extra: &str) -> (ApiServer, Serving, TestServer) {
    let (api, serving) = start_api(objects).await;
    let server = TestServer::start(&corefile(&serving.url(), extra), &[]).await;
    server.wait_ready(DEADLINE).await;
    (api, serving, server)
}

pub(crate) async fn start_api(objects: Vec<Value>) -> (ApiServer, Serving) {
    let api = ApiServer::new();
    load(&api, objects);
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("test API server binds");
    (api, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_every_kind_reach_dns() {
    let (api, serving, server) = synced(cluster(), "pods insecure").await;
    let web = "web.default.svc.cluster.local.";
    let db = "db.default.svc.cluster.local.";
    expect(&server, web, RecordType::A, Records(&["10.96.0.20"])).await;
    expect(&server, db, RecordType::A, Records(&["10.244.2.1"])).await;
    expect(
        &server,
        "db-0.db.default.svc.cluster.local.",
        RecordType::A,
        Records(&["10.244.2.1"]),
    )
    .await;

    // Service: a new one, a changed cluster IP, a deleted one.
    api.apply(objects::service(
        "default",
        "api",
        &["10.96.0.30"],
        &[("http", 80, "TCP")],
    ));
    expect_a(&server, "api", Records(&["10.96.0.30"])).await;
    api.apply(objects::service(
        "default",
        "web",
        &["10.96.0.21"],
        &[("http", 80, "TCP")],
    ));
    expect(&server, web, RecordType::A, Records(&["10.96.0.21"])).await;
    expect(
        &server,
        "21.0.96.10.in-addr.arpa.",
        RecordType::PTR,
        Records(&["web.default.svc.cluster.local."]),
    )
    .await;
    expect(
        &server,
        "20.0.96.10.in-addr.arpa.",
        RecordType::PTR,
        NXDOMAIN,
    )
    .await;
    api.delete("Service", "default", "api");
    expect_a(&server, "api", NXDOMAIN).await;

    // EndpointSlice: an endpoint becomes ready, then the slice goes away.
    api.apply(objects::endpoint_slice(
        "default",
        "db-xyz",
        "db",
        "IPv4",
        &[
            endpoint("10.244.2.1", true, Some("db-0")),
            endpoint("10.244.2.2", true, Some("db-1")),
        ],
        &[("pg", 5432, "TCP")],
    ));
    expect(
        &server,
        db,
        RecordType::A,
        Records(&["10.244.2.1", "10.244.2.2"]),
    )
    .await;
    expect(
        &server,
        "db-1.db.default.svc.cluster.local.",
        RecordType::A,
        Records(&["10.244.2.2"]),
    )
    .await;
    api.delete("EndpointSlice", "default", "db-xyz");
    expect(&server, db, RecordType::A, NXDOMAIN).await;

    // Namespace: pod names (`pods insecure`) are answered only in existing namespaces.
    let pod = "10-244-3-4.shop.pod.cluster.local.";
    expect(&server, pod, RecordType::A, NXDOMAIN).await;
    api.apply(objects::namespace("shop", &[]));
    expect(&server, pod, RecordType::A, Records(&["10.244.3.4"])).await;
    api.delete("Namespace", "", "shop");
    expect(&server, pod, RecordType::A, NXDOMAIN).await;
    assert_eq!(ready_status(&server).await, 200);
    drop(serving);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_verified_watches_pods() {
    let (api, _serving, server) = synced(cluster(), "pods verified").await;
    let name = "10-244-5-6.default.pod.cluster.local.";
    expect(&server, name, RecordType::A, NXDOMAIN).await;
    api.apply(objects::pod("default", "worker", "10.244.5.6"));
    expect(&server, name, RecordType::A, Records(&["10.244.5.6"])).await;
    api.delete("Pod", "default", "worker");
    expect(&server, name, RecordType::A, NXDOMAIN).await;
    let paths = api.requests();
    assert!(
        paths.iter().any(|p| p.starts_with("/api/v1/pods")),
        "pods are listed in verified mode: {paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_go_to_the_api_server() {
    let mut objects = cluster();
    objects.push(objects::with_labels(
        objects::service("default", "labelled", &["10.96.0.40"], &[]),
        &[("app", "dns")],
    ));
    let (api, _serving, server) = synced(objects, "labels app=dns").await;
    expect_a(&server, "labelled", Records(&["10.96.0.40"])).await;
    expect_a(&server, "web", NXDOMAIN).await;
    let requests = api.requests();
    let slices = requests
        .iter()
        .find(|r| r.starts_with("/apis/discovery.k8s.io/v1/endpointslices"))
        .expect("endpointslices are listed");
    assert!(
        slices.contains("labelSelector=kubernetes.io%2Fservice-name%2Capp%3Ddns"),
        "{slices}"
    );
    assert!(
        !requests.iter().any(|r| r.starts_with("/api/v1/pods")),
        "pods are not watched unless verified: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_converges_with_no_stale_and_no_missing_records() {
    let (api, serving, server) = synced(cluster(), "").await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;

    // The connection drops; while the watch is gone a service is added, one changed,
    // one deleted.
    api.drop_watches();
    api.apply(objects::service("default", "new", &["10.96.0.50"], &[]));
    api.apply(objects::service("default", "web", &["10.96.0.22"], &[]));
    api.delete("Service", "default", "db");
    expect_a(&server, "new", Records(&["10.96.0.50"])).await;
    expect_a(&server, "web", Records(&["10.96.0.22"])).await;
    expect_a(&server, "db", NXDOMAIN).await;

    // The API server goes away entirely, history is compacted meanwhile (so the watch
    // cannot resume: 410), and it comes back on the same address.
    let addr = serving.addr();
    serving.stop();
    api.apply(objects::service("default", "later", &["10.96.0.60"], &[]));
    api.delete("Service", "default", "new");
    api.expire();
    expect_a(&server, "web", Records(&["10.96.0.22"])).await;
    let _serving = api.bind(addr).await.expect("rebind the same port");
    expect_a(&server, "later", Records(&["10.96.0.60"])).await;
    expect_a(&server, "new", NXDOMAIN).await;
    expect_a(&server, "web", Records(&["10.96.0.22"])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_forces_a_relist() {
    let (api, serving, server) = synced(cluster(), "").await;
    let lists = |api: &ApiServer| {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("/api/v1/services") && !r.contains("watch=true"))
            .count()
    };
    let before = lists(&api);
    api.expire();
    api.apply(objects::service("default", "after", &["10.96.0.70"], &[]));
    expect_a(&server, "after", Records(&["10.96.0.70"])).await;
    let start = Instant::now();
    while lists(&api) <= before {
        assert!(start.elapsed() < DEADLINE, "no relist after 410");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    drop(serving);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_down_at_startup_is_servfail_and_not_ready_until_it_comes_up() {
    let port = crate::support::free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = TestServer::start(&corefile(&format!("http://{addr}"), ""), &[]).await;
    let web = "web.default.svc.cluster.local.";
    // Before startup_timeout and after it: nothing synced, so SERVFAIL, not NXDOMAIN.
    expect(&server, web, RecordType::A, Rcode(ResponseCode::ServFail)).await;
    assert_eq!(ready_status(&server).await, 503);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    expect(&server, web, RecordType::A, Rcode(ResponseCode::ServFail)).await;
    assert_eq!(ready_status(&server).await, 503);

    let api = ApiServer::new();
    load(&api, cluster());
    let _serving = api.bind(addr).await.expect("bind the configured port");
    expect(&server, web, RecordType::A, Records(&["10.96.0.20"])).await;
    server.wait_ready(DEADLINE).await;
    expect_a(&server, "nope", NXDOMAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_down_after_sync_keeps_answering() {
    let (api, serving, server) = synced(cluster(), "").await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    serving.stop();
    api.fail_next(1000, 503);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let got = ask(&server, "web.default.svc.cluster.local.", RecordType::A).await;
        assert!(Records(&["10.96.0.20"]).matches(&got), "{got:?}");
        let got = ask(&server, "nope.default.svc.cluster.local.", RecordType::A).await;
        assert!(NXDOMAIN.matches(&got), "{got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready_status(&server).await, 200, "synced once, stays ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let api = ApiServer::new();
    load(&api, cluster());
    api.fail_next(3, 500);
    let serving = api
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let server = TestServer::start(&corefile(&serving.url(), ""), &[]).await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
    server.wait_ready(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_names_the_cluster_and_context() {
    let (_api, serving) = start_api(cluster()).await;
    // Two contexts: the current one points nowhere, the named one at the API server.
    let kubeconfig = format!(
        "apiVersion: v1
kind: Config
current-context: wrong
clusters:
- name: test
  cluster: {{server: \"{}\"}}
- name: nowhere
  cluster: {{server: \"http://127.0.0.1:9\"}}
users:
- name: tester
  user: {{}}
contexts:
- name: right
  context: {{cluster: test, user: tester}}
- name: wrong
  context: {{cluster: nowhere, user: tester}}
",
        serving.url()
    );
    let corefile = ".:0 {
    bind 127.0.0.1
    ready 127.0.0.1:0
    kubernetes cluster.local {
        kubeconfig kubeconfig.yaml right
    }
}
";
    let server = TestServer::start(corefile, &[("kubeconfig.yaml", &kubeconfig)]).await;
    server.wait_ready(DEADLINE).await;
    expect_a(&server, "web", Records(&["10.96.0.20"])).await;
}
