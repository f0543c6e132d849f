//! The `clusterdns` command: arguments, logging, signals. Everything else is in the library.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clusterdns::server::DrainOptions;
use clusterdns::{Options, Server, registry};
use clusterdns_nodelocal::{NodeLocalFlags, NodeSetup};
use tracing_subscriber::EnvFilter;

const USAGE: &str =
    "usage: clusterdns [--conf FILE] [--dns-port N] [--check] [--plugins] [--version]

  --conf FILE     the Corefile (default ./Corefile)
  --dns-port N    port of server blocks whose keys name none (default 53)
  --udp-workers N UDP sockets and threads per listener (default: one per core)
  --drain-quiet D after SIGTERM and lameduck, answer until no query has come for D
                  (default 10s; 0s: stop right after lameduck)
  --drain-limit D stop at the latest D after SIGTERM (default 45s; keep it below the
                  pod's terminationGracePeriodSeconds)
  --check         parse the Corefile and build every plugin, print the errors or \"ok\"
  --plugins       list the plugins compiled in
  --version       print the version

CoreDNS's spellings -conf, -dns.port, -plugins and -version are accepted too.
Node-local mode (NodeLocal DNSCache's node-cache flags: -localip, -setupinterface,
-setupiptables, -syncinterval, -skipteardown, ...): see nodelocal/README.md.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve {
        conf: PathBuf,
        port: u16,
        udp_workers: Option<usize>,
        drain: DrainOptions,
    },
    Check {
        conf: PathBuf,
        port: u16,
    },
    Plugins,
    Version,
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut conf = PathBuf::from("Corefile");
    let mut port = 53u16;
    let mut check = false;
    let mut udp_workers = None;
    let mut drain = DrainOptions::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--conf=FILE` and `-conf FILE` are both accepted, like Go's flag package.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.trim_start_matches('-') {
            "conf" => conf = PathBuf::from(value("--conf")?),
            "dns-port" | "dns.port" => {
                let text = value("--dns-port")?;
                port = text
                    .parse()
                    .map_err(|_| format!("--dns-port: expected a port number, got {text:?}"))?;
            }
            "udp-workers" => {
                let text = value("--udp-workers")?;
                udp_workers = Some(text.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(
                    || format!("--udp-workers: expected a positive number, got {text:?}"),
                )?);
            }
            "drain-quiet" => drain.quiet = duration("--drain-quiet", &value("--drain-quiet")?)?,
            "drain-limit" => drain.limit = duration("--drain-limit", &value("--drain-limit")?)?,
            "check" => check = true,
            "plugins" => return Ok(Command::Plugins),
            "version" => return Ok(Command::Version),
            "help" | "h" => return Ok(Command::Help),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(if check {
        Command::Check { conf, port }
    } else {
        Command::Serve {
            conf,
            port,
            udp_workers,
            drain,
        }
    })
}

/// A Go duration (`1s`, `500ms`, `1m30s`), or an error naming `flag`.
fn duration(flag: &str, text: &str) -> Result<std::time::Duration, String> {
    clusterdns_api::parse_duration(text)
        .ok_or_else(|| format!("{flag}: expected a duration such as 1s or 500ms, got {text:?}"))
}

fn main() -> ExitCode {
    let (args, node_local) = match clusterdns_nodelocal::split_flags(std::env::args().skip(1)) {
        Ok(split) => split,
        Err(error) => {
            eprintln!("clusterdns: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("clusterdns: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("clusterdns-{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Plugins => {
            println!(
                "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:"
            );
            for name in registry::compiled_in() {
                println!("  dns.{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Check { conf, port } => match check(&conf, port, node_local.as_ref()) {
            Ok(()) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for error in errors {
                    eprintln!("{error}");
                }
                ExitCode::FAILURE
            }
        },
        Command::Serve {
            conf,
            port,
            udp_workers,
            drain,
        } => serve(conf, port, udp_workers, drain, node_local),
    }
}

/// `--check`; in node-local mode, of the Corefile template as it would be filled in.
fn check(
    conf: &std::path::Path,
    port: u16,
    node_local: Option<&NodeLocalFlags>,
) -> Result<(), Vec<String>> {
    let template = node_local
        .map(clusterdns_nodelocal::filled_in_template)
        .transpose()
        .map_err(|error| vec![format!("node-local set-up: {error}")])?
        .flatten();
    let checked = match template {
        Some(text) => clusterdns::check_text(&text, conf, port),
        None => clusterdns::check(conf, port),
    };
    checked.map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

/// The log filter when `RUST_LOG` is not set: INFO, without the Kubernetes client's
/// and its HTTP stack's own per-request lines (the kubernetes plugin logs each API
/// outage once, with a summary every 30 s and one line when it ends).
const DEFAULT_LOG_FILTER: &str = "info,kube_client=off,kube_runtime=off,hyper=off,hyper_util=off";

fn serve(
    conf: PathBuf,
    port: u16,
    udp_workers: Option<usize>,
    drain: DrainOptions,
    node_local: Option<NodeLocalFlags>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // An empty RUST_LOG (as some environments export it) counts as unset.
            std::env::var("RUST_LOG")
                .ok()
                .filter(|value| !value.trim().is_empty())
                .and_then(|value| EnvFilter::try_new(value).ok())
                .unwrap_or_else(|| EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    // Node-local mode: the interface must exist before the server binds its addresses.
    let mut node = match node_local.map(|flags| NodeSetup::prepare(flags, port, &conf)) {
        Some(Err(error)) => {
            eprintln!("clusterdns: node-local set-up: {error}");
            return ExitCode::FAILURE;
        }
        Some(Ok(node)) => {
            clusterdns::share_ports_with_successor();
            Some(node)
        }
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("clusterdns")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("clusterdns: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut options = Options::new(conf);
        options.dns_port = port;
        options.drain = drain;
        if let Some(workers) = udp_workers {
            options.listener.udp_workers = workers;
        }
        let server = match Server::start(&options).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("clusterdns: {error}");
                if let Some(node) = node {
                    node.finish();
                }
                return ExitCode::FAILURE;
            }
        };
        tracing::info!("clusterdns-{} started", env!("CARGO_PKG_VERSION"));
        if let Some(node) = &mut node {
            node.start_sync();
        }
        wait_for_signal().await;
        tracing::info!("shutting down");
        server.shutdown().await;
        if let Some(node) = node {
            node.finish();
        }
        ExitCode::SUCCESS
    })
}

/// Waits for SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, only Ctrl-C through tokio is left.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn coredns_spellings_work() {
        assert_eq!(
            parse(&["-conf", "/etc/coredns/Corefile", "-dns.port", "1053"]),
            Ok(Command::Serve {
                conf: "/etc/coredns/Corefile".into(),
                port: 1053,
                udp_workers: None,
                drain: DrainOptions::default(),
            })
        );
        assert_eq!(
            parse(&["--conf=x", "--dns-port", "5353", "--check"]),
            Ok(Command::Check {
                conf: "x".into(),
                port: 5353
            })
        );
        assert_eq!(parse(&["-plugins"]), Ok(Command::Plugins));
        assert!(matches!(
            parse(&["--udp-workers", "1"]),
            Ok(Command::Serve {
                udp_workers: Some(1),
                ..
            })
        ));
        assert!(parse(&["--udp-workers", "0"]).is_err());
        assert!(matches!(
            parse(&["--drain-quiet", "500ms", "--drain-limit=25s"]),
            Ok(Command::Serve { drain, .. })
                if drain.quiet == std::time::Duration::from_millis(500)
                    && drain.limit == std::time::Duration::from_secs(25)
        ));
        assert!(parse(&["--drain-quiet", "soon"]).is_err());
        assert_eq!(parse(&["--version"]), Ok(Command::Version));
        assert!(parse(&["--dns-port", "x"]).is_err());
        assert!(parse(&["--conf"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
