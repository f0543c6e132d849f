//! Connection pressure on the DNS TCP port and on the probe ports: one client holding
//! thousands of idle connections (and reopening those the server closes) must not
//! deny service to anyone else (RFC 7766 §6.2.3 for DNS; kubelet probes for HTTP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clusterdns::server::{ListenerOptions, TcpLimits};
use clusterdns::{Options, Server};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{TestServer, http_get, loopback, query, udp_raw};

const COREFILE: &str = "example.org {
    bind 127.0.0.1
    health 127.0.0.1:0
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
    whoami
}
";

/// Where the attacker connects from.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Where the well-behaved clients connect from: another address, as another pod.
const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Lets this process hold the test's connections at both ends (the soft limit may be
/// 1,024).
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = limit.maximum.map_or(16_384, |max| max.min(16_384));
    if limit.current.is_some_and(|current| current < wanted) {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            },
        );
    }
}

async fn connect_from(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    socket.connect(target).await
}

/// A client that opens `count` connections to `target` from [`ATTACKER`], sends
/// nothing, and every half second reopens the ones the server closed.
struct Attacker {
    stop: Arc<AtomicBool>,
    task: JoinHandle<usize>,
    open: Arc<AtomicUsize>,
}

impl Attacker {
    async fn start(target: SocketAddr, count: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(AtomicUsize::new(0));
        let mut held: Vec<Option<TcpStream>> = Vec::with_capacity(count);
        for _ in 0..count {
            held.push(connect_from(ATTACKER, target).await.ok());
        }
        open.store(held.iter().flatten().count(), Ordering::SeqCst);
        let task = tokio::spawn({
            let (stop, open) = (stop.clone(), open.clone());
            async move {
                let mut reopened = 0;
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    for slot in &mut held {
                        let closed = match slot {
                            Some(stream) => match stream.try_read(&mut buf) {
                                Ok(_) => true,
                                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                            },
                            None => true,
                        };
                        if closed {
                            *slot = connect_from(ATTACKER, target).await.ok();
                            reopened += 1;
                        }
                    }
                    open.store(held.iter().flatten().count(), Ordering::SeqCst);
                }
                reopened
            }
        });
        Self { stop, task, open }
    }

    /// Stops; how many connections it reopened.
    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// Asks over UDP every 20 ms until stopped; the latencies, and the queries that got no
/// answer within a second.
struct UdpProbe {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(Vec<Duration>, usize)>,
}

