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
    "alias.shop.svc.cluster.local.",
    "Alias.Shop.svc.cluster.local.",
    "web.shop.svc.cluster.internal.",
    "_http._tcp.web.shop.svc.cluster.internal.",
    "web.shop.alias.test.",
    "ip-1-2a.tmpl.test.",
    "IP-300-ff.tmpl.test.",
    "ip-1-fff.tmpl.test.",
    "other.tmpl.test.",
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

/// Queries whose answers are truncated over UDP (the headless service `big.fuzz`, see
/// `servers.rs`), without EDNS and at payload sizes from 512 to 4096: every truncated
/// answer must be exactly as long as its parts (the checks decode strictly).
fn truncated_answers(id: &mut u16) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let names = [
        "big.fuzz.svc.cluster.local.",
        "Big.Fuzz.svc.cluster.local.",
        "_http._tcp.big.fuzz.svc.cluster.local.",
    ];
    let sizes = [
        None,
        Some(512),
        Some(600),
        Some(1000),
        Some(1232),
        Some(1400),
        Some(4096),
    ];
    for name in names {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::SRV] {
            for size in sizes {
                let edns = size.map(|size| {
                    let mut edns = Edns::new();
                    edns.set_max_payload(size);
                    edns
                });
                seeds.push(query(name, qtype, edns, *id));
                *id = id.wrapping_add(1);
            }
        }
    }
    seeds
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
    seeds.extend(truncated_answers(&mut id));
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
    for text in TEMPLATE_AND_REWRITE {
        seeds.push((*text).to_owned());
        for (at, _) in text.char_indices().step_by(11) {
            seeds.push(text[..at].to_owned());
        }
    }
    seeds
}

/// Corefiles with `template` and `rewrite` in the forms their READMEs and the
/// distributions use, and some they refuse.
const TEMPLATE_AND_REWRITE: &[&str] = &[
    ". {\n    template IN AAAA . {\n        rcode NOERROR\n    }\n    template ANY ANY invalid {\n        rcode NXDOMAIN\n        authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)\"\n        ederror 21 \"Blocked according to RFC2606\"\n    }\n}\n",
    ". {\n    template IN A example {\n      match \"^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$\"\n      answer \"{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}\"\n      fallthrough\n    }\n    template IN PTR in-addr.arpa {\n      match ^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$\n      answer \"{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example.\"\n    }\n}\n",
    ".:5353 {\n    bufsize 1232\n    template ANY AAAA {\n        rcode NOERROR\n    }\n    template IN A x { match ((((a)))) ; answer \"{{ if .Name }}\" }\n}\n",
    ". {\n    rewrite name suffix .schmoogle.com. .google.com. answer auto\n    rewrite continue name regex (.*)-(us-west-1)\\.example\\.org {1}.service.{2}.consul answer name (.*)\\.service\\.(us-west-1)\\.consul {1}-{2}.example.org\n    rewrite stop {\n        name regex (.*)\\.cluster\\.local {1}.cluster.local\n        answer name (.*)\\.cluster\\.local {1}.cluster.local\n    }\n    rewrite ttl regex (.*)\\.example 10-\n    rewrite rcode exact a.example. SERVFAIL NXDOMAIN\n    rewrite type ANY HINFO\n    rewrite class CH IN\n    rewrite edns0 local set 0xffee abc\n}\n",
];

