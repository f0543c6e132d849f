//! `reload`: a changed Corefile is put in service without dropping queries; a broken
//! one keeps the running configuration.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use crate::support::{TestServer, http_get, query, tcp, udp};

fn corefile(ip: &str) -> String {
    format!(
        "example.org {{\n    bind 127.0.0.1\n    reload 2s 0s\n    prometheus 127.0.0.1:0\n    hosts {{\n        {ip} web.example.org\n    }}\n}}\n"
    )
}

/// Replaces the file in one step, as the kubelet does with a ConfigMap volume.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn web_ip(server: &TestServer) -> (ResponseCode, Option<IpAddr>) {
    let answer = udp(server.udp(), &query("web.example.org.", RecordType::A)).await;
    let ip = answer.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    });
    (answer.metadata.response_code, ip)
}

fn failed_reloads(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("coredns_reload_failed_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_config_under_load_and_keeps_it_when_broken() {
    let server = TestServer::start(&corefile("10.0.0.1"), &[]).await;
    let conf = server.path("Corefile");
    assert_eq!(
        web_ip(&server).await.1,
        Some(Ipv4Addr::new(10, 0, 0, 1).into())
    );
    let udp_before = server.udp();

    // A steady query load for the whole test: every query must be answered NOERROR.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, answered, target) = (stop.clone(), answered.clone(), server.udp());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer = udp(target, &query("web.example.org.", RecordType::A)).await;
                if answer.metadata.response_code != ResponseCode::NoError
                    || answer.answers.len() != 1
                {
                    failures.push(answer.metadata.response_code);
                }
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        })
    };

    replace(&conf, &corefile("10.0.0.2"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while web_ip(&server).await.1 != Some(Ipv4Addr::new(10, 0, 0, 2).into()) {
        assert!(
            Instant::now() < deadline,
            "the new Corefile was not put in service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.udp(), udp_before, "the listener was kept");

    let metrics_addr = server.http("/metrics");
    let failed_before = failed_reloads(&http_get(metrics_addr, "/metrics").await.1);
    replace(
        &conf,
        "example.org {\n    bind 127.0.0.1\n    reload 2s 0s\n    hosts {\n        10.0.0.3 web.example.org\n    }\n    nosuchplugin\n}\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http_get(metrics_addr, "/metrics").await.1;
        if failed_reloads(&metrics) > failed_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken Corefile was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        web_ip(&server).await,
        (
            ResponseCode::NoError,
            Some(Ipv4Addr::new(10, 0, 0, 2).into())
        ),
        "the running configuration is kept"
    );

    stop.store(true, Ordering::Relaxed);
    let failures = load.await.unwrap();
    assert!(
        failures.is_empty(),
        "failed queries during reloads: {failures:?}"
    );
    assert!(answered.load(Ordering::Relaxed) > 100);
}

/// What a reload that cannot be put in service asks for.
#[derive(Clone, Copy, Debug)]
enum Unbindable {
    /// A port another socket holds without sharing it.
    PortInUse,
    /// An address the host does not have (TEST-NET-1).
    AbsentAddress,
}

/// The listener a broken reload adds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Health,
    Ready,
    Prometheus,
    DnsUdp,
    DnsTcp,
}

/// The running configuration: every endpoint on loopback, port 0.
const RUNNING: &str = "example.org {
    bind 127.0.0.1
    reload 2s 0s
    health 127.0.0.1:0
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
    hosts {
        10.0.0.1 web.example.org
    }
}
";

/// The running configuration with web.example.org moved and `kind` asking for an
/// address that cannot be bound: `(Corefile, the socket holding the port)`.
fn unbindable(kind: Kind, how: Unbindable) -> (String, Option<Holder>) {
    let (holder, addr) = match how {
        Unbindable::PortInUse => {
            let holder = match kind {
                Kind::DnsUdp => Holder::Udp(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()),
                _ => Holder::Tcp(std::net::TcpListener::bind("127.0.0.1:0").unwrap()),
            };
            let addr = holder.addr();
            (Some(holder), addr)
        }
        Unbindable::AbsentAddress => (None, "192.0.2.1:18053".parse().unwrap()),
    };
    let (health, ready, prometheus) = match kind {
        Kind::Health => (addr.to_string(), "127.0.0.1:0".into(), "127.0.0.1:0".into()),
        Kind::Ready => ("127.0.0.1:0".into(), addr.to_string(), "127.0.0.1:0".into()),
        Kind::Prometheus => ("127.0.0.1:0".into(), "127.0.0.1:0".into(), addr.to_string()),
        Kind::DnsUdp | Kind::DnsTcp => (
            "127.0.0.1:0".into(),
            "127.0.0.1:0".into(),
            "127.0.0.1:0".into(),
        ),
    };
    let dns_block = match kind {
        Kind::DnsUdp | Kind::DnsTcp => format!(
            "other.org:{} {{\n    bind {}\n    whoami\n}}\n",
            addr.port(),
            addr.ip()
        ),
        _ => String::new(),
    };
    let corefile = format!(
        "example.org {{\n    bind 127.0.0.1\n    reload 2s 0s\n    health {health}\n    ready {ready}\n    prometheus {prometheus}\n    hosts {{\n        10.0.0.9 web.example.org\n    }}\n}}\n{dns_block}"
    );
    (corefile, holder)
}

/// A socket holding a port, without SO_REUSEPORT (so nobody else can bind it).
enum Holder {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpListener),
}

impl Holder {
    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Self::Udp(socket) => socket.local_addr().unwrap(),
            Self::Tcp(listener) => listener.local_addr().unwrap(),
        }
    }
}

