//! `edns0` rules: every form and its errors, and what the rest of the chain receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use clusterdns_api::proto::op::{Edns, Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::testing::NextStub;
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{Ctx, Next, Plugin, Protocol, Response, Token};

use crate::edns0::{Action, Edns0Rule, LocalData, Variable};
use crate::rules::{Mode, RuleKind, parse_rule};
use crate::tests::{build, error};

fn parsed(words: &[&str]) -> (Mode, Edns0Rule) {
    let tokens: Vec<Token> = words.iter().map(|w| Token::synthetic(w)).collect();
    let rule = parse_rule(&tokens, &Token::synthetic("rewrite")).unwrap();
    match rule.kind {
        RuleKind::Edns0(edns0) => (rule.mode, edns0),
        other => panic!("{words:?} read as {other:?}"),
    }
}

fn local(action: Action, code: u16, data: LocalData) -> Edns0Rule {
    Edns0Rule::Local { action, code, data }
}

#[test]
fn reads_every_form() {
    let abcd = || LocalData::Bytes(b"abcd".to_vec());
    let cases: Vec<(&[&str], Mode, Edns0Rule)> = vec![
        (
            &["edns0", "local", "set", "0xffee", "0x61626364"],
            Mode::Stop,
            local(Action::Set, 0xffee, abcd()),
        ),
        (
            &["edns0", "local", "set", "0xffee", "abcd"],
            Mode::Stop,
            local(Action::Set, 0xffee, abcd()),
        ),
        (
            &["continue", "EDNS0", "Local", "REPLACE", "65518", "0X6162"],
            Mode::Continue,
            local(Action::Replace, 65518, LocalData::Bytes(b"0X6162".to_vec())),
        ),
        (
            &[
                "stop", "edns0", "local", "append", "0xffee", "abcd", "revert",
            ],
            Mode::Stop,
            local(Action::Append, 0xffee, abcd()),
        ),
        (
            &["edns0", "local", "set", "0xffee", "0x"],
            Mode::Stop,
            local(Action::Set, 0xffee, LocalData::Bytes(Vec::new())),
        ),
        (
            &["edns0", "local", "unset", "0xffee"],
            Mode::Stop,
            local(Action::Unset, 0xffee, LocalData::Bytes(Vec::new())),
        ),
        (
            &["edns0", "nsid", "set"],
            Mode::Stop,
            Edns0Rule::Nsid {
                action: Action::Set,
            },
        ),
        (
            &["edns0", "nsid", "append", "revert"],
            Mode::Stop,
            Edns0Rule::Nsid {
                action: Action::Append,
            },
        ),
        (
            &["edns0", "nsid", "unset"],
            Mode::Stop,
            Edns0Rule::Nsid {
                action: Action::Unset,
            },
        ),
        (
            &["edns0", "subnet", "set", "24", "56"],
            Mode::Stop,
            Edns0Rule::Subnet {
                action: Action::Set,
                v4: 24,
                v6: 56,
            },
        ),
        (
            &["edns0", "subnet", "replace", "0x20", "128", "revert"],
            Mode::Stop,
            Edns0Rule::Subnet {
                action: Action::Replace,
                v4: 32,
                v6: 128,
            },
        ),
        (
            &["edns0", "subnet", "unset"],
            Mode::Stop,
            Edns0Rule::Subnet {
                action: Action::Unset,
                v4: 0,
                v6: 0,
            },
        ),
    ];
    for (words, mode, rule) in cases {
        assert_eq!(parsed(words), (mode, rule), "{words:?}");
    }
    let variables = [
        ("{qname}", Variable::QName),
        ("{qtype}", Variable::QType),
        ("{client_ip}", Variable::ClientIp),
        ("{client_port}", Variable::ClientPort),
        ("{protocol}", Variable::Protocol),
        ("{server_ip}", Variable::ServerIp),
        ("{server_port}", Variable::ServerPort),
    ];
    for (text, variable) in variables {
        assert_eq!(
            parsed(&["edns0", "local", "set", "0xffee", text]).1,
            local(Action::Set, 0xffee, LocalData::Variable(variable))
        );
    }
}

