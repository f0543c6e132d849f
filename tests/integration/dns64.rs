//! `dns64` end to end: kops's IPv6 Corefile (`deploy/examples/kops-ipv6.Corefile`) on
//! loopback, a cluster name and a forwarded name asked for AAAA from an IPv6 client.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::support::cluster_plugins::{adapt, lines, udp_from};
use crate::support::{self, TestServer, Upstream, http_get, query};

const KOPS_IPV6: &str = include_str!("../../deploy/examples/kops-ipv6.Corefile");

const CLUSTER: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: shop}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: modern, namespace: shop}
spec:
  clusterIP: fd00:10:96::20
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: shop}
spec:
  clusterIP: 10.96.0.30
  clusterIPs: [10.96.0.30, fd00:10:96::30]
  ipFamilies: [IPv4, IPv6]
  ports: [{name: http, port: 80}]
";

/// The upstream: `v4only.example.org` has A 192.0.2.1 (TTL 300) and no AAAA (SOA TTL
/// 60); `dual.example.org` has both; other names under example.org do not exist.
fn upstream_answer(request: &Message) -> Option<Message> {
    let question = request.queries.first()?.clone();
    let mut reply = support::reply_to(request);
    let owner = question.name().clone();
    let soa = || {
        Record::from_rdata(
            Name::from_ascii("example.org.").unwrap(),
            60,
            RData::SOA(SOA::new(
                Name::from_ascii("ns.example.org.").unwrap(),
                Name::from_ascii("hostmaster.example.org.").unwrap(),
                1,
                7200,
                1800,
                86400,
                120,
            )),
        )
    };
    match (
        owner.to_lowercase().to_string().as_str(),
        question.query_type(),
    ) {
        ("v4only.example.org.", RecordType::A) | ("dual.example.org.", RecordType::A) => {
            reply.answers.push(Record::from_rdata(
                owner,
                300,
                RData::A(A::new(192, 0, 2, 1)),
            ))
        }
        ("dual.example.org.", RecordType::AAAA) => reply.answers.push(Record::from_rdata(
            owner,
            300,
            RData::AAAA(AAAA("2001:db8::1".parse().unwrap())),
        )),
        ("v4only.example.org.", _) | ("dual.example.org.", _) => reply.authorities.push(soa()),
        _ => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.authorities.push(soa());
        }
    }
    Some(reply)
}

/// kops's IPv6 Corefile on ::1 and 127.0.0.1 (port 0), its cluster read from a
/// manifest, its upstream the fake one; HTTP endpoints on loopback port 0.
fn corefile(upstream: SocketAddr) -> String {
    adapt(
        KOPS_IPV6,
        &[
            (".:53 {", ".:0 {\n    bind ::1 127.0.0.1"),
            ("health {\n      lameduck 5s\n    }", "health 127.0.0.1:0"),
            ("ready", "ready 127.0.0.1:0"),
            (
                "pods insecure",
                "pods insecure\n      manifests cluster.yaml",
            ),
            ("prometheus :9153", "prometheus 127.0.0.1:0"),
            ("/etc/resolv.conf", &upstream.to_string()),
        ],
    )
}

async fn start() -> (TestServer, Upstream, SocketAddr) {
    let upstream = Upstream::start(true, upstream_answer).await;
    let server = TestServer::start(&corefile(upstream.addr), &[("cluster.yaml", CLUSTER)]).await;
    let v6 = v6_listener(&server);
    (server, upstream, v6)
}

