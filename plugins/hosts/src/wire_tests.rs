//! The wire path against the ordinary path: for every name and type of the fixture,
//! what the wire path answers must be what `serve` answers (header, rcode, records in
//! order and in the client's case), and a pass must be a `serve` that goes on.

use std::net::SocketAddr;
use std::sync::Arc;

use clusterdns_api::proto::op::{Edns, Message, MessageType, OpCode, Query};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::testing::{NextStub, record_line};
use clusterdns_api::wire::{AnswerOrder, Wire, WireQuery};
use clusterdns_api::{Ctx, Next, Plugin, Protocol};

use crate::setup;
use crate::test_support::{directive, setup_ctx};

const HOSTS: &str = "hosts /nonexistent/hosts example.org in-addr.arpa {\n\
    10.0.0.1 web.example.org www.example.org\n\
    10.0.0.2 web.example.org\n\
    fd00::1 web.example.org v6only.example.org\n\
    10.0.0.7 single.example.org\n\
    10.9.9.9 *.apps.example.org\n\
    }";

const NAMES: &[&str] = &[
    "web.example.org.",
    "WeB.Example.ORG.",
    "www.example.org.",
    "v6only.example.org.",
    "single.example.org.",
    "x.apps.example.org.",
    "missing.example.org.",
    "example.org.",
    "other.example.net.",
    "7.0.0.10.in-addr.arpa.",
    "1.0.0.10.in-addr.arpa.",
    "9.9.9.10.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
    ".",
];

fn packet(name: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
    let mut message = Message::new(4321, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        message.set_edns(Edns::new());
    }
    message.to_vec().unwrap()
}

fn texts(records: &[clusterdns_api::proto::rr::Record]) -> Vec<String> {
    records.iter().map(record_line).collect()
}

async fn compare(hosts: &Arc<dyn Plugin>, fallthrough: bool) -> usize {
    let chain: Vec<Arc<dyn Plugin>> = vec![hosts.clone(), Arc::new(NextStub::refusing())];
    let mut answered = 0;
    for name in NAMES {
        for qtype in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::PTR,
            RecordType::MX,
        ] {
            for edns in [false, true] {
                let bytes = packet(name, qtype, edns);
                let mut query = WireQuery::parse(&bytes, true).unwrap();
                let mut buf = Vec::new();
                let wire = hosts.serve_wire(&mut query, &mut buf);
                let mut ctx = Ctx::new(
                    Query::query(Name::from_ascii(name).unwrap(), qtype),
                    SocketAddr::from(([10, 0, 0, 9], 53)),
                    Protocol::Udp,
                );
                let served = Next::new(&chain).run(&mut ctx).await.unwrap();
                let what = format!("{name} {qtype} edns {edns} fallthrough {fallthrough}");
                match wire {
                    Wire::Pass => assert_eq!(served.writer, "next", "{what}"),
                    Wire::Ordinary => {}
                    Wire::Answered { rcode, writer } => {
                        answered += 1;
                        assert_eq!(writer, "hosts");
                        let reply = Message::from_vec(&buf).unwrap();
                        let expected = &served.message;
                        assert_eq!(served.writer, "hosts", "{what}");
                        assert_eq!(rcode, expected.metadata.response_code, "{what}");
                        assert_eq!(reply.metadata.response_code, rcode, "{what}");
                        assert_eq!(reply.metadata.id, 4321);
                        assert!(reply.metadata.recursion_desired);
                        assert!(!reply.metadata.recursion_available);
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
                        assert!(reply.additionals.is_empty() && expected.additionals.is_empty());
                        assert_eq!(reply.edns.is_some(), edns, "{what}");
                    }
                }
            }
        }
    }
    answered
}

#[tokio::test]
async fn the_wire_path_answers_as_serve_does() {
    let hosts = setup(&directive(HOSTS), &mut setup_ctx(&["."]))
        .unwrap()
        .unwrap();
    // Hits, NODATA, NXDOMAIN and single-name PTR hits.
    assert!(compare(&hosts, false).await >= 40);
    let text = HOSTS.replace("    }", "    fallthrough\n    }");
    let through = setup(&directive(&text), &mut setup_ctx(&["."]))
        .unwrap()
        .unwrap();
    assert!(compare(&through, true).await >= 30);
}

#[test]
fn shuffled_or_multi_name_answers_go_the_ordinary_way() {
    let hosts = setup(&directive(HOSTS), &mut setup_ctx(&["."]))
        .unwrap()
        .unwrap();
    let ask = |name: &str, qtype, order| {
        let bytes = packet(name, qtype, false);
        let mut query = WireQuery::parse(&bytes, true).unwrap();
        query.set_order(order);
        hosts.serve_wire(&mut query, &mut Vec::new())
    };
    assert_eq!(
        ask("web.example.org.", RecordType::A, AnswerOrder::Shuffled),
        Wire::Ordinary
    );
    assert!(matches!(
        ask("web.example.org.", RecordType::A, AnswerOrder::AsFound),
        Wire::Answered { .. }
    ));
    assert!(matches!(
        ask("single.example.org.", RecordType::A, AnswerOrder::Shuffled),
        Wire::Answered { .. }
    ));
    assert_eq!(
        ask(
            "1.0.0.10.in-addr.arpa.",
            RecordType::PTR,
            AnswerOrder::AsFound
        ),
        Wire::Ordinary
    );
    assert_eq!(
        ask("other.example.net.", RecordType::A, AnswerOrder::AsFound),
        Wire::Pass
    );
}
