use std::net::SocketAddr;

use clusterdns_api::proto::op::Query;
use clusterdns_api::proto::rr::Name;
use clusterdns_api::testing::{NextStub, directive, setup_ctx};
use clusterdns_api::{Next, Protocol};

use super::*;

fn build(text: &str) -> Arc<dyn Plugin> {
    setup(&directive(text), &mut setup_ctx())
        .unwrap()
        .expect("chaos is a chain plugin")
}

async fn ask(plugin: &Arc<dyn Plugin>, name: &str, qtype: RecordType, class: DNSClass) -> Response {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(NextStub::refusing())];
    let mut query = Query::query(Name::from_ascii(name).unwrap(), qtype);
    query.set_query_class(class);
    let mut ctx = Ctx::new(
        query,
        SocketAddr::from(([10, 0, 0, 1], 5353)),
        Protocol::Udp,
    );
    Next::new(&chain).run(&mut ctx).await.unwrap()
}

fn texts(response: &Response) -> Vec<String> {
    response
        .message
        .answers
        .iter()
        .map(|r| {
            assert_eq!(r.dns_class, DNSClass::CH);
            assert_eq!(r.ttl, 0);
            match &r.data {
                RData::TXT(txt) => txt.to_string(),
                other => panic!("not TXT: {other}"),
            }
        })
        .collect()
}

#[tokio::test]
async fn answers_the_five_names_in_class_ch() {
    let plugin = build("chaos CoreDNS-001 info@coredns.io miek@miek.nl");
    for (name, expected) in [
        ("version.bind.", vec!["CoreDNS-001"]),
        ("VERSION.server.", vec!["CoreDNS-001"]),
        ("authors.bind.", vec!["info@coredns.io", "miek@miek.nl"]),
    ] {
        let response = ask(&plugin, name, RecordType::TXT, DNSClass::CH).await;
        assert_eq!(response.writer, "chaos");
        assert_eq!(response.rcode(), ResponseCode::NoError, "{name}");
        assert!(response.message.metadata.authoritative);
        assert_eq!(texts(&response), expected, "{name}");
    }
    for name in ["hostname.bind.", "id.server."] {
        let response = ask(&plugin, name, RecordType::TXT, DNSClass::CH).await;
        assert_eq!(texts(&response), vec![hostname()], "{name}");
        assert!(!hostname().is_empty());
    }
}

#[tokio::test]
async fn the_default_version_names_this_server() {
    let plugin = build("chaos");
    let response = ask(&plugin, "version.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(texts(&response), vec![default_version()]);
    assert!(default_version().starts_with("clusterdns-"));
    let response = ask(&plugin, "authors.bind.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(response.rcode(), ResponseCode::NoError);
    assert!(response.message.answers.is_empty(), "no authors configured");
}

#[tokio::test]
async fn other_ch_queries_are_refused_and_in_queries_pass() {
    let plugin = build("chaos v1");
    for (name, qtype) in [
        ("version.bind.", RecordType::A),
        ("example.org.", RecordType::TXT),
    ] {
        let response = ask(&plugin, name, qtype, DNSClass::CH).await;
        assert_eq!(response.rcode(), ResponseCode::Refused, "{name} {qtype}");
        assert_eq!(response.writer, "chaos");
    }
    // Class IN goes on to the rest of the chain.
    let response = ask(&plugin, "version.bind.", RecordType::TXT, DNSClass::IN).await;
    assert_eq!(response.writer, "next");
    assert!(plugin.answers_class(DNSClass::CH));
    assert!(!plugin.answers_class(DNSClass::IN));
}

#[test]
fn takes_no_block() {
    let Err(error) = setup(&directive("chaos v1 {\n  x\n}"), &mut setup_ctx()) else {
        panic!("a block is an error");
    };
    assert!(error.message.contains("takes no block"), "{error}");
}
