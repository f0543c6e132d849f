use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use clusterdns_api::cluster::{ExternalAddr, ExternalService, ServiceEndpoint, ServicePort};
use clusterdns_api::proto::op::{Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::A;
use clusterdns_api::proto::rr::{RData, Record, RecordType};
use clusterdns_api::testing::{NextStub, directive, record_line, setup_ctx};
use clusterdns_api::{ClusterDirectory, Protocol};

use super::*;

/// A cluster of a few services, as `kubernetes` would describe it.
struct FakeCluster {
    services: HashMap<(String, String), ExternalService>,
}

fn port(name: &str, number: u16) -> ServicePort {
    ServicePort {
        name: name.to_owned(),
        protocol: "tcp".to_owned(),
        port: number,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

impl FakeCluster {
    fn new() -> Self {
        let mut services = HashMap::new();
        // CoreDNS's README: a headless service with an external IP.
        services.insert(
            ("default".to_owned(), "test".to_owned()),
            ExternalService {
                headless: true,
                external: vec![ExternalAddr::Ip(ip("192.168.200.123"))],
                ports: Vec::new(),
                endpoints: Vec::new(),
            },
        );
        services.insert(
            ("shop".to_owned(), "web".to_owned()),
            ExternalService {
                headless: false,
                external: vec![
                    ExternalAddr::Ip(ip("203.0.113.10")),
                    ExternalAddr::Ip(ip("2001:db8::10")),
                ],
                ports: vec![port("http", 80), port("https", 443)],
                endpoints: Vec::new(),
            },
        );
        services.insert(
            ("shop".to_owned(), "lb".to_owned()),
            ExternalService {
                headless: false,
                external: vec![ExternalAddr::Host(name("lb-1.elb.example.com."))],
                ports: vec![port("http", 80)],
                endpoints: Vec::new(),
            },
        );
        services.insert(
            ("shop".to_owned(), "internal".to_owned()),
            ExternalService::default(),
        );
        services.insert(
            ("shop".to_owned(), "db".to_owned()),
            ExternalService {
                headless: true,
                external: Vec::new(),
                ports: Vec::new(),
                endpoints: vec![ServiceEndpoint {
                    ip: ip("10.1.0.5"),
                    label: "db-0".to_owned(),
                    ports: vec![port("pg", 5432)],
                }],
            },
        );
        Self { services }
    }
}

impl ClusterDirectory for FakeCluster {
    fn namespace_exposed(&self, namespace: &str) -> bool {
        ["default", "shop"].contains(&namespace)
    }
    fn external_service(&self, namespace: &str, name: &str) -> Option<ExternalService> {
        self.services
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }
    fn own_external_addresses(&self, _headless: bool) -> Vec<IpAddr> {
        vec![ip("198.51.100.53")]
    }
    fn serial(&self) -> u32 {
        1_700_000_000
    }
    fn pod_namespace(&self, _ip: IpAddr) -> Option<Arc<str>> {
        None
    }
    fn search_path(&self, _qname: &Name, _namespace: &str) -> Option<Vec<Name>> {
        None
    }
}

fn build(text: &str) -> Arc<dyn Plugin> {
    let mut ctx = setup_ctx();
    let plugin = setup(&directive(text), &mut ctx).unwrap().unwrap();
    ctx.cluster.provide(Arc::new(FakeCluster::new()));
    plugin
}

/// The rest of the chain: `lb-1.elb.example.com` has A 192.0.2.80, anything else is
/// answered REFUSED by `next`.
fn upstream() -> NextStub {
    NextStub::new(|ctx| {
        let mut response = Response::new(ctx, "next", ResponseCode::Refused);
        if ctx.qname().to_lowercase() == name("lb-1.elb.example.com.") {
            response.message.metadata.response_code = ResponseCode::NoError;
            if ctx.qtype() == RecordType::A {
                response.message.answers.push(Record::from_rdata(
                    ctx.qname().clone(),
                    30,
                    RData::A(A("192.0.2.80".parse().unwrap())),
                ));
            }
        }
        response
    })
}

async fn ask(plugin: &Arc<dyn Plugin>, qname: &str, qtype: RecordType) -> Response {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(upstream())];
    let mut ctx = Ctx::new(
        Query::query(name(qname), qtype),
        SocketAddr::from(([10, 0, 0, 9], 5353)),
        Protocol::Udp,
    );
    Next::new(&chain).run(&mut ctx).await.unwrap()
}

fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(record_line).collect()
}

#[tokio::test]
async fn the_readme_example_answers_the_external_ip() {
    let plugin = build("k8s_external example.org");
    let response = ask(&plugin, "test.default.example.org.", RecordType::A).await;
    assert_eq!(response.writer, "k8s_external");
    assert!(response.message.metadata.authoritative);
    assert_eq!(
        lines(&response.message.answers),
        ["test.default.example.org. 5 A 192.168.200.123"]
    );
}

#[tokio::test]
async fn addresses_by_family_and_nodata_with_the_soa() {
    let plugin = build("k8s_external example.org {\n ttl 30\n}");
    let response = ask(&plugin, "web.shop.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        ["web.shop.example.org. 30 A 203.0.113.10"],
        "one record, whatever the number of ports"
    );
    let response = ask(&plugin, "web.shop.example.org.", RecordType::AAAA).await;
    assert_eq!(
        lines(&response.message.answers),
        ["web.shop.example.org. 30 AAAA 2001:db8::10"]
    );
    let response = ask(&plugin, "web.shop.example.org.", RecordType::TXT).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert!(response.message.answers.is_empty());
    assert_eq!(
        lines(&response.message.authorities),
        [
            "example.org. 30 SOA ns1.dns.example.org. hostmaster.dns.example.org. * 7200 1800 86400 30"
        ]
    );
    // A namespace alone exists (NODATA); a service without external addresses does not.
    let response = ask(&plugin, "shop.example.org.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    for missing in [
        "internal.shop.example.org.",
        "nope.shop.example.org.",
        "web.nowhere.example.org.",
        "a.b.c.web.shop.example.org.",
    ] {
        let response = ask(&plugin, missing, RecordType::A).await;
        assert_eq!(response.rcode(), ResponseCode::NXDomain, "{missing}");
        assert_eq!(response.message.authorities.len(), 1, "{missing}");
    }
}

#[tokio::test]
async fn srv_per_port_with_glue() {
    let plugin = build("k8s_external example.org");
    let response = ask(
        &plugin,
        "_https._tcp.web.shop.example.org.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(
        lines(&response.message.answers),
        ["_https._tcp.web.shop.example.org. 5 SRV 0 50 443 web.shop.example.org.",]
    );
    assert_eq!(
        lines(&response.message.additionals),
        [
            "web.shop.example.org. 5 A 203.0.113.10",
            "web.shop.example.org. 5 AAAA 2001:db8::10"
        ]
    );
    let response = ask(&plugin, "web.shop.example.org.", RecordType::SRV).await;
    assert_eq!(response.message.answers.len(), 2, "one per port");
    let response = ask(&plugin, "_ftp._tcp.web.shop.example.org.", RecordType::SRV).await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
}

#[tokio::test]
async fn a_load_balancer_hostname_is_a_cname_resolved_down_the_chain() {
    let plugin = build("k8s_external example.org");
    let response = ask(&plugin, "lb.shop.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        [
            "lb.shop.example.org. 5 CNAME lb-1.elb.example.com.",
            "lb-1.elb.example.com. 30 A 192.0.2.80"
        ]
    );
}

