//! Parsing and behaviour of `rewrite`, replaying the examples of CoreDNS's README.

use std::sync::Arc;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::{A, CNAME, SRV};
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::testing::{NextStub, ask, record_line, setup_ctx};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{Directive, Plugin, Response, Token};

use crate::setup;

/// The server's grouped form: one directive whose block holds each `rewrite` line.
pub(crate) fn grouped(lines: &[&[&str]]) -> Directive {
    let line = |words: &&[&str]| Directive {
        name: Token::synthetic("rewrite"),
        args: words.iter().map(|w| Token::synthetic(w)).collect(),
        block: None,
    };
    Directive {
        name: Token::synthetic("rewrite"),
        args: Vec::new(),
        block: Some(lines.iter().map(line).collect()),
    }
}

pub(crate) fn build(lines: &[&[&str]]) -> Arc<dyn Plugin> {
    setup(&grouped(lines), &mut setup_ctx()).unwrap().unwrap()
}

pub(crate) fn error(lines: &[&[&str]]) -> String {
    match setup(&grouped(lines), &mut setup_ctx()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{lines:?} accepted"),
    }
}

/// The rest of the chain: answers the question it gets with an A record, a CNAME to a
/// name below it and an SRV target below it (TTL 300), and says what it was asked in
/// a TXT-less way: the record owner is the rewritten name.
fn upstream() -> NextStub {
    NextStub::new(|ctx| {
        let name = ctx.qname().clone();
        let below = Name::from_ascii("www")
            .unwrap()
            .append_domain(&name)
            .unwrap();
        let mut response = Response::authoritative(ctx, "next", ResponseCode::NoError, Vec::new());
        let rtype = ctx.qtype();
        if rtype == RecordType::A {
            response.message.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::A(A::new(10, 0, 0, 1)),
            ));
        }
        if rtype == RecordType::CNAME {
            response.message.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::CNAME(CNAME(below.clone())),
            ));
        }
        if rtype == RecordType::SRV {
            response.message.answers.push(Record::from_rdata(
                name.clone(),
                300,
                RData::SRV(SRV::new(0, 0, 80, below)),
            ));
        }
        if name.to_string().starts_with("nx.") {
            response.message.metadata.response_code = ResponseCode::NXDomain;
            response.message.answers.clear();
        }
        response
    })
}

fn lines(response: &Response) -> Vec<String> {
    response.message.answers.iter().map(record_line).collect()
}

#[test]
fn refuses_bad_rules() {
    assert!(error(&[&["name"]]).contains("too few"));
    assert!(error(&[&["name", "bogus", "a", "b"]]).contains("received: bogus"));
    assert!(error(&[&["answer", "name", "a", "b"]]).contains("must begin with a name rule"));
    assert!(error(&[&["name", "regex", "(", "b"]]).contains("invalid regex"));
    assert!(error(&[&["name", "regex", "(a)", "{1}{2}"]]).contains("more subexpressions"));
    let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert!(error(&[&["name", "regex", &nested, "b"]]).contains("invalid regex"));
    assert!(error(&[&["type", "A"]]).contains("exactly two"));
    assert!(error(&[&["type", "A", "NOPE"]]).contains("invalid type"));
    assert!(error(&[&["class", "IN", "XX"]]).contains("invalid class"));
    assert!(error(&[&["ttl", "a.example", "60-30"]]).contains("invalid TTL"));
    assert!(error(&[&["rcode", "a.example", "SERVFAIL", "NOPE"]]).contains("invalid RCODE"));
    assert!(error(&[&["name", "suffix", "a.", "b.", "answer", "bogus"]]).contains("invalid type"));
    assert!(
        error(&[&[
            "name", "regex", "(a)", "b", "answer", "auto", "answer", "name", "b", "a"
        ]])
        .contains("cannot be combined")
    );
    assert!(error(&[&["cname", "exact", "a.", "b."]]).contains("not supported"));
    assert!(error(&[&["bogus", "a", "b"]]).contains("invalid rule type"));
}

