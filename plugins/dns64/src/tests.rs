use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use clusterdns_api::proto::op::{Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::{A, AAAA, CNAME, SOA};
use clusterdns_api::proto::rr::{Name, RData, Record};
use clusterdns_api::testing::{NextStub, directive, record_line, setup_ctx};
use clusterdns_api::{Protocol, Token};

use super::*;
use crate::synthesize::embed;

fn build(text: &str) -> Arc<dyn Plugin> {
    setup(&directive(text), &mut setup_ctx())
        .unwrap()
        .expect("dns64 is a chain plugin")
}

fn prefix(text: &str) -> Result<Prefix, ConfigError> {
    Prefix::parse(&Token::synthetic(text))
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn soa(ttl: u32) -> Record {
    Record::from_rdata(
        name("example.org."),
        ttl,
        RData::SOA(SOA::new(
            name("ns.example.org."),
            name("hostmaster.example.org."),
            1,
            7200,
            1800,
            86400,
            30,
        )),
    )
}

/// An upstream: `example.org` has A 192.0.2.42 (TTL 3600) and no AAAA (SOA TTL 300);
/// `both.example.org` has both; `alias.example.org` is a CNAME to example.org;
/// everything else is NXDOMAIN. Counts the queries it gets.
fn upstream(count: Arc<AtomicUsize>) -> NextStub {
    NextStub::new(move |ctx| {
        count.fetch_add(1, Ordering::SeqCst);
        let qname = ctx.qname().to_lowercase().to_string();
        let mut response = Response::new(ctx, "next", ResponseCode::NoError);
        let a = |owner: &str, ttl| {
            Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(192, 0, 2, 42))))
        };
        match (qname.as_str(), ctx.qtype()) {
            ("example.org.", RecordType::A) => {
                response.message.answers.push(a("example.org.", 3600))
            }
            ("example.org.", _) => response.message.authorities.push(soa(300)),
            ("alias.example.org.", RecordType::A) => {
                response.message.answers.push(Record::from_rdata(
                    name("alias.example.org."),
                    60,
                    RData::CNAME(CNAME(name("example.org."))),
                ));
                response.message.answers.push(a("example.org.", 3600));
            }
            ("alias.example.org.", _) => response.message.authorities.push(soa(300)),
            ("both.example.org.", RecordType::A) => {
                response.message.answers.push(a("both.example.org.", 50))
            }
            ("both.example.org.", _) => response.message.answers.push(Record::from_rdata(
                name("both.example.org."),
                50,
                RData::AAAA(AAAA("2001:db8::1".parse().unwrap())),
            )),
            ("failing.example.org.", _) => {
                response.message.metadata.response_code = ResponseCode::ServFail;
            }
            ("failing-a.example.org.", RecordType::A) => {
                response
                    .message
                    .answers
                    .push(a("failing-a.example.org.", 20));
            }
            ("failing-a.example.org.", _) => {
                response.message.metadata.response_code = ResponseCode::ServFail;
            }
            _ => {
                response.message.metadata.response_code = ResponseCode::NXDomain;
                response.message.authorities.push(soa(300));
            }
        }
        response
    })
}

async fn ask_from(
    plugin: &Arc<dyn Plugin>,
    count: &Arc<AtomicUsize>,
    qname: &str,
    qtype: RecordType,
    src: SocketAddr,
) -> Response {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(upstream(count.clone()))];
    let mut ctx = Ctx::new(Query::query(name(qname), qtype), src, Protocol::Udp);
    Next::new(&chain).run(&mut ctx).await.unwrap()
}

fn v6_client() -> SocketAddr {
    "[2001:db8::99]:5353".parse().unwrap()
}

fn v4_client() -> SocketAddr {
    "10.0.0.99:5353".parse().unwrap()
}

fn lines(response: &Response) -> Vec<String> {
    response.message.answers.iter().map(record_line).collect()
}

#[test]
fn embeds_as_rfc_6052_for_every_prefix_length() {
    let v4 = Ipv4Addr::new(64, 64, 64, 64);
    for (text, expected) in [
        ("64:ff9b::/96", "64:ff9b::4040:4040"),
        ("64:ff9b::/64", "64:ff9b::40:4040:4000:0"),
        ("64:ff9b::/56", "64:ff9b:0:40:40:4040::"),
        ("64::/32", "64:0:4040:4040::"),
    ] {
        assert_eq!(
            embed(&prefix(text).unwrap(), v4).to_string(),
            expected,
            "{text}"
        );
    }
}

