//! Change-to-answer latency of the cluster zone fed by the Kubernetes API.
//!
//! The real server (in-process, real UDP socket on loopback, the real kube client)
//! watches the test API server over HTTP. Each round changes one Service's cluster IP
//! in the API server and asks over UDP, as fast as answers come back, until the new
//! address is answered; the time from the change to that answer is one sample.
//! Optionally other services change in the background at a fixed rate.
//!
//! ```text
//! cargo bench --bench api_change_latency -- [CHANGES] [BACKGROUND_PER_SECOND] [SERVICES]
//! ```
//! Defaults: 1000 changes, no background load, 1000 services already in the cluster.
//! Prints p50/p90/p99/max. A benchmark, not a test: it asserts nothing but that every
//! change arrives.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterdns::server::ListenerOptions;
use clusterdns::{Options, Server};
use clusterdns_test_apiserver::{ApiServer, objects};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A new address each round: 10.100.0.0/16 for the measured service, 10.101.0.0/16
/// for the background changes.
fn address(second_octet: u8, round: u64) -> String {
    format!(
        "10.{second_octet}.{}.{}",
        (round / 250) % 250,
        round % 250 + 1
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let changes = arg(1, 1000);
    let background = arg(2, 0);
    let services = arg(3, 1000).max(2);

    let api = ApiServer::new();
    let mut cluster = vec![objects::namespace("bench", &[])];
    for i in 0..services {
        cluster.push(objects::service(
            "bench",
            &format!("svc-{i}"),
            &[&format!(
                "10.{}.{}.{}",
                102 + i / 62500,
                (i / 250) % 250,
                i % 250 + 1
            )],
            &[("http", 80, "TCP")],
        ));
    }
    api.load_objects(cluster);
    let serving = api.bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;

    let dir = tempfile::tempdir()?;
    let corefile = dir.path().join("Corefile");
    std::fs::write(
        &corefile,
        format!(
            ".:0 {{\n    bind 127.0.0.1\n    kubernetes cluster.local {{\n        endpoint {}\n    }}\n}}\n",
            serving.url()
        ),
    )?;
    let mut options = Options::new(corefile);
    options.dns_port = 0;
    options.listener = ListenerOptions {
        udp_workers: 1,
        ..ListenerOptions::default()
    };
    let server = Server::start(&options).await?;
    let dns = server.udp_addrs()[0];
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    socket.connect(dns).await?;

    let synced = Instant::now();
    while answer(&socket, "svc-0.bench.svc.cluster.local.")
        .await
        .is_none()
    {
        anyhow::ensure!(synced.elapsed() < Duration::from_secs(30), "never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let churn = (background > 0).then(|| {
        let api = api.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / background as f64);
            let mut tick = tokio::time::interval(period);
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                round += 1;
                let i = 1 + round % (services - 1);
                api.apply(objects::service(
                    "bench",
                    &format!("svc-{i}"),
                    &[&address(101, round)],
                    &[("http", 80, "TCP")],
                ));
            }
        })
    });

    let mut samples = Vec::with_capacity(changes as usize);
    for round in 1..=changes {
        let want = address(100, round);
        // The clock starts before the change is written: it covers the API server's
        // work too, as a real change would.
        let start = Instant::now();
        api.apply(objects::service(
            "bench",
            "svc-0",
            &[&want],
            &[("http", 80, "TCP")],
        ));
        loop {
            if answer(&socket, "svc-0.bench.svc.cluster.local.")
                .await
                .as_deref()
                == Some(&want)
            {
                break;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(10),
                "change {round} never arrived"
            );
        }
        samples.push(start.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(churn) = churn {
        churn.await?;
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "change-to-answer over {changes} changes ({services} services, {background} background changes/s): \
         p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );
    server.shutdown().await;
    Ok(())
}

/// The first A record of `name`, if any.
async fn answer(socket: &UdpSocket, name: &str) -> Option<String> {
    let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    query.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    socket.send(&query.to_vec().ok()?).await.ok()?;
    let mut buf = [0u8; 1500];
    let len = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    let reply = Message::from_vec(&buf[..len]).ok()?;
    reply.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0.to_string()),
        _ => None,
    })
}
