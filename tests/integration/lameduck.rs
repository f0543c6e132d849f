//! SIGTERM with `health { lameduck }`: the real binary keeps answering for the delay
//! while `/ready` fails, then exits 0.

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
