//! `loop`: two servers forwarding to each other find the loop, answer SERVFAIL for the
//! looping zone, report not ready, and keep running.
//!
//! A starts first and forwards to B's port, where nothing listens yet: its probe usually
//! gets a SERVFAIL and its detection ends clean. B starts next and forwards to A: B's
//! probe goes B → A → B → ... and B finds the loop. On a loaded machine A's probe may
//! still be retrying when B comes up; then A finds the loop first and answers B's probe
//! SERVFAIL. Either way exactly the loop is found, by one of them.

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, free_port, http_get, query, udp};

fn corefile(own: u16, upstream: u16) -> String {
    format!(
        ".:{own} {{
    bind 127.0.0.1
    ready 127.0.0.1:0 {{
        monitor continuously
    }}
    forward . 127.0.0.1:{upstream} {{
        read_timeout 500ms
    }}
    loop
}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_forwarding_to_each_other_detect_the_loop() {
    let (port_a, port_b) = (free_port(), free_port());
    assert_ne!(port_a, port_b);
    let a = TestServer::start(&corefile(port_a, port_b), &[]).await;
    let b = TestServer::start(&corefile(port_b, port_a), &[]).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let (finder, _other) = loop {
        let (status_b, body_b) = http_get(b.http("/ready"), "/ready").await;
        if status_b == 503 && body_b.contains("loop") {
            break (&b, &a);
        }
        let (status_a, body_a) = http_get(a.http("/ready"), "/ready").await;
        if status_a == 503 && body_a.contains("loop") {
            break (&a, &b);
        }
        assert!(
            Instant::now() < deadline,
            "loop not detected: B {status_b} {body_b}, A {status_a} {body_a}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let b = finder;
    // The looping zone is answered SERVFAIL at once, not forwarded around again.
    let started = Instant::now();
    let answer = udp(b.udp(), &query("example.com.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // B keeps running and keeps reporting the loop.
    assert_eq!(http_get(b.http("/ready"), "/ready").await.0, 503);
}
