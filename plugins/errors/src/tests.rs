use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clusterdns_api::proto::op::Query;
use clusterdns_api::proto::rr::Name;
use clusterdns_api::{Directive, Protocol, Readiness, SetupCtx, Token};
use parking_lot::Mutex;

use super::*;

fn tokens(args: &[&str]) -> Vec<Token> {
    args.iter().map(|a| Token::synthetic(a)).collect()
}

fn line(name: &str, args: &[&str]) -> Directive {
    Directive {
        name: Token::synthetic(name),
        args: tokens(args),
        block: None,
    }
}

fn directive(args: &[&str], block: &[Directive]) -> Directive {
    Directive {
        name: Token::synthetic("errors"),
        args: tokens(args),
        block: (!block.is_empty()).then(|| block.to_vec()),
    }
}

/// Collects what the plugin logs.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<(Level, String)>>>);

impl Lines {
    fn sink(&self) -> Sink {
        let lines = Arc::clone(&self.0);
        Arc::new(move |level, line: &str| lines.lock().push((level, line.to_owned())))
    }

    fn take(&self) -> Vec<(Level, String)> {
        std::mem::take(&mut *self.0.lock())
    }
}

fn plugin(d: &Directive, lines: &Lines) -> Errors {
    Errors::with_sink(setup::parse(d).expect("parse"), lines.sink())
}

/// Fails with a fixed message, or answers when there is none.
struct Terminal(Option<&'static str>);

impl Plugin for Terminal {
    fn name(&self) -> &'static str {
        "forward"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let result = match self.0 {
            Some(message) => Err(PluginError::failed("forward", message)),
            None => Ok(Response::new(ctx, "forward", ResponseCode::NoError)),
        };
        Box::pin(async move { result })
    }
}

async fn query(plugin: &Errors, failure: Option<&'static str>) -> Result<Response, PluginError> {
    let src: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
    let name = Name::from_ascii("Example.ORG.").expect("name");
    let mut ctx = Ctx::new(Query::query(name, RecordType::AAAA), src, Protocol::Udp);
    let chain: Vec<Arc<dyn Plugin>> = vec![Arc::new(Terminal(failure))];
    plugin.serve(&mut ctx, Next::new(&chain)).await
}

#[tokio::test]
async fn logs_the_error_and_returns_it() {
    let lines = Lines::default();
    let errors = plugin(&directive(&[], &[]), &lines);
    let err = query(
        &errors,
        Some("read udp 10.0.0.1:53->8.8.8.8:53: i/o timeout"),
    )
    .await
    .expect_err("the error comes back");
    assert_eq!(
        err.to_string(),
        "forward: read udp 10.0.0.1:53->8.8.8.8:53: i/o timeout"
    );
    assert_eq!(
        lines.take(),
        [(
            Level::Error,
            "2 example.org. AAAA: forward: read udp 10.0.0.1:53->8.8.8.8:53: i/o timeout"
                .to_owned()
        )]
    );
}

#[tokio::test]
async fn answers_pass_silently() {
    let lines = Lines::default();
    let errors = plugin(&directive(&[], &[]), &lines);
    let response = query(&errors, None).await.expect("answer");
    assert_eq!(response.writer, "forward");
    assert!(lines.take().is_empty());
}

#[tokio::test]
async fn end_of_chain_is_logged() {
    let lines = Lines::default();
    let errors = plugin(&directive(&[], &[]), &lines);
    let src: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
    let name = Name::from_ascii("a.b.").expect("name");
    let mut ctx = Ctx::new(
        Query::query(name, RecordType::Unknown(65534)),
        src,
        Protocol::Tcp,
    );
    let err = errors
        .serve(&mut ctx, Next::new(&[]))
        .await
        .expect_err("nothing answers");
    assert!(matches!(err, PluginError::NoNextPlugin));
    assert_eq!(
        lines.take(),
        [(
            Level::Error,
            "2 a.b. TYPE65534: no next plugin found".to_owned()
        )]
    );
}

#[tokio::test]
async fn consolidated_errors_are_summarised_by_the_flusher() {
    let lines = Lines::default();
    let block = [line("consolidate", &["300ms", "i/o timeout$", "warning"])];
    let errors = plugin(&directive(&[], &block), &lines);
    for _ in 0..3 {
        query(&errors, Some("read udp: i/o timeout"))
            .await
            .expect_err("fails");
    }
    query(&errors, Some("connection refused"))
        .await
        .expect_err("fails");
    assert_eq!(
        lines.take(),
        [(
            Level::Error,
            "2 example.org. AAAA: forward: connection refused".to_owned()
        )],
        "matching errors are not logged one by one"
    );

    // The summary comes from the background task, without any further error.
    let mut summary = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        summary = lines.take();
        if !summary.is_empty() {
            break;
        }
    }
    assert_eq!(
        summary,
        [(
            Level::Warning,
            "3 errors like 'i/o timeout$' occurred in last 300ms".to_owned()
        )]
    );

    // A new window opens with the next match.
    query(&errors, Some("x: i/o timeout"))
        .await
        .expect_err("fails");
    drop(errors);
    assert_eq!(
        lines.take(),
        [(
            Level::Warning,
            "1 errors like 'i/o timeout$' occurred in last 300ms".to_owned()
        )],
        "dropping the plugin prints the open windows"
    );
}

