use std::path::PathBuf;

use clusterdns_api::Readiness;
use clusterdns_api::proto::rr::Name;

use super::*;

fn tokens(args: &[&str]) -> Vec<Token> {
    args.iter().map(|a| Token::synthetic(a)).collect()
}

fn directive(args: &[&str], except: Option<&[&str]>) -> Directive {
    Directive {
        name: Token::synthetic("bind"),
        args: tokens(args),
        block: except.map(|ex| {
            vec![Directive {
                name: Token::synthetic("except"),
                args: tokens(ex),
                block: None,
            }]
        }),
    }
}

fn setup_ctx() -> SetupCtx {
    SetupCtx::new(vec![Name::root()], 53, PathBuf::from("."), Readiness::new())
}

fn interfaces() -> Vec<InterfaceAddr> {
    [
        ("lo", "127.0.0.1"),
        ("lo", "::1"),
        ("eth0", "10.0.0.5"),
        ("eth0", "fe80::1"),
        ("eth0", "2001:db8::5"),
        // An interface named like an address: the name wins, as in CoreDNS.
        ("192.0.2.1", "198.51.100.1"),
    ]
    .into_iter()
    .map(|(name, ip)| InterfaceAddr {
        name: name.to_owned(),
        ip: ip.parse().expect("ip"),
    })
    .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().expect("ip")).collect()
}

fn bind(ctx: &mut SetupCtx, d: &Directive) -> Result<(), ConfigError> {
    setup_with_interfaces(d, ctx, &interfaces())
}

#[test]
fn addresses_and_interfaces() {
    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["127.0.0.1", "::1"], None)).expect("bind");
    assert_eq!(ctx.bind, ips(&["127.0.0.1", "::1"]));

    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["eth0"], None)).expect("bind");
    assert_eq!(
        ctx.bind,
        ips(&["10.0.0.5", "2001:db8::5"]),
        "link-local addresses are skipped"
    );

    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["192.0.2.1"], None)).expect("bind");
    assert_eq!(ctx.bind, ips(&["198.51.100.1"]));
}

#[test]
fn lines_accumulate_without_duplicates() {
    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["127.0.0.1"], None)).expect("first");
    bind(&mut ctx, &directive(&["::1", "lo"], None)).expect("second");
    assert_eq!(ctx.bind, ips(&["127.0.0.1", "::1"]));
}

#[test]
fn except_removes_addresses_of_its_own_line() {
    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["lo"], Some(&["127.0.0.1"]))).expect("bind");
    assert_eq!(ctx.bind, ips(&["::1"]));

    let mut ctx = setup_ctx();
    bind(&mut ctx, &directive(&["127.0.0.1"], None)).expect("first");
    bind(&mut ctx, &directive(&["eth0", "::1"], Some(&["lo"]))).expect("second");
    assert_eq!(
        ctx.bind,
        ips(&["127.0.0.1", "10.0.0.5", "2001:db8::5"]),
        "except does not undo an earlier line"
    );
}

#[test]
fn setup_returns_no_plugin() {
    let mut ctx = setup_ctx();
    let plugin = setup(&directive(&["127.0.0.1"], None), &mut ctx).expect("bind");
    assert!(plugin.is_none());
    assert_eq!(ctx.bind, ips(&["127.0.0.1"]));
}

#[test]
fn errors_point_at_the_token() {
    let mut ctx = setup_ctx();
    let mut bad = Token::synthetic("nosuchif0");
    bad.file = Arc::from("Corefile");
    bad.line = 2;
    bad.column = 15;
    let d = Directive {
        name: Token::synthetic("bind"),
        args: vec![Token::synthetic("127.0.0.1"), bad],
        block: None,
    };
    let err = bind(&mut ctx, &d).expect_err("unknown interface");
    assert_eq!(
        err.to_string(),
        "Corefile:2:15: bind: not a valid IP address or interface name: \"nosuchif0\""
    );

    let message = |d: &Directive| bind(&mut setup_ctx(), d).expect_err("refused").message;
    assert!(message(&directive(&[], None)).contains("at least one address"));
    assert!(message(&directive(&["lo"], Some(&[]))).contains("except needs"));
    assert!(message(&directive(&["lo"], Some(&["bogus"]))).contains("not a valid IP"));
    assert!(message(&directive(&["lo"], Some(&["lo"]))).contains("every address is excluded"));
    let unknown = Directive {
        name: Token::synthetic("bind"),
        args: tokens(&["lo"]),
        block: Some(vec![Directive {
            name: Token::synthetic("only"),
            args: Vec::new(),
            block: None,
        }]),
    };
    assert!(message(&unknown).contains("unknown property"));
}

#[test]
fn host_loopback_interface_resolves() {
    // Uses the real host: skip quietly where no interface holds 127.0.0.1.
    let host = host_interfaces();
    let Some(lo) = host.iter().find(|i| i.ip == IpAddr::from([127, 0, 0, 1])) else {
        return;
    };
    let mut ctx = setup_ctx();
    setup(&directive(&[lo.name.as_str()], None), &mut ctx).expect("bind by interface name");
    assert!(ctx.bind.contains(&IpAddr::from([127, 0, 0, 1])));
}
