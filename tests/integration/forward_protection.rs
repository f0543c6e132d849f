//! Upstream protection in `forward`: a burst of identical questions costs the upstream
//! one query, and every client gets its own answer (its ID, its question's case).

use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::overload::slow_upstream;
use crate::support::{TestServer, query, udp_raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_questions_in_flight_are_sent_upstream_once() {
    let (upstream, upstream_queries) = slow_upstream(Duration::from_millis(400)).await;
    let server = TestServer::start(
        &format!(
            "example.org {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    forward . {upstream}\n}}\n"
        ),
        &[],
    )
    .await;
    let dns = server.udp();

    // 40 clients ask the same question at once, in two spellings.
    let burst = 40;
    let mut askers = Vec::new();
    for i in 0..burst {
        let name = if i % 2 == 0 {
            "burst.example.org."
        } else {
            "BuRsT.Example.ORG."
        };
        let mut message = query(name, RecordType::A);
        message.metadata.id = 1000 + i;
        let packet = message.to_vec().unwrap();
        askers.push(tokio::spawn(async move {
            let reply = udp_raw(dns, &packet, Duration::from_secs(3)).await;
            (i, name, reply)
        }));
    }
    for asker in askers {
        let (i, name, reply) = asker.await.unwrap();
        let reply = Message::from_vec(&reply.expect("answered")).unwrap();
        assert_eq!(reply.metadata.id, 1000 + i, "its own ID");
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            reply.queries[0].name().to_string(),
            name,
            "its own question, in its own case"
        );
    }
    let sent = upstream_queries.load(Ordering::SeqCst);
    println!("upstream queries for a burst of {burst} identical questions: {sent}");
    assert_eq!(sent, 1, "one upstream query for the burst");
    let (_, body) = crate::support::http_get(server.http("/metrics"), "/metrics").await;
    let coalesced: u64 = body
        .lines()
        .filter(|l| l.starts_with("coredns_forward_coalesced_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(coalesced >= u64::from(burst) - 1, "{body}");

    // Another type is another question; the same one later is asked again.
    for qtype in [RecordType::AAAA, RecordType::A] {
        let packet = query("burst.example.org.", qtype).to_vec().unwrap();
        assert!(
            udp_raw(dns, &packet, Duration::from_secs(3))
                .await
                .is_some()
        );
    }
    assert_eq!(upstream_queries.load(Ordering::SeqCst), 3);
}

/// `upstream_rate`: a storm of distinct names sends an upstream at most its budget a
/// second; the rest fail at once (SERVFAIL, counted) instead of pushing the upstream
/// past its own limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_is_sent_at_most_its_budget() {
    let (upstream, upstream_queries) = slow_upstream(Duration::from_millis(10)).await;
    let server = TestServer::start(
        &format!(
            "example.org {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    forward . {upstream} {{\n        upstream_rate 10\n    }}\n}}\n"
        ),
        &[],
    )
    .await;
    let dns = server.udp();
    let storm = 60;
    let started = std::time::Instant::now();
    let mut askers = Vec::new();
    for i in 0..storm {
        let packet = query(&format!("n{i}.example.org."), RecordType::A)
            .to_vec()
            .unwrap();
        askers.push(tokio::spawn(async move {
            udp_raw(dns, &packet, Duration::from_secs(3)).await
        }));
    }
    let mut servfail = 0;
    for asker in askers {
        let reply = Message::from_vec(&asker.await.unwrap().expect("answered")).unwrap();
        if reply.metadata.response_code == ResponseCode::ServFail {
            servfail += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = upstream_queries.load(Ordering::SeqCst);
    println!(
        "a storm of {storm} names with upstream_rate 10: {sent} sent upstream in {elapsed:.2}s, {servfail} SERVFAIL"
    );
    // A second's worth at once, plus what refills while the storm is asked.
    assert!(
        sent >= 10 && (sent as f64) <= 11.0 + 10.0 * elapsed,
        "{sent}"
    );
    assert_eq!(servfail, storm - sent, "the rest fail, at once");
    let (_, body) = crate::support::http_get(server.http("/metrics"), "/metrics").await;
    let exceeded: u64 = body
        .lines()
        .filter(|l| l.starts_with("coredns_forward_upstream_budget_exceeded_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    // Each refused query counted at least once (once per attempt at the upstream).
    assert!(exceeded >= servfail as u64, "{exceeded} < {servfail}");
}