#[test]
fn refuses_bad_edns0_rules() {
    let cases: &[(&[&str], &str)] = &[
        (&["edns0"], "too few arguments for an EDNS0 rule"),
        (&["edns0", "local"], "too few arguments for an EDNS0 rule"),
        (
            &["edns0", "local", "add", "1", "a"],
            "invalid EDNS0 action \"add\"",
        ),
        (
            &["edns0", "cookie", "set"],
            "invalid EDNS0 option type \"cookie\"",
        ),
        (&["edns0", "cookie", "unset"], "invalid EDNS0 option type"),
        (
            &["edns0", "local", "set", "0xffee"],
            "exactly two arguments",
        ),
        (
            &["edns0", "local", "set", "1", "a", "b"],
            "exactly two arguments",
        ),
        (
            &["edns0", "local", "set", "0x10000", "a"],
            "invalid EDNS0 option code",
        ),
        (
            &["edns0", "local", "set", "code", "a"],
            "invalid EDNS0 option code",
        ),
        (
            &["edns0", "local", "set", "-1", "a"],
            "invalid EDNS0 option code",
        ),
        (&["edns0", "local", "set", "1", "0xabc"], "invalid hex data"),
        (&["edns0", "local", "set", "1", "0xzz"], "invalid hex data"),
        (
            &["edns0", "local", "set", "1", "{bogus}"],
            "unsupported variable name",
        ),
        (
            &["edns0", "local", "set", "1", "{some/label}"],
            "metadata plugin",
        ),
        (&["edns0", "local", "unset"], "exactly one argument"),
        (
            &["edns0", "local", "unset", "1", "a"],
            "exactly one argument",
        ),
        (
            &["edns0", "local", "unset", "nope"],
            "invalid EDNS0 option code",
        ),
        (&["edns0", "nsid", "set", "x"], "takes no arguments"),
        (&["edns0", "nsid", "unset", "revert"], "takes no arguments"),
        (&["edns0", "subnet", "set", "24"], "exactly two arguments"),
        (
            &["edns0", "subnet", "set", "33", "56"],
            "invalid IPv4 bit mask length",
        ),
        (
            &["edns0", "subnet", "set", "24", "129"],
            "invalid IPv6 bit mask length",
        ),
        (
            &["edns0", "subnet", "set", "-1", "56"],
            "invalid IPv4 bit mask length",
        ),
        (
            &["edns0", "subnet", "set", "24", "x"],
            "invalid IPv6 bit mask length",
        ),
        (&["edns0", "subnet", "unset", "24"], "takes no arguments"),
    ];
    for (words, expected) in cases {
        let message = error(&[words]);
        assert!(message.contains(expected), "{words:?}: {message}");
    }
}

/// What the rest of the chain saw of the query, and the query after the plugin returned.
struct Seen {
    next: Ctx,
    after: Ctx,
}

/// A query for `name` A from `src` over `protocol`, with the client's `edns`.
fn request(name: &str, src: &str, protocol: Protocol, edns: Option<Edns>) -> Ctx {
    let query = Query::query(Name::from_ascii(name).unwrap(), RecordType::A);
    let mut ctx = Ctx::new(query, src.parse::<SocketAddr>().unwrap(), protocol);
    ctx.local = "10.96.0.10:53".parse().unwrap();
    ctx.edns = edns;
    ctx
}

fn from_v4(edns: Option<Edns>) -> Ctx {
    request("www.example.org.", "10.1.2.3:40000", Protocol::Udp, edns)
}

/// Runs the rules on `ctx` in front of a chain that records what it was asked.
async fn run(rules: &[&[&str]], mut ctx: Ctx) -> Seen {
    let plugin = build(rules);
    let seen: Arc<Mutex<Option<Ctx>>> = Arc::default();
    let recorder = seen.clone();
    let next = NextStub::new(move |ctx| {
        *recorder.lock().unwrap() = Some(ctx.clone());
        Response::new(ctx, "next", ResponseCode::NoError)
    });
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin, Arc::new(next)];
    Next::new(&chain).run(&mut ctx).await.unwrap();
    let next = seen.lock().unwrap().take().expect("the chain ran");
    Seen { next, after: ctx }
}

/// The options of `ctx`'s OPT record as (code, option).
fn options(ctx: &Ctx) -> Vec<(u16, EdnsOption)> {
    ctx.edns
        .iter()
        .flat_map(|edns| edns.options().as_ref())
        .map(|(code, option)| (u16::from(*code), option.clone()))
        .collect()
}

fn unknown(code: u16, data: &[u8]) -> (u16, EdnsOption) {
    (code, EdnsOption::Unknown(code, data.to_vec()))
}

/// A client OPT record with payload 1232, DO set and `options`.
fn client_edns(options: &[EdnsOption]) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    for option in options {
        edns.options_mut().insert(option.clone());
    }
    edns
}