/// A reload asking for `kind` on an address that cannot be bound fails as a whole: it
/// is counted, and every DNS and HTTP listener of the running configuration still
/// answers, with the running configuration's data.
async fn failed_reload_keeps_every_listener(kind: Kind, how: Unbindable) {
    let server = TestServer::start(RUNNING, &[]).await;
    let probes = ["/health", "/ready", "/metrics"].map(|path| (path, server.http(path)));
    let (udp_addr, tcp_addr) = (server.udp(), server.tcp());
    server.wait_ready(Duration::from_secs(10)).await;
    let failed_before = failed_reloads(&http_get(server.http("/metrics"), "/metrics").await.1);

    let (corefile, _holder) = unbindable(kind, how);
    replace(&server.path("Corefile"), &corefile);
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.server.failed_reloads() == 0 {
        assert!(
            Instant::now() < deadline,
            "{kind:?} {how:?}: the reload did not fail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (path, addr) in probes {
        assert_eq!(server.http(path), addr, "{kind:?} {how:?}: {path} moved");
        let (status, _) = http_get(addr, path).await;
        assert_eq!(
            status, 200,
            "{kind:?} {how:?}: {path} after the failed reload"
        );
    }
    let metrics = http_get(server.http("/metrics"), "/metrics").await.1;
    assert!(
        failed_reloads(&metrics) > failed_before,
        "{kind:?} {how:?}: coredns_reload_failed_total did not count it"
    );
    assert_eq!((server.udp(), server.tcp()), (udp_addr, tcp_addr));
    let expected = Some(Ipv4Addr::new(10, 0, 0, 1).into());
    assert_eq!(
        web_ip(&server).await,
        (ResponseCode::NoError, expected),
        "{kind:?} {how:?}: the running configuration answers over UDP"
    );
    let answer = tcp(tcp_addr, &query("web.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1, "{kind:?} {how:?}: over TCP");
}

macro_rules! failed_reload_tests {
    ($($name:ident: $kind:ident, $how:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            failed_reload_keeps_every_listener(Kind::$kind, Unbindable::$how).await;
        }
    )*};
}

failed_reload_tests! {
    health_port_in_use_keeps_every_listener: Health, PortInUse;
    health_on_an_absent_address_keeps_every_listener: Health, AbsentAddress;
    ready_port_in_use_keeps_every_listener: Ready, PortInUse;
    ready_on_an_absent_address_keeps_every_listener: Ready, AbsentAddress;
    prometheus_port_in_use_keeps_every_listener: Prometheus, PortInUse;
    prometheus_on_an_absent_address_keeps_every_listener: Prometheus, AbsentAddress;
    dns_udp_port_in_use_keeps_every_listener: DnsUdp, PortInUse;
    dns_tcp_port_in_use_keeps_every_listener: DnsTcp, PortInUse;
    dns_on_an_absent_address_keeps_every_listener: DnsUdp, AbsentAddress;
}

/// The error of a listener that cannot be bound names the Corefile line asking for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbindable_address_is_reported_at_its_line() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    for (text, at) in [
        (
            format!(
                "example.org {{\n    bind 127.0.0.1\n    whoami\n    ready 127.0.0.1:{port}\n}}\n"
            ),
            ":4:5: cannot serve HTTP on 127.0.0.1:",
        ),
        (
            "example.org {\n    whoami\n}\n\nother.org {\n    bind 192.0.2.1\n    whoami\n}\n"
                .to_owned(),
            ":5:1: cannot listen on 192.0.2.1:",
        ),
    ] {
        std::fs::write(&conf, &text).unwrap();
        let mut options = clusterdns::Options::new(&conf);
        options.dns_port = 0;
        let error = match clusterdns::Server::start(&options).await {
            Ok(_) => panic!("started on an unbindable address:\n{text}"),
            Err(error) => error.to_string(),
        };
        let expected = format!("{}{at}", conf.display());
        assert!(
            error.starts_with(&expected),
            "{error:?} does not start with {expected:?}"
        );
    }
}

/// An HTTP endpoint whose address stays across a reload (however it is spelled) keeps
/// its socket: the probe port never refuses a connection while the configuration
/// changes. One whose address is gone is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_that_stay_keep_their_socket_across_reloads() {
    // `ready` on an address of its own (routes with the same address share a server);
    // `health` on every address, respelled by the reload.
    let port = crate::support::free_port();
    let running = RUNNING
        .replace("ready 127.0.0.1:0", "ready 127.0.0.2:0")
        .replace("health 127.0.0.1:0", &format!("health :{port}"));
    let server = TestServer::start(&running, &[]).await;
    let health = server.http("/health");
    let ready = server.http("/ready");
    assert_ne!(health, ready);
    let conf = server.path("Corefile");
    // Drop `ready`, change the data: /health keeps its address and never refuses.
    replace(
        &conf,
        &running
            .replace("    ready 127.0.0.2:0\n", "")
            .replace(&format!(":{port}"), &format!("0.0.0.0:{port}"))
            .replace("10.0.0.1", "10.0.0.2"),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while web_ip(&server).await.1 != Some(Ipv4Addr::new(10, 0, 0, 2).into()) {
        assert_eq!(http_get(health, "/health").await.0, 200);
        assert!(
            Instant::now() < deadline,
            "the new Corefile was not put in service"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.http("/health"), health);
    assert_eq!(http_get(health, "/health").await.0, 200);
    assert!(server.server.http_addr("/ready").is_none());
    assert!(
        tokio::net::TcpStream::connect(ready).await.is_err(),
        "the server no longer named is closed"
    );
}
