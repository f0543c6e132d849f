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
