//! Overload by design: a flood of queries that must wait for a slow upstream fills the
//! bounded waiting set, which sheds its oldest queries first (counted), while cluster
//! names, `/health` and `/ready` keep answering at once, and the server recovers as
//! soon as the flood stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clusterdns::server::ListenerOptions;
use clusterdns::{Options, Server};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;

use crate::support::{http_get, loopback, query, udp, udp_raw};

/// How long the slow upstream takes to answer (below forward's 2 s read timeout).
const UPSTREAM_DELAY: Duration = Duration::from_millis(1500);
/// The server's waiting set.
const MAX_WAITING: usize = 16;

/// An upstream that answers every query NOERROR (no records), `delay` after it came;
/// counts the queries.
pub(crate) async fn slow_upstream(delay: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut reply = buf[..n].to_vec();
            if reply.len() < 12 {
                continue;
            }
            reply[2] |= 0x80; // QR
            reply[3] = 0x80; // RA, NOERROR
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&reply, from).await;
            });
        }
    });
    (addr, count)
}

fn metric(body: &str, name: &str, label: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_sheds_the_oldest_waiting_queries_and_spares_cluster_names() {
    let (upstream, upstream_queries) = slow_upstream(UPSTREAM_DELAY).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cluster.yaml"),
        include_str!("../../deploy/demo/cluster.yaml"),
    )
    .unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(
        &conf,
        format!(
            ". {{
    bind 127.0.0.1
    health 127.0.0.1:0
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
    kubernetes cluster.local {{
        manifests cluster.yaml
    }}
    forward . {upstream}
}}
"
        ),
    )
    .unwrap();
    let mut options = Options::new(&conf);
    options.dns_port = 0;
    options.listener = ListenerOptions {
        udp_workers: 2,
        max_waiting: MAX_WAITING,
        ..ListenerOptions::default()
    };
    let server = Server::start(&options).await.unwrap();
    let dns = loopback(server.udp_addrs()[0]);
    let cluster_name = "kubernetes.default.svc.cluster.local.";
    let start = Instant::now();
    while udp(dns, &query(cluster_name, RecordType::A))
        .await
        .answers
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "cluster not loaded"
        );
    }

    // The flood: 4 x the waiting set, one socket each, 2 ms apart (in order).
    let flood = MAX_WAITING * 4;
    let mut askers = Vec::new();
    for i in 0..flood {
        let packet = query(&format!("name{i}.example.org."), RecordType::A)
            .to_vec()
            .unwrap();
        askers.push(tokio::spawn(async move {
            udp_raw(dns, &packet, UPSTREAM_DELAY + Duration::from_secs(2))
                .await
                .is_some()
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // While the set is full: cluster names, /health and /ready answer at once.
    for _ in 0..20 {
        let asked = Instant::now();
        let answer = udp(dns, &query(cluster_name, RecordType::A)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1);
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "{:?}",
            asked.elapsed()
        );
    }
    for path in ["/health", "/ready"] {
        let asked = Instant::now();
        assert_eq!(
            http_get(server.http_addr(path).unwrap(), path).await.0,
            200,
            "{path}"
        );
        assert!(asked.elapsed() < Duration::from_millis(500), "{path}");
    }

    // Only the newest queries were kept: the answered ones are the last ones sent.
    let mut answered = Vec::new();
    for (i, asker) in askers.into_iter().enumerate() {
        if asker.await.unwrap() {
            answered.push(i);
        }
    }
    assert_eq!(
        upstream_queries.load(Ordering::SeqCst),
        flood,
        "each sent once"
    );
    assert!(
        answered.len() <= MAX_WAITING && answered.len() >= MAX_WAITING / 2,
        "answered {answered:?}"
    );
    assert!(
        answered.iter().all(|i| *i >= flood - MAX_WAITING - 4),
        "the oldest are shed first: answered {answered:?}"
    );
    let (_, body) = http_get(loopback(server.http_addr("/metrics").unwrap()), "/metrics").await;
    let shed = metric(
        &body,
        "coredns_shed_dropped_total",
        "reason=\"oldest_waiting\"",
    );
    assert_eq!(shed, (flood - MAX_WAITING) as u64, "{body}");

    // The flood is over: the next query that waits is answered, at once.
    let packet = query("after.example.org.", RecordType::A).to_vec().unwrap();
    let asked = Instant::now();
    assert!(
        udp_raw(dns, &packet, UPSTREAM_DELAY + Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(asked.elapsed() < UPSTREAM_DELAY + Duration::from_secs(1));
}
