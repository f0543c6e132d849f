//! The cluster zone (`kubernetes` with `manifests`) over real UDP and TCP sockets.
//!
//! Table-driven: each row is a case of `shared/reference/mission-features.md` (§1.2
//! spec rules `S*`, §1.5 NXDOMAIN/NODATA rules `N*`, §5.3 groups K, U and R) with the
//! same fixtures (`plugins/kubernetes/testdata`). Sections are compared sorted, SOA
//! serials ignored; every row is asked over UDP and over TCP.
//!
//! Cases that need the server's own pod address (K36 proper, U48 with 1.2.3.4) or an
//! unsynced source (U49) are unit tests of the plugin crate.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::support::{self, TestServer, Upstream, query, tcp, udp};

const F0: &str = include_str!("../../plugins/kubernetes/testdata/f0-kubeadm.yaml");
const F1: &str = include_str!("../../plugins/kubernetes/testdata/f1-handler.yaml");
const F2: &str = include_str!("../../plugins/kubernetes/testdata/f2-reverse.json");

/// One question and the answer expected.
struct Case {
    id: &'static str,
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    answers: Vec<&'static str>,
    additionals: Vec<&'static str>,
    /// The SOA in Authority of a negative answer; `None` means the table's zone SOA.
    soa: Option<&'static str>,
    /// Written by the kubernetes plugin (AA set, SOA in negative answers); `false` for
    /// answers that come from the upstream.
    authoritative: bool,
    /// Whether the answer section must be in this order (a CNAME before its target).
    ordered: bool,
}

