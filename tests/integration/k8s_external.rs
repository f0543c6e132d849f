//! `k8s_external` end to end: the examples of CoreDNS's README on loopback, the cluster
//! read from a manifest and from the test API server (the same index `kubernetes`
//! answers from), over real sockets.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::support::cluster_plugins::lines;
use crate::support::{self, TestServer, Upstream, query, tcp, udp};

/// CoreDNS README's service, a LoadBalancer with an IP and a hostname ingress, and a
/// ClusterIP service without external addresses.
const CLUSTER: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Service
metadata: {name: test, namespace: default}
spec:
  clusterIP: None
  externalIPs:
  - 192.168.200.123
  type: ClusterIP
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  ports: [{name: https, port: 443, protocol: TCP}]
status:
  loadBalancer:
    ingress:
    - ip: 203.0.113.30
---
apiVersion: v1
kind: Service
metadata: {name: elb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.31
  ports: [{name: http, port: 80, protocol: TCP}]
status:
  loadBalancer:
    ingress:
    - hostname: abc123.elb.example.net
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: default}
spec:
  clusterIP: 10.96.0.32
  ports: [{name: http, port: 80}]
";

/// The upstream: `abc123.elb.example.net` has A 198.51.100.7; anything else is NXDOMAIN
/// except `forwarded.example.org`.
fn upstream_answer(request: &Message) -> Option<Message> {
    let question = request.queries.first()?.clone();
    let mut reply = support::reply_to(request);
    let owner = question.name().clone();
    match (
        owner.to_lowercase().to_string().as_str(),
        question.query_type(),
    ) {
        ("abc123.elb.example.net.", RecordType::A) => reply.answers.push(Record::from_rdata(
            owner,
            60,
            RData::A(A::new(198, 51, 100, 7)),
        )),
        ("forwarded.example.org.", RecordType::A) => reply.answers.push(Record::from_rdata(
            owner,
            60,
            RData::A(A::new(192, 0, 2, 99)),
        )),
        ("abc123.elb.example.net.", _) => {}
        _ => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(reply)
}

/// CoreDNS README's last example (with `fallthrough` and `forward`), the cluster from
/// `source`.
fn corefile(source: &str, upstream: SocketAddr) -> String {
    format!(
        ". {{
   bind 127.0.0.1
   ready 127.0.0.1:0
   kubernetes cluster.local {{
     {source}
   }}
   k8s_external example.org {{
     fallthrough
   }}
   forward . {upstream}
}}
"
    )
}

async fn readme_examples(server: &TestServer) {
    let ask = |name: &'static str, qtype| {
        let addr = server.udp();
        async move { udp(addr, &query(name, qtype)).await }
    };
    // The README: an A record for test.default.example.org.
    let answer = ask("test.default.example.org.", RecordType::A).await;
    assert!(answer.metadata.authoritative);
    assert_eq!(
        lines(&answer.answers),
        ["test.default.example.org. 5 A 192.168.200.123"]
    );
    // Load balancer ingress: an IP, and a hostname as a CNAME resolved upstream.
    let answer = ask("shop.default.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&answer.answers),
        ["shop.default.example.org. 5 A 203.0.113.30"]
    );
    let answer = ask("_https._tcp.shop.default.example.org.", RecordType::SRV).await;
    assert_eq!(
        lines(&answer.answers),
        ["_https._tcp.shop.default.example.org. 5 SRV 0 100 443 shop.default.example.org."]
    );
    assert_eq!(
        lines(&answer.additionals),
        ["shop.default.example.org. 5 A 203.0.113.30"]
    );
    let answer = ask("elb.default.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&answer.answers),
        [
            "elb.default.example.org. 5 CNAME abc123.elb.example.net.",
            "abc123.elb.example.net. 60 A 198.51.100.7"
        ]
    );
    // The apex: SOA and NS with the server's own address as glue.
    let answer = tcp(server.tcp(), &query("example.org.", RecordType::SOA)).await;
    assert_eq!(
        lines(&answer.answers),
        ["example.org. 5 SOA ns1.dns.example.org. hostmaster.dns.example.org. * 7200 1800 86400 5"]
    );
    let answer = ask("example.org.", RecordType::NS).await;
    assert_eq!(
        lines(&answer.answers),
        ["example.org. 5 NS ns1.dns.example.org."]
    );
    // A service without external addresses, with fallthrough: the upstream's NXDOMAIN.
    let answer = ask("internal.default.example.org.", RecordType::A).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(!answer.metadata.authoritative, "answered by forward");
    let answer = ask("forwarded.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&answer.answers),
        ["forwarded.example.org. 60 A 192.0.2.99"]
    );
    // The cluster zone is answered as before.
    let answer = ask("shop.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        lines(&answer.answers),
        ["shop.default.svc.cluster.local. 5 A 10.96.0.30"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_from_a_manifest() {
    let upstream = Upstream::start(true, upstream_answer).await;
    let server = TestServer::start(
        &corefile("manifests cluster.yaml", upstream.addr),
        &[("cluster.yaml", CLUSTER)],
    )
    .await;
    readme_examples(&server).await;
}

/// The API source keeps external IPs and load balancer status as the manifest source
/// does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_examples_from_the_api() {
    let upstream = Upstream::start(true, upstream_answer).await;
    let api = clusterdns_test_apiserver::ApiServer::new();
    api.load_objects(clusterdns_test_apiserver::load::parse_documents(CLUSTER).unwrap());
    let serving = api.bind("127.0.0.1:0").await.unwrap();
    let server = TestServer::start(
        &corefile(&format!("endpoint {}", serving.url()), upstream.addr),
        &[],
    )
    .await;
    server.wait_ready(Duration::from_secs(15)).await;
    readme_examples(&server).await;
}