#[test]
fn reads_prefix_and_options() {
    let config = Config::parse(&directive("dns64")).unwrap();
    assert_eq!(config.prefix, Prefix::WELL_KNOWN);
    assert!(!config.translate_all && !config.allow_ipv4);
    let config = Config::parse(&directive("dns64 64:1337::/96")).unwrap();
    assert_eq!(config.prefix.network.to_string(), "64:1337::");
    let config = Config::parse(&directive(
        "dns64 {\n prefix 64:1337::/96\n translate_all\n allow_ipv4\n}",
    ))
    .unwrap();
    assert_eq!(config.prefix.network.to_string(), "64:1337::");
    assert!(config.translate_all && config.allow_ipv4);
    // Host bits are cleared, as in a CIDR.
    assert_eq!(
        prefix("64:ff9b::1/96").unwrap().network.to_string(),
        "64:ff9b::"
    );
}

#[test]
fn refuses_bad_prefixes_and_options_with_their_position() {
    for (text, expected) in [
        ("dns64 64:ff9b::/95", "invalid prefix length"),
        ("dns64 64:ff9b::/104", "invalid prefix length"),
        ("dns64 64:ff9b::/24", "invalid prefix length"),
        ("dns64 10.0.0.0/8", "invalid netmask"),
        ("dns64 64:ff9b::", "invalid CIDR address"),
        ("dns64 nonsense/96", "invalid CIDR address"),
        ("dns64 a b", "wrong argument count"),
        ("dns64 {\n prefix\n}", "wrong argument count"),
        ("dns64 {\n translate_all yes\n}", "wrong argument count"),
        ("dns64 {\n nat46\n}", "unknown property \"nat46\""),
    ] {
        let error = Config::parse(&directive(text)).unwrap_err();
        assert!(error.to_string().contains(expected), "{text}: {error}");
        assert!(error.line >= 1, "{text}: {error}");
    }
}

