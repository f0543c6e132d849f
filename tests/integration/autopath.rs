//! `autopath @kubernetes` end to end: `deploy/examples/autopath.Corefile` on loopback,
//! a pod at 127.0.0.1 in namespace `shop` (and 127.0.0.2 in no pod at all), over real
//! sockets; the cluster from a manifest and from the test API server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::support::cluster_plugins::{adapt, lines, udp_from};
use crate::support::{self, TestServer, Upstream, http_get, query};

const AUTOPATH: &str = include_str!("../../deploy/examples/autopath.Corefile");

/// Namespace `shop` with the service `web` and the pod `client` at 127.0.0.1.
const CLUSTER: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop}
spec:
  containers: [{name: c, image: busybox}]
status:
  phase: Running
  podIP: 127.0.0.1
  podIPs: [{ip: 127.0.0.1}]
";

/// The upstream: `www.example.org` has A 192.0.2.80; everything else is NXDOMAIN.
/// Counts the queries for names under example.org.
fn upstream(count: Arc<AtomicUsize>) -> impl Fn(&Message) -> Option<Message> + Send + Sync {
    move |request| {
        let question = request.queries.first()?.clone();
        let mut reply = support::reply_to(request);
        let owner = question.name().clone();
        let name = owner.to_lowercase().to_string();
        if name.contains("example.org.") {
            count.fetch_add(1, Ordering::SeqCst);
        }
        match (name.as_str(), question.query_type()) {
            ("www.example.org.", RecordType::A) => reply.answers.push(Record::from_rdata(
                owner,
                300,
                RData::A(A::new(192, 0, 2, 80)),
            )),
            ("www.example.org.", _) => {}
            _ => reply.metadata.response_code = ResponseCode::NXDomain,
        }
        Some(reply)
    }
}

fn corefile(source: &str, upstream: SocketAddr) -> String {
    adapt(
        AUTOPATH,
        &[
            (".:53 {", ".:0 {\n    bind 127.0.0.1"),
            ("health {\n      lameduck 5s\n    }", "health 127.0.0.1:0"),
            ("ready", "ready 127.0.0.1:0"),
            ("pods verified", &format!("pods verified\n      {source}")),
            ("prometheus :9153", "prometheus 127.0.0.1:0"),
            ("/etc/resolv.conf", &upstream.to_string()),
        ],
    )
}