impl UdpProbe {
    fn start(target: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let packet = query("whoami.example.org.", RecordType::A)
                    .to_vec()
                    .unwrap();
                let (mut latencies, mut lost) = (Vec::new(), 0);
                while !stop.load(Ordering::SeqCst) {
                    let start = Instant::now();
                    match udp_raw(target, &packet, Duration::from_secs(1)).await {
                        Some(_) => latencies.push(start.elapsed()),
                        None => lost += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (latencies, lost)
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> (Duration, usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let (mut latencies, lost) = self.task.await.unwrap();
        latencies.sort();
        let median = latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default();
        (median, latencies.len(), lost)
    }
}

/// One query over a new TCP connection from [`CLIENT`]; the time to the answer, or
/// `None` when there was none within a second.
async fn tcp_client_query(target: SocketAddr) -> Option<Duration> {
    let start = Instant::now();
    let exchange = async {
        let mut stream = connect_from(CLIENT, target).await.ok()?;
        let packet = query("whoami.example.org.", RecordType::A)
            .to_vec()
            .unwrap();
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&packet);
        stream.write_all(&framed).await.ok()?;
        let len = stream.read_u16().await.ok()?;
        let mut answer = vec![0u8; usize::from(len)];
        stream.read_exact(&mut answer).await.ok()?;
        Message::from_vec(&answer).ok()
    };
    let answer = tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()??;
    (answer.metadata.response_code == ResponseCode::NoError).then(|| start.elapsed())
}

/// The sum of `coredns_connections_closed_early_total` for `listener` and `reason`.
fn closed_early(metrics: &str, listener: &str, reason: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("coredns_connections_closed_early_total{"))
        .filter(|l| l.contains(&format!("listener=\"{listener}\"")))
        .filter(|l| l.contains(&format!("reason=\"{reason}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// 2,000 idle connections from one address against the 1,024-connection table, then
/// new clients from another address, again and again while the attacker reopens what
/// the server closes: every one is answered within a second, and UDP answers every
/// query meanwhile.
async fn idle_connections_do_not_deny_new_clients(tcp: SocketAddr, udp: SocketAddr) {
    raise_open_files_limit();
    let baseline = UdpProbe::start(udp);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (udp_before, _, lost_before) = baseline.stop().await;
    assert_eq!(lost_before, 0);

    let attacker = Attacker::start(tcp, 2_000).await;
    let udp_probe = UdpProbe::start(udp);
    let mut answered = Vec::new();
    for round in 0..20 {
        let took = tcp_client_query(tcp).await;
        assert!(
            took.is_some(),
            "round {round}: a new TCP client got no answer within 1 s"
        );
        answered.extend(took);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (udp_during, udp_answered, udp_lost) = udp_probe.stop().await;
    let reopened = attacker.open.load(Ordering::SeqCst);
    let reopened_total = attacker.stop().await;
    eprintln!(
        "TCP clients: slowest {:?}; attacker holding {reopened} of 2000, reopened {reopened_total}; \
         UDP median {udp_before:?} before, {udp_during:?} during ({udp_answered} answered, {udp_lost} lost)",
        answered.iter().max()
    );
    assert_eq!(udp_lost, 0, "UDP queries lost under TCP pressure");
    assert!(udp_answered > 20);
    assert!(
        reopened_total > 0,
        "the server closed none of the idle connections"
    );
    // Generous: a loaded 2-core machine may be slow, but not a hundred times slower.
    assert!(
        udp_during < udp_before * 100 + Duration::from_millis(50),
        "UDP latency {udp_during:?} under TCP pressure, {udp_before:?} before"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_of_tcp_connections() {
    let server = TestServer::start(COREFILE, &[]).await;
    idle_connections_do_not_deny_new_clients(server.tcp(), server.udp()).await;
    let metrics = http_get(server.http("/metrics"), "/metrics").await.1;
    assert!(
        closed_early(&metrics, "dns://127.0.0.1:0", "source_share") > 0,
        "{metrics}"
    );
}

/// The same with no per-address share (it is as large as the table): the table fills,
/// and the connection idle longest makes room for each new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tcp_table_closes_the_connection_idle_longest() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, COREFILE).unwrap();
    let mut options = Options::new(&conf);
    options.dns_port = 0;
    options.listener = ListenerOptions {
        udp_workers: 2,
        tcp: TcpLimits {
            max_connections: 1024,
            max_per_source: 1024,
            ..TcpLimits::default()
        },
        ..ListenerOptions::default()
    };
    let server = Server::start(&options).await.unwrap();
    let (tcp, udp) = (
        loopback(server.tcp_addrs()[0]),
        loopback(server.udp_addrs()[0]),
    );
    idle_connections_do_not_deny_new_clients(tcp, udp).await;
    let metrics_addr = loopback(server.http_addr("/metrics").unwrap());
    let metrics = http_get(metrics_addr, "/metrics").await.1;
    assert!(
        closed_early(&metrics, "dns://127.0.0.1:0", "table_full") > 0,
        "{metrics}"
    );
    server.shutdown().await;
}

/// 1,200 idle connections to the health port from one address, held and reopened as
/// the server closes them (more than the 500 of a plain flood: past the per-address
/// share, so eviction is exercised too), and probes with kubelet's 1 s timeout over
/// more than one idle-timeout period: every probe is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_answered_while_idle_connections_pile_up() {
    raise_open_files_limit();
    let server = TestServer::start(COREFILE, &[]).await;
    let health = server.http("/health");
    let ready = server.http("/ready");
    let attacker = Attacker::start(health, 1_200).await;
    let mut slowest = Duration::ZERO;
    for round in 0..14 {
        for (addr, path) in [(health, "/health"), (ready, "/ready")] {
            let start = Instant::now();
            let probe = async {
                let mut stream = connect_from(CLIENT, addr).await.ok()?;
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).await.ok()?;
                let mut response = Vec::new();
                stream.read_to_end(&mut response).await.ok()?;
                Some(String::from_utf8_lossy(&response).into_owned())
            };
            let response = tokio::time::timeout(Duration::from_secs(1), probe).await;
            let Ok(Some(response)) = response else {
                panic!("round {round}: {path} did not answer within kubelet's 1 s");
            };
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            slowest = slowest.max(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let reopened = attacker.stop().await;
    eprintln!("slowest probe {slowest:?}; the attacker reopened {reopened} connections");
    assert!(reopened > 0, "no idle connection was closed");
    let metrics = http_get(server.http("/metrics"), "/metrics").await.1;
    assert!(
        closed_early(&metrics, "http://127.0.0.1:0", "source_share") > 0,
        "{metrics}"
    );
}

/// Many scrapes of `/metrics`, four at a time, cost DNS no query. 2,000 by default (a
/// few seconds); `SCRAPES=10000` for the full figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_cost_dns_no_loss() {
    let scrapes: usize = std::env::var("SCRAPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let server = TestServer::start(COREFILE, &[]).await;
    let metrics = server.http("/metrics");
    let udp_probe = UdpProbe::start(server.udp());
    let done = Arc::new(AtomicUsize::new(0));
    let scrapers: Vec<_> = (0..4)
        .map(|_| {
            let done = done.clone();
            tokio::spawn(async move {
                while done.fetch_add(1, Ordering::SeqCst) < scrapes {
                    assert_eq!(http_get(metrics, "/metrics").await.0, 200);
                }
            })
        })
        .collect();
    for scraper in scrapers {
        scraper.await.unwrap();
    }
    let (median, answered, lost) = udp_probe.stop().await;
    eprintln!("{scrapes} scrapes: UDP median {median:?}, {answered} answered, {lost} lost");
    assert_eq!(lost, 0, "UDP queries lost while /metrics was scraped");
    assert!(answered > 0);
}
