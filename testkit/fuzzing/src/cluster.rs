//! The index's target: odd clusters, built from bytes, served and asked.
//!
//! Bytes are read as a small program that writes a manifest (a `kind: List` in
//! JSON): each step adds a Namespace, Service, EndpointSlice or Pod whose names, IPs,
//! ports and flags are picked from pools of the values that make an index go wrong
//! (the same IP twice, a slice that disagrees with its Service, names at and past the
//! 63- and 253-character limits, upper case, dots, 10,000 ports, not-quite IPs). The
//! manifest is served by a fresh server, which is asked about every name the cluster
//! has, over UDP and TCP.

use std::time::Duration;

use clusterdns::inline::InlineServer;
use clusterdns::server::RequestPath;
use clusterdns_api::Protocol;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use crate::{SOURCE, check_reply, servers};

/// Names for namespaces, services, ports, hostnames and pods.
const NAMES: &[&str] = &[
    "web",
    "db",
    "default",
    "shop",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 63
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", // 64
    "",
    "Web",
    "x.y",
    "-lead",
    "_http",
    "http",
    "*",
    "caf\u{e9}",
    "a b",
    "svc",
    "pod",
    "10-96-0-1",
];

/// A name of 253 characters (four labels), as long as a Kubernetes object name may be.
fn long_name(fill: char) -> String {
    let label: String = std::iter::repeat_n(fill, 63).collect();
    format!("{label}.{label}.{label}.{}", &label[..61])
}

/// Addresses, the same one more than once on purpose.
const IPS: &[&str] = &[
    "10.96.0.1",
    "10.96.0.1",
    "10.244.1.5",
    "fd00::5",
    "FD00:0:0:0:0:0:0:5",
    "::ffff:10.96.0.1",
    "0.0.0.0",
    "255.255.255.255",
    "::",
    "127.0.0.1",
    "None",
    "",
    "10.96.0.1/24",
    "010.096.000.001",
    "fe80::1%eth0",
    "not an address",
];

const PORTS: &[i64] = &[53, 80, 443, 0, 1, 65_535, 65_536, -1, 53];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP", "tcp", "", "HTTP", "T CP"];
const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN", "IPv5"];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "NodePort", "LoadBalancer"];

/// Reads the bytes one at a time; zeros once they are used up.
struct Program<'a> {
    data: &'a [u8],
    at: usize,
}

impl Program<'_> {
    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn pick<T: Copy>(&mut self, pool: &[T]) -> T {
        pool[usize::from(self.byte()) % pool.len()]
    }

    /// A name from the pool, or one at the 253-character limit (`0xfe`) or past it (`0xff`).
    fn name(&mut self) -> String {
        match self.byte() {
            0xfe => long_name('n'),
            0xff => format!("{}x", long_name('n')),
            b => NAMES[usize::from(b) % NAMES.len()].to_owned(),
        }
    }

    fn ips(&mut self) -> Vec<Value> {
        let count = self.byte() % 4;
        (0..count).map(|_| json!(self.pick(IPS))).collect()
    }

    /// Up to 7 ports, or 10,000 (`0xff`).
    fn ports(&mut self, with_target: bool) -> Vec<Value> {
        let count = match self.byte() {
            0xff => 10_000,
            b => usize::from(b % 8),
        };
        let (name, protocol) = (self.name(), self.pick(PROTOCOLS));
        (0..count)
            .map(|i| {
                let port = if count > 8 {
                    json!(i % 65_535 + 1)
                } else {
                    json!(self.pick(PORTS))
                };
                let name = if count > 8 {
                    format!("p{i}")
                } else {
                    self.name()
                };
                let mut entry = json!({"name": name, "port": port, "protocol": protocol});
                if with_target {
                    entry["targetPort"] = port;
                }
                entry
            })
            .collect::<Vec<_>>()
            .into_iter()
            .chain((count == 0 && !name.is_empty()).then(|| json!({"name": name, "port": 80})))
            .collect()
    }

    fn metadata(&mut self) -> Value {
        json!({"name": self.name(), "namespace": self.name()})
    }

    fn namespace(&mut self) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.name()}})
    }

    fn service(&mut self) -> Value {
        let metadata = self.metadata();
        let kind = self.pick(SERVICE_TYPES);
        let mut spec = json!({"type": kind, "ports": self.ports(true)});
        match self.byte() % 4 {
            0 => spec["clusterIP"] = json!("None"),
            1 => spec["clusterIPs"] = Value::Array(self.ips()),
            2 => spec["clusterIP"] = json!(self.pick(IPS)),
            _ => {}
        }
        if kind == "ExternalName" {
            spec["externalName"] = json!(match self.byte() % 4 {
                0 => long_name('e'),
                1 => format!("{}.", long_name('e')),
                2 => self.pick(IPS).to_owned(),
                _ => self.name(),
            });
        }
        if self.flag() {
            spec["selector"] = json!({"app": "x"});
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec})
    }

    fn slice(&mut self) -> Value {
        let mut metadata = self.metadata();
        metadata["labels"] = json!({"kubernetes.io/service-name": self.name()});
        if self.flag() {
            metadata["annotations"] = json!({
                "endpoints.kubernetes.io/last-change-trigger-time": "2025-01-06T09:00:00Z"
            });
        }
        let count = match self.byte() {
            0xff => 1_000,
            b => usize::from(b % 5),
        };
        let endpoints: Vec<Value> = (0..count)
            .map(|i| {
                let mut endpoint = json!({
                    "addresses": self.ips(),
                    "conditions": {"ready": self.flag()},
                });
                if count > 5 {
                    endpoint["addresses"] = json!([format!("10.1.{}.{}", i / 250, i % 250)]);
                }
                if self.flag() {
                    endpoint["hostname"] = json!(self.name());
                }
                if self.flag() {
                    endpoint["targetRef"] = json!({"kind": "Pod", "name": self.name()});
                }
                endpoint
            })
            .collect();
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": metadata,
            "addressType": self.pick(ADDRESS_TYPES),
            "endpoints": endpoints,
            "ports": self.ports(false),
        })
    }

    fn pod(&mut self) -> Value {
        let metadata = self.metadata();
        let ips: Vec<Value> = self.ips().into_iter().map(|ip| json!({"ip": ip})).collect();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "status": {"phase": "Running", "podIP": self.pick(IPS), "podIPs": ips},
        })
    }
}

