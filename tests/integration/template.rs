//! `template` through real sockets: the IPv4-only AAAA filter in front of the demo
//! cluster (and its wire answers against the ordinary path's, byte for byte), and the
//! examples of CoreDNS's README.

use std::time::Duration;

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::support::{TestServer, http_get, query, query_edns, tcp_raw, udp, udp_raw};

const CLUSTER: &str = include_str!("../../deploy/demo/cluster.yaml");

fn texts(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

async fn wait_for_cluster(server: &TestServer) {
    let probe = query("web.shop.svc.cluster.local.", RecordType::A);
    let start = std::time::Instant::now();
    while udp(server.udp(), &probe).await.answers.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cluster loads"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The filter as IPv4-only clusters write it, with kubernetes behind it.
const FILTERED: &str = "cluster.local {
    errors
    template IN AAAA . {
        rcode NOERROR
    }
    kubernetes cluster.local {
        manifests cluster.yaml
    }
    prometheus 127.0.0.1:0
}
";

#[tokio::test]
async fn the_aaaa_filter_empties_aaaa_and_keeps_a() {
    let server = TestServer::start(FILTERED, &[("cluster.yaml", CLUSTER)]).await;
    wait_for_cluster(&server).await;
    let name = "web.shop.svc.cluster.local.";
    let a = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(texts(&a.answers), [format!("{name} 5 A 10.96.12.5")]);
    let aaaa = udp(server.udp(), &query(name, RecordType::AAAA)).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.metadata.authoritative);
    assert!(aaaa.answers.is_empty() && aaaa.authorities.is_empty());
    // Even for names the cluster does not have: the filter answers first.
    let missing = udp(
        server.udp(),
        &query("nope.shop.svc.cluster.local.", RecordType::AAAA),
    )
    .await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NoError);
    let srv = udp(
        server.udp(),
        &query("_http._tcp.web.shop.svc.cluster.local.", RecordType::SRV),
    )
    .await;
    assert_eq!(srv.answers.len(), 1);
    let (status, metrics) = http_get(server.http("/metrics"), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("coredns_template_matches_total{server=\"dns://:0\",zone=\".\",view=\"\",class=\"IN\",type=\"AAAA\"}")
            || metrics.lines().any(|l| l.starts_with("coredns_template_matches_total{") && l.contains("type=\"AAAA\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_filter_answers_the_same_bytes_on_both_paths() {
    let ordinary = FILTERED.replace(
        "    errors\n",
        "    errors\n    log . {\n        class denial\n    }\n",
    );
    let files = [("cluster.yaml", CLUSTER)];
    let wire = TestServer::start(FILTERED, &files).await;
    let slow = TestServer::start(&ordinary, &files).await;
    wait_for_cluster(&wire).await;
    wait_for_cluster(&slow).await;
    let mut compared = 0;
    for name in [
        "web.shop.svc.cluster.local.",
        "Web.Shop.SVC.cluster.local.",
        "nope.cluster.local.",
        "cluster.local.",
    ] {
        for qtype in [RecordType::AAAA, RecordType::A] {
            for edns in [None, Some((4096, true)), Some((1232, false))] {
                let mut message = query(name, qtype);
                message.metadata.id = 0x1234;
                if let Some((payload, dnssec_ok)) = edns {
                    let mut opt = Edns::new();
                    opt.set_max_payload(payload);
                    opt.set_dnssec_ok(dnssec_ok);
                    message.set_edns(opt);
                }
                let packet = message.to_vec().unwrap();
                let wait = Duration::from_secs(5);
                let a = udp_raw(wire.udp(), &packet, wait).await.unwrap();
                let b = udp_raw(slow.udp(), &packet, wait).await.unwrap();
                if qtype == RecordType::AAAA {
                    // Byte for byte: header, question as written, OPT record.
                    assert_eq!(a, b, "UDP {name} {qtype} {edns:?}");
                    assert_eq!(
                        tcp_raw(wire.tcp(), &packet).await,
                        tcp_raw(slow.tcp(), &packet).await
                    );
                } else {
                    // A answers carry the same records (TTLs may be a second apart).
                    let (a, b) = (
                        Message::from_vec(&a).unwrap(),
                        Message::from_vec(&b).unwrap(),
                    );
                    assert_eq!(a.answers.len(), b.answers.len(), "{name}");
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 24);
}

const README: &str = ". {
    template IN A example {
      match (^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$
      answer \"{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}\"
      fallthrough
    }
    template IN PTR in-addr.arpa {
      match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$
      answer \"{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example.\"
    }
    template IN A hex.example {
      match \"^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]hex[.]example[.]$\"
      answer \"{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}\"
      fallthrough
    }
    template ANY ANY invalid {
      rcode NXDOMAIN
      authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)\"
      ederror 21 \"Blocked according to RFC2606\"
    }
    template IN ANY foogle.com {
      match \"^foogle\\.com\\.$\"
      answer \"foogle.com 60 IN CNAME google.com\"
    }
    hosts {
      142.250.1.1 google.com
      fallthrough
    }
}
";

#[tokio::test]
async fn the_readme_examples_answer_as_coredns_does() {
    let server = TestServer::start(README, &[]).await;
    let ask = |name: &str, qtype| {
        let message = query(name, qtype);
        let addr = server.udp();
        async move { udp(addr, &message).await }
    };
    let a = ask("ip-10-95-12-8.example.", RecordType::A).await;
    assert_eq!(
        texts(&a.answers),
        ["ip-10-95-12-8.example. 60 A 10.95.12.8"]
    );
    assert!(a.metadata.authoritative);
    let ptr = ask("8.12.95.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        texts(&ptr.answers),
        ["8.12.95.10.in-addr.arpa. 60 PTR ip-10-95-12-8.example."]
    );
    // The PTR template has no fallthrough: a name its regex misses is SERVFAIL.
    let partial = ask("95.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(partial.metadata.response_code, ResponseCode::ServFail);
    let hex = ask("ip0a7b7b7b.hex.example.", RecordType::A).await;
    assert_eq!(
        texts(&hex.answers),
        ["ip0a7b7b7b.hex.example. 60 A 10.123.123.123"]
    );
    let cname = ask("foogle.com.", RecordType::A).await;
    assert_eq!(
        texts(&cname.answers),
        [
            "foogle.com. 60 CNAME google.com.",
            "google.com. 3600 A 142.250.1.1"
        ]
    );

    // .invalid: NXDOMAIN, a SOA for negative caching, and the extended error when the
    // client speaks EDNS.
    let invalid = udp(
        server.udp(),
        &query_edns("foo.invalid.", RecordType::A, 1232),
    )
    .await;
    assert_eq!(invalid.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        texts(&invalid.authorities),
        ["invalid. 60 SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"]
    );
    let edns = invalid.edns.as_ref().unwrap();
    let ede: Vec<u16> = edns
        .options()
        .as_ref()
        .iter()
        .map(|(code, _)| u16::from(*code))
        .collect();
    assert_eq!(ede, [15]);
    // In class CH too, as the README says.
    let mut chaos = query("foo.invalid.", RecordType::TXT);
    let q = chaos.queries[0].clone();
    let mut q = q;
    q.set_query_class(DNSClass::CH);
    chaos.queries = vec![q];
    let reply = udp(server.udp(), &chaos).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities[0].dns_class, DNSClass::CH);
}