/// The manifest target's seeds: the repository's manifests, and the shapes people and
/// tools write (lists, typed lists, anchors, tags, nulls, wrong types), as files.
pub fn manifests() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = [
        include_str!("../../../deploy/demo/cluster.yaml"),
        include_str!("../../../plugins/kubernetes/testdata/f0-kubeadm.yaml"),
        include_str!("../../../plugins/kubernetes/testdata/f1-handler.yaml"),
        include_str!("../../../plugins/kubernetes/testdata/f2-reverse.json"),
        "",
        "---\n---\n",
        "null\n",
        "[]",
        "{}",
        "kind: List\nitems:\n",
        "kind: List\nitems: 7\n",
        "apiVersion: v1\nkind: ServiceList\nitems:\n- metadata: {name: a, namespace: shop}\n  spec: {clusterIP: 10.96.0.9}\n",
        "apiVersion: v1\nkind: List\nitems:\n- kind: List\n  items:\n  - {apiVersion: v1, kind: Namespace, metadata: {name: shop}}\n",
        "base: &base {apiVersion: v1, kind: Service, metadata: {name: a, namespace: shop}, spec: {clusterIP: 10.96.0.2}}\n",
        "apiVersion: v1\nkind: Service\nmetadata: &m {name: a, namespace: shop}\nspec: {clusterIP: 10.96.0.2}\n---\napiVersion: v1\nkind: Namespace\nmetadata: *m\n",
        "apiVersion: v1\nkind: Service\nmetadata:\n  <<: {name: a, namespace: shop}\nspec: {clusterIP: 10.96.0.2}\n",
        "apiVersion: v1\nkind: Service\nmetadata: !Meta {name: a}\nspec: {}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\nspec: {clusterIP: 10.96.0.2}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: 7, namespace: [x]}\nspec: {ports: [{port: 99999999999}]}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIPs: [\"10.96.0.1\", \"fd00::1\", \"nope\"], ports: [{port: -1}]}\n",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: ExternalName, externalName: \"..\"}\n",
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints: [{addresses: [\"10.1.1.1\", \"x\"], hostname: H, conditions: {ready: null}}]\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nstatus: {phase: Running, podIP: 10.244.0.9, podIPs: [{ip: \"fd00::9\"}]}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, deletionTimestamp: \"2025-01-01T00:00:00Z\"}\nstatus: {podIP: 10.244.0.9}\n",
        "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"\\u0000\"}}",
        "[{\"kind\": \"List\", \"items\": [null, 1, \"x\", {}]}]",
        "\u{feff}apiVersion: v1\nkind: Namespace\nmetadata: {name: bom}\n",
        "\t- not yaml\n: :\n",
    ]
    .into_iter()
    .map(|text| text.as_bytes().to_vec())
    .collect();
    let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
    seeds.push(deep.into_bytes());
    seeds.push((0..=255u8).collect());
    seeds.push(vec![0xff, 0xfe, b'k', b'i', b'n', b'd']);
    seeds
}

/// The API object target's seeds: every object of the JSON fixture, alone and in each
/// kind of watch event, and hostile field values.
pub fn api_objects() -> Vec<Vec<u8>> {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "../../../plugins/kubernetes/testdata/f2-reverse.json"
    ))
    .expect("the fixture is JSON");
    let mut objects = Vec::new();
    for item in fixture.as_array().into_iter().flatten() {
        match item.get("items").and_then(serde_json::Value::as_array) {
            // A typed list: its items lack kind and apiVersion.
            Some(items) => objects.extend(items.iter().map(|i| {
                let mut i = i.clone();
                i["kind"] = "EndpointSlice".into();
                i["apiVersion"] = "discovery.k8s.io/v1".into();
                i
            })),
            None => objects.push(item.clone()),
        }
    }
    let hostile = [
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": ""}, "spec": {}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": ""}, "spec": {"clusterIP": "None", "clusterIPs": ["10.0.0.1"]}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIPs": ["", "fd00::1", "1.2.3.4"], "ports": [{"port": 0}]}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"type": "ExternalName", "externalName": "a..b"}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"type": "ExternalName", "externalName": "   "}}"#,
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 2147483647, "protocol": "ÜDP"}]}}"#,
        r#"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "a"}, "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2025-01-06T09:00:00.123456789+14:00"}}, "addressType": "IPv6", "endpoints": [{"addresses": ["10.0.0.1", "fd00::1"], "hostname": "ÄB", "targetRef": {"kind": "Node", "name": "n"}}], "ports": [{"port": null}]}"#,
        r#"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "a"}, "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "-0001-13-32T25:61:61Z"}}, "addressType": "FQDN", "endpoints": [{"addresses": ["a.example"]}]}"#,
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": "Pending", "podIPs": [{"ip": "fe80::1%eth0"}, {"ip": "10.1.1.1"}]}}"#,
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"": ""}}}"#,
        r#"{"type": "BOOKMARK", "object": {"kind": "Service", "apiVersion": "v1", "metadata": {"resourceVersion": "12"}}}"#,
        r#"{"type": "ERROR", "object": {"status": "Failure", "message": "too old", "reason": "Expired", "code": 410}}"#,
        r#"{"type": "ADDED", "object": null}"#,
    ];
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for object in &objects {
        seeds.push(object.to_string().into_bytes());
        for event in ["ADDED", "MODIFIED", "DELETED"] {
            seeds.push(
                serde_json::json!({"type": event, "object": object})
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    seeds.extend(hostile.iter().map(|text| text.as_bytes().to_vec()));
    seeds
}

/// The cluster target's seeds: programs (see `cluster`) for the odd clusters named in
/// its description, then pseudo-random ones.
pub fn clusters() -> Vec<Vec<u8>> {
    // Pool positions: names web 0, db 1, shop 3, 63 characters 4, 64 characters 5,
    // http 11; 0xfe/0xff: 253/254 characters. IPs 10.96.0.1 0 and 1, 10.244.1.5 2.
    let mut seeds: Vec<Vec<u8>> = vec![
        // Two services and a pod with the same IP; two slices with the same endpoint.
        vec![
            0, //
            0, 3, // namespace shop
            1, 0, 3, 0, 1, 11, 0, 1, 11, 2, 0,
            0, // service web: ClusterIP 10.96.0.1, http 80/TCP
            1, 1, 3, 0, 1, 11, 0, 1, 11, 2, 1, 0, // service db: the same IP
            3, 0, 3, 1, 0, 0, // pod web in shop with 10.96.0.1
            2, 0, 3, 0, 0, 1, 1, 2, 1, 1, 0, 0, 0, 1, 11, 0, 1,
            11, // slice of web: 10.244.1.5
            2, 1, 3, 1, 0, 1, 1, 2, 1, 1, 0, 0, 0, 1, 11, 0, 1, 11, // slice of db: the same
        ],
        // A service with 10,000 ports, and its slice with 10,000 too.
        vec![
            1, 0, 3, //
            1, 0, 3, 0, 0xff, 11, 0, 2, 0, 0, //
            2, 0, 3, 0, 0, 1, 1, 2, 1, 1, 0, 0, 0, 0, 0xff, 11, 0,
        ],
        // A service and its slices disagreeing: headless service without ports; slices
        // with other ports, IPv4 addresses in an IPv6 slice, one slice for a service
        // that does not exist, the same hostname twice.
        vec![
            0, 0, 3, //
            1, 0, 3, 0, 0, 6, 0, 0, 0, //
            2, 0, 3, 0, 0, 2, 1, 2, 1, 1, 0, 0, 1, 0, 1, 2, 1, 1, 0, 0, 1, 3, 10, 1, 1, 10, //
            2, 1, 3, 1, 0, 1, 1, 3, 1, 1, 11, 1, 0xfe, 0, 0, //
            2, 1, 2, 0, 1, 1, 1, 2, 0, 0, 0, 1, 1, 0, 5, 11,
        ],
        // Names at the limits: a namespace, service, hostname and port name of 63
        // characters, a pod name and ExternalName of 253; and one past each.
        vec![
            0, 0, 4, //
            1, 4, 4, 0, 1, 4, 0, 1, 4, 2, 0, 0, //
            2, 4, 4, 4, 0, 1, 1, 2, 1, 1, 4, 1, 0xfe, 0, 1, 4, 0, 1, 4, //
            1, 0, 4, 1, 0, 6, 3, 0, 0, //
            0, 5, 1, 5, 5, 0, 1, 5, 0, 1, 5, 2, 0, 0, //
            2, 5, 5, 5, 0, 1, 1, 2, 1, 1, 5, 1, 0xff, 0, 1, 5, 0, 1, 5, //
            1, 0xff, 4, 1, 0, 6, 3, 1, 0, //
            3, 0xfe, 4, 1, 2, 2,
        ],
        // 1,000 endpoints in one slice, with hostnames.
        vec![1, 0, 3, 1, 0, 3, 0, 0, 6, 0, 0, 0, 2, 0, 3, 0, 1, 0xff],
    ];
    // The same with endpoint_pod_names: pods named by their 253-character names.
    for crafted in 0..5 {
        let mut program = seeds[crafted].clone();
        program[0] ^= 1;
        seeds.push(program);
    }
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for length in 0..48usize {
        let mut program = Vec::with_capacity(length * 4);
        for _ in 0..length * 4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            program.push((state >> 24) as u8);
        }
        seeds.push(program);
    }
    seeds
}