#[tokio::test]
async fn set_adds_an_opt_record_the_client_did_not_send_and_it_is_restored() {
    let seen = run(
        &[&["edns0", "local", "set", "0xffee", "abcd"]],
        from_v4(None),
    )
    .await;
    assert_eq!(options(&seen.next), [unknown(0xffee, b"abcd")]);
    // What the chain reads of the client itself is unchanged.
    assert_eq!(seen.next.udp_payload(), 512);
    assert!(!seen.next.dnssec_ok());
    assert!(seen.after.edns.is_none(), "the request is restored");
}

#[tokio::test]
async fn actions_on_local_options() {
    let client = || {
        Some(client_edns(&[
            EdnsOption::Unknown(0xffee, b"old".to_vec()),
            EdnsOption::Unknown(0xffef, b"other".to_vec()),
        ]))
    };
    // set and replace change the client's option in place.
    for action in ["set", "replace"] {
        let seen = run(
            &[&["edns0", "local", action, "0xffee", "new"]],
            from_v4(client()),
        )
        .await;
        assert_eq!(
            options(&seen.next),
            [unknown(0xffee, b"new"), unknown(0xffef, b"other")],
            "{action}"
        );
        assert_eq!(seen.next.udp_payload(), 1232);
        assert!(seen.next.dnssec_ok());
        assert_eq!(
            options(&seen.after),
            [unknown(0xffee, b"old"), unknown(0xffef, b"other")]
        );
    }
    // append leaves an option that is there alone, and adds one that is not.
    let seen = run(
        &[&["edns0", "local", "append", "0xffee", "new"]],
        from_v4(client()),
    )
    .await;
    assert_eq!(
        options(&seen.next),
        [unknown(0xffee, b"old"), unknown(0xffef, b"other")]
    );
    let seen = run(
        &[&["edns0", "local", "append", "0xfff0", "new"]],
        from_v4(client()),
    )
    .await;
    assert_eq!(
        options(&seen.next),
        [
            unknown(0xffee, b"old"),
            unknown(0xffef, b"other"),
            unknown(0xfff0, b"new")
        ]
    );
    // replace adds nothing, with or without an OPT record.
    let seen = run(
        &[&["edns0", "local", "replace", "0xfff0", "new"]],
        from_v4(client()),
    )
    .await;
    assert_eq!(
        options(&seen.next),
        [unknown(0xffee, b"old"), unknown(0xffef, b"other")]
    );
    let seen = run(
        &[&["edns0", "local", "replace", "0xfff0", "new"]],
        from_v4(None),
    )
    .await;
    assert!(seen.next.edns.is_none());
    // unset removes the code, and only it.
    let seen = run(&[&["edns0", "local", "unset", "65518"]], from_v4(client())).await;
    assert_eq!(options(&seen.next), [unknown(0xffef, b"other")]);
    assert_eq!(options(&seen.after).len(), 2);
}

#[tokio::test]
async fn stop_ends_the_rules_only_when_the_rule_did_something() {
    let rules: &[&[&str]] = &[
        &["edns0", "local", "replace", "1", "a"],
        &["edns0", "local", "set", "2", "b"],
        &["edns0", "local", "set", "3", "c"],
    ];
    // The replace finds nothing: the set after it runs, and stops.
    let seen = run(rules, from_v4(None)).await;
    assert_eq!(options(&seen.next), [unknown(2, b"b")]);
    let rules: &[&[&str]] = &[
        &["continue", "edns0", "local", "set", "1", "a"],
        &["edns0", "local", "set", "2", "b"],
        &["edns0", "local", "set", "3", "c"],
    ];
    let seen = run(rules, from_v4(None)).await;
    assert_eq!(options(&seen.next), [unknown(1, b"a"), unknown(2, b"b")]);
}

