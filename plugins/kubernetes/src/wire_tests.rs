//! The wire path against the ordinary path: for every name and type of the fixtures,
//! whatever the wire path answers must be what `serve` answers, record for record and
//! in the client's case; and the common queries must be answered on the wire path.

use std::net::SocketAddr;
use std::sync::Arc;

use clusterdns_api::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{Ctx, Next, Plugin, Protocol};

use crate::Kubernetes;
use crate::test_support::{F0, F1, line, next_stub, plugin as build};

/// Names of every shape the grammar knows, in and out of the fixtures.
const NAMES: &[&str] = &[
    "cluster.local.",
    "svc.cluster.local.",
    "pod.cluster.local.",
    "testns.svc.cluster.local.",
    "nons.svc.cluster.local.",
    "svc1.testns.svc.cluster.local.",
    "SVC1.TestNS.svc.Cluster.Local.",
    "svc1.unexposedns.svc.cluster.local.",
    "svcempty.testns.svc.cluster.local.",
    "svc6.testns.svc.cluster.local.",
    "svc-dual-stack.testns.svc.cluster.local.",
    "hdls1.testns.svc.cluster.local.",
    "HDLS1.testns.svc.cluster.local.",
    "dup-name.hdls1.testns.svc.cluster.local.",
    "172-0-0-2.hdls1.testns.svc.cluster.local.",
    "5678-abcd--1.hdls1.testns.svc.cluster.local.",
    "ep1a.svc1.testns.svc.cluster.local.",
    "nope.hdls1.testns.svc.cluster.local.",
    "hdlsprtls.testns.svc.cluster.local.",
    "_http._tcp.svc1.testns.svc.cluster.local.",
    "_HTTP._Tcp.hdls1.testns.svc.cluster.local.",
    "_http._udp.svc1.testns.svc.cluster.local.",
    "_dns._udp.kubedns.kube-system.svc.cluster.local.",
    "*.testns.svc.cluster.local.",
    "any.testns.svc.cluster.local.",
    "_http.*.svc1.testns.svc.cluster.local.",
    "*._tcp.hdls1.testns.svc.cluster.local.",
    "http.tcp.svc1.testns.svc.cluster.local.",
    "external.testns.svc.cluster.local.",
    "external-to-service.testns.svc.cluster.local.",
    "_http._tcp.external.testns.svc.cluster.local.",
    "ns.dns.cluster.local.",
    "dns-version.cluster.local.",
    "10-0-0-1.testns.pod.cluster.local.",
    "a.b.c.d.e.f.svc.cluster.local.",
    "svc1.testns.svc.cluster.local.testns.svc.cluster.local.",
    "missing.testns.svc.cluster.local.",
    "kube-dns.kube-system.svc.cluster.local.",
    "kubernetes.default.svc.cluster.local.",
    "1.0.0.10.in-addr.arpa.",
    "example.org.",
];

/// The wire answer to `name`/`qtype` (decoded), or `None` when it goes the ordinary way.
fn wire(plugin: &Kubernetes, name: &str, qtype: RecordType) -> Option<Message> {
    let mut message = Message::new(4321, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, true).unwrap();
    let mut buf = Vec::new();
    match plugin.serve_wire(&mut query, &mut buf) {
        Wire::Answered { rcode, writer } => {
            assert_eq!(writer, "kubernetes");
            let reply = Message::from_vec(&buf).unwrap();
            assert_eq!(reply.metadata.response_code, rcode);
            Some(reply)
        }
        Wire::Ordinary => None,
        Wire::Pass => panic!("kubernetes never passes"),
    }
}

/// Records as text, in order (names in the case they were written).
fn texts(records: &[clusterdns_api::proto::rr::Record]) -> Vec<String> {
    records.iter().map(line).collect()
}

/// Compares the wire answer with `serve`'s for every name and type; returns the
/// queries answered on the wire path.
async fn compare(plugin: &Arc<Kubernetes>) -> Vec<String> {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(next_stub())];
    let mut answered = Vec::new();
    for name in NAMES {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
            let Some(reply) = wire(plugin, name, qtype) else {
                continue;
            };
            let query = Query::query(Name::from_ascii(name).unwrap(), qtype);
            let mut ctx = Ctx::new(query, SocketAddr::from(([10, 0, 0, 9], 53)), Protocol::Udp);
            let expected = Next::new(&chain).run(&mut ctx).await.unwrap().message;
            let what = format!("{name} {qtype}");
            assert_eq!(reply.metadata.id, 4321, "{what}");
            assert!(reply.metadata.recursion_desired, "{what}");
            assert!(!reply.metadata.truncation, "{what}");
            assert_eq!(reply.metadata.message_type, MessageType::Response, "{what}");
            assert_eq!(
                reply.metadata.response_code, expected.metadata.response_code,
                "{what}"
            );
            assert_eq!(
                reply.metadata.authoritative, expected.metadata.authoritative,
                "{what}"
            );
            assert_eq!(reply.queries[0].name().to_string(), *name, "{what}");
            assert_eq!(texts(&reply.answers), texts(&expected.answers), "{what}");
            assert_eq!(
                texts(&reply.authorities),
                texts(&expected.authorities),
                "{what}"
            );
            assert_eq!(
                texts(&reply.additionals),
                texts(&expected.additionals),
                "{what}"
            );
            answered.push(what);
        }
    }
    answered
}