#[tokio::test]
async fn synthesizes_aaaa_from_a_with_the_ttl_limited_by_the_soa() {
    let plugin = build("dns64");
    let count = Arc::new(AtomicUsize::new(0));
    let response = ask_from(
        &plugin,
        &count,
        "example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    assert_eq!(response.writer, "dns64");
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert_eq!(
        lines(&response),
        ["example.org. 300 AAAA 64:ff9b::c000:22a"]
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the AAAA query, then the A query"
    );
}

#[tokio::test]
async fn keeps_cnames_and_uses_600_without_an_soa() {
    let plugin = build("dns64 64:1337::/96");
    let count = Arc::new(AtomicUsize::new(0));
    let response = ask_from(
        &plugin,
        &count,
        "alias.example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    assert_eq!(
        lines(&response),
        [
            "alias.example.org. 60 CNAME example.org.",
            "example.org. 300 AAAA 64:1337::c000:22a"
        ]
    );
    // A SERVFAIL to AAAA counts as an empty answer: translated, TTL at most 600.
    let response = ask_from(
        &plugin,
        &count,
        "failing-a.example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert_eq!(
        lines(&response),
        ["failing-a.example.org. 20 AAAA 64:1337::c000:22a"]
    );
}

#[tokio::test]
async fn leaves_name_errors_real_aaaa_and_other_types_alone() {
    let plugin = build("dns64");
    let count = Arc::new(AtomicUsize::new(0));
    let response = ask_from(
        &plugin,
        &count,
        "missing.example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    assert_eq!(response.writer, "next");
    assert_eq!(response.rcode(), ResponseCode::NXDomain);
    let response = ask_from(
        &plugin,
        &count,
        "both.example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    assert_eq!(lines(&response), ["both.example.org. 50 AAAA 2001:db8::1"]);
    let response = ask_from(&plugin, &count, "example.org.", RecordType::A, v6_client()).await;
    assert_eq!(response.writer, "next");
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "no second query for any of them"
    );
}

#[tokio::test]
async fn only_ipv6_clients_unless_allow_ipv4() {
    let count = Arc::new(AtomicUsize::new(0));
    let response = ask_from(
        &build("dns64"),
        &count,
        "example.org.",
        RecordType::AAAA,
        v4_client(),
    )
    .await;
    assert_eq!(response.writer, "next");
    assert!(response.message.answers.is_empty());
    let plugin = build("dns64 {\n allow_ipv4\n}");
    let response = ask_from(
        &plugin,
        &count,
        "example.org.",
        RecordType::AAAA,
        v4_client(),
    )
    .await;
    assert_eq!(
        lines(&response),
        ["example.org. 300 AAAA 64:ff9b::c000:22a"]
    );
}

#[tokio::test]
async fn translate_all_replaces_real_aaaa_records() {
    let plugin = build("dns64 {\n translate_all\n}");
    let count = Arc::new(AtomicUsize::new(0));
    let response = ask_from(
        &plugin,
        &count,
        "both.example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    // No SOA in the AAAA answer: the A TTL (50) is under 600.
    assert_eq!(
        lines(&response),
        ["both.example.org. 50 AAAA 64:ff9b::c000:22a"]
    );
}

#[tokio::test]
async fn counts_translations_per_server() {
    let plugin = build("dns64");
    let count = Arc::new(AtomicUsize::new(0));
    ask_from(
        &plugin,
        &count,
        "example.org.",
        RecordType::AAAA,
        v6_client(),
    )
    .await;
    let text = clusterdns_api::metrics::encode_text();
    assert!(
        text.contains("coredns_dns64_requests_translated_total{server=\"dns://:53\"}"),
        "{text}"
    );
}

fn wire(plugin: &Arc<dyn Plugin>, qtype: RecordType, client: &str) -> Wire {
    let mut message = clusterdns_api::proto::op::Message::query();
    message.add_query(Query::query(name("example.org."), qtype));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, true).unwrap();
    query.set_client(std::net::SocketAddr::new(client.parse().unwrap(), 40000));
    plugin.serve_wire(&mut query, &mut Vec::new())
}

#[test]
fn the_wire_path_hands_over_only_aaaa_queries_that_may_be_translated() {
    let plugin = build("dns64");
    assert!(matches!(
        wire(&plugin, RecordType::AAAA, "2001:db8::99"),
        Wire::Ordinary
    ));
    assert!(matches!(
        wire(&plugin, RecordType::AAAA, "10.0.0.99"),
        Wire::Pass
    ));
    assert!(matches!(
        wire(&plugin, RecordType::A, "2001:db8::99"),
        Wire::Pass
    ));
    let plugin = build("dns64 {\n allow_ipv4\n}");
    assert!(matches!(
        wire(&plugin, RecordType::AAAA, "10.0.0.99"),
        Wire::Ordinary
    ));
}

/// A cluster whose zone answers AAAA for `dual.default.svc.cluster.local` only.
struct FakeCluster;

impl clusterdns_api::ClusterDirectory for FakeCluster {
    fn namespace_exposed(&self, _namespace: &str) -> bool {
        true
    }
    fn external_service(
        &self,
        _namespace: &str,
        _name: &str,
    ) -> Option<clusterdns_api::cluster::ExternalService> {
        None
    }
    fn own_external_addresses(&self, _headless: bool) -> Vec<std::net::IpAddr> {
        Vec::new()
    }
    fn serial(&self) -> u32 {
        1
    }
    fn pod_namespace(&self, _ip: std::net::IpAddr) -> Option<Arc<str>> {
        None
    }
    fn search_path(&self, _qname: &Name, _namespace: &str) -> Option<Vec<Name>> {
        None
    }
    fn answers_addresses(&self, query: &WireQuery<'_>) -> bool {
        query.qtype() == RecordType::AAAA
            && clusterdns_api::wire::WireName::new(&name("dual.default.svc.cluster.local."))
                .start_in(query)
                == Some(0)
    }
}

fn wire_name(plugin: &Dns64, qname: &str, client: &str) -> Wire {
    let mut message = clusterdns_api::proto::op::Message::query();
    message.add_query(Query::query(name(qname), RecordType::AAAA));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, true).unwrap();
    query.set_client(std::net::SocketAddr::new(client.parse().unwrap(), 40000));
    plugin.serve_wire(&mut query, &mut Vec::new())
}

fn with_cluster(text: &str) -> Dns64 {
    let cluster = ClusterHandle::default();
    cluster.provide(Arc::new(FakeCluster));
    Dns64::new(Config::parse(&directive(text)).unwrap(), cluster)
}

#[test]
fn cluster_names_with_aaaa_stay_on_the_wire_path() {
    let dual = "dual.default.svc.cluster.local.";
    let plugin = with_cluster("dns64");
    assert!(matches!(
        wire_name(&plugin, dual, "2001:db8::99"),
        Wire::Pass
    ));
    // A name the cluster does not answer with AAAA may be translated.
    assert!(matches!(
        wire_name(&plugin, "v4only.default.svc.cluster.local.", "2001:db8::99"),
        Wire::Ordinary
    ));
    assert!(matches!(
        wire_name(&plugin, "example.org.", "2001:db8::99"),
        Wire::Ordinary
    ));
    // `translate_all` replaces real AAAA records too.
    let plugin = with_cluster("dns64 {\n translate_all\n}");
    assert!(matches!(
        wire_name(&plugin, dual, "2001:db8::99"),
        Wire::Ordinary
    ));
    // Without `kubernetes` in the block nothing is provided, and nothing is required.
    let mut ctx = setup_ctx();
    let plugin = setup(&directive("dns64"), &mut ctx).unwrap().unwrap();
    assert!(ctx.cluster.required_by().is_empty());
    assert!(ctx.cluster.unmet().is_empty());
    assert!(matches!(
        wire(&plugin, RecordType::AAAA, "2001:db8::99"),
        Wire::Ordinary
    ));
}
