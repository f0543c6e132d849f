//! Distribution Corefiles from `deploy/examples/` run end to end on loopback: the file as
//! shipped, with only its addresses made local (ports, upstreams, the cluster from a
//! manifest). What each distribution added a plugin for is asked over real sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::support::cluster_plugins::{adapt, lines};
use crate::support::{self, TestServer, Upstream, free_port, query, tcp, udp};

const OPENSHIFT: &str = include_str!("../../deploy/examples/openshift.Corefile");
const KUBESPRAY: &str = include_str!("../../deploy/examples/kubespray.Corefile");

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
kind: Service
metadata: {name: front, namespace: shop}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.41
  externalIPs: [192.0.2.41]
  ports: [{name: https, port: 443, protocol: TCP}]
";

/// An upstream that has A and AAAA records for every name under `example.org` and
/// `example.internal`, and counts the AAAA questions it is asked.
fn counting_upstream(aaaa_asked: Arc<AtomicUsize>) -> impl Fn(&Message) -> Option<Message> {
    move |request| {
        let question = request.queries.first()?.clone();
        let mut reply = support::reply_to(request);
        let owner = question.name().clone();
        let known = ["example.org.", "example.internal."]
            .iter()
            .any(|zone| Name::from_ascii(zone).unwrap().zone_of(&owner));
        match question.query_type() {
            _ if !known => reply.metadata.response_code = ResponseCode::NXDomain,
            RecordType::A => reply.answers.push(Record::from_rdata(
                owner,
                60,
                RData::A(A::new(192, 0, 2, 7)),
            )),
            RecordType::AAAA => {
                aaaa_asked.fetch_add(1, Ordering::SeqCst);
                reply.answers.push(Record::from_rdata(
                    owner,
                    60,
                    RData::AAAA(AAAA("2001:db8::7".parse().unwrap())),
                ))
            }
            _ => {}
        }
        Some(reply)
    }
}

fn with_payload(mut message: Message, payload: u16) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.edns = Some(edns);
    message
}

/// OpenShift's Corefile: port 5353 shared by the cluster block and a `hostname.bind`
/// `chaos` block, `bufsize 1232`, the `template ANY AAAA { rcode NOERROR }` filter of an
/// IPv4-only cluster, `log . { class error }`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openshift_corefile_runs_unchanged() {
    let aaaa_asked = Arc::new(AtomicUsize::new(0));
    let upstream = Upstream::start(true, counting_upstream(aaaa_asked.clone())).await;
    let port = free_port();
    let corefile = adapt(
        OPENSHIFT,
        &[
            (".:5353 {", &format!(".:{port} {{\n    bind 127.0.0.1")),
            (
                "hostname.bind:5353 {",
                &format!("hostname.bind:{port} {{\n    bind 127.0.0.1"),
            ),
            (
                "health {\n        lameduck 20s\n    }",
                "health 127.0.0.1:0",
            ),
            ("    ready\n", "    ready 127.0.0.1:0\n"),
            (
                "pods insecure",
                "pods insecure\n        manifests cluster.yaml",
            ),
            ("prometheus 127.0.0.1:9153", "prometheus 127.0.0.1:0"),
            ("/etc/resolv.conf", &upstream.addr.to_string()),
        ],
    );
    let server = TestServer::start(&corefile, &[("cluster.yaml", CLUSTER)]).await;
    let dns = SocketAddr::from(([127, 0, 0, 1], port));

    // A cluster name: its address, over UDP and TCP.
    for answer in [
        udp(dns, &query("web.shop.svc.cluster.local.", RecordType::A)).await,
        tcp(dns, &query("web.shop.svc.cluster.local.", RecordType::A)).await,
    ] {
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            lines(&answer.answers),
            ["web.shop.svc.cluster.local. 5 A 10.96.0.40"]
        );
    }
    // A forwarded name: the upstream's A.
    let answer = udp(dns, &query("www.example.org.", RecordType::A)).await;
    assert_eq!(lines(&answer.answers), ["www.example.org. 60 A 192.0.2.7"]);

    // AAAA, cluster or not: NOERROR without records, and never asked upstream.
    for name in ["web.shop.svc.cluster.local.", "www.example.org."] {
        let answer = udp(dns, &query(name, RecordType::AAAA)).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert!(answer.answers.is_empty(), "{name}: {:?}", answer.answers);
        assert!(
            answer.authorities.is_empty(),
            "{name}: {:?}",
            answer.authorities
        );
    }
    assert_eq!(aaaa_asked.load(Ordering::SeqCst), 0);

    // bufsize 1232: a client offering 4096 is told 1232.
    let answer = udp(
        dns,
        &with_payload(query("web.shop.svc.cluster.local.", RecordType::A), 4096),
    )
    .await;
    let edns = answer.edns.expect("an OPT record in the answer");
    assert_eq!(edns.max_payload(), 1232);

    // hostname.bind in class CH, on the same port, from the chaos block.
    let mut chaos = query("hostname.bind.", RecordType::TXT);
    chaos.queries[0].set_query_class(DNSClass::CH);
    let answer = udp(dns, &chaos).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    let [record] = answer.answers.as_slice() else {
        panic!("one TXT record, got {:?}", answer.answers);
    };
    assert_eq!(record.dns_class, DNSClass::CH);
    let RData::TXT(TXT { txt_data, .. }) = &record.data else {
        panic!("a TXT record, got {record:?}");
    };
    assert_eq!(txt_data.len(), 1);
    assert!(!txt_data[0].is_empty());
    drop(server);
}

