//! `test-apiserver`: the fake Kubernetes API server as a standalone process,
//! for shell-driven tests and benchmarks of the real DNS binary.
//!
//! It loads manifests and/or generates a synthetic cluster, prints
//! `listening on http://ADDR` once it accepts connections, and serves until
//! SIGTERM or Ctrl-C. Steer it at runtime through the `/_test/` routes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clusterdns_test_apiserver::{ApiServer, Options, generate, load};

const USAGE: &str = "\
usage: test-apiserver [--listen ADDR] [--admin-listen ADDR] [--load FILE_OR_DIR]...
                      [--generate-services N [--endpoints-per-service M] [--headless-fraction F]]
                      [--generate-pods N] [--bookmark-interval SECONDS]

  --listen ADDR                 address to serve on (default 127.0.0.1:0)
  --admin-listen ADDR           also serve the /_test/ routes alone on ADDR, which stays up
                                while POST /_test/down refuses connections on --listen
  --load PATH                   YAML/JSON manifest file, or directory of them (repeatable)
  --generate-services N         generate N services across N/100 namespaces
  --endpoints-per-service M     endpoints per generated service (default 1)
  --headless-fraction F         fraction (0..1) of generated services that are headless (default 0)
  --generate-pods N             generate N running pods across N/1000 namespaces
  --bookmark-interval SECONDS   interval between watch bookmarks (default 1)";

#[derive(Debug)]
struct Args {
    listen: SocketAddr,
    admin_listen: Option<SocketAddr>,
    load: Vec<PathBuf>,
    services: usize,
    endpoints_per_service: usize,
    headless_fraction: f64,
    pods: usize,
    bookmark_interval: Duration,
}

/// `Ok(None)` means `--help`.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: None,
        load: Vec::new(),
        services: 0,
        endpoints_per_service: 1,
        headless_fraction: 0.0,
        pods: 0,
        bookmark_interval: Duration::from_secs(1),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        fn number<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
        }
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                parsed.listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not an IP:PORT address"))?;
            }
            "--admin-listen" => {
                let v = value()?;
                parsed.admin_listen = Some(
                    v.parse()
                        .map_err(|_| format!("--admin-listen: {v:?} is not an IP:PORT address"))?,
                );
            }
            "--load" => parsed.load.push(PathBuf::from(value()?)),
            "--generate-services" => parsed.services = number(&flag, value()?)?,
            "--generate-pods" => parsed.pods = number(&flag, value()?)?,
            "--endpoints-per-service" => parsed.endpoints_per_service = number(&flag, value()?)?,
            "--headless-fraction" => {
                let f: f64 = number(&flag, value()?)?;
                if !(0.0..=1.0).contains(&f) {
                    return Err(format!("--headless-fraction: {f} is not between 0 and 1"));
                }
                parsed.headless_fraction = f;
            }
            "--bookmark-interval" => {
                let secs: f64 = number(&flag, value()?)?;
                parsed.bookmark_interval = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        format!("--bookmark-interval: {secs} is not a positive duration")
                    })?;
            }
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("test-apiserver: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test-apiserver: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let api = ApiServer::with_options(Options {
        bookmark_interval: args.bookmark_interval,
        ..Options::default()
    });
    let mut objects = Vec::new();
    for path in &args.load {
        objects.extend(load::load_path(path).map_err(|e| e.to_string())?);
    }
    if args.services > 0 {
        objects.extend(generate::cluster(
            args.services,
            args.endpoints_per_service,
            args.headless_fraction,
        ));
    }
    if args.pods > 0 {
        objects.extend(generate::pods(args.pods));
    }
    let count = objects.len();
    api.try_load_objects(objects)
        .map_err(|e| format!("cannot load objects: {e}"))?;
    let serving = api
        .bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    eprintln!(
        "test-apiserver: serving {count} objects at resourceVersion {}",
        api.resource_version()
    );
    let admin = match args.admin_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            Some(api.serve_admin(listener))
        }
        None => None,
    };
    let mut stdout = std::io::stdout();
    if let Some(admin) = &admin {
        let _ = writeln!(stdout, "admin on {}", admin.url());
    }
    let _ = writeln!(stdout, "listening on {}", serving.url());
    let _ = stdout.flush();
    shutdown_signal().await;
    serving.stop_and_wait().await;
    if let Some(admin) = admin {
        admin.stop_and_wait().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = sigterm => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--listen",
            "127.0.0.1:8080",
            "--load=a.yaml",
            "--load",
            "dir",
            "--generate-services",
            "10",
            "--endpoints-per-service=3",
            "--headless-fraction",
            "0.5",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.listen.port(), 8080);
        assert_eq!(a.load.len(), 2);
        assert_eq!((a.services, a.endpoints_per_service), (10, 3));
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--listen"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--generate-services", "x"]).is_err());
        assert!(parse(&["--headless-fraction", "2"]).is_err());
        assert!(parse(&["--bogus"]).unwrap_err().contains("unknown"));
    }
}
