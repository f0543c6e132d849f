use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clusterdns_api::proto::op::Query;
use clusterdns_api::proto::rr::rdata::{A, AAAA, CNAME, MX, TXT};
use clusterdns_api::proto::rr::{Name, RData, Record};
use clusterdns_api::{Protocol, Readiness};

use super::*;

fn directive(args: &[&str], block: Option<Vec<Directive>>) -> Directive {
    Directive {
        name: Token::synthetic("loadbalance"),
        args: args.iter().map(|a| Token::synthetic(a)).collect(),
        block,
    }
}

fn line(name: &str, args: &[&str]) -> Directive {
    Directive {
        name: Token::synthetic(name),
        args: args.iter().map(|a| Token::synthetic(a)).collect(),
        block: None,
    }
}

fn build(d: &Directive) -> Result<Arc<dyn Plugin>, ConfigError> {
    let mut ctx = SetupCtx::new(vec![Name::root()], 53, PathBuf::from("."), Readiness::new());
    setup(d, &mut ctx).map(|p| p.expect("loadbalance is a chain plugin"))
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("name")
}

fn a(ip: &str) -> Record {
    Record::from_rdata(
        name("web.example.org."),
        30,
        RData::A(A(ip.parse().expect("v4"))),
    )
}

fn aaaa(ip: &str) -> Record {
    Record::from_rdata(
        name("web.example.org."),
        30,
        RData::AAAA(AAAA(ip.parse().expect("v6"))),
    )
}

fn cname() -> Record {
    Record::from_rdata(
        name("www.example.org."),
        30,
        RData::CNAME(CNAME(name("web.example.org."))),
    )
}

fn mx(preference: u16) -> Record {
    Record::from_rdata(
        name("example.org."),
        30,
        RData::MX(MX::new(preference, name("mail.example.org."))),
    )
}

fn txt() -> Record {
    Record::from_rdata(
        name("web.example.org."),
        30,
        RData::TXT(TXT::new(vec!["hello".into()])),
    )
}

/// Answers every query with a fixed set of sections and rcode.
struct Fixed {
    rcode: ResponseCode,
    answers: Vec<Record>,
    additionals: Vec<Record>,
}

impl Plugin for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let mut response = Response::authoritative(ctx, "fixed", self.rcode, self.answers.clone());
        response.message.additionals = self.additionals.clone();
        Box::pin(async move { Ok(response) })
    }
}

async fn run(plugin: &Arc<dyn Plugin>, terminal: Fixed, qtype: RecordType) -> Response {
    let src: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
    let mut ctx = Ctx::new(
        Query::query(name("www.example.org."), qtype),
        src,
        Protocol::Udp,
    );
    let chain: Vec<Arc<dyn Plugin>> = vec![Arc::new(terminal)];
    plugin
        .serve(&mut ctx, Next::new(&chain))
        .await
        .expect("answer")
}

fn ips(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::AAAA(a) => a.0.to_string(),
            other => other.record_type().to_string(),
        })
        .collect()
}

#[tokio::test]
async fn round_robin_shuffles_but_keeps_records_and_cname_first() {
    let plugin = build(&directive(&[], None)).expect("setup");
    let answers = vec![
        a("10.0.0.1"),
        mx(10),
        cname(),
        a("10.0.0.2"),
        txt(),
        aaaa("fd00::1"),
        a("10.0.0.3"),
        mx(20),
    ];
    let mut sorted_input: Vec<String> = ips(&answers);
    sorted_input.sort();

    let mut orders = HashSet::new();
    for _ in 0..200 {
        let fixed = Fixed {
            rcode: ResponseCode::NoError,
            answers: answers.clone(),
            additionals: vec![a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3")],
        };
        let response = run(&plugin, fixed, RecordType::A).await;
        let got = ips(&response.message.answers);

        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, sorted_input, "the same records come back");
        assert_eq!(got[0], "CNAME", "CNAME first: {got:?}");
        assert_eq!(got[1], "TXT", "other types next, before addresses: {got:?}");
        assert!(
            got[2..6].iter().all(|r| r.contains('.') || r.contains(':')),
            "then the addresses: {got:?}"
        );
        assert_eq!(&got[6..], ["MX", "MX"], "MX last: {got:?}");
        assert_eq!(response.message.additionals.len(), 3);
        orders.insert((got, ips(&response.message.additionals)));
    }
    assert!(orders.len() > 1, "200 answers all in one order");
}

