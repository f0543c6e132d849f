use std::net::SocketAddr;
use std::path::PathBuf;

use clusterdns_api::proto::op::Query;
use clusterdns_api::proto::rr::rdata::A;
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::{ConfigError, Directive, Readiness, SetupCtx, Token};
use std::sync::Mutex;

use super::*;

fn tokens(args: &[&str]) -> Vec<Token> {
    args.iter().map(|a| Token::synthetic(a)).collect()
}

fn directive(args: &[&str], classes: &[&[&str]]) -> Directive {
    let block: Vec<Directive> = classes
        .iter()
        .map(|c| Directive {
            name: Token::synthetic("class"),
            args: tokens(c),
            block: None,
        })
        .collect();
    Directive {
        name: Token::synthetic("log"),
        args: tokens(args),
        block: (!block.is_empty()).then_some(block),
    }
}

/// Collects the logged lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

fn plugin(d: &Directive, lines: &Lines) -> Log {
    let collected = Arc::clone(&lines.0);
    Log::with_sink(
        setup::parse(d).expect("parse"),
        Arc::new(move |line: &str| collected.lock().expect("lock").push(line.to_owned())),
    )
}

/// Answers with an A record, NXDOMAIN for names starting with `nx`, or fails for
/// names starting with `fail`.
struct Terminal;

impl Plugin for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let name = ctx.qname().to_lowercase().to_ascii();
        let result = if name.starts_with("fail") {
            Err(PluginError::failed("terminal", "upstream timed out"))
        } else if name.starts_with("nx") {
            Ok(Response::authoritative(
                ctx,
                "terminal",
                ResponseCode::NXDomain,
                Vec::new(),
            ))
        } else {
            let record = Record::from_rdata(ctx.qname().clone(), 30, RData::A(A::new(10, 0, 0, 1)));
            Ok(Response::authoritative(
                ctx,
                "terminal",
                ResponseCode::NoError,
                vec![record],
            ))
        };
        Box::pin(async move { result })
    }
}

fn ctx(name: &str) -> Ctx {
    let src: SocketAddr = "127.0.0.1:40212".parse().expect("addr");
    let query = Query::query(Name::from_ascii(name).expect("name"), RecordType::A);
    let mut ctx = Ctx::new(query, src, Protocol::Udp);
    ctx.metadata.id = 39437;
    ctx.request_size = 41;
    ctx
}

async fn run(log: &Log, ctx: &mut Ctx) -> Result<Response, PluginError> {
    let chain: Vec<Arc<dyn Plugin>> = vec![Arc::new(Terminal)];
    log.serve(ctx, Next::new(&chain)).await
}

/// Splits the duration off a Common Log Format line, checking it looks like one.
fn without_duration(line: &str) -> &str {
    let (rest, duration) = line.rsplit_once(' ').expect("fields");
    let seconds = duration.strip_suffix('s').expect("duration ends in s");
    assert!(seconds.parse::<f64>().is_ok(), "{duration}");
    rest
}

#[tokio::test]
async fn logs_answers_in_common_log_format() {
    let lines = Lines::default();
    let log = plugin(&directive(&[], &[]), &lines);
    let response = run(&log, &mut ctx("Example.ORG.")).await.expect("answer");
    assert_eq!(response.message.answers.len(), 1, "the answer is untouched");
    assert!(
        response.message.queries.is_empty(),
        "the question is put back"
    );

    let logged = lines.take();
    assert_eq!(logged.len(), 1);
    // 12 header + 17 question + 16 for the A record (its name compressed).
    assert_eq!(
        without_duration(&logged[0]),
        r#"127.0.0.1:40212 - 39437 "A IN example.org. udp 41 false 512" NOERROR qr,aa,rd 45"#
    );
}

#[tokio::test]
async fn failures_are_logged_as_servfail_and_returned() {
    let lines = Lines::default();
    let log = plugin(&directive(&[], &[]), &lines);
    let err = run(&log, &mut ctx("fail.example.org."))
        .await
        .expect_err("error");
    assert_eq!(err.to_string(), "terminal: upstream timed out");
    let logged = lines.take();
    assert_eq!(
        without_duration(&logged[0]),
        r#"127.0.0.1:40212 - 39437 "A IN fail.example.org. udp 41 false 512" SERVFAIL qr,rd 34"#
    );
}