#[tokio::test]
async fn wire_answers_are_the_ordinary_answers() {
    let configs = [
        "kubernetes cluster.local in-addr.arpa {\nmanifests f.yaml\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nnamespaces testns kube-system\nttl 30\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nignore empty_service\npods insecure\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nendpoint_pod_names\nttl 0\n}",
    ];
    for fixture in [F1, F0] {
        for config in configs {
            let (plugin, _dir) = build(config, &[("f.yaml", fixture)], &[]);
            let answered = compare(&plugin).await;
            assert!(answered.len() > 40, "{config}: only {answered:?}");
        }
    }
    // The common queries take the wire path; the rare ones the ordinary path.
    let (plugin, _dir) = build(configs[0], &[("f.yaml", F1)], &[]);
    for (name, qtype) in [
        ("svc1.testns.svc.cluster.local.", RecordType::A),
        ("SVC1.TestNS.svc.Cluster.Local.", RecordType::AAAA),
        ("hdls1.testns.svc.cluster.local.", RecordType::AAAA),
        ("dup-name.hdls1.testns.svc.cluster.local.", RecordType::A),
        ("_http._tcp.svc1.testns.svc.cluster.local.", RecordType::SRV),
        (
            "_http._tcp.hdls1.testns.svc.cluster.local.",
            RecordType::SRV,
        ),
        ("missing.testns.svc.cluster.local.", RecordType::A),
        (
            "svc1.testns.svc.cluster.local.testns.svc.cluster.local.",
            RecordType::A,
        ),
    ] {
        assert!(wire(&plugin, name, qtype).is_some(), "{name} {qtype}");
    }
    for (name, qtype) in [
        ("external.testns.svc.cluster.local.", RecordType::A),
        ("ns.dns.cluster.local.", RecordType::A),
        ("dns-version.cluster.local.", RecordType::TXT),
        ("1.0.0.10.in-addr.arpa.", RecordType::PTR),
        ("example.org.", RecordType::A),
    ] {
        assert!(wire(&plugin, name, qtype).is_none(), "{name} {qtype}");
    }
}

#[tokio::test]
async fn fallthrough_leaves_would_be_nxdomain_answers_to_the_ordinary_path() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f.yaml\nfallthrough\n}",
        &[("f.yaml", F1)],
        &[],
    );
    assert!(wire(&plugin, "missing.testns.svc.cluster.local.", RecordType::A).is_none());
    let reply = wire(&plugin, "svc1.testns.svc.cluster.local.", RecordType::A).unwrap();
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
}