async fn a_pod_gets_the_cname_and_the_answer_in_one_query(
    server: &TestServer,
    count: &AtomicUsize,
) {
    let addr = server.udp();
    let question = query("www.example.org.shop.svc.cluster.local.", RecordType::A);
    let answer = udp_from("127.0.0.1:0", addr, &question).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answer.queries[0].name().to_string(),
        "www.example.org.shop.svc.cluster.local.",
        "the question as asked"
    );
    assert_eq!(
        lines(&answer.answers),
        [
            "www.example.org.shop.svc.cluster.local. 30 CNAME www.example.org.",
            "www.example.org. 30 A 192.0.2.80"
        ]
    );
    assert!(count.load(Ordering::SeqCst) >= 1);

    // A cluster name of the pod's namespace is answered as it is.
    let answer = udp_from(
        "127.0.0.1:0",
        addr,
        &query("web.shop.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        lines(&answer.answers),
        ["web.shop.svc.cluster.local. 5 A 10.96.0.40"]
    );
    // `web.shop` asked with the first element of the pod's search path: found under
    // the second.
    let answer = udp_from(
        "127.0.0.1:0",
        addr,
        &query("web.shop.shop.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        lines(&answer.answers),
        [
            "web.shop.shop.svc.cluster.local. 5 CNAME web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local. 5 A 10.96.0.40"
        ]
    );

    // A client that is no pod walks its own search path: NXDOMAIN, no autopath.
    let answer = udp_from("127.0.0.2:0", addr, &question).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(answer.answers.is_empty());

    let (_, metrics) = http_get(server.http("/metrics"), "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("coredns_autopath_success_total{server=\"dns://")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopath_cluster_from_a_manifest() {
    let count = Arc::new(AtomicUsize::new(0));
    let upstream = Upstream::start(true, upstream(count.clone())).await;
    let server = TestServer::start(
        &corefile("manifests cluster.yaml", upstream.addr),
        &[("cluster.yaml", CLUSTER)],
    )
    .await;
    a_pod_gets_the_cname_and_the_answer_in_one_query(&server, &count).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopath_cluster_from_the_api() {
    let count = Arc::new(AtomicUsize::new(0));
    let upstream = Upstream::start(true, upstream(count.clone())).await;
    let api = clusterdns_test_apiserver::ApiServer::new();
    api.load_objects(clusterdns_test_apiserver::load::parse_documents(CLUSTER).unwrap());
    let serving = api.bind("127.0.0.1:0").await.unwrap();
    let server = TestServer::start(
        &corefile(&format!("endpoint {}", serving.url()), upstream.addr),
        &[],
    )
    .await;
    server.wait_ready(Duration::from_secs(15)).await;
    a_pod_gets_the_cname_and_the_answer_in_one_query(&server, &count).await;
}

/// Whether the client at 127.0.0.1 is autopathed now.
async fn autopathed(server: &TestServer) -> bool {
    let question = query("www.example.org.shop.svc.cluster.local.", RecordType::A);
    let answer = udp_from("127.0.0.1:0", server.udp(), &question).await;
    answer.metadata.response_code == ResponseCode::NoError
}

async fn until(server: &TestServer, wanted: bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while autopathed(server).await != wanted {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A pod that finishes leaves the watch's field selection and its address the map;
/// one that runs again comes back; an API outage keeps the last map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pod_map_follows_the_api_and_outlives_an_outage() {
    let upstream = Upstream::start(true, upstream(Arc::new(AtomicUsize::new(0)))).await;
    let api = clusterdns_test_apiserver::ApiServer::new();
    api.load_objects(clusterdns_test_apiserver::load::parse_documents(CLUSTER).unwrap());
    let serving = api.bind("127.0.0.1:0").await.unwrap();
    let server = TestServer::start(
        &corefile(&format!("endpoint {}", serving.url()), upstream.addr),
        &[],
    )
    .await;
    server.wait_ready(Duration::from_secs(15)).await;
    assert!(autopathed(&server).await);

    let mut finished = clusterdns_test_apiserver::objects::pod("shop", "client", "127.0.0.1");
    finished["status"]["phase"] = "Succeeded".into();
    api.apply(finished);
    until(&server, false, "a finished pod is forgotten").await;
    api.apply(clusterdns_test_apiserver::objects::pod(
        "shop",
        "client",
        "127.0.0.1",
    ));
    until(&server, true, "a running pod is noted again").await;
    assert!(
        api.requests()
            .iter()
            .any(|p| p.starts_with("/api/v1/pods") && p.contains("fieldSelector=status.phase")),
        "pods are watched with a field selector: {:?}",
        api.requests()
    );

    api.set_down(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..5 {
        assert!(
            autopathed(&server).await,
            "the last map is kept while the API is down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    api.set_down(false);
}

/// Everything a client sees of an answer, in order (an SOA's serial blanked: two
/// servers load the cluster a moment apart).
fn summary(reply: &Message) -> String {
    format!(
        "{:?}\nquestion {:?}\nanswers {:?}\nauthority {:?}\nadditional {:?}\nedns {:?}",
        reply.metadata,
        reply.queries,
        lines(&reply.answers),
        lines(&reply.authorities),
        lines(&reply.additionals),
        reply
            .edns
            .as_ref()
            .map(|e| (e.max_payload(), e.flags().dnssec_ok)),
    )
}

/// A pod's cluster names answered through autopath's wire path (names that exist are
/// left to `kubernetes` there) and through the ordinary path only (`log` in front):
/// the same answers for names that exist, NODATA, NXDOMAIN, the names walks find, and
/// names in the client's case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pods_answers_are_the_same_on_both_paths() {
    let upstream = Upstream::start(true, upstream(Arc::new(AtomicUsize::new(0)))).await;
    // No cache: both servers answer every query through autopath.
    let wire = adapt(
        &corefile("manifests cluster.yaml", upstream.addr),
        &[("cache 30", "")],
    );
    let ordinary = adapt(
        &wire,
        &[("errors", "errors\n    log . {\n        class denial\n    }")],
    );
    let files = [("cluster.yaml", CLUSTER)];
    let wire = TestServer::start(&wire, &files).await;
    let ordinary = TestServer::start(&ordinary, &files).await;
    wire.wait_ready(Duration::from_secs(15)).await;
    ordinary.wait_ready(Duration::from_secs(15)).await;
    let names = [
        "web.shop.svc.cluster.local.",
        "WEB.shop.svc.cluster.local.",
        "web.Shop.SVC.cluster.local.",
        "_http._tcp.web.shop.svc.cluster.local.",
        "missing.shop.svc.cluster.local.",
        "shop.svc.cluster.local.",
        "web.shop.shop.svc.cluster.local.",
        "www.example.org.shop.svc.cluster.local.",
        "127-0-0-1.shop.pod.cluster.local.",
    ];
    let mut found = 0;
    for name in names {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
            let question = query(name, qtype);
            let (a, b) = (
                udp_from("127.0.0.1:0", wire.udp(), &question).await,
                udp_from("127.0.0.1:0", ordinary.udp(), &question).await,
            );
            assert_eq!(summary(&a), summary(&b), "{name} {qtype}");
            found += usize::from(!a.answers.is_empty());
        }
    }
    let wire_nxdomain = udp_from(
        "127.0.0.1:0",
        wire.udp(),
        &query("missing.shop.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(wire_nxdomain.metadata.response_code, ResponseCode::NXDomain);
    assert!(found >= 5, "only {found} answers with records");
}