#[tokio::test]
async fn edns_clients_and_tcp() {
    let lines = Lines::default();
    let log = plugin(&directive(&[], &[]), &lines);

    let mut udp = ctx("example.org.");
    let mut edns = Edns::new();
    edns.set_max_payload(1232).set_dnssec_ok(true);
    udp.edns = Some(edns);
    run(&log, &mut udp).await.expect("answer");
    let mut tcp = ctx("example.org.");
    tcp.protocol = Protocol::Tcp;
    run(&log, &mut tcp).await.expect("answer");

    let logged = lines.take();
    assert_eq!(
        without_duration(&logged[0]),
        r#"127.0.0.1:40212 - 39437 "A IN example.org. udp 41 true 1232" NOERROR qr,aa,rd 56"#,
        "an OPT record adds 11 bytes"
    );
    assert_eq!(
        without_duration(&logged[1]),
        r#"127.0.0.1:40212 - 39437 "A IN example.org. tcp 41 false 65535" NOERROR qr,aa,rd 45"#
    );
}

#[tokio::test]
async fn only_names_in_scope_are_logged() {
    let lines = Lines::default();
    let log = plugin(
        &directive(
            &["example.org", "nx.test.", "{name} {rcode} {/log/class}"],
            &[],
        ),
        &lines,
    );
    run(&log, &mut ctx("www.Example.org."))
        .await
        .expect("answer");
    run(&log, &mut ctx("example.net."))
        .await
        .expect("still answered");
    run(&log, &mut ctx("nx.test.")).await.expect("answer");
    assert_eq!(
        lines.take(),
        [
            "www.example.org. NOERROR success",
            "nx.test. NXDOMAIN denial"
        ]
    );
}

#[tokio::test]
async fn classes_filter_answers() {
    let lines = Lines::default();
    let log = plugin(
        &directive(&[".", "{name}"], &[&["denial"], &["error"]]),
        &lines,
    );
    run(&log, &mut ctx("ok.example.")).await.expect("answer");
    run(&log, &mut ctx("nx.example.")).await.expect("answer");
    let _ = run(&log, &mut ctx("fail.example.")).await;
    assert_eq!(lines.take(), ["nx.example.", "fail.example."]);

    let log = plugin(&directive(&["{name}"], &[&["success"]]), &lines);
    run(&log, &mut ctx("ok.example.")).await.expect("answer");
    run(&log, &mut ctx("nx.example.")).await.expect("answer");
    assert_eq!(lines.take(), ["ok.example."], "a lone format is a format");
}

#[test]
fn setup_builds_one_rule_per_name() {
    let mut setup_ctx = SetupCtx::new(vec![Name::root()], 53, PathBuf::from("."), Readiness::new());
    let built = setup(&directive(&[], &[]), &mut setup_ctx)
        .expect("setup")
        .expect("plugin");
    assert_eq!(built.name(), "log");

    let rules = setup::parse(&directive(
        &["a.org", "B.org.", "{combined}"],
        &[&["denial", "error"]],
    ))
    .expect("parse");
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].scope.to_ascii(), "a.org.");
    assert_eq!(rules[1].scope.to_ascii(), "b.org.");
    assert_eq!(*rules[0].format, Format::parse(COMBINED));
    assert!(rules[0].classes.contains(ResponseClass::Denial));
    assert!(!rules[0].classes.contains(ResponseClass::Success));

    let rules = setup::parse(&directive(&["a.org", "b.org"], &[])).expect("parse");
    assert_eq!(
        rules.len(),
        2,
        "without a placeholder the last argument is a name"
    );
    assert_eq!(*rules[1].format, Format::default());
    assert_eq!(rules[1].classes, Classes::all());
}

#[test]
fn setup_errors() {
    let message = |d: Directive| -> ConfigError { setup::parse(&d).expect_err("refused") };
    assert!(
        message(directive(&[], &[&["fatal"]]))
            .message
            .contains("invalid class")
    );
    assert!(
        message(directive(&[], &[&[]]))
            .message
            .contains("at least one")
    );
    let unknown = Directive {
        name: Token::synthetic("log"),
        args: Vec::new(),
        block: Some(vec![Directive {
            name: Token::synthetic("format"),
            args: Vec::new(),
            block: None,
        }]),
    };
    assert!(message(unknown).message.contains("unknown property"));
    assert!(
        message(directive(&["bad..name"], &[]))
            .message
            .contains("zone name")
    );
}