#[tokio::test]
async fn leaves_errors_and_transfers_alone() {
    let plugin = build(&directive(&["round_robin"], None)).expect("setup");
    let answers: Vec<Record> = (1..=6).map(|i| a(&format!("10.0.0.{i}"))).collect();
    for _ in 0..20 {
        for (rcode, qtype) in [
            (ResponseCode::NXDomain, RecordType::A),
            (ResponseCode::ServFail, RecordType::A),
            (ResponseCode::NoError, RecordType::AXFR),
            (ResponseCode::NoError, RecordType::IXFR),
        ] {
            let fixed = Fixed {
                rcode,
                answers: answers.clone(),
                additionals: Vec::new(),
            };
            let response = run(&plugin, fixed, qtype).await;
            assert_eq!(response.message.answers, answers, "{rcode:?} {qtype:?}");
        }
    }
}

#[tokio::test]
async fn errors_pass_through() {
    struct Failing;
    impl Plugin for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn serve<'a>(
            &'a self,
            _ctx: &'a mut Ctx,
            _next: Next<'a>,
        ) -> BoxFuture<'a, Result<Response, PluginError>> {
            Box::pin(async { Err(PluginError::failed("failing", "boom")) })
        }
    }
    let plugin = build(&directive(&[], None)).expect("setup");
    let mut ctx = Ctx::new(
        Query::query(name("a."), RecordType::A),
        "127.0.0.1:1".parse().expect("addr"),
        Protocol::Udp,
    );
    let chain: Vec<Arc<dyn Plugin>> = vec![Arc::new(Failing)];
    let err = plugin
        .serve(&mut ctx, Next::new(&chain))
        .await
        .expect_err("the error comes back");
    assert_eq!(err.to_string(), "failing: boom");
}

#[tokio::test]
async fn prefer_moves_subnets_first_in_cidr_order() {
    let block = vec![line(
        "prefer",
        &["10.9.20.0/24", "192.168.1.0/24", "fd00::/8"],
    )];
    let plugin = build(&directive(&["round_robin"], Some(block))).expect("setup");
    for _ in 0..50 {
        let fixed = Fixed {
            rcode: ResponseCode::NoError,
            answers: vec![
                a("8.8.8.8"),
                a("192.168.1.5"),
                aaaa("2001:db8::1"),
                cname(),
                a("10.9.20.7"),
                aaaa("fd00::7"),
                a("192.168.1.6"),
                mx(5),
                txt(),
            ],
            additionals: vec![a("1.1.1.1"), a("10.9.20.1")],
        };
        let response = run(&plugin, fixed, RecordType::A).await;
        let got = ips(&response.message.answers);
        assert_eq!(got[0], "CNAME");
        assert_eq!(got[1], "10.9.20.7");
        let second: HashSet<&str> = got[2..4].iter().map(String::as_str).collect();
        assert_eq!(second, HashSet::from(["192.168.1.5", "192.168.1.6"]));
        assert_eq!(got[4], "fd00::7");
        let unmatched: HashSet<&str> = got[5..7].iter().map(String::as_str).collect();
        assert_eq!(unmatched, HashSet::from(["8.8.8.8", "2001:db8::1"]));
        assert_eq!(&got[7..], ["MX", "TXT"], "MX, then other types: {got:?}");
        assert_eq!(ips(&response.message.additionals), ["10.9.20.1", "1.1.1.1"]);
    }
}

#[tokio::test]
async fn prefer_on_the_line_is_a_shorthand() {
    let plugin = build(&directive(&["prefer", "10.0.0.0/8"], None)).expect("setup");
    let fixed = Fixed {
        rcode: ResponseCode::NoError,
        answers: vec![a("192.0.2.1"), a("192.0.2.2"), a("10.1.2.3")],
        additionals: Vec::new(),
    };
    let response = run(&plugin, fixed, RecordType::A).await;
    assert_eq!(ips(&response.message.answers)[0], "10.1.2.3");
}

#[test]
fn cidrs_parse_and_match() {
    let cidr = Cidr::parse(&Token::synthetic("10.9.20.5/24")).expect("cidr");
    assert_eq!(cidr.to_string(), "10.9.20.0/24");
    assert!(cidr.contains("10.9.20.200".parse().expect("ip")));
    assert!(!cidr.contains("10.9.21.1".parse().expect("ip")));
    assert!(cidr.contains("::ffff:10.9.20.1".parse().expect("ip")));
    assert!(!cidr.contains("fd00::1".parse().expect("ip")));

    let all: IpAddr = "203.0.113.9".parse().expect("ip");
    assert!(
        Cidr::parse(&Token::synthetic("0.0.0.0/0"))
            .expect("cidr")
            .contains(all)
    );
    let v6 = Cidr::parse(&Token::synthetic("2001:db8::/32")).expect("cidr");
    assert!(v6.contains("2001:db8:ffff::1".parse().expect("ip")));
    assert!(!v6.contains("2001:db9::1".parse().expect("ip")));
    let host = Cidr::parse(&Token::synthetic("fd00::1/128")).expect("cidr");
    assert!(host.contains("fd00::1".parse().expect("ip")));

    for bad in [
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0.0/-1",
        "10.0.0.0/08",
        "x/8",
        "fd00::/129",
        "10.0.0.0/",
    ] {
        assert!(Cidr::parse(&Token::synthetic(bad)).is_err(), "{bad}");
    }
}

