//! `/health`, `/ready` and `/metrics`.

use hickory_proto::rr::RecordType;

use crate::support::{TestServer, http_get, query, udp};

const COREFILE: &str = "example.org {
    bind 127.0.0.1
    health 127.0.0.1:0
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
    whoami
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics() {
    let server = TestServer::start(COREFILE, &[]).await;
    assert_eq!(
        http_get(server.http("/health"), "/health").await,
        (200, "OK".into())
    );
    let (status, body) = http_get(server.http("/ready"), "/ready").await;
    assert_eq!((status, body.trim()), (200, "OK"));
    assert_eq!(http_get(server.http("/health"), "/nope").await.0, 404);

    let count = |body: &str| -> u64 {
        body.lines()
            .filter(|l| {
                l.starts_with("coredns_dns_requests_total{")
                    && l.contains("zone=\"example.org.\"")
                    && l.contains("proto=\"udp\"")
                    && l.contains("type=\"A\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let (_, before) = http_get(server.http("/metrics"), "/metrics").await;
    udp(server.udp(), &query("a.example.org.", RecordType::A)).await;
    udp(server.udp(), &query("b.example.org.", RecordType::A)).await;
    let (status, after) = http_get(server.http("/metrics"), "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(count(&after), count(&before) + 2, "{after}");
    for name in [
        "coredns_dns_request_duration_seconds_bucket",
        "coredns_dns_request_size_bytes_bucket",
        "coredns_dns_response_size_bytes_bucket",
        "coredns_dns_responses_total{",
        "coredns_build_info{",
        "coredns_panics_total",
        "coredns_plugin_enabled{",
    ] {
        assert!(
            after.contains(name),
            "{name} missing from /metrics:\n{after}"
        );
    }
    assert!(after.contains("rcode=\"NOERROR\""));
    assert!(after.contains("plugin=\"whoami\""));
    assert!(after.contains("server=\"dns://127.0.0.1:0\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_once_shutdown_begins() {
    let server = TestServer::start(COREFILE, &[]).await;
    server.server.readiness().begin_shutdown();
    let (status, _) = http_get(server.http("/ready"), "/ready").await;
    assert_eq!(status, 503);
    assert_eq!(http_get(server.http("/health"), "/health").await.0, 200);
}

/// Answers written on the wire path (cluster names, over UDP) and on the ordinary path
/// (over TCP with the same names, and a PTR) are counted alike in `coredns_dns_*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_and_ordinary_answers_are_counted_alike() {
    let corefile = "cluster.local in-addr.arpa {
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa {
        manifests cluster.yaml
    }
}
";
    let cluster = include_str!("../../deploy/demo/cluster.yaml");
    let server = TestServer::start(corefile, &[("cluster.yaml", cluster)]).await;
    let metrics = server.http("/metrics");
    let value = |body: &str, name: &str, labels: &[&str]| -> u64 {
        body.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    let name = "kubernetes.default.svc.cluster.local.";
    let start = std::time::Instant::now();
    while udp(server.udp(), &query(name, RecordType::A))
        .await
        .answers
        .is_empty()
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }
    let (_, before) = http_get(metrics, "/metrics").await;
    for _ in 0..3 {
        udp(server.udp(), &query(name, RecordType::A)).await;
        crate::support::tcp(server.tcp(), &query(name, RecordType::A)).await;
    }
    udp(
        server.udp(),
        &query("nope.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    udp(
        server.udp(),
        &query("1.0.96.10.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    let mut with_do = query(name, RecordType::A);
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_dnssec_ok(true);
    with_do.set_edns(edns);
    udp(server.udp(), &with_do).await;
    let (_, after) = http_get(metrics, "/metrics").await;
    let delta =
        |name: &str, labels: &[&str]| value(&after, name, labels) - value(&before, name, labels);
    let zone = "zone=\"cluster.local.\"";
    assert_eq!(
        delta(
            "coredns_dns_requests_total{",
            &[zone, "proto=\"udp\"", "type=\"A\""]
        ),
        5,
        "{after}"
    );
    assert_eq!(
        delta(
            "coredns_dns_requests_total{",
            &[zone, "proto=\"tcp\"", "type=\"A\""]
        ),
        3
    );
    assert_eq!(
        delta(
            "coredns_dns_requests_total{",
            &["zone=\"in-addr.arpa.\"", "type=\"PTR\""]
        ),
        1
    );
    assert_eq!(
        delta(
            "coredns_dns_responses_total{",
            &[zone, "rcode=\"NOERROR\"", "plugin=\"kubernetes\""]
        ),
        7
    );
    assert_eq!(
        delta(
            "coredns_dns_responses_total{",
            &[zone, "rcode=\"NXDOMAIN\"", "plugin=\"kubernetes\""]
        ),
        1
    );
    assert_eq!(
        delta(
            "coredns_dns_request_duration_seconds_count{",
            &[zone, "type=\"A\""]
        ),
        8
    );
    assert_eq!(
        delta(
            "coredns_dns_response_size_bytes_count{",
            &[zone, "proto=\"udp\""]
        ),
        5
    );
    assert_eq!(delta("coredns_dns_do_requests_total{", &[zone]), 1);
}