fn ok(id: &'static str, name: &'static str, qtype: RecordType, answers: &[&'static str]) -> Case {
    Case {
        id,
        name,
        qtype,
        rcode: ResponseCode::NoError,
        answers: answers.to_vec(),
        additionals: Vec::new(),
        soa: None,
        authoritative: true,
        ordered: false,
    }
}

fn nodata(id: &'static str, name: &'static str, qtype: RecordType) -> Case {
    ok(id, name, qtype, &[])
}

fn nxdomain(id: &'static str, name: &'static str, qtype: RecordType) -> Case {
    Case {
        rcode: ResponseCode::NXDomain,
        ..ok(id, name, qtype, &[])
    }
}

impl Case {
    fn add(mut self, additionals: &[&'static str]) -> Self {
        self.additionals = additionals.to_vec();
        self
    }

    fn soa(mut self, soa: &'static str) -> Self {
        self.soa = Some(soa);
        self
    }

    fn upstream(mut self) -> Self {
        self.authoritative = false;
        self
    }

    fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }
}

use clusterdns_api::testing::record_line as line;

fn sorted(records: &[Record]) -> Vec<String> {
    let mut lines: Vec<String> = records.iter().map(line).collect();
    lines.sort();
    lines
}

fn sorted_expected(lines: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    lines.sort();
    lines
}

/// Asks every case over UDP and TCP and collects every mismatch.
async fn run(server: &TestServer, zone_soa: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        for over_tcp in [false, true] {
            let question = query(case.name, case.qtype);
            let answer = if over_tcp {
                tcp(server.tcp(), &question).await
            } else {
                udp(server.udp(), &question).await
            };
            let transport = if over_tcp { "tcp" } else { "udp" };
            let mut problems = Vec::new();
            if answer.metadata.response_code != case.rcode {
                problems.push(format!(
                    "rcode {:?}, expected {:?}",
                    answer.metadata.response_code, case.rcode
                ));
            }
            if case.authoritative && !answer.metadata.authoritative {
                problems.push("AA not set".to_owned());
            }
            if answer.queries[0].name().to_string() != case.name {
                problems.push("question not echoed".to_owned());
            }
            let got = if case.ordered {
                answer.answers.iter().map(line).collect()
            } else {
                sorted(&answer.answers)
            };
            let want = if case.ordered {
                case.answers.iter().map(|l| (*l).to_owned()).collect()
            } else {
                sorted_expected(&case.answers)
            };
            if got != want {
                problems.push(format!("answers {got:#?}, expected {want:#?}"));
            }
            if case.authoritative {
                let got = sorted(&answer.additionals);
                let want = sorted_expected(&case.additionals);
                if got != want {
                    problems.push(format!("additionals {got:#?}, expected {want:#?}"));
                }
                let negative = case.answers.is_empty();
                let want: Vec<String> = if negative {
                    vec![case.soa.unwrap_or(zone_soa).to_owned()]
                } else {
                    Vec::new()
                };
                let got = sorted(&answer.authorities);
                if got != want {
                    problems.push(format!("authority {got:#?}, expected {want:#?}"));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} {} {} over {transport}: {}",
                    case.id,
                    case.name,
                    case.qtype,
                    problems.join("; ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}

/// What the fixtures' upstream (UDP and TCP, one port) answers: the names they send
/// out of the cluster zone; NXDOMAIN for anything else.
fn upstream_answer(request: &Message) -> Option<Message> {
    let question = request.queries.first()?.clone();
    let mut reply = support::reply_to(request);
    let name = question.name().to_lowercase().to_string();
    let owner = question.name().clone();
    let record = match (name.as_str(), question.query_type()) {
        ("www.example.com.", RecordType::A) => Some(Record::from_rdata(
            owner,
            300,
            RData::A(A::new(192, 0, 2, 53)),
        )),
        ("ext.interwebs.test.", RecordType::A) => {
            Some(Record::from_rdata(owner, 5, RData::A(A::new(1, 2, 3, 4))))
        }
        ("8.8.8.8.in-addr.arpa.", RecordType::PTR) => Some(Record::from_rdata(
            owner,
            300,
            RData::PTR(PTR(Name::from_ascii("dns.google.").ok()?)),
        )),
        (".", RecordType::NS) => Some(Record::from_rdata(
            owner,
            300,
            RData::NS(NS(Name::from_ascii("a.root-servers.net.").ok()?)),
        )),
        _ => None,
    };
    match record {
        Some(record) => reply.answers.push(record),
        None if name.ends_with("example.com.") || name.ends_with("interwebs.test.") => {}
        None => reply.metadata.response_code = ResponseCode::NXDomain,
    }
    Some(reply)
}

const F0_SOA: &str =
    "cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. * 7200 1800 86400 30";
const F1_SOA: &str =
    "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. * 7200 1800 86400 5";

/// The kubeadm chain; `source` is `manifests cluster.yaml` or `endpoint URL`.
fn kubeadm_corefile(upstream: SocketAddr, source: &str) -> String {
    format!(
        ".:0 {{
    bind 127.0.0.1
    errors
    ready 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        {source}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . {upstream}
}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_k_kubeadm_cluster() {
    let upstream = Upstream::start(true, upstream_answer).await;
    let corefile = kubeadm_corefile(upstream.addr, "manifests cluster.yaml");
    let server = TestServer::start(&corefile, &[("cluster.yaml", F0)]).await;
    group_k(&server).await;
}

/// The same fixture served by the test API server: the API source gives the same
/// answers as the manifest source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_k_kubeadm_cluster_from_the_api() {
    let upstream = Upstream::start(true, upstream_answer).await;
    let api = clusterdns_test_apiserver::ApiServer::new();
    api.load_objects(clusterdns_test_apiserver::load::parse_documents(F0).unwrap());
    let serving = api.bind("127.0.0.1:0").await.unwrap();
    let corefile = kubeadm_corefile(upstream.addr, &format!("endpoint {}", serving.url()));
    let server = TestServer::start(&corefile, &[]).await;
    server.wait_ready(Duration::from_secs(15)).await;
    group_k(&server).await;
}

async fn group_k(server: &TestServer) {
    use RecordType::{A, AAAA, AXFR, CNAME, NS, PTR, SOA, SRV, TXT};
    let v6_db = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.";
    let cases = vec![
        ok("K01 S1", "dns-version.cluster.local.", TXT, &["dns-version.cluster.local. 28800 TXT 1.1.0"]),
        ok("K02 S2", "kubernetes.default.svc.cluster.local.", A, &["kubernetes.default.svc.cluster.local. 30 A 10.96.0.1"]),
        nodata("K03", "kubernetes.default.svc.cluster.local.", AAAA),
        ok("K04 S4", "_https._tcp.kubernetes.default.svc.cluster.local.", SRV, &["_https._tcp.kubernetes.default.svc.cluster.local. 30 SRV 0 100 443 kubernetes.default.svc.cluster.local."])
            .add(&["kubernetes.default.svc.cluster.local. 30 A 10.96.0.1"]),
        ok("K05", "_dns._udp.kube-dns.kube-system.svc.cluster.local.", SRV, &["_dns._udp.kube-dns.kube-system.svc.cluster.local. 30 SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."])
            .add(&["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"]),
        ok("K06 S17", "_DNS-TCP._TCP.kube-dns.kube-system.svc.cluster.local.", SRV, &["_DNS-TCP._TCP.kube-dns.kube-system.svc.cluster.local. 30 SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."])
            .add(&["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"]),
        ok("K07", "kube-dns.kube-system.svc.cluster.local.", SRV, &[
            "kube-dns.kube-system.svc.cluster.local. 30 SRV 0 33 53 kube-dns.kube-system.svc.cluster.local.",
            "kube-dns.kube-system.svc.cluster.local. 30 SRV 0 33 9153 kube-dns.kube-system.svc.cluster.local.",
        ])
        .add(&["kube-dns.kube-system.svc.cluster.local. 30 A 10.96.0.10"]),
        nxdomain("K08", "_http._udp.kubernetes.default.svc.cluster.local.", SRV),
        // Empty non-terminals (RFC 8020): names with names below them are NODATA.
        nodata("K08a ENT", "_tcp.kubernetes.default.svc.cluster.local.", A),
        nodata("K08b ENT", "_TCP.kubernetes.default.svc.cluster.local.", SRV),
        nodata("K08c ENT", "_udp.kube-dns.kube-system.svc.cluster.local.", SRV),
        nodata("K08d ENT", "dns.cluster.local.", A),
        nxdomain("K08e", "_udp.kubernetes.default.svc.cluster.local.", A),
        nxdomain("K08f", "_tcp.nothere.default.svc.cluster.local.", A),
        ok("K09 S8", "1.0.96.10.in-addr.arpa.", PTR, &["1.0.96.10.in-addr.arpa. 30 PTR kubernetes.default.svc.cluster.local."]),
        ok("K10", "10.0.96.10.in-addr.arpa.", PTR, &["10.0.96.10.in-addr.arpa. 30 PTR kube-dns.kube-system.svc.cluster.local."]),
        ok("K11 S10", "web.prod.svc.cluster.local.", A, &[
            "web.prod.svc.cluster.local. 30 A 10.244.1.10",
            "web.prod.svc.cluster.local. 30 A 10.244.1.11",
        ]),
        ok("K12 S13", "web-0.web.prod.svc.cluster.local.", A, &["web-0.web.prod.svc.cluster.local. 30 A 10.244.1.10"]),
        nxdomain("K13", "web-2.web.prod.svc.cluster.local.", A),
        ok("K14 S14", "_http._tcp.web.prod.svc.cluster.local.", SRV, &[
            "_http._tcp.web.prod.svc.cluster.local. 30 SRV 0 50 80 web-0.web.prod.svc.cluster.local.",
            "_http._tcp.web.prod.svc.cluster.local. 30 SRV 0 50 80 web-1.web.prod.svc.cluster.local.",
        ])
        .add(&[
            "web-0.web.prod.svc.cluster.local. 30 A 10.244.1.10",
            "web-1.web.prod.svc.cluster.local. 30 A 10.244.1.11",
        ]),
        ok("K15 S15", "10.1.244.10.in-addr.arpa.", PTR, &[
            "10.1.244.10.in-addr.arpa. 30 PTR web-0.web.prod.svc.cluster.local.",
            "10.1.244.10.in-addr.arpa. 30 PTR 10-244-1-10.web-all.prod.svc.cluster.local.",
        ]),
        ok("K16", "web-all.prod.svc.cluster.local.", A, &[
            "web-all.prod.svc.cluster.local. 30 A 10.244.1.10",
            "web-all.prod.svc.cluster.local. 30 A 10.244.1.11",
            "web-all.prod.svc.cluster.local. 30 A 10.244.1.12",
        ]),
        ok("K17", "10-244-1-12.web-all.prod.svc.cluster.local.", A, &["10-244-1-12.web-all.prod.svc.cluster.local. 30 A 10.244.1.12"]),
        nxdomain("K18 S12", "pending.prod.svc.cluster.local.", A),
        nxdomain("K18 S12", "pending.prod.svc.cluster.local.", AAAA),
        ok("K19 S3b", "db.prod.svc.cluster.local.", A, &["db.prod.svc.cluster.local. 30 A 10.96.100.5"]),
        ok("K20 S3", "db.prod.svc.cluster.local.", AAAA, &["db.prod.svc.cluster.local. 30 AAAA fd00:10:96::5"]),
        ok("K21 S9", v6_db, PTR, &["5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 PTR db.prod.svc.cluster.local."]),
        ok("K22", "_postgres._tcp.db.prod.svc.cluster.local.", SRV, &["_postgres._tcp.db.prod.svc.cluster.local. 30 SRV 0 50 5432 db.prod.svc.cluster.local."])
            .add(&[
                "db.prod.svc.cluster.local. 30 A 10.96.100.5",
                "db.prod.svc.cluster.local. 30 AAAA fd00:10:96::5",
            ]),
        nodata("K23", "v6only.prod.svc.cluster.local.", A),
        ok("K23", "v6only.prod.svc.cluster.local.", AAAA, &["v6only.prod.svc.cluster.local. 30 AAAA fd00:10:96::7"]),
        ok("K24 S16", "ext.prod.svc.cluster.local.", CNAME, &["ext.prod.svc.cluster.local. 30 CNAME www.example.com."]),
        ok("K25 S16", "ext.prod.svc.cluster.local.", A, &[
            "ext.prod.svc.cluster.local. 30 CNAME www.example.com.",
            "www.example.com. 300 A 192.0.2.53",
        ])
        .ordered(),
        nxdomain("K26", "extip.prod.svc.cluster.local.", A),
        ok("K27", "empty-svc.prod.svc.cluster.local.", A, &["empty-svc.prod.svc.cluster.local. 30 A 10.96.100.8"]),
        ok("K28 S6", "metrics.prod.svc.cluster.local.", SRV, &["metrics.prod.svc.cluster.local. 30 SRV 0 100 9100 metrics.prod.svc.cluster.local."])
            .add(&["metrics.prod.svc.cluster.local. 30 A 10.96.100.6"]),
        ok("K29 S11", "hl6.prod.svc.cluster.local.", AAAA, &["hl6.prod.svc.cluster.local. 30 AAAA fd00:10:244::a"]),
        ok("K29", "fd00-10-244--a.hl6.prod.svc.cluster.local.", AAAA, &["fd00-10-244--a.hl6.prod.svc.cluster.local. 30 AAAA fd00:10:244::a"]),
        ok("K30", "10-244-1-10.prod.pod.cluster.local.", A, &["10-244-1-10.prod.pod.cluster.local. 30 A 10.244.1.10"]),
        ok("K31", "1-2-3-4.prod.pod.cluster.local.", A, &["1-2-3-4.prod.pod.cluster.local. 30 A 1.2.3.4"]),
        ok("K32", "fd00-10-244--a.prod.pod.cluster.local.", AAAA, &["fd00-10-244--a.prod.pod.cluster.local. 30 AAAA fd00:10:244::a"]),
        nxdomain("K33", "10-244-1-10.nosuchns.pod.cluster.local.", A),
        nxdomain("K34", "nosuch.prod.svc.cluster.local.", A),
        nodata("K35", "empty-ns.svc.cluster.local.", A),
        nxdomain("K35", "nosuchns.svc.cluster.local.", A),
        // K36 with this server's address (127.0.0.1, no endpoint of any service); with
        // the pod address 10.244.0.2 it is a unit test of the plugin.
        ok("K36", "cluster.local.", NS, &["cluster.local. 30 NS ns.dns.cluster.local."])
            .add(&["ns.dns.cluster.local. 30 A 127.0.0.1"]),
        ok("K37", "cluster.local.", SOA, &[F0_SOA]),
        ok("K38", "www.example.com.", A, &["www.example.com. 300 A 192.0.2.53"]).upstream(),
        ok("K39", "8.8.8.8.in-addr.arpa.", PTR, &["8.8.8.8.in-addr.arpa. 300 PTR dns.google."]).upstream(),
        ok("K40 S17", "KuBeRnEtEs.DeFaUlT.sVc.ClUsTeR.lOcAl.", A, &["KuBeRnEtEs.DeFaUlT.sVc.ClUsTeR.lOcAl. 30 A 10.96.0.1"]),
        // §1.5 rows beyond the K table.
        nodata("N svc", "svc.cluster.local.", TXT),
        nodata("N pod", "pod.cluster.local.", SRV),
        nodata("N ns.pod", "prod.pod.cluster.local.", A),
        nxdomain("N ns.pod absent", "nosuchns.pod.cluster.local.", A),
        nxdomain("N shape", "foo.cluster.local.", A),
        nodata("N cname-on-clusterip", "kubernetes.default.svc.cluster.local.", CNAME),
        nodata("N ptr-on-forward", "kubernetes.default.svc.cluster.local.", PTR),
        nodata("N soa-non-apex", "nosuch.prod.svc.cluster.local.", SOA),
        nxdomain("N too-long", "a.b.c.web.prod.svc.cluster.local.", A),
        // ExternalName services have no port names either (CoreDNS #6161).
        nxdomain("N ext-port-srv", "_http._tcp.ext.prod.svc.cluster.local.", SRV),
        nxdomain("N ext-sub", "x.ext.prod.svc.cluster.local.", A),
        nxdomain("N dns-version-A", "dns-version.cluster.local.", A),
        nxdomain("N wildcard", "*.prod.svc.cluster.local.", A),
        nodata("N apex-A", "cluster.local.", A),
        nodata("N apex-TXT", "cluster.local.", TXT),
    ];
    run(server, F0_SOA, &cases).await;

    // K41: zone transfers are refused.
    let answer = tcp(server.tcp(), &query("web.prod.svc.cluster.local.", AXFR)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused, "K41");
}

fn handler_corefile(upstream: SocketAddr, namespaces: bool) -> String {
    let namespaces = if namespaces { "namespaces testns" } else { "" };
    format!(
        ".:0 {{
    bind 127.0.0.1
    kubernetes cluster.local {{
        manifests f1.yaml
        {namespaces}
    }}
    forward . {upstream}
}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_u_coredns_handler_fixture() {
    use RecordType::{A, AAAA, ANY, CNAME, HINFO, MX, NS, SOA, SRV, TXT};
    let upstream = Upstream::start(true, upstream_answer).await;
    let server =
        TestServer::start(&handler_corefile(upstream.addr, true), &[("f1.yaml", F1)]).await;
    let svc1_a = "svc1.testns.svc.cluster.local. 5 A 10.0.0.1";
    let svc1_srv = "svc1.testns.svc.cluster.local. 5 SRV 0 100 80 svc1.testns.svc.cluster.local.";
    let mut cases = vec![
        ok("U01", "svc1.testns.svc.cluster.local.", A, &[svc1_a]),
        ok("U02", "svcempty.testns.svc.cluster.local.", A, &["svcempty.testns.svc.cluster.local. 5 A 10.0.0.1"]),
        ok("U03", "svc1.testns.svc.cluster.local.", SRV, &[svc1_srv]).add(&[svc1_a]),
        ok("U04", "svc6.testns.svc.cluster.local.", SRV, &["svc6.testns.svc.cluster.local. 5 SRV 0 100 80 svc6.testns.svc.cluster.local."])
            .add(&["svc6.testns.svc.cluster.local. 5 AAAA 1234:abcd::1"]),
        ok("U05", "_http._tcp.svc1.testns.svc.cluster.local.", SRV, &["_http._tcp.svc1.testns.svc.cluster.local. 5 SRV 0 100 80 svc1.testns.svc.cluster.local."])
            .add(&[svc1_a]),
        ok("U06", "_http._tcp.svcempty.testns.svc.cluster.local.", SRV, &["_http._tcp.svcempty.testns.svc.cluster.local. 5 SRV 0 100 80 svcempty.testns.svc.cluster.local."])
            .add(&["svcempty.testns.svc.cluster.local. 5 A 10.0.0.1"]),
        ok("U07", "hdls1.testns.svc.cluster.local.", A, &[
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.2",
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.3",
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.4",
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.5",
        ]),
        ok("U08 S11b", "hdls1.testns.svc.cluster.local.", AAAA, &[
            "hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::1",
            "hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::2",
        ]),
        ok("U09", "hdlsprtls.testns.svc.cluster.local.", A, &["hdlsprtls.testns.svc.cluster.local. 5 A 172.0.0.20"]),
        ok("U10", "172-0-0-20.hdlsprtls.testns.svc.cluster.local.", A, &["172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 A 172.0.0.20"]),
        nodata("U11", "hdlsprtls.testns.svc.cluster.local.", SRV),
        nodata("U12", "svc1.testns.svc.cluster.local.", AAAA),
        nxdomain("U13", "svc0.testns.svc.cluster.local.", A),
        nxdomain("U13", "svc0.testns.svc.cluster.local.", AAAA),
        nxdomain("U14", "svc0.svc-nons.svc.cluster.local.", A),
        nxdomain("U16", "svc1.unexposedns.svc.cluster.local.", A),
        ok("U17", "dns-version.cluster.local.", TXT, &["dns-version.cluster.local. 28800 TXT 1.1.0"]),
        nodata("U18", "svc1.testns.svc.cluster.local.", TXT),
        nxdomain("U19", "svc0.svc-nons.svc.cluster.local.", TXT),
        nxdomain("U20", "bogusendpoint.hdls1.testns.svc.cluster.local.", A),
        nxdomain("U21", "bogusendpoint.svc0.testns.svc.cluster.local.", A),
        ok("U22", "svc6.testns.svc.cluster.local.", AAAA, &["svc6.testns.svc.cluster.local. 5 AAAA 1234:abcd::1"]),
        ok("U23", "_http._tcp.svc6.testns.svc.cluster.local.", SRV, &["_http._tcp.svc6.testns.svc.cluster.local. 5 SRV 0 100 80 svc6.testns.svc.cluster.local."])
            .add(&["svc6.testns.svc.cluster.local. 5 AAAA 1234:abcd::1"]),
        nodata("U24", "svc.cluster.local.", A),
        nodata("U24", "pod.cluster.local.", A),
        nodata("U24", "testns.svc.cluster.local.", A),
        nodata("U25", "svc.cluster.local.", NS),
        nodata("U25", "testns.svc.cluster.local.", NS),
        nxdomain("U26", "foo.cluster.local.", NS),
        nxdomain("U26", "foo.svc.cluster.local.", NS),
        ok("U27 S3b", "svc-dual-stack.testns.svc.cluster.local.", A, &["svc-dual-stack.testns.svc.cluster.local. 5 A 10.0.0.3"]),
        ok("U27 S3b", "svc-dual-stack.testns.svc.cluster.local.", AAAA, &["svc-dual-stack.testns.svc.cluster.local. 5 AAAA 10::3"]),
        ok("U28", "svc-dual-stack.testns.svc.cluster.local.", SRV, &["svc-dual-stack.testns.svc.cluster.local. 5 SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local."])
            .add(&[
                "svc-dual-stack.testns.svc.cluster.local. 5 A 10.0.0.3",
                "svc-dual-stack.testns.svc.cluster.local. 5 AAAA 10::3",
            ]),
        nodata("U29", "svc1.testns.svc.cluster.local.", SOA),
        nxdomain("U30", "endpoint.external.testns.svc.cluster.local.", CNAME),
        nxdomain("U31", "subdomain.subdomain.external.testns.svc.cluster.local.", CNAME),
        ok("U32", "_http._tcp.hdls1.testns.svc.cluster.local.", SRV, &[
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 16 80 172-0-0-3.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 16 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 16 80 5678-abcd--2.hdls1.testns.svc.cluster.local.",
            "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 16 80 dup-name.hdls1.testns.svc.cluster.local.",
        ])
        .add(&[
            "172-0-0-2.hdls1.testns.svc.cluster.local. 5 A 172.0.0.2",
            "172-0-0-3.hdls1.testns.svc.cluster.local. 5 A 172.0.0.3",
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.5",
            "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::1",
            "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::2",
        ]),
        ok("U33", "5678-abcd--2.hdls1.testns.svc.cluster.local.", AAAA, &["5678-abcd--2.hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::2"]),
        ok("U34", "172-0-0-2.hdls1.testns.svc.cluster.local.", A, &["172-0-0-2.hdls1.testns.svc.cluster.local. 5 A 172.0.0.2"]),
        ok("U35 S13", "dup-name.hdls1.testns.svc.cluster.local.", A, &[
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.4",
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.5",
        ]),
        nxdomain("U36", "172-0-0-4.hdls1.testns.svc.cluster.local.", A),
        ok("U37", "external.testns.svc.cluster.local.", CNAME, &["external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test."]),
        ok("U38", "external.testns.svc.cluster.local.", A, &[
            "external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test.",
            "ext.interwebs.test. 5 A 1.2.3.4",
        ])
        .ordered(),
        ok("U39", "external-to-service.testns.svc.cluster.local.", A, &[
            "external-to-service.testns.svc.cluster.local. 5 CNAME svc1.testns.svc.cluster.local.",
            svc1_a,
        ])
        .ordered(),
        nodata("U40", "external.testns.svc.cluster.local.", SRV),
        ok("U41", "ep1a.svc1.testns.svc.cluster.local.", A, &["ep1a.svc1.testns.svc.cluster.local. 5 A 172.0.0.1"]),
        nxdomain("U42", "_https._tcp.svc1.testns.svc.cluster.local.", SRV),
        nxdomain("U43", "a.b.c.svc1.testns.svc.cluster.local.", A),
        nodata("U44", "svc1.testns.svc.cluster.local.", HINFO),
        nodata("U44", "svc1.testns.svc.cluster.local.", MX),
        nodata("U44", "svc1.testns.svc.cluster.local.", ANY),
        ok("U45", "cluster.local.", SOA, &[F1_SOA]),
        ok("U46", "cluster.local.", NS, &["cluster.local. 5 NS ns.dns.cluster.local."])
            .add(&["ns.dns.cluster.local. 5 A 127.0.0.1"]),
        nodata("U47", "cluster.local.", A),
        nodata("U47", "cluster.local.", AAAA),
        nodata("U47", "cluster.local.", SRV),
        nodata("U47", "cluster.local.", HINFO),
        ok("U48", "ns.dns.cluster.local.", A, &["ns.dns.cluster.local. 5 A 127.0.0.1"]),
        nodata("U48", "ns.dns.cluster.local.", AAAA),
        nxdomain("N ns.dns-TXT", "ns.dns.cluster.local.", TXT),
        nodata("N ns.dns-MX", "ns.dns.cluster.local.", MX),
        // O03-O06: the client's case is kept in owners, the zone part of targets and SOA.
        ok("O03", "SvC1.TeStNs.SvC.cLuStEr.LoCaL.", A, &["SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 A 10.0.0.1"]),
        ok("O04", "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", SRV, &["_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL."])
            .add(&["svc1.testns.svc.cLuStEr.LoCaL. 5 A 10.0.0.1"]),
        ok("O05", "Cluster.local.", SOA, &["Cluster.local. 5 SOA ns.dns.Cluster.local. hostmaster.Cluster.local. * 7200 1800 86400 5"]),
        nxdomain("O06", "not-a-service.testns.svc.ClUsTeR.lOcAl.", A)
            .soa("ClUsTeR.lOcAl. 5 SOA ns.dns.ClUsTeR.lOcAl. hostmaster.ClUsTeR.lOcAl. * 7200 1800 86400 5"),
    ];
    // P01: pods are disabled by default.
    cases.push(nxdomain("P01", "10-240-0-1.podns.pod.cluster.local.", A));
    run(&server, F1_SOA, &cases).await;

    // U15 (and the converse of U16): without `namespaces`, every existing namespace is
    // exposed and absent ones are NXDOMAIN.
    let server =
        TestServer::start(&handler_corefile(upstream.addr, false), &[("f1.yaml", F1)]).await;
    let cases = vec![
        nxdomain("U15", "svc1.nsnoexist.svc.cluster.local.", A),
        ok(
            "U16'",
            "svc1.unexposedns.svc.cluster.local.",
            A,
            &["svc1.unexposedns.svc.cluster.local. 5 A 10.0.0.2"],
        ),
    ];
    run(&server, F1_SOA, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_r_reverse_zones() {
    use RecordType::{A, PTR};
    let corefile = ".:0 {
    bind 127.0.0.1
    kubernetes cluster.local 0.10.in-addr.arpa 168.192.in-addr.arpa 1234:abcd::/64 fd00:77:30::/64 {
        manifests f2.json
    }
}
";
    let server = TestServer::start(corefile, &[("f2.json", F2)]).await;
    let soa_10 = "0.10.in-addr.arpa. 5 SOA ns.dns.0.10.in-addr.arpa. hostmaster.0.10.in-addr.arpa. * 7200 1800 86400 5";
    let r03 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.";
    let r04 = "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.";
    let r05 = "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.";
    let cases = vec![
        ok(
            "R01",
            "100.0.0.10.in-addr.arpa.",
            PTR,
            &["100.0.0.10.in-addr.arpa. 5 PTR ep1a.svc1.testns.svc.cluster.local."],
        ),
        ok(
            "R02",
            "100.1.168.192.in-addr.arpa.",
            PTR,
            &["100.1.168.192.in-addr.arpa. 5 PTR svc1.testns.svc.cluster.local."],
        ),
        ok(
            "R03",
            r03,
            PTR,
            &[
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa. 5 PTR ep1b.svc1.testns.svc.cluster.local.",
            ],
        ),
        ok(
            "R04",
            r04,
            PTR,
            &[
                "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 PTR ip6svc1ex.svc1.testns.svc.cluster.local.",
            ],
        ),
        ok(
            "R05",
            r05,
            PTR,
            &[
                "6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 PTR ip6svc1in.svc1.testns.svc.cluster.local.",
            ],
        ),
        nxdomain("R06", "101.0.0.10.in-addr.arpa.", PTR).soa(soa_10),
        nxdomain("R07", "example.org.cluster.local.", PTR),
        nodata("R08", "svc1.testns.svc.cluster.local.", PTR),
        nxdomain("R09", "svc1.testns.svc.0.10.in-addr.arpa.", A).soa(soa_10),
        nxdomain("R10", "100.0.0.10.cluster.local.", PTR),
        ok(
            "R11",
            "99.0.0.10.in-addr.arpa.",
            PTR,
            &[
                "99.0.0.10.in-addr.arpa. 5 PTR double-ep.svc1.testns.svc.cluster.local.",
                "99.0.0.10.in-addr.arpa. 5 PTR double-ep.svc2.testns.svc.cluster.local.",
            ],
        ),
    ];
    run(&server, F1_SOA, &cases).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn option_variants() {
    use RecordType::{A, CNAME, SRV};
    let corefile = ".:0 {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests f1.yaml
        ignore empty_service
    }
}
";
    let server = TestServer::start(corefile, &[("f1.yaml", F1)]).await;
    let cases = vec![
        nxdomain("O01", "svcempty.testns.svc.cluster.local.", A),
        ok(
            "O02",
            "external.testns.svc.cluster.local.",
            CNAME,
            &["external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test."],
        ),
        ok(
            "O01'",
            "svc1.testns.svc.cluster.local.",
            A,
            &["svc1.testns.svc.cluster.local. 5 A 10.0.0.1"],
        ),
    ];
    run(&server, F1_SOA, &cases).await;

    let corefile = ".:0 {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests f0.yaml
        endpoint_pod_names
        noendpoints
    }
}
";
    let soa =
        "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. * 7200 1800 86400 5";
    let server = TestServer::start(corefile, &[("f0.yaml", F0)]).await;
    let cases = vec![
        nxdomain("O11", "web.prod.svc.cluster.local.", A),
        nxdomain("O11", "web-0.web.prod.svc.cluster.local.", A),
        ok(
            "O11",
            "kubernetes.default.svc.cluster.local.",
            A,
            &["kubernetes.default.svc.cluster.local. 5 A 10.96.0.1"],
        ),
    ];
    run(&server, soa, &cases).await;

    let corefile = ".:0 {
    bind 127.0.0.1
    kubernetes cluster.local {
        manifests f0.yaml
        endpoint_pod_names
    }
}
";
    let server = TestServer::start(corefile, &[("f0.yaml", F0)]).await;
    let cases = vec![
        ok("O09", "_http._tcp.web-all.prod.svc.cluster.local.", SRV, &[
            "_http._tcp.web-all.prod.svc.cluster.local. 5 SRV 0 33 80 web-0.web-all.prod.svc.cluster.local.",
            "_http._tcp.web-all.prod.svc.cluster.local. 5 SRV 0 33 80 web-1.web-all.prod.svc.cluster.local.",
            "_http._tcp.web-all.prod.svc.cluster.local. 5 SRV 0 33 80 web-2.web-all.prod.svc.cluster.local.",
        ])
        .add(&[
            "web-0.web-all.prod.svc.cluster.local. 5 A 10.244.1.10",
            "web-1.web-all.prod.svc.cluster.local. 5 A 10.244.1.11",
            "web-2.web-all.prod.svc.cluster.local. 5 A 10.244.1.12",
        ]),
        ok("O10", "_http._tcp.hl6.prod.svc.cluster.local.", SRV, &["_http._tcp.hl6.prod.svc.cluster.local. 5 SRV 0 100 80 fd00-10-244--a.hl6.prod.svc.cluster.local."])
            .add(&["fd00-10-244--a.hl6.prod.svc.cluster.local. 5 AAAA fd00:10:244::a"]),
    ];
    run(&server, soa, &cases).await;
}

const NEW_SVC: &str = "
---
apiVersion: v1
kind: Service
metadata: {name: new-svc, namespace: prod}
spec:
  clusterIP: 10.96.100.9
  ports: [{name: http, port: 80, protocol: TCP}]
";

/// Asks `new-svc.prod` until `want` (an address, or `None` for NXDOMAIN) is answered;
/// how long that took.
async fn wait_for(server: &TestServer, want: Option<&str>) -> Duration {
    let start = Instant::now();
    loop {
        let answer = udp(
            server.udp(),
            &query("new-svc.prod.svc.cluster.local.", RecordType::A),
        )
        .await;
        let got = answer.answers.first().map(|r| r.data.to_string());
        let matches = match want {
            Some(ip) => got.as_deref() == Some(ip),
            None => answer.metadata.response_code == ResponseCode::NXDomain,
        };
        if matches {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "new-svc never became {want:?} (last {got:?}, {:?})",
            answer.metadata.response_code
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_are_reread_while_serving() {
    let corefile = ".:0 {
    bind 127.0.0.1
    ready 127.0.0.1:0
    kubernetes cluster.local {
        manifests cluster.yaml
        ttl 30
    }
}
";
    let server = TestServer::start(corefile, &[("cluster.yaml", F0)]).await;
    let path = server.path("cluster.yaml");
    let (status, _) = crate::support::http_get(server.http("/ready"), "/ready").await;
    assert_eq!(status, 200, "manifests are synced at start");
    wait_for(&server, None).await;

    // K42: an edit in place appears without a restart...
    std::fs::write(&path, format!("{F0}{NEW_SVC}")).unwrap();
    let delay = wait_for(&server, Some("10.96.100.9")).await;
    eprintln!("K42: new-svc answered {delay:?} after the edit");

    // ...and so does a replacement by rename (as a ConfigMap update), here a deletion.
    replace(&path, F0);
    wait_for(&server, None).await;
    replace(
        &path,
        &format!("{F0}{}", NEW_SVC.replace("10.96.100.9", "10.96.100.19")),
    );
    wait_for(&server, Some("10.96.100.19")).await;

    // A broken file keeps the last good data...
    std::fs::write(&path, "apiVersion: v1\nkind: List\nitems: [unclosed\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    wait_for(&server, Some("10.96.100.19")).await;
    let answer = udp(
        server.udp(),
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        answer.answers.len(),
        1,
        "the rest of the zone is still served"
    );
    // ...until it is fixed.
    replace(&path, F0);
    wait_for(&server, None).await;
}
