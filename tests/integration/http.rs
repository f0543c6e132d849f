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
        delta("coredns_dns_request_duration_seconds_count{", &[zone]),
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

/// Every family and label the CoreDNS dashboards and alerts read (the coredns mixin:
/// `dashboards/coredns.libsonnet`, `alerts/coredns.libsonnet`, `alerts/forward.libsonnet`)
/// is in `/metrics` after some queries. The mixin's `coredns_forward_requests_total`,
/// `coredns_forward_responses_total` and `coredns_forward_request_duration_seconds`
/// are the names of CoreDNS before 1.11; CoreDNS 1.14, like clusterdns, exports the
/// forward latency as `coredns_proxy_request_duration_seconds{proxy_name="forward"}`
/// (checked here), and neither exports the other two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_families_and_labels_are_exported() {
    let upstream = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    // Reads queries and never answers.
    let dead = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    let responder = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, peer)) = upstream.recv_from(&mut buf).await {
            let Ok(mut message) = hickory_proto::op::Message::from_vec(&buf[..len]) else {
                continue;
            };
            message.metadata.message_type = hickory_proto::op::MessageType::Response;
            message.metadata.response_code = hickory_proto::op::ResponseCode::NXDomain;
            let _ = upstream.send_to(&message.to_vec().unwrap(), peer).await;
        }
    });
    let corefile = format!(
        "example.org {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    whoami
}}
cluster.local {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    cache 30
    kubernetes cluster.local {{
        manifests cluster.yaml
    }}
}}
example.net {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    forward . {upstream_addr}
}}
example.com {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    forward . {dead_addr} {{
        read_timeout 200ms
        health_check 200ms
        max_connect_attempts 1
    }}
}}
"
    );
    let server =
        TestServer::start(&corefile, &[("cluster.yaml", &headless("10.244.0.5", 0))]).await;
    // An EndpointSlice change with a newer trigger time: a DNS programming latency
    // sample. And a dead upstream: a failed health check.
    let start = std::time::Instant::now();
    while udp(
        server.udp(),
        &query("web.default.svc.cluster.local.", RecordType::A),
    )
    .await
    .answers
    .is_empty()
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let tmp = server.path("cluster.yaml.tmp");
    std::fs::write(&tmp, headless("10.244.0.6", now_ms)).unwrap();
    std::fs::rename(&tmp, server.path("cluster.yaml")).unwrap();
    let dead_query = query("d.example.com.", RecordType::A).to_vec().unwrap();
    crate::support::udp_raw(
        server.udp(),
        &dead_query,
        std::time::Duration::from_millis(100),
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        let metrics = http_get(server.http("/metrics"), "/metrics").await.1;
        if metrics.contains("coredns_kubernetes_dns_programming_duration_seconds_bucket{")
            && metrics.contains(&format!("coredns_proxy_healthcheck_failures_total{{proxy_name=\"forward\",to=\"{dead_addr}\"}}"))
        {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "no programming latency or health check failure:\n{metrics}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for name in [
        "a.example.org.",
        "b.cluster.local.",
        "b.cluster.local.",
        "c.example.net.",
    ] {
        udp(server.udp(), &query(name, RecordType::A)).await;
    }
    // No block serves this name: counted under zone="dropped", as CoreDNS does.
    udp(server.udp(), &query("nowhere.test.", RecordType::A)).await;
    let (_, metrics) = http_get(server.http("/metrics"), "/metrics").await;
    responder.abort();

    let series = |family: &str| -> Vec<&str> {
        metrics
            .lines()
            .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
            .collect()
    };
    let has = |family: &str, labels: &[&str]| {
        let lines = series(family);
        assert!(
            !lines.is_empty(),
            "{family} missing from /metrics:\n{metrics}"
        );
        for label in labels {
            assert!(
                lines.iter().any(|l| l.contains(&format!("{label}=\""))),
                "{family} has no {label} label: {lines:?}"
            );
        }
    };
    // Dashboards.
    has(
        "coredns_dns_responses_total",
        &["rcode", "server", "zone", "view", "plugin"],
    );
    has(
        "coredns_dns_request_duration_seconds_bucket",
        &["server", "zone", "le"],
    );
    has(
        "coredns_dns_requests_total",
        &["type", "zone", "server", "proto", "family"],
    );
    has(
        "coredns_dns_request_size_bytes_bucket",
        &["server", "zone", "proto", "le"],
    );
    has(
        "coredns_dns_response_size_bytes_bucket",
        &["server", "zone", "proto", "le"],
    );
    has("coredns_plugin_enabled", &["name", "server", "zone"]);
    has("coredns_cache_hits_total", &["type"]);
    has("coredns_cache_misses_total", &[]);
    has("coredns_cache_entries", &["type"]);
    has("coredns_panics_total", &[]);
    has("coredns_build_info", &["version", "revision", "goversion"]);
    has(
        "coredns_proxy_request_duration_seconds_bucket",
        &["to", "rcode", "le"],
    );
    has("process_resident_memory_bytes", &[]);
    has("process_cpu_seconds_total", &[]);
    has("go_goroutines", &[]);
    for family in [
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
    ] {
        has(family, &[]);
    }
    has(
        "coredns_kubernetes_dns_programming_duration_seconds_bucket",
        &["service_kind", "le"],
    );
    has("coredns_proxy_healthcheck_failures_total", &["to"]);
    has("coredns_forward_healthcheck_broken_total", &[]);
    drop(dead);

    // CoreDNS 1.8.4 dropped `type` from the duration (it split the latency alert).
    assert!(
        series("coredns_dns_request_duration_seconds_bucket")
            .iter()
            .all(|l| !l.contains("type=\"")),
        "coredns_dns_request_duration_seconds still has a type label"
    );
    assert!(
        series("coredns_plugin_enabled")
            .iter()
            .any(|l| l.contains("name=\"prometheus\"")),
        "prometheus is not listed in coredns_plugin_enabled"
    );
    assert!(
        series("coredns_dns_requests_total")
            .iter()
            .any(|l| l.contains("zone=\"dropped\"")),
        "a query no zone serves is not counted under zone=\"dropped\""
    );
    let value = |family: &str| -> f64 {
        series(family)[0]
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("go_goroutines") >= 2.0);
    assert!(value("process_open_fds") >= 3.0);
}

/// A headless Service `web` in `default` with one ready endpoint at `ip`; its slice
/// carries the trigger-time annotation at `trigger_ms` (none when 0).
fn headless(ip: &str, trigger_ms: i64) -> String {
    let annotation = if trigger_ms == 0 {
        String::new()
    } else {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(trigger_ms as u64);
        let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        // RFC 3339 in UTC, computed by hand to keep the test free of a date crate.
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
        let (y, mo, d) = civil_from_days(days as i64);
        format!(
            "    annotations:\n      endpoints.kubernetes.io/last-change-trigger-time: \"{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z\"\n"
        )
    };
    format!(
        "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: default
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: default
  spec:
    clusterIP: None
    ports:
    - name: http
      port: 80
      protocol: TCP
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  addressType: IPv4
  metadata:
    name: web-abcde
    namespace: default
    labels:
      kubernetes.io/service-name: web
{annotation}  endpoints:
  - addresses:
    - {ip}
    conditions:
      ready: true
  ports:
  - name: http
    port: 80
    protocol: TCP
"
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
