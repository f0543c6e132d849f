//! The parser and the behaviour of `template`, replaying the examples of CoreDNS's
//! README, and the wire path against the ordinary path.

use std::net::SocketAddr;
use std::sync::Arc;

use clusterdns_api::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use clusterdns_api::proto::rr::{DNSClass, Name, RecordType};
use clusterdns_api::testing::{NextStub, ask, record_line, setup_ctx};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{Ctx, Directive, Next, Plugin, PluginError, Protocol, Response, Token};

use crate::setup;

fn token(text: &str) -> Token {
    Token::synthetic(text)
}

/// `template ARGS { LINES }`, each line's words as given (so a word may hold spaces,
/// as a quoted Corefile word does).
fn directive(args: &[&str], lines: &[&[&str]]) -> Directive {
    Directive {
        name: token("template"),
        args: args.iter().map(|a| token(a)).collect(),
        block: Some(
            lines
                .iter()
                .map(|line| Directive {
                    name: token(line[0]),
                    args: line[1..].iter().map(|a| token(a)).collect(),
                    block: None,
                })
                .collect(),
        ),
    }
}

fn build(args: &[&str], lines: &[&[&str]]) -> Arc<dyn Plugin> {
    setup(&directive(args, lines), &mut setup_ctx())
        .unwrap()
        .unwrap()
}

fn build_err(args: &[&str], lines: &[&[&str]]) -> String {
    match setup(&directive(args, lines), &mut setup_ctx()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{args:?} {lines:?} was accepted"),
    }
}

async fn run(
    plugin: &Arc<dyn Plugin>,
    name: &str,
    qtype: RecordType,
) -> Result<Response, PluginError> {
    ask(plugin.clone(), NextStub::refusing(), name, qtype).await
}

fn lines(records: &[clusterdns_api::proto::rr::Record]) -> Vec<String> {
    records.iter().map(record_line).collect()
}

#[test]
fn refuses_bad_configuration() {
    assert!(build_err(&["IN"], &[]).contains("argument count"));
    assert!(build_err(&["XX", "A"], &[]).contains("invalid query class"));
    assert!(build_err(&["IN", "NOSUCH"], &[]).contains("invalid RR type"));
    assert!(build_err(&["IN", "A"], &[&["match", "("]]).contains("could not parse regex"));
    let long = "a".repeat(10_001);
    assert!(build_err(&["IN", "A"], &[&["match", &long]]).contains("too long"));
    let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert!(build_err(&["IN", "A"], &[&["match", &nested]]).contains("nest"));
    assert!(build_err(&["IN", "A"], &[&["answer", "{{ if .Name }}"]]).contains("not supported"));
    assert!(build_err(&["IN", "A"], &[&["rcode", "NOPE"]]).contains("unknown rcode"));
    assert!(build_err(&["IN", "A"], &[&["var", "ip", "1"]]).contains("not supported"));
    assert!(build_err(&["IN", "A"], &[&["bogus"]]).contains("unknown property"));
    assert!(build_err(&["IN", "A"], &[&["ederror", "x"]]).contains("extended DNS error"));
    // Accepted: ANY, a deprecated `upstream`, several zones.
    build(&["ANY", "ANY", "example.", "example.net"], &[&["upstream"]]);
}

#[tokio::test]
async fn the_aaaa_filter_answers_aaaa_and_passes_the_rest() {
    let plugin = build(&["IN", "AAAA", "."], &[&["rcode", "NOERROR"]]);
    let reply = run(&plugin, "web.shop.svc.cluster.local.", RecordType::AAAA)
        .await
        .unwrap();
    assert_eq!(reply.rcode(), ResponseCode::NoError);
    assert!(reply.message.metadata.authoritative);
    assert!(reply.message.answers.is_empty() && reply.message.authorities.is_empty());
    assert_eq!(reply.writer, "template");
    for qtype in [RecordType::A, RecordType::SRV, RecordType::PTR] {
        let reply = run(&plugin, "web.shop.svc.cluster.local.", qtype)
            .await
            .unwrap();
        assert_eq!(reply.rcode(), ResponseCode::Refused, "{qtype}");
        assert_eq!(reply.writer, "next");
    }
}

