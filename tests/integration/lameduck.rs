//! SIGTERM with `health { lameduck }`: the real binary keeps answering for the delay
//! while `/ready` fails, then for as long as queries still arrive (drain until quiet,
//! up to `--drain-limit`), then exits 0.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::{binary, free_port, http_get, query, udp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lameduck_keeps_answering_after_sigterm() {
    let dns_port = free_port();
    let http_port = free_port();
    let ready_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(
        &conf,
        format!(
            "example.org:{dns_port} {{\n    bind 127.0.0.1\n    health 127.0.0.1:{http_port} {{\n        lameduck 2s\n    }}\n    ready 127.0.0.1:{ready_port}\n    whoami\n}}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .arg("-conf")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let ready: SocketAddr = ([127, 0, 0, 1], ready_port).into();

    // Wait until it answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(ready).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http_get(ready, "/ready").await.0, 200);

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // During lameduck: still answering, no longer ready.
    assert_eq!(http_get(ready, "/ready").await.0, 503);
    let mut answered = 0;
    while signalled.elapsed() < Duration::from_millis(1500) {
        let answer = udp(dns, &query("x.example.org.", RecordType::A)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered >= 5);

    // Then it exits cleanly.
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() >= Duration::from_secs(2));
}

/// Starts the binary with `health { lameduck LAMEDUCK }`, `ready` and `prometheus`,
/// and `args`; waits until it is ready. The child and its DNS, ready and metrics addresses.
async fn start_with_lameduck(
    dir: &tempfile::TempDir,
    lameduck: &str,
    args: &[&str],
) -> (std::process::Child, SocketAddr, SocketAddr, SocketAddr) {
    let (dns_port, http_port, ready_port, metrics_port) =
        (free_port(), free_port(), free_port(), free_port());
    let conf = dir.path().join("Corefile");
    std::fs::write(
        &conf,
        format!(
            "example.org:{dns_port} {{\n    bind 127.0.0.1\n    health 127.0.0.1:{http_port} {{\n        lameduck {lameduck}\n    }}\n    ready 127.0.0.1:{ready_port}\n    prometheus 127.0.0.1:{metrics_port}\n    whoami\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(binary())
        .arg("-conf")
        .arg(&conf)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let ready: SocketAddr = ([127, 0, 0, 1], ready_port).into();
    let metrics: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get_status(ready).await != Some(200) {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, dns, ready, metrics)
}

async fn http_get_status(addr: SocketAddr) -> Option<u16> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    Some(http_get(addr, "/ready").await.0)
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The sum of the samples of `name` whose labels contain `label`.
fn metric(body: &str, name: &str, label: &str) -> u64 {
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Whether the child exits within `deadline`; its exit status.
async fn exit_within(
    child: std::process::Child,
    deadline: Duration,
) -> Option<std::process::ExitStatus> {
    let mut child = child;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After lameduck the server keeps answering while queries still arrive (a flow pinned
/// to it by a stale conntrack entry), counts them, and exits once they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_until_quiet_after_lameduck() {
    let dir = tempfile::tempdir().unwrap();
    let (child, dns, ready, metrics) = start_with_lameduck(
        &dir,
        "1s",
        &["--drain-quiet", "700ms", "--drain-limit", "20s"],
    )
    .await;
    sigterm(&child);
    let signalled = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(http_get(ready, "/ready").await.0, 503);
    // Three times the lameduck delay, a query every 100 ms: every one is answered.
    while signalled.elapsed() < Duration::from_secs(3) {
        let answer = udp(dns, &query("x.example.org.", RecordType::A)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = http_get(metrics, "/metrics").await;
    let lameduck = metric(
        &body,
        "coredns_shutdown_requests_total",
        "phase=\"lameduck\"",
    );
    let drained = metric(&body, "coredns_shutdown_requests_total", "phase=\"drain\"");
    assert!(lameduck >= 5, "lameduck {lameduck}\n{body}");
    assert!(drained >= 10, "drain {drained}\n{body}");
    // Then quiet: it exits within the quiet period (plus slack), well before the limit.
    let stopped = Instant::now();
    let exit = exit_within(child, Duration::from_secs(10)).await;
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}");
    assert!(
        stopped.elapsed() >= Duration::from_millis(500),
        "exited {:?} after the last query",
        stopped.elapsed()
    );
}

/// A flow that never stops (a client pinned to this replica for good) cannot hold the
/// shutdown past `--drain-limit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_stops_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (child, dns, _, _) = start_with_lameduck(
        &dir,
        "500ms",
        &["--drain-quiet", "1s", "--drain-limit", "2s"],
    )
    .await;
    sigterm(&child);
    let signalled = Instant::now();
    let asking = tokio::spawn(async move {
        loop {
            let _ = crate::support::udp_raw(
                dns,
                &query("x.example.org.", RecordType::A).to_vec().unwrap(),
                Duration::from_millis(200),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let exit = exit_within(child, Duration::from_secs(15)).await;
    asking.abort();
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "exited {took:?} after SIGTERM"
    );
}