#[tokio::test]
async fn headless_endpoints_only_with_the_option() {
    let plugin = build("k8s_external example.org");
    let response = ask(&plugin, "db-0.db.shop.example.org.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
    let plugin = build("k8s_external example.org {\n headless\n}");
    for qname in ["db.shop.example.org.", "db-0.db.shop.example.org."] {
        let response = ask(&plugin, qname, RecordType::A).await;
        assert_eq!(
            lines(&response.message.answers),
            [format!("{qname} 5 A 10.1.0.5")],
            "{qname}"
        );
    }
    let response = ask(&plugin, "_pg._tcp.db.shop.example.org.", RecordType::SRV).await;
    assert_eq!(
        lines(&response.message.answers),
        ["_pg._tcp.db.shop.example.org. 5 SRV 0 100 5432 db-0.db.shop.example.org."]
    );
    // The README's service has external IPs: those, not endpoints.
    let response = ask(&plugin, "test.default.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        ["test.default.example.org. 5 A 192.168.200.123"]
    );
}

#[tokio::test]
async fn apex_soa_ns_and_the_name_servers() {
    let plugin = build("k8s_external example.org {\n apex ext\n}");
    let response = ask(&plugin, "example.org.", RecordType::SOA).await;
    assert_eq!(
        lines(&response.message.answers),
        ["example.org. 5 SOA ns1.ext.example.org. hostmaster.ext.example.org. * 7200 1800 86400 5"]
    );
    let response = ask(&plugin, "example.org.", RecordType::NS).await;
    assert_eq!(
        lines(&response.message.answers),
        ["example.org. 5 NS ns1.ext.example.org."]
    );
    assert_eq!(
        lines(&response.message.additionals),
        ["ns1.ext.example.org. 5 A 198.51.100.53"]
    );
    let response = ask(&plugin, "ns1.ext.example.org.", RecordType::A).await;
    assert_eq!(
        lines(&response.message.answers),
        ["ns1.ext.example.org. 5 A 198.51.100.53"]
    );
    let response = ask(&plugin, "ns1.ext.example.org.", RecordType::AAAA).await;
    assert!(response.message.answers.is_empty());
    assert_eq!(response.rcode(), ResponseCode::NoError);
    let response = ask(&plugin, "ext.example.org.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    let response = ask(&plugin, "ns2.ext.example.org.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
    let response = ask(&plugin, "example.org.", RecordType::A).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert_eq!(response.message.authorities.len(), 1);
}

#[tokio::test]
async fn fallthrough_and_other_zones_reach_the_next_plugin() {
    let plugin = build("k8s_external example.org {\n fallthrough\n}");
    let response = ask(&plugin, "nope.shop.example.org.", RecordType::A).await;
    assert_eq!(response.writer, "next");
    let response = ask(&plugin, "web.shop.example.com.", RecordType::A).await;
    assert_eq!(response.writer, "next");
}

#[test]
fn options_are_checked() {
    let config = Config::parse(&directive("k8s_external"), &[name("cluster.example.")]).unwrap();
    assert_eq!(config.zones, [name("cluster.example.")]);
    for (text, expected) in [
        (
            "k8s_external example.org {\n ttl 3601\n}",
            "ttl must be in range",
        ),
        ("k8s_external example.org {\n ttl x\n}", "expected a TTL"),
        (
            "k8s_external example.org {\n apex\n}",
            "wrong argument count",
        ),
        (
            "k8s_external example.org {\n headless yes\n}",
            "wrong argument count",
        ),
        (
            "k8s_external example.org {\n transfer\n}",
            "unknown property",
        ),
    ] {
        let error = Config::parse(&directive(text), &[]).unwrap_err();
        assert!(error.to_string().contains(expected), "{text}: {error}");
        assert!(error.line >= 1);
    }
}

#[test]
fn the_wire_path_hands_over_only_names_under_the_zones() {
    let plugin = build("k8s_external example.org");
    let wire = |qname: &str| {
        let mut message = clusterdns_api::proto::op::Message::query();
        message.add_query(Query::query(name(qname), RecordType::A));
        let packet = message.to_vec().unwrap();
        let mut query = WireQuery::parse(&packet, true).unwrap();
        plugin.serve_wire(&mut query, &mut Vec::new())
    };
    assert!(matches!(wire("web.shop.example.org."), Wire::Ordinary));
    assert!(matches!(wire("example.org."), Wire::Ordinary));
    assert!(matches!(wire("web.shop.svc.cluster.local."), Wire::Pass));
}