#[tokio::test]
async fn resolves_a_and_ptr_from_named_groups() {
    // CoreDNS README: "Resolve A/PTR for .example".
    let a = build(
        &["IN", "A", "example"],
        &[
            &[
                "match",
                "(^|[.])ip-(?P<a>[0-9]*)-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$",
            ],
            &[
                "answer",
                "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}",
            ],
            &["fallthrough"],
        ],
    );
    let reply = run(&a, "IP-10-95-12-8.example.", RecordType::A)
        .await
        .unwrap();
    assert!(reply.message.metadata.authoritative);
    assert_eq!(
        lines(&reply.message.answers),
        ["ip-10-95-12-8.example. 60 A 10.95.12.8"]
    );
    let wildcard = run(&a, "www.ip-10-95-12-8.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(
        lines(&wildcard.message.answers),
        ["www.ip-10-95-12-8.example. 60 A 10.95.12.8"]
    );
    // No regex matches: fallthrough hands it on.
    let other = run(&a, "other.example.", RecordType::A).await.unwrap();
    assert_eq!(other.writer, "next");
    // Another type, another zone: not this template's.
    assert_eq!(
        run(&a, "ip-1-2-3-4.example.", RecordType::MX)
            .await
            .unwrap()
            .writer,
        "next"
    );
    assert_eq!(
        run(&a, "ip-1-2-3-4.example.org.", RecordType::A)
            .await
            .unwrap()
            .writer,
        "next"
    );

    let ptr = build(
        &["IN", "PTR", "in-addr.arpa"],
        &[
            &[
                "match",
                "^(?P<d>[0-9]*)[.](?P<c>[0-9]*)[.](?P<b>[0-9]*)[.](?P<a>[0-9]*)[.]in-addr[.]arpa[.]$",
            ],
            &[
                "answer",
                "{{ .Name }} 60 IN PTR ip-{{ .Group.a }}-{{ .Group.b }}-{{ .Group.c }}-{{ .Group.d }}.example.",
            ],
        ],
    );
    let reply = run(&ptr, "8.12.95.10.in-addr.arpa.", RecordType::PTR)
        .await
        .unwrap();
    assert_eq!(
        lines(&reply.message.answers),
        ["8.12.95.10.in-addr.arpa. 60 PTR ip-10-95-12-8.example."]
    );
    // No regex matches and no fallthrough: SERVFAIL, not authoritative.
    let reply = run(&ptr, "12.95.10.in-addr.arpa.", RecordType::PTR)
        .await
        .unwrap();
    assert_eq!(reply.rcode(), ResponseCode::ServFail);
    assert!(!reply.message.metadata.authoritative);
}

#[tokio::test]
async fn nxdomain_with_a_soa_and_an_extended_error() {
    // CoreDNS README: "Resolve .invalid as NXDOMAIN".
    let plugin = build(
        &["ANY", "ANY", "invalid"],
        &[
            &["rcode", "NXDOMAIN"],
            &[
                "authority",
                "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)",
            ],
            &["ederror", "21", "Blocked according to RFC2606"],
        ],
    );
    let reply = run(&plugin, "foo.invalid.", RecordType::A).await.unwrap();
    assert_eq!(reply.rcode(), ResponseCode::NXDomain);
    assert!(reply.message.answers.is_empty());
    assert_eq!(
        lines(&reply.message.authorities),
        ["invalid. 60 SOA ns.invalid. hostmaster.invalid. * 60 60 60 60"]
    );
    let edns = reply.message.edns.as_ref().unwrap();
    let option = edns
        .options()
        .as_ref()
        .iter()
        .next()
        .map(|(code, _)| u16::from(*code));
    assert_eq!(option, Some(15));
    assert!(plugin.answers_class(DNSClass::CH));
    assert_eq!(
        run(&plugin, "foo.valid.", RecordType::A)
            .await
            .unwrap()
            .writer,
        "next"
    );
}

#[tokio::test]
async fn hexadecimal_addresses_with_parse_int() {
    // CoreDNS README: "Resolve hexadecimal ip pattern using parseInt".
    let plugin = build(
        &["IN", "A", "example"],
        &[
            &[
                "match",
                "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]example[.]$",
            ],
            &[
                "answer",
                "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}",
            ],
            &["fallthrough"],
        ],
    );
    let reply = run(&plugin, "ip0a7b7b7b.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(
        lines(&reply.message.answers),
        ["ip0a7b7b7b.example. 60 A 10.123.123.123"]
    );
}