#[test]
fn shuffled_addresses_are_the_same_set() {
    let (plugin, _dir) = build(
        "kubernetes cluster.local {\nmanifests f.yaml\n}",
        &[("f.yaml", F1)],
        &[],
    );
    let mut message = Message::new(1, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii("hdls1.testns.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let packet = message.to_vec().unwrap();
    let plain = wire(&plugin, "hdls1.testns.svc.cluster.local.", RecordType::A).unwrap();
    let mut sorted = texts(&plain.answers);
    sorted.sort();
    let mut orders = std::collections::HashSet::new();
    for _ in 0..50 {
        let mut query = WireQuery::parse(&packet, true).unwrap();
        query.set_order(clusterdns_api::wire::AnswerOrder::Shuffled);
        let mut buf = Vec::new();
        assert!(matches!(
            plugin.serve_wire(&mut query, &mut buf),
            Wire::Answered { .. }
        ));
        let reply = Message::from_vec(&buf).unwrap();
        let order = texts(&reply.answers);
        let mut set = order.clone();
        set.sort();
        assert_eq!(set, sorted);
        orders.insert(order);
    }
    assert!(
        orders.len() > 1,
        "four addresses in 50 shuffles never changed order"
    );
}

/// `ClusterDirectory::holds_name` against the ordinary path: a name it says exists is
/// answered without NXDOMAIN (NODATA included) and with records of its own for every
/// type, so `autopath` may leave it to the wire path; a name it says does not exist is
/// NXDOMAIN, or a CNAME to another name.
#[tokio::test]
async fn holds_name_is_the_ordinary_paths_nxdomain() {
    use clusterdns_api::ClusterDirectory;

    let configs = [
        "kubernetes cluster.local in-addr.arpa {\nmanifests f.yaml\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nnamespaces testns\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nignore empty_service\npods verified\n}",
    ];
    let mut held = 0;
    for config in configs {
        let (plugin, _dir) = build(config, &[("f.yaml", F1)], &[]);
        let directory = crate::directory::Directory::new(
            plugin.settings().clone(),
            plugin.index().clone(),
            Vec::new(),
        );
        let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(next_stub())];
        for name in NAMES {
            for qtype in [
                RecordType::A,
                RecordType::AAAA,
                RecordType::SRV,
                RecordType::TXT,
                RecordType::MX,
            ] {
                let mut message = Message::new(1, MessageType::Query, OpCode::Query);
                message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
                let packet = message.to_vec().unwrap();
                let holds = directory.holds_name(&WireQuery::parse(&packet, true).unwrap());
                let what = format!("{config}: {name} {qtype}");
                if !matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::SRV) {
                    assert!(!holds, "{what}: only the wire path's types");
                    continue;
                }
                held += usize::from(holds);
                let query = Query::query(Name::from_ascii(name).unwrap(), qtype);
                let mut ctx = Ctx::new(query, SocketAddr::from(([10, 0, 0, 9], 53)), Protocol::Udp);
                let reply = Next::new(&chain).run(&mut ctx).await.unwrap().message;
                let rcode = reply.metadata.response_code;
                let cname = reply
                    .answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::CNAME);
                if holds {
                    assert_eq!(rcode, ResponseCode::NoError, "{what}");
                    assert!(
                        !cname && reply.answers.iter().all(|r| r.name == *ctx.qname()),
                        "{what}: {:?}",
                        texts(&reply.answers)
                    );
                } else if qtype == RecordType::A && name.ends_with(".cluster.local.") {
                    // What it does not hold is NXDOMAIN, or an ExternalName's CNAME.
                    assert!(rcode == ResponseCode::NXDomain || cname, "{what}: {rcode}");
                }
            }
        }
    }
    assert!(held > 20, "only {held} names held");
}

/// `ClusterDirectory::answers_addresses` against the ordinary path: it says yes to an
/// A or AAAA question exactly when the ordinary answer holds a record of the type
/// asked, so `dns64` may leave such an AAAA question to the wire path.
#[tokio::test]
async fn answers_addresses_is_the_ordinary_paths_answer() {
    use clusterdns_api::ClusterDirectory;

    let configs = [
        "kubernetes cluster.local in-addr.arpa {\nmanifests f.yaml\n}",
        "kubernetes cluster.local {\nmanifests f.yaml\nnamespaces testns\n}",
    ];
    let mut answered = [0usize; 2];
    for config in configs {
        let (plugin, _dir) = build(config, &[("f.yaml", F1)], &[]);
        let directory = crate::directory::Directory::new(
            plugin.settings().clone(),
            plugin.index().clone(),
            Vec::new(),
        );
        let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(next_stub())];
        for name in NAMES {
            for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
                let mut message = Message::new(1, MessageType::Query, OpCode::Query);
                message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
                let packet = message.to_vec().unwrap();
                let says = directory.answers_addresses(&WireQuery::parse(&packet, true).unwrap());
                let what = format!("{config}: {name} {qtype}");
                if qtype == RecordType::SRV {
                    assert!(!says, "{what}: only A and AAAA");
                    continue;
                }
                let query = Query::query(Name::from_ascii(name).unwrap(), qtype);
                let mut ctx = Ctx::new(query, SocketAddr::from(([10, 0, 0, 9], 53)), Protocol::Udp);
                let reply = Next::new(&chain).run(&mut ctx).await.unwrap().message;
                // An ExternalName's chased addresses are its target's, not the name's.
                let has = reply
                    .answers
                    .iter()
                    .any(|r| r.record_type() == qtype && r.name == *ctx.qname())
                    && !reply
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::CNAME);
                // The stub after `kubernetes` answers names outside its zones: those
                // are not the cluster's to vouch for.
                let in_zone = name.to_ascii_lowercase().ends_with("cluster.local.");
                assert_eq!(says, has && in_zone, "{what}: {:?}", texts(&reply.answers));
                answered[usize::from(qtype == RecordType::AAAA)] += usize::from(says);
            }
        }
    }
    assert!(answered[0] > 5, "only {} A names answered", answered[0]);
    assert!(answered[1] > 3, "only {} AAAA names answered", answered[1]);
}