#[tokio::test]
async fn variables_carry_the_request() {
    let value = |variable: &'static str, ctx: Ctx| async move {
        let seen = run(&[&["edns0", "local", "set", "0xffee", variable]], ctx).await;
        match options(&seen.next).as_slice() {
            [(0xffee, EdnsOption::Unknown(_, data))] => data.clone(),
            other => panic!("{variable}: {other:?}"),
        }
    };
    assert_eq!(value("{qname}", from_v4(None)).await, b"www.example.org.");
    assert_eq!(value("{qtype}", from_v4(None)).await, [0, 1]);
    assert_eq!(value("{client_ip}", from_v4(None)).await, [10, 1, 2, 3]);
    assert_eq!(
        value("{client_port}", from_v4(None)).await,
        40000u16.to_be_bytes()
    );
    assert_eq!(value("{protocol}", from_v4(None)).await, b"udp");
    assert_eq!(value("{server_ip}", from_v4(None)).await, [10, 96, 0, 10]);
    assert_eq!(value("{server_port}", from_v4(None)).await, [0, 53]);
    let v6 = || {
        request(
            "WWW.Example.ORG.",
            "[2001:db8::7]:1234",
            Protocol::Tcp,
            None,
        )
    };
    assert_eq!(
        value("{client_ip}", v6()).await,
        "2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
    );
    assert_eq!(value("{protocol}", v6()).await, b"tcp");
    assert_eq!(
        value("{qname}", v6()).await,
        b"www.example.org.",
        "lower case"
    );
    // After a name rule in continue mode, the rewritten name.
    let seen = run(
        &[
            &[
                "continue",
                "name",
                "exact",
                "www.example.org.",
                "web.example.net.",
            ],
            &["edns0", "local", "set", "0xffee", "{qname}"],
        ],
        from_v4(None),
    )
    .await;
    assert_eq!(options(&seen.next), [unknown(0xffee, b"web.example.net.")]);
}

#[tokio::test]
async fn nsid_asks_with_an_empty_option() {
    let empty = || EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap());
    let nsid = u16::from(EdnsCode::NSID);
    let seen = run(&[&["edns0", "nsid", "set"]], from_v4(None)).await;
    assert_eq!(options(&seen.next), [(nsid, empty())]);
    let client = || {
        Some(client_edns(&[EdnsOption::NSID(
            NSIDPayload::new(b"x".to_vec()).unwrap(),
        )]))
    };
    let seen = run(&[&["edns0", "nsid", "replace"]], from_v4(client())).await;
    assert_eq!(options(&seen.next), [(nsid, empty())], "emptied");
    let seen = run(&[&["edns0", "nsid", "append"]], from_v4(client())).await;
    assert_eq!(
        options(&seen.next),
        options(&from_v4(client())),
        "left alone"
    );
    let seen = run(&[&["edns0", "nsid", "unset"]], from_v4(client())).await;
    assert!(options(&seen.next).is_empty());
}

#[tokio::test]
async fn subnet_comes_from_the_client_address() {
    let subnet = |addr: &str, bits| {
        (
            8,
            EdnsOption::Subnet(ClientSubnet::new(addr.parse().unwrap(), bits, 0)),
        )
    };
    let rule: &[&[&str]] = &[&["edns0", "subnet", "set", "24", "56"]];
    let seen = run(rule, from_v4(None)).await;
    assert_eq!(options(&seen.next), [subnet("10.1.2.0", 24)]);
    let v6 = request("a.example.", "[2001:db8:1:2ff::9]:53", Protocol::Udp, None);
    let seen = run(rule, v6).await;
    assert_eq!(options(&seen.next), [subnet("2001:db8:1:200::", 56)]);
    // The client's own subnet is replaced with set and replace, kept with append.
    let client = || {
        Some(client_edns(&[EdnsOption::Subnet(ClientSubnet::new(
            "192.0.2.0".parse().unwrap(),
            24,
            0,
        ))]))
    };
    let seen = run(
        &[&["edns0", "subnet", "replace", "16", "48"]],
        from_v4(client()),
    )
    .await;
    assert_eq!(options(&seen.next), [subnet("10.1.0.0", 16)]);
    let seen = run(
        &[&["edns0", "subnet", "append", "16", "48"]],
        from_v4(client()),
    )
    .await;
    assert_eq!(options(&seen.next), [subnet("192.0.2.0", 24)]);
    let seen = run(&[&["edns0", "subnet", "unset"]], from_v4(client())).await;
    assert!(options(&seen.next).is_empty());
    assert_eq!(options(&seen.after), [subnet("192.0.2.0", 24)], "restored");
}

#[test]
fn edns0_rules_take_every_query_off_the_wire_path() {
    let plugin = build(&[&["edns0", "subnet", "set", "24", "56"]]);
    let mut message = clusterdns_api::proto::op::Message::query();
    message.add_query(Query::query(
        Name::from_ascii("web.shop.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let packet = message.to_vec().unwrap();
    let mut query = WireQuery::parse(&packet, true).unwrap();
    assert!(matches!(
        plugin.serve_wire(&mut query, &mut Vec::new()),
        Wire::Ordinary
    ));
}