#[tokio::test]
async fn mx_with_additional_and_authority_and_match_index() {
    // CoreDNS README: "Adding authoritative nameservers to the response" (MX part), and
    // "Block invalid search domain completions" (regex form).
    let plugin = build(
        &["IN", "MX", "example"],
        &[
            &[
                "match",
                "^ip-10-(?P<b>[0-9]*)-(?P<c>[0-9]*)-(?P<d>[0-9]*)[.]example[.]$",
            ],
            &["answer", "{{ .Name }} 60 IN MX 10 {{ .Name }}"],
            &[
                "additional",
                "{{ .Name }} 60 IN A 10.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}",
            ],
            &[
                "authority",
                "example. 60 IN NS ns0.example.",
                "example. 60 IN NS ns1.example.",
            ],
            &["additional", "ns0.example. 60 IN A 203.0.113.8"],
            &["fallthrough"],
        ],
    );
    let reply = run(&plugin, "ip-10-1-2-3.example.", RecordType::MX)
        .await
        .unwrap();
    assert_eq!(
        lines(&reply.message.answers),
        ["ip-10-1-2-3.example. 60 MX 10 ip-10-1-2-3.example."]
    );
    assert_eq!(
        lines(&reply.message.authorities),
        ["example. 60 NS ns0.example.", "example. 60 NS ns1.example."]
    );
    assert_eq!(
        lines(&reply.message.additionals),
        [
            "ip-10-1-2-3.example. 60 A 10.1.2.3",
            "ns0.example. 60 A 203.0.113.8"
        ]
    );

    let search = build(
        &["IN", "ANY", "example.com"],
        &[
            &["match", "example\\.com\\.(dc1\\.example\\.com\\.)$"],
            &["rcode", "NXDOMAIN"],
            &[
                "authority",
                "{{ index .Match 1 }} 60 IN SOA ns.{{ index .Match 1 }} hostmaster.{{ index .Match 1 }} (1 60 60 60 60)",
            ],
            &["fallthrough"],
        ],
    );
    let reply = run(
        &search,
        "something.example.com.dc1.example.com.",
        RecordType::A,
    )
    .await
    .unwrap();
    assert_eq!(reply.rcode(), ResponseCode::NXDomain);
    assert_eq!(
        lines(&reply.message.authorities),
        ["dc1.example.com. 60 SOA ns.dc1.example.com. hostmaster.dc1.example.com. * 60 60 60 60"]
    );
    assert_eq!(
        run(&search, "www.example.com.", RecordType::A)
            .await
            .unwrap()
            .writer,
        "next"
    );
}

#[tokio::test]
async fn a_fabricated_cname_is_followed_down_the_chain() {
    // CoreDNS README: "Fabricate a CNAME".
    let plugin = build(
        &["IN", "ANY", "foogle.com"],
        &[
            &["match", "^foogle\\.com\\.$"],
            &["answer", "foogle.com 60 IN CNAME google.com"],
        ],
    );
    let next = NextStub::new(|ctx| {
        let mut response = Response::authoritative(ctx, "next", ResponseCode::NoError, Vec::new());
        let record = clusterdns_api::proto::rr::Record::from_rdata(
            ctx.qname().clone(),
            30,
            clusterdns_api::proto::rr::RData::A("142.250.1.1".parse().unwrap()),
        );
        response.message.answers.push(record);
        response
    });
    let reply = ask(plugin.clone(), next, "foogle.com.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(
        lines(&reply.message.answers),
        [
            "foogle.com. 60 CNAME google.com.",
            "google.com. 30 A 142.250.1.1"
        ]
    );
    // Not for other types.
    let reply = run(&plugin, "foogle.com.", RecordType::TXT).await.unwrap();
    assert_eq!(
        lines(&reply.message.answers),
        ["foogle.com. 60 CNAME google.com."]
    );
}

