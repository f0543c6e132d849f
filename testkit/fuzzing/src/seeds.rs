//! Seed queries for the packet targets: every kind of name the demo cluster has, in
//! the query types and EDNS forms clients send, and the broken forms the server must
//! survive. The corpus replay test runs them all; `examples/write_seeds.rs` writes them
//! as files to start a fuzzing run from.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// Names in and around the demo cluster (deploy/demo/cluster.yaml).
const NAMES: &[&str] = &[
    "cluster.local.",
    "dns-version.cluster.local.",
    "svc.cluster.local.",
    "shop.svc.cluster.local.",
    "kubernetes.default.svc.cluster.local.",
    "kube-dns.kube-system.svc.cluster.local.",
    "web.shop.svc.cluster.local.",
    "WeB.ShOp.SvC.ClUsTeR.LoCaL.",
    "_http._tcp.web.shop.svc.cluster.local.",
    "_http._udp.web.shop.svc.cluster.local.",
    "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
    "_tcp.web.shop.svc.cluster.local.",
    "http.tcp.web.shop.svc.cluster.local.",
    "payments.shop.svc.cluster.local.",
    "db.data.svc.cluster.local.",
    "db-0.db.data.svc.cluster.local.",
    "db-2.db.data.svc.cluster.local.",
    "_postgres._tcp.db.data.svc.cluster.local.",
    "10-244-1-5.web.shop.svc.cluster.local.",
    "10-244-1-7.shop.pod.cluster.local.",
    "fd00-10-244-1--5.shop.pod.cluster.local.",
    "nosuch.shop.svc.cluster.local.",
    "web.shop.svc.cluster.local.shop.svc.cluster.local.",
    "web.shop.svc.cluster.local.svc.cluster.local.",
    "a.b.c.d.e.f.web.shop.svc.cluster.local.",
    "1.0.96.10.in-addr.arpa.",
    "5.12.96.10.in-addr.arpa.",
    "20.1.244.10.in-addr.arpa.",
    "96.10.in-addr.arpa.",
    "5.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.",
    "node-1.example.test.",
    "NODE-1.example.test.",
    "example.test.",
    "whoami.test.",
    "x.whoami.test.",
    "kubernetes.io.",
    ".",
];

/// Query types asked of every name.
const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::TXT,
    RecordType::SOA,
    RecordType::NS,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::ANY,
    RecordType::AXFR,
    RecordType::IXFR,
];

/// The EDNS forms: none, a small and a large buffer, DNSSEC OK, version 1.
fn edns_variants() -> Vec<Option<Edns>> {
    let make = |size: u16, dnssec_ok: bool, version: u8| {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        edns.set_dnssec_ok(dnssec_ok);
        edns.set_version(version);
        Some(edns)
    };
    vec![
        None,
        make(512, false, 0),
        make(1232, false, 0),
        make(4096, true, 0),
        make(1232, false, 1),
    ]
}

/// One query packet.
pub fn query(name: &str, qtype: RecordType, edns: Option<Edns>, id: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    let mut question = Query::query(Name::from_ascii(name).expect("a seed name"), qtype);
    question.set_query_class(DNSClass::IN);
    message.add_query(question);
    message.edns = edns;
    message.to_vec().expect("a seed query encodes")
}

/// Every seed: each name × type × EDNS form, then broken variants of a few.
pub fn all() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut id = 1u16;
    for name in NAMES {
        for &qtype in TYPES {
            for edns in edns_variants() {
                seeds.push(query(name, qtype, edns, id));
                id = id.wrapping_add(1);
            }
        }
    }
    let base = query(
        "web.shop.svc.cluster.local.",
        RecordType::A,
        edns_variants().swap_remove(2),
        0x4242,
    );
    // Cut short at every length.
    for len in 0..base.len() {
        seeds.push(base[..len].to_vec());
    }
    let mut variant = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut packet = base.clone();
        edit(&mut packet);
        seeds.push(packet);
    };
    variant(&|p| p[2] |= 0x80); // a response
    variant(&|p| p[2] |= 0x10); // opcode 2 (status)
    variant(&|p| p[2] |= 0x28); // opcode 5 (update)
    variant(&|p| p[5] = 2); // two questions, one present
    variant(&|p| p[5] = 0); // no question
    variant(&|p| p[7] = 1); // an answer record that is not there
    variant(&|p| p[11] = 2); // two additional records, one present
    variant(&|p| p.extend_from_slice(&[0; 7])); // trailing bytes
    variant(&|p| {
        // class CH
        let class_at = 12 + "web.shop.svc.cluster.local.".len() + 1 + 2;
        p[class_at + 1] = 3;
    });
    variant(&|p| {
        // a compression pointer to itself in place of the name
        p.truncate(12);
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    });
    variant(&|p| {
        // a label longer than 63
        p.truncate(12);
        p.push(64);
        p.extend_from_slice(&[b'a'; 64]);
        p.extend_from_slice(&[0, 0, 1, 0, 1]);
    });
    seeds
}

/// The repository's Corefiles, and every prefix of the kubeadm one (cut at each line
/// and inside each line): the Corefile target's seeds.
pub fn corefiles() -> Vec<String> {
    let kubeadm = include_str!("../../../Corefile.example");
    let mut seeds = vec![
        kubeadm.to_owned(),
        include_str!("../../../deploy/demo/Corefile").to_owned(),
    ];
    for (at, _) in kubeadm.char_indices().step_by(7) {
        seeds.push(kubeadm[..at].to_owned());
    }
    seeds
}