fn v6_listener(server: &TestServer) -> SocketAddr {
    server
        .server
        .udp_addrs()
        .into_iter()
        .find(|a| a.is_ipv6())
        .expect("a listener on ::1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kops_ipv6_synthesizes_aaaa_for_cluster_and_forwarded_names() {
    let (server, _upstream, v6) = start().await;
    let ask = |name: &'static str| async move {
        udp_from("[::1]:0", v6, &query(name, RecordType::AAAA)).await
    };

    // A cluster name with only an IPv4 cluster IP: the TTL is min(A 30, SOA 30).
    let answer = ask("legacy.shop.svc.cluster.local.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&answer.answers),
        ["legacy.shop.svc.cluster.local. 30 AAAA 64:ff9b::a60:14"]
    );
    // A cluster name with an IPv6 address keeps it.
    let answer = ask("modern.shop.svc.cluster.local.").await;
    assert_eq!(
        lines(&answer.answers),
        ["modern.shop.svc.cluster.local. 30 AAAA fd00:10:96::20"]
    );
    // A forwarded name without AAAA: TTL min(A 300, SOA 60), both capped at 30 by
    // `cache 30`, which runs after dns64 (as in CoreDNS).
    let answer = ask("v4only.example.org.").await;
    assert_eq!(
        lines(&answer.answers),
        ["v4only.example.org. 30 AAAA 64:ff9b::c000:201"]
    );
    // Asked again, from the cache: the same address.
    let answer = ask("v4only.example.org.").await;
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(
        answer.answers[0].data,
        RData::AAAA(AAAA("64:ff9b::c000:201".parse().unwrap()))
    );
    // A real AAAA is kept; a name error stays one.
    let answer = ask("dual.example.org.").await;
    assert_eq!(
        lines(&answer.answers),
        ["dual.example.org. 30 AAAA 2001:db8::1"]
    );
    let answer = ask("missing.example.org.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert!(answer.answers.is_empty());
    let answer = ask("nothing.shop.svc.cluster.local.").await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);

    let (status, metrics) = http_get(server.http("/metrics"), "/metrics").await;
    assert_eq!(status, 200);
    let translated = metrics
        .lines()
        .find(|l| l.starts_with("coredns_dns64_requests_translated_total{server=\"dns://"))
        .unwrap_or_else(|| panic!("no dns64 counter in\n{metrics}"));
    let count: f64 = translated.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 2.0, "{translated}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_clients_get_what_the_chain_answers() {
    let (server, _upstream, _) = start().await;
    let v4 = server
        .server
        .udp_addrs()
        .into_iter()
        .find(|a| a.is_ipv4())
        .expect("a listener on 127.0.0.1");
    for name in ["legacy.shop.svc.cluster.local.", "v4only.example.org."] {
        let answer = udp_from("127.0.0.1:0", v4, &query(name, RecordType::AAAA)).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert!(answer.answers.is_empty(), "{name}: {:?}", answer.answers);
    }
}

/// A reply in full: header, question, every section (an SOA's serial, which differs
/// between two servers, left out) and EDNS.
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

/// AAAA from an IPv6 client through dns64's wire path (a cluster name with AAAA left
/// to `kubernetes` there) and through the ordinary path only (`log` in front): the
/// same answers for cluster names with AAAA (in the client's case too), one without
/// (synthesized), NXDOMAIN, names outside the zone, and with `translate_all`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aaaa_answers_are_the_same_on_both_paths() {
    let upstream = Upstream::start(true, upstream_answer).await;
    // No cache: both servers answer every query through dns64.
    let base = adapt(&corefile(upstream.addr), &[("cache 30", "")]);
    let translate_all = adapt(
        &base,
        &[(
            "\n    dns64\n",
            "\n    dns64 {\n      translate_all\n    }\n",
        )],
    );
    let names = [
        "modern.shop.svc.cluster.local.",
        "dual.shop.svc.cluster.local.",
        "DUAL.Shop.svc.cluster.local.",
        "legacy.shop.svc.cluster.local.",
        "nothing.shop.svc.cluster.local.",
        "shop.svc.cluster.local.",
        "v4only.example.org.",
        "dual.example.org.",
        "missing.example.org.",
    ];
    for wire in [base, translate_all] {
        let ordinary = adapt(
            &wire,
            &[("errors", "errors\n    log . {\n        class denial\n    }")],
        );
        let files = [("cluster.yaml", CLUSTER)];
        let wire = TestServer::start(&wire, &files).await;
        let ordinary = TestServer::start(&ordinary, &files).await;
        wire.wait_ready(Duration::from_secs(15)).await;
        ordinary.wait_ready(Duration::from_secs(15)).await;
        let (wire_v6, ordinary_v6) = (v6_listener(&wire), v6_listener(&ordinary));
        let mut kinds = [0usize; 3];
        for name in names {
            let question = query(name, RecordType::AAAA);
            let (a, b) = (
                udp_from("[::1]:0", wire_v6, &question).await,
                udp_from("[::1]:0", ordinary_v6, &question).await,
            );
            assert_eq!(summary(&a), summary(&b), "{name}");
            let synthesized = lines(&a.answers).iter().any(|l| l.contains("64:ff9b::"));
            let kind = match a.metadata.response_code {
                ResponseCode::NXDomain => 0,
                _ if synthesized => 1,
                _ => 2,
            };
            kinds[kind] += 1;
        }
        assert!(
            kinds.iter().all(|&n| n > 0),
            "NXDOMAIN, synthesized, other: {kinds:?}"
        );
    }
    // The dual-stack service keeps its own address.
    let server = TestServer::start(
        &adapt(&corefile(upstream.addr), &[("cache 30", "")]),
        &[("cluster.yaml", CLUSTER)],
    )
    .await;
    server.wait_ready(Duration::from_secs(15)).await;
    let answer = udp_from(
        "[::1]:0",
        v6_listener(&server),
        &query("dual.shop.svc.cluster.local.", RecordType::AAAA),
    )
    .await;
    assert_eq!(
        lines(&answer.answers),
        ["dual.shop.svc.cluster.local. 30 AAAA fd00:10:96::30"]
    );
}