#[tokio::test]
async fn template_failures_are_errors_and_counted() {
    let plugin = build(
        &["IN", "A", "example"],
        &[
            &["match", "^(x)?([a-z]+)[.]example[.]$"],
            &["answer", "{{ .Name }} 60 IN A {{ index .Match 7 }}"],
        ],
    );
    assert!(run(&plugin, "web.example.", RecordType::A).await.is_err());
    let bad_rr = build(
        &["IN", "A", "example"],
        &[&["answer", "{{ .Name }} 60 IN A {{ .Type }}"]],
    );
    assert!(run(&bad_rr, "web.example.", RecordType::A).await.is_err());
    let text = clusterdns_api::metrics::encode_text();
    assert!(
        text.contains("coredns_template_template_failures_total{"),
        "{text}"
    );
    assert!(text.contains("section=\"answer\""), "{text}");
    assert!(
        text.contains("coredns_template_rr_failures_total{"),
        "{text}"
    );
    assert!(text.contains("coredns_template_matches_total{"), "{text}");
}

/// The packet of a query for `name`/`qtype`, RD set, with an OPT record when `edns`.
fn packet(name: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
    let mut message = Message::new(4321, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        message.set_edns(clusterdns_api::proto::op::Edns::new());
    }
    message.to_vec().unwrap()
}

#[tokio::test]
async fn the_wire_path_answers_as_serve_does() {
    let configs: [(&[&str], &[&[&str]]); 4] = [
        (&["IN", "AAAA", "."], &[&["rcode", "NOERROR"]]),
        (&["ANY", "AAAA"], &[&["rcode", "NOERROR"]]),
        (&["ANY", "ANY", "invalid"], &[&["rcode", "NXDOMAIN"]]),
        (
            &["IN", "A", "example"],
            &[&["match", "^a[.]"], &["rcode", "REFUSED"], &["fallthrough"]],
        ),
    ];
    let names = [
        "Web.Shop.svc.cluster.local.",
        "foo.INVALID.",
        "a.example.",
        "b.example.",
        ".",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::ANY,
    ];
    let mut answered = 0;
    for (args, block) in configs {
        let plugin = build(args, block);
        let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(NextStub::refusing())];
        for name in names {
            for qtype in types {
                for edns in [false, true] {
                    let bytes = packet(name, qtype, edns);
                    let mut query = WireQuery::parse(&bytes, true).unwrap();
                    let mut buf = Vec::new();
                    let wire = plugin.serve_wire(&mut query, &mut buf);
                    let mut ctx = Ctx::new(
                        Query::query(Name::from_ascii(name).unwrap(), qtype),
                        SocketAddr::from(([10, 0, 0, 9], 53)),
                        Protocol::Udp,
                    );
                    let served = Next::new(&chain).run(&mut ctx).await.unwrap();
                    let what = format!("{args:?} {name} {qtype} edns {edns}");
                    match wire {
                        Wire::Pass => assert_eq!(served.writer, "next", "{what}"),
                        // A regex decides: serve is the reference, whatever it does.
                        Wire::Ordinary => assert!(args.len() > 2 || block.len() > 1, "{what}"),
                        Wire::Answered { rcode, writer } => {
                            answered += 1;
                            assert_eq!(writer, "template");
                            assert_eq!(rcode, served.rcode(), "{what}");
                            let reply = Message::from_vec(&buf).unwrap();
                            assert_eq!(reply.metadata.id, 4321);
                            assert!(reply.metadata.recursion_desired);
                            assert!(!reply.metadata.recursion_available);
                            assert_eq!(
                                reply.metadata.authoritative, served.message.metadata.authoritative,
                                "{what}"
                            );
                            assert_eq!(reply.metadata.response_code, served.rcode(), "{what}");
                            assert_eq!(reply.queries[0].name().to_string(), name, "{what}");
                            assert!(reply.answers.is_empty() && served.message.answers.is_empty());
                            assert!(
                                reply.authorities.is_empty()
                                    && served.message.authorities.is_empty()
                            );
                            assert_eq!(reply.edns.is_some(), edns, "{what}");
                        }
                    }
                }
            }
        }
    }
    assert!(answered > 10, "{answered}");
}

#[test]
fn the_aaaa_filter_passes_a_queries_on_the_wire() {
    let plugin = build(&["IN", "AAAA", "."], &[&["rcode", "NOERROR"]]);
    let bytes = packet("web.shop.svc.cluster.local.", RecordType::A, true);
    let mut query = WireQuery::parse(&bytes, true).unwrap();
    let mut buf = Vec::new();
    assert_eq!(plugin.serve_wire(&mut query, &mut buf), Wire::Pass);
    assert!(buf.is_empty());
}