#[test]
fn setup_errors_name_the_problem() {
    let message = |d: &Directive| build(d).err().expect("an error").message;

    assert!(message(&directive(&["weighted", "./weights"], None)).contains("not supported yet"));
    assert!(message(&directive(&["fastest"], None)).contains("unknown policy"));
    assert!(message(&directive(&["round_robin", "extra"], None)).contains("unknown property"));
    assert!(message(&directive(&["prefer"], None)).contains("at least one CIDR"));
    assert!(
        message(&directive(&[], Some(vec![line("prefer", &[])]))).contains("at least one CIDR")
    );
    assert!(
        message(&directive(&[], Some(vec![line("prefer", &["bad"])]))).contains("invalid CIDR")
    );
    assert!(
        message(&directive(&[], Some(vec![line("reload", &["10s"])]))).contains("unknown property")
    );
}

#[test]
fn weighted_error_points_at_the_policy() {
    let mut policy = Token::synthetic("weighted");
    policy.file = Arc::from("Corefile");
    policy.line = 4;
    policy.column = 17;
    let d = Directive {
        name: Token::synthetic("loadbalance"),
        args: vec![policy, Token::synthetic("w.txt")],
        block: None,
    };
    let err = build(&d).err().expect("refused");
    assert_eq!(
        err.to_string(),
        "Corefile:4:17: loadbalance: the weighted policy is not supported yet; use round_robin"
    );
}

/// The wire path's rule for when a shuffle matters is loadbalance's round robin: a
/// section `shuffle_would_reorder` calls fixed is never reordered, and one it calls
/// reorderable is, for some draw.
#[test]
fn shuffle_would_reorder_is_what_round_robin_does() {
    use clusterdns_api::wire::shuffle_would_reorder;
    use rand::SeedableRng;
    let mx = |n: u16| {
        Record::from_rdata(
            name("example.org."),
            30,
            RData::MX(MX::new(n, name("mail.example.org."))),
        )
    };
    let cname = Record::from_rdata(
        name("www.example.org."),
        30,
        RData::CNAME(CNAME(name("web.example.org."))),
    );
    let sections: Vec<Vec<Record>> = vec![
        vec![],
        vec![a("10.0.0.1")],
        vec![cname.clone(), a("10.0.0.1")],
        vec![a("10.0.0.1"), mx(1)],
        vec![a("10.0.0.1"), a("10.0.0.2")],
        vec![cname, a("10.0.0.1"), aaaa("fd00::1")],
        vec![mx(1), mx(2)],
        vec![a("10.0.0.1"), a("10.0.0.2"), a("10.0.0.3"), mx(1), mx(2)],
    ];
    for section in sections {
        let changed = (0..64u64).any(|seed| {
            let mut shuffled = section.clone();
            order::round_robin(&mut shuffled, &mut rand::rngs::StdRng::seed_from_u64(seed));
            // Round robin also moves CNAMEs first; only the shuffle is at stake here.
            let positions = |records: &[Record]| -> Vec<String> {
                records.iter().map(|r| r.data.to_string()).collect()
            };
            let mut sorted_in = positions(&section);
            let mut sorted_out = positions(&shuffled);
            sorted_in.sort();
            sorted_out.sort();
            assert_eq!(sorted_in, sorted_out, "a shuffle keeps every record");
            let addresses_and_mx = |records: &[Record]| -> Vec<String> {
                records
                    .iter()
                    .filter(|r| {
                        matches!(
                            r.record_type(),
                            RecordType::A | RecordType::AAAA | RecordType::MX
                        )
                    })
                    .map(|r| r.data.to_string())
                    .collect()
            };
            addresses_and_mx(&section) != addresses_and_mx(&shuffled)
        });
        assert_eq!(
            changed,
            shuffle_would_reorder(&section),
            "{:?}",
            section
                .iter()
                .map(|r| r.data.to_string())
                .collect::<Vec<_>>()
        );
    }
}