/// kubespray's Corefile: an `example.com` stub zone that rewrites names to
/// `example.internal` and maps the answers back (`rewrite stop { name regex ...;
/// answer name ... }`), and `k8s_external` in the cluster block, both on one port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubespray_corefile_runs_unchanged() {
    let upstream = Upstream::start(true, counting_upstream(Arc::default())).await;
    let port = free_port();
    let corefile = adapt(
        KUBESPRAY,
        &[
            (
                "example.com:53 {",
                &format!("example.com:{port} {{\n    bind 127.0.0.1"),
            ),
            (
                "forward . 192.168.0.53 192.168.0.54",
                &format!("forward . {}", upstream.addr),
            ),
            (".:53 {", &format!(".:{port} {{\n    bind 127.0.0.1")),
            ("health {\n        lameduck 5s\n    }", "health 127.0.0.1:0"),
            ("    ready\n", "    ready 127.0.0.1:0\n"),
            (
                "pods insecure",
                "pods insecure\n      manifests cluster.yaml",
            ),
            ("prometheus :9153", "prometheus 127.0.0.1:0"),
            ("/etc/resolv.conf", &upstream.addr.to_string()),
        ],
    );
    let server = TestServer::start(&corefile, &[("cluster.yaml", CLUSTER)]).await;
    let dns = SocketAddr::from(([127, 0, 0, 1], port));

    // The stub zone: asked as example.com, forwarded as example.internal, answered
    // under the name the client asked, with the client's question. The rewritten name
    // is outside the block's zone, so `cache 5` leaves it alone (as in CoreDNS, whose
    // cache matches zones on the rewritten name): the upstream's TTL.
    let answer = udp(dns, &query("app.example.com.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        answer.queries[0].name(),
        &Name::from_ascii("app.example.com.").unwrap()
    );
    assert_eq!(lines(&answer.answers), ["app.example.com. 60 A 192.0.2.7"]);

    // k8s_external: the service's external IP under the external zone; its cluster
    // name still answers with the cluster IP.
    let answer = udp(dns, &query("front.shop.k8s_external.local.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&answer.answers),
        ["front.shop.k8s_external.local. 5 A 192.0.2.41"]
    );
    let answer = udp(dns, &query("front.shop.svc.cluster.local.", RecordType::A)).await;
    assert_eq!(
        lines(&answer.answers),
        ["front.shop.svc.cluster.local. 5 A 10.96.0.41"]
    );
    // A service without external addresses does not exist in the external zone.
    let answer = udp(dns, &query("web.shop.k8s_external.local.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    drop(server);
}