#[tokio::test]
async fn show_first_logs_the_first_at_the_rules_level() {
    let lines = Lines::default();
    let block = [line(
        "consolidate",
        &["5m", "timeout", "info", "show_first"],
    )];
    let errors = plugin(&directive(&[], &block), &lines);
    query(&errors, Some("timeout")).await.expect_err("fails");
    query(&errors, Some("timeout")).await.expect_err("fails");
    assert_eq!(
        lines.take(),
        [(
            Level::Info,
            "2 example.org. AAAA: forward: timeout".to_owned()
        )]
    );
    drop(errors);
    assert_eq!(
        lines.take(),
        [(
            Level::Info,
            "2 errors like 'timeout' occurred in last 5m0s".to_owned()
        )]
    );
}

#[test]
fn without_a_runtime_windows_close_with_later_errors() {
    let lines = Lines::default();
    let block = [line("consolidate", &["1ms", "boom"])];
    let errors = plugin(&directive(&[], &block), &lines);
    let src: SocketAddr = "10.0.0.1:4000".parse().expect("addr");
    let ctx = Ctx::new(
        Query::query(Name::root(), RecordType::NS),
        src,
        Protocol::Udp,
    );
    errors.report(&ctx, &PluginError::failed("x", "boom"));
    std::thread::sleep(Duration::from_millis(5));
    errors.report(&ctx, &PluginError::failed("x", "boom"));
    assert_eq!(
        lines.take(),
        [(
            Level::Error,
            "1 errors like 'boom' occurred in last 1ms".to_owned()
        )]
    );
}

#[test]
fn setup_reads_the_corefile_syntax() {
    let mut ctx = SetupCtx::new(vec![Name::root()], 53, PathBuf::from("."), Readiness::new());
    let block = [
        line("stacktrace", &[]),
        line("consolidate", &["5m", ".* i/o timeout$", "warning"]),
        line("consolidate", &["30s", "^Failed to .+"]),
        line("consolidate", &["30s", "x", "show_first"]),
    ];
    let plugin = setup(&directive(&["stdout"], &block), &mut ctx)
        .expect("setup")
        .expect("a chain plugin");
    assert_eq!(plugin.name(), "errors");

    let rules = setup::parse(&directive(&[], &block)).expect("parse");
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].period, Duration::from_secs(300));
    assert_eq!(rules[0].level, Level::Warning);
    assert_eq!(rules[1].level, Level::Error);
    assert!(!rules[1].show_first);
    assert!(rules[2].show_first);
}

#[test]
fn setup_errors() {
    let message = |d: Directive| setup::parse(&d).expect_err("refused").message;
    let consolidate = |args: &[&str]| message(directive(&[], &[line("consolidate", args)]));

    assert!(message(directive(&["stderr"], &[])).contains("invalid log file"));
    assert!(message(directive(&["stdout", "x"], &[])).contains("wrong argument count"));
    assert!(message(directive(&[], &[line("verbose", &[])])).contains("unknown property"));
    assert!(
        message(directive(&[], &[line("stacktrace", &["x"])])).contains("wrong argument count")
    );
    assert!(consolidate(&["5m"]).contains("wrong argument count"));
    assert!(consolidate(&["5m", "x", "error", "show_first", "y"]).contains("wrong argument count"));
    assert!(consolidate(&["soon", "x"]).contains("duration"));
    assert!(consolidate(&["5m", "("]).contains("invalid regular expression"));
    assert!(consolidate(&["5m", "x", "loud"]).contains("unknown option"));
    assert!(consolidate(&["5m", "x", "error", "warning"]).contains("multiple log levels"));
    assert!(consolidate(&["5m", "x", "show_first", "error"]).contains("must come before"));
    let long = "a".repeat(10_001);
    assert!(consolidate(&["5m", &long]).contains("too long"));
    // Deep nesting is refused before compiling recurses that deep (found by fuzzing:
    // `a+++…` overflowed a 2 MiB stack).
    let stacked = format!("a{}", "+".repeat(300));
    assert!(consolidate(&["5m", &stacked]).contains("nest"), "{stacked}");
    let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
    assert!(consolidate(&["5m", &nested]).contains("nest"));
    assert!(consolidate(&["5m", "x{1000}{1000}{1000}"]).contains("size limit"));
}

#[test]
fn usual_consolidate_patterns_are_accepted() {
    for pattern in [
        r".* i/o timeout$",
        r"^\[ERROR\] plugin/forward: .*(timeout|refused)",
        r"((a|b)+c)*d{2,5}",
    ] {
        let d = directive(&[], &[line("consolidate", &["5m", pattern])]);
        assert!(setup::parse(&d).is_ok(), "{pattern}");
    }
}

#[test]
fn errors_point_at_the_bad_token() {
    let mut bad = Token::synthetic("(");
    bad.file = Arc::from("Corefile");
    bad.line = 7;
    bad.column = 25;
    let option = Directive {
        name: Token::synthetic("consolidate"),
        args: vec![Token::synthetic("5m"), bad],
        block: None,
    };
    let err = setup::parse(&directive(&[], &[option])).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "Corefile:7:25: consolidate: invalid regular expression \"(\": unclosed group"
    );
}