#[tokio::test]
async fn exact_names_are_rewritten_and_mapped_back() {
    let plugin = build(&[&["name", "exact", "a.example.", "b.example."]]);
    let reply = ask(plugin.clone(), upstream(), "A.Example.", RecordType::A)
        .await
        .unwrap();
    // The chain answered b.example.; the client sees its name (lower case, as CoreDNS).
    assert_eq!(lines(&reply), ["a.example. 300 A 10.0.0.1"]);
    let other = ask(plugin, upstream(), "c.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lines(&other), ["c.example. 300 A 10.0.0.1"]);
}

#[tokio::test]
async fn suffix_rules_map_names_and_values_back_with_answer_auto() {
    // CoreDNS README: "rewrite name suffix .schmoogle.com. .google.com. answer auto".
    let plugin = build(&[&[
        "name",
        "suffix",
        ".schmoogle.com.",
        ".google.com.",
        "answer",
        "auto",
    ]]);
    let reply = ask(
        plugin.clone(),
        upstream(),
        "www.schmoogle.com.",
        RecordType::CNAME,
    )
    .await
    .unwrap();
    assert_eq!(
        lines(&reply),
        ["www.schmoogle.com. 300 CNAME www.www.schmoogle.com."]
    );
    let reply = ask(
        plugin,
        upstream(),
        "_x._tcp.schmoogle.com.",
        RecordType::SRV,
    )
    .await
    .unwrap();
    assert_eq!(
        lines(&reply),
        ["_x._tcp.schmoogle.com. 300 SRV 0 0 80 www._x._tcp.schmoogle.com."]
    );
}

#[tokio::test]
async fn regex_rules_with_answer_name_and_value() {
    // CoreDNS README: the regex example with an answer name rule.
    let plugin = build(&[&[
        "stop",
        "name",
        "regex",
        "(.*)-(us-west-1)\\.example\\.org",
        "{1}.service.{2}.consul",
        "answer",
        "name",
        "(.*)\\.service\\.(us-west-1)\\.consul",
        "{1}-{2}.example.org",
        "answer",
        "value",
        "(.*)\\.service\\.(us-west-1)\\.consul",
        "{1}-{2}.example.org",
    ]]);
    let reply = ask(
        plugin.clone(),
        upstream(),
        "foo-us-west-1.example.org.",
        RecordType::CNAME,
    )
    .await
    .unwrap();
    assert_eq!(
        lines(&reply),
        ["foo-us-west-1.example.org. 300 CNAME www.foo-us-west-1.example.org."]
    );
}

#[tokio::test]
async fn stop_ends_the_rules_and_continue_goes_on() {
    let stop = build(&[
        &["stop", "name", "exact", "a.example.", "b.example."],
        &["name", "exact", "b.example.", "c.example."],
    ]);
    let seen = |plugin: Arc<dyn Plugin>| async move {
        let next = NextStub::new(|ctx| {
            let mut r = Response::authoritative(ctx, "next", ResponseCode::NoError, Vec::new());
            r.message.answers.push(Record::from_rdata(
                ctx.qname().clone(),
                1,
                RData::A(A::new(1, 1, 1, 1)),
            ));
            r
        });
        let reply = ask(plugin, next, "a.example.", RecordType::A)
            .await
            .unwrap();
        reply.message.answers[0].name.to_string()
    };
    // The answer's owner is mapped back either way; what the chain saw shows in a
    // name the auto rule of the first rule does not cover.
    assert_eq!(seen(stop).await, "a.example.");
    let go_on = build(&[
        &["continue", "name", "exact", "a.example.", "b.example."],
        &["continue", "type", "A", "AAAA"],
    ]);
    let next = NextStub::new(|ctx| {
        Response::new(
            ctx,
            if ctx.qtype() == RecordType::AAAA {
                "aaaa"
            } else {
                "a"
            },
            ResponseCode::NoError,
        )
    });
    assert_eq!(
        ask(go_on, next, "a.example.", RecordType::A)
            .await
            .unwrap()
            .writer,
        "aaaa"
    );
}

#[tokio::test]
async fn ttl_and_rcode_rules_change_the_answer() {
    let ttl = build(&[&["ttl", "regex", ".*\\.example\\.", "10-60"]]);
    let reply = ask(ttl, upstream(), "a.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(lines(&reply), ["a.example. 60 A 10.0.0.1"]);
    let rcode = build(&[&["rcode", "suffix", "example.", "NXDOMAIN", "NOERROR"]]);
    let reply = ask(rcode, upstream(), "nx.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(reply.rcode(), ResponseCode::NoError);
}

#[tokio::test]
async fn the_block_form_of_kubespray() {
    let directive = Directive {
        name: Token::synthetic("rewrite"),
        args: vec![Token::synthetic("stop")],
        block: Some(vec![
            Directive {
                name: Token::synthetic("name"),
                args: ["regex", "(.*)\\.cluster\\.local", "{1}.cluster.local"]
                    .iter()
                    .map(|w| Token::synthetic(w))
                    .collect(),
                block: None,
            },
            Directive {
                name: Token::synthetic("answer"),
                args: ["name", "(.*)\\.cluster\\.local", "{1}.cluster.local"]
                    .iter()
                    .map(|w| Token::synthetic(w))
                    .collect(),
                block: None,
            },
        ]),
    };
    let plugin = setup(&directive, &mut setup_ctx()).unwrap().unwrap();
    let reply = ask(
        plugin,
        upstream(),
        "web.shop.svc.cluster.local.",
        RecordType::A,
    )
    .await
    .unwrap();
    assert_eq!(
        lines(&reply),
        ["web.shop.svc.cluster.local. 300 A 10.0.0.1"]
    );
}

#[test]
fn the_wire_path_passes_only_names_no_rule_matches() {
    let plugin = build(&[
        &["name", "suffix", ".consul.", ".svc.cluster.local."],
        &["type", "ANY", "HINFO"],
    ]);
    let decide = |name: &str, qtype: RecordType| {
        let name = if name == "we b.example." {
            Name::from_labels(vec![&b"we b"[..], &b"example"[..]]).unwrap()
        } else {
            Name::from_ascii(name).unwrap()
        };
        let mut message = clusterdns_api::proto::op::Message::new(
            1,
            clusterdns_api::proto::op::MessageType::Query,
            clusterdns_api::proto::op::OpCode::Query,
        );
        message.add_query(clusterdns_api::proto::op::Query::query(name, qtype));
        let bytes = message.to_vec().unwrap();
        let mut query = WireQuery::parse(&bytes, true).unwrap();
        plugin.serve_wire(&mut query, &mut Vec::new())
    };
    assert_eq!(
        decide("web.shop.svc.cluster.local.", RecordType::A),
        Wire::Pass
    );
    assert_eq!(decide("web.Consul.", RecordType::A), Wire::Ordinary);
    assert_eq!(
        decide("web.shop.svc.cluster.local.", RecordType::ANY),
        Wire::Ordinary
    );
    // A name presentation form escapes: its last label rules the rules out...
    assert_eq!(decide("we b.example.", RecordType::A), Wire::Pass);
    // ...and where the name must be spelled, it is left to the ordinary path.
    let spelled = build(&[&["name", "substring", "x", "y"]]);
    let bytes = {
        let mut message = clusterdns_api::proto::op::Message::new(
            1,
            clusterdns_api::proto::op::MessageType::Query,
            clusterdns_api::proto::op::OpCode::Query,
        );
        let name = Name::from_labels(vec![&b"we b"[..], &b"example"[..]]).unwrap();
        message.add_query(clusterdns_api::proto::op::Query::query(name, RecordType::A));
        message.to_vec().unwrap()
    };
    let mut query = WireQuery::parse(&bytes, true).unwrap();
    assert_eq!(
        spelled.serve_wire(&mut query, &mut Vec::new()),
        Wire::Ordinary
    );
    assert_eq!(decide(".", RecordType::A), Wire::Pass);
}

/// The wire decision against `serve`'s: for every rule kind and many names, a pass
/// is exactly a query no rule touches (the chain sees the question unchanged and the
/// answer comes back unchanged).
#[tokio::test]
async fn wire_passes_are_exactly_the_untouched_queries() {
    let rule_sets: [&[&[&str]]; 5] = [
        &[&[
            "name",
            "suffix",
            ".cluster.internal.",
            ".cluster.local.",
            "answer",
            "auto",
        ]],
        &[
            &["name", "exact", "a.example.", "b.example."],
            &["ttl", "suffix", ".example.org.", "30"],
        ],
        &[
            &["name", "substring", "xyz", "abc"],
            &["rcode", "exact", "internal.", "NXDOMAIN", "NOERROR"],
        ],
        &[
            &["name", "regex", "^web\\.(.*)\\.$", "www.{1}"],
            &["name", "prefix", "api", "app"],
        ],
        &[&["name", "suffix", "ternal.", "x."], &["type", "MX", "TXT"]],
    ];
    let names = [
        "web.shop.svc.cluster.local.",
        "web.shop.svc.cluster.internal.",
        "cluster.internal.",
        "internal.",
        "a.example.",
        "A.Example.",
        "x.example.org.",
        "xyz.local.",
        "api.local.",
        "www.internal.",
        "e.ternal.",
        ".",
    ];
    for rules in rule_sets {
        let plugin = build(rules);
        for name in names {
            for qtype in [RecordType::A, RecordType::MX] {
                let mut message = clusterdns_api::proto::op::Message::new(
                    1,
                    clusterdns_api::proto::op::MessageType::Query,
                    clusterdns_api::proto::op::OpCode::Query,
                );
                message.add_query(clusterdns_api::proto::op::Query::query(
                    Name::from_ascii(name).unwrap(),
                    qtype,
                ));
                let bytes = message.to_vec().unwrap();
                let mut query = WireQuery::parse(&bytes, true).unwrap();
                let wire = plugin.serve_wire(&mut query, &mut Vec::new());
                // The chain echoes what it was asked in an A record's owner and TTL 100.
                let next = NextStub::new(move |ctx| {
                    let mut r =
                        Response::authoritative(ctx, "next", ResponseCode::NoError, Vec::new());
                    r.message.answers.push(Record::from_rdata(
                        ctx.qname().clone(),
                        100,
                        RData::A(A::new(1, 1, 1, 1)),
                    ));
                    r.message.metadata.response_code = if ctx.qtype() == qtype {
                        ResponseCode::NoError
                    } else {
                        ResponseCode::Refused
                    };
                    r
                });
                let reply = ask(plugin.clone(), next, name, qtype).await.unwrap();
                let untouched = reply.rcode() == ResponseCode::NoError
                    && reply.message.answers[0].name.to_string() == name
                    && reply.message.answers[0].ttl == 100;
                let what = format!("{rules:?} {name} {qtype}");
                match wire {
                    Wire::Pass => assert!(untouched, "passed but touched: {what}"),
                    Wire::Ordinary => {}
                    Wire::Answered { .. } => panic!("rewrite never answers: {what}"),
                }
            }
        }
    }
}
