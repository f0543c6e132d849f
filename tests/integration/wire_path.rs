//! The wire path against the ordinary path, through real sockets: two servers serve
//! the demo cluster, one with a chain that only the ordinary path serves (`log` in
//! front), and every answer, header, OPT record and TCP framing included, must be the
//! same. The plugin tests show which queries take the wire path; this shows that the
//! server around it writes the same packets.

use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, Record, RecordType};

use crate::support::{TestServer, tcp, udp};

const CLUSTER: &str = include_str!("../../deploy/demo/cluster.yaml");

const NAMES: &[&str] = &[
    "kubernetes.default.svc.cluster.local.",
    "Kubernetes.Default.SVC.cluster.local.",
    "kube-dns.kube-system.svc.cluster.local.",
    "web.shop.svc.cluster.local.",
    "payments.shop.svc.cluster.local.",
    "db.data.svc.cluster.local.",
    "db-0.db.data.svc.cluster.local.",
    "DB-1.db.Data.svc.cluster.local.",
    "db-2.db.data.svc.cluster.local.",
    "_https._tcp.kubernetes.default.svc.cluster.local.",
    "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
    "_http._tcp.web.shop.svc.cluster.local.",
    "_http._tcp.db.data.svc.cluster.local.",
    "missing.shop.svc.cluster.local.",
    "web.shop.svc.cluster.local.shop.svc.cluster.local.",
    "web.nowhere.svc.cluster.local.",
    "shop.svc.cluster.local.",
    "cluster.local.",
];

fn message(name: &str, qtype: RecordType, edns: Option<(u16, bool)>, cd: bool) -> Message {
    let mut message = Message::new(0x5a5a, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.metadata.checking_disabled = cd;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some((payload, dnssec_ok)) = edns {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        edns.set_dnssec_ok(dnssec_ok);
        message.set_edns(edns);
    }
    message
}

fn texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

/// Everything a client sees of an answer, in order, as text (the SOA serial too: both
/// servers load the same files at about the same time, so it is compared with a
/// tolerance by the caller when `ttl_slack` is set).
fn summary(reply: &Message) -> String {
    let edns = reply.edns.as_ref().map(|e| {
        (
            e.max_payload(),
            e.version(),
            e.flags().dnssec_ok,
            e.rcode_high(),
        )
    });
    format!(
        "{:?}\nquestion {:?}\nanswers {:#?}\nauthority {:#?}\nadditional {:#?}\nedns {edns:?}",
        reply.metadata,
        reply.queries,
        texts(&reply.answers),
        texts(&reply.authorities),
        texts(&reply.additionals),
    )
}

/// The SOA serial is the time of the last change, which two servers may see a second
/// apart: blank it out.
fn without_serial(text: String) -> String {
    text.split('\n')
        .map(|line| match line.find(" SOA ") {
            Some(_) => {
                let fields: Vec<&str> = line.split(' ').collect();
                // owner ttl SOA mname rname serial ...
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| if i == 6 { "*" } else { f })
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn compare(corefile_wire: &str, corefile_ordinary: &str, rounds: usize) {
    let files = [("cluster.yaml", CLUSTER)];
    let wire = TestServer::start(corefile_wire, &files).await;
    let ordinary = TestServer::start(corefile_ordinary, &files).await;
    for server in [&wire, &ordinary] {
        let probe = message(NAMES[0], RecordType::A, None, false);
        let start = std::time::Instant::now();
        while udp(server.udp(), &probe).await.answers.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the cluster loads"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut compared = 0;
    for round in 0..rounds {
        for name in NAMES {
            for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
                for (edns, cd) in [
                    (None, false),
                    (Some((4096, true)), false),
                    (Some((1232, false)), true),
                ] {
                    let query = message(name, qtype, edns, cd);
                    let what = format!("round {round}: {name} {qtype} edns={edns:?} cd={cd}");
                    let (a, b) = (
                        udp(wire.udp(), &query).await,
                        udp(ordinary.udp(), &query).await,
                    );
                    assert_eq!(
                        without_serial(summary(&a)),
                        without_serial(summary(&b)),
                        "UDP {what}"
                    );
                    let (a, b) = (
                        tcp(wire.tcp(), &query).await,
                        tcp(ordinary.tcp(), &query).await,
                    );
                    assert_eq!(
                        without_serial(summary(&a)),
                        without_serial(summary(&b)),
                        "TCP {what}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, rounds * NAMES.len() * 9);
}

#[tokio::test]
async fn cluster_answers_are_the_same_on_both_paths() {
    compare(
        "cluster.local {\n    errors\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        "cluster.local {\n    errors\n    log . {\n        class denial\n    }\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        1,
    )
    .await;
}

#[tokio::test]
async fn cached_answers_are_the_same_on_both_paths() {
    // keepttl: the two caches stored their entries at slightly different times, so
    // counted-down TTLs could differ by a second.
    compare(
        "cluster.local {\n    cache 30 {\n        keepttl\n    }\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        "cluster.local {\n    log . {\n        class denial\n    }\n    cache 30 {\n        keepttl\n    }\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        2,
    )
    .await;
}