/// The most objects one input makes.
const MAX_OBJECTS: usize = 64;

/// The manifest `data` describes: a `kind: List` in JSON, and whether pods are served
/// by hostname (`endpoint_pod_names`).
pub fn manifest_of(data: &[u8]) -> (String, bool) {
    let mut program = Program { data, at: 0 };
    let endpoint_pod_names = program.flag();
    let mut items = Vec::new();
    while !program.done() && items.len() < MAX_OBJECTS {
        let item = match program.byte() % 4 {
            0 => program.namespace(),
            1 => program.service(),
            2 => program.slice(),
            _ => program.pod(),
        };
        items.push(item);
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    (list.to_string(), endpoint_pod_names)
}

/// The questions asked of an odd cluster: every service, port, hostname and pod name
/// the pools make, and the reverse names of their addresses.
fn questions() -> &'static [Vec<u8>] {
    static QUESTIONS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    QUESTIONS.get_or_init(|| {
        let labels: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !n.is_empty() && n.len() <= 63 && n.is_ascii() && !n.contains(' '))
            .collect();
        let mut names = vec![
            "cluster.local.".to_owned(),
            "svc.cluster.local.".to_owned(),
            "1.0.96.10.in-addr.arpa.".to_owned(),
            "5.1.244.10.in-addr.arpa.".to_owned(),
            "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.".to_owned(),
            "1.0.96.10.in-addr.arpa.".to_owned(),
            "0.0.0.0.in-addr.arpa.".to_owned(),
        ];
        let long = NAMES[4];
        for namespace in ["shop", "web", long] {
            names.push(format!("{namespace}.svc.cluster.local."));
            names.push(format!("10-244-1-5.{namespace}.pod.cluster.local."));
            for service in &labels {
                let service_name = format!("{service}.{namespace}.svc.cluster.local.");
                names.push(service_name.clone());
                // `_` and a port name of 62 characters make a 63-character label.
                for port in ["http", &long[..62]] {
                    names.push(format!("_{port}._tcp.{service_name}"));
                }
                names.push(format!("_tcp.{service_name}"));
                for host in ["web", long] {
                    names.push(format!("{host}.{service_name}"));
                }
            }
        }
        let mut packets = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let id = 0x4000 + u16::try_from(i % 1000).unwrap_or(0);
            let other = [RecordType::AAAA, RecordType::PTR, RecordType::ANY][i % 3];
            for qtype in [RecordType::A, RecordType::SRV, other] {
                packets.extend(raw_query(name, qtype, false, id));
            }
            if name.ends_with(".arpa.") {
                packets.extend(raw_query(name, RecordType::PTR, true, id));
            }
        }
        packets
    })
}

/// A query for `name` written label by label, so that labels a name parser refuses
/// (`-lead`, `*`) are asked as they are; `None` for a name over the wire limits.
fn raw_query(name: &str, qtype: RecordType, edns: bool, id: u16) -> Option<Vec<u8>> {
    let mut packet = id.to_be_bytes().to_vec();
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    let mut length = 1;
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let size = u8::try_from(label.len()).ok().filter(|&size| size <= 63)?;
        length += 1 + label.len();
        packet.push(size);
        packet.extend_from_slice(label.as_bytes());
    }
    if length > 255 {
        return None;
    }
    packet.push(0);
    packet.extend_from_slice(&u16::from(qtype).to_be_bytes());
    packet.extend_from_slice(&[0, 1]);
    if edns {
        // OPT: root owner, 1232 bytes, version 0.
        packet.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    Some(packet)
}

/// An odd cluster (see the module) served by a fresh server; each question asked over
/// UDP and TCP must get a well-formed reply ([`check_reply`]), and nothing may panic.
///
/// # Panics
///
/// When the server panics or a reply breaks a rule.
pub fn cluster(data: &[u8]) {
    let (manifest, endpoint_pod_names) = manifest_of(data);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("cluster.json"), &manifest).expect("cluster.json is written");
    let corefile = format!(
        "cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        pods verified\n        {}\n        manifests cluster.json\n    }}\n}}\n",
        if endpoint_pod_names {
            "endpoint_pod_names"
        } else {
            ""
        }
    );
    let server = {
        let _entered = servers::runtime().enter();
        InlineServer::start(&corefile, dir.path(), Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("{error}\n{corefile}"))
    };
    let mut reply = Vec::with_capacity(1232);
    for question in questions() {
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            if server.answer(question, SOURCE, protocol, RequestPath::Any, &mut reply)
                && let Err(problem) = check_reply(question, &reply, protocol)
            {
                let mut shown = manifest.clone();
                if shown.len() > 4_000 {
                    let mut end = 4_000;
                    while !shown.is_char_boundary(end) {
                        end -= 1;
                    }
                    shown.truncate(end);
                    shown.push_str("...");
                }
                panic!(
                    "over {}: {problem}\nquestion: {question:02x?}\nmanifest: {shown}",
                    protocol.as_str()
                );
            }
        }
    }
}
