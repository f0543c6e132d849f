//! `reload`: a changed Corefile is put in service without dropping queries; a broken
//! one keeps the running configuration.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use crate::support::{TestServer, http_get, query, udp};

fn corefile(ip: &str) -> String {
    format!(
        "example.org {{\n    bind 127.0.0.1\n    reload 2s 0s\n    prometheus 127.0.0.1:0\n    hosts {{\n        {ip} web.example.org\n    }}\n}}\n"
    )
}

/// Replaces the file in one step, as the kubelet does with a ConfigMap volume.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn web_ip(server: &TestServer) -> (ResponseCode, Option<IpAddr>) {
    let answer = udp(server.udp(), &query("web.example.org.", RecordType::A)).await;
    let ip = answer.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    });
    (answer.metadata.response_code, ip)
}

fn failed_reloads(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("coredns_reload_failed_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_config_under_load_and_keeps_it_when_broken() {
    let server = TestServer::start(&corefile("10.0.0.1"), &[]).await;
    let conf = server.path("Corefile");
    assert_eq!(
        web_ip(&server).await.1,
        Some(Ipv4Addr::new(10, 0, 0, 1).into())
    );
    let udp_before = server.udp();

    // A steady query load for the whole test: every query must be answered NOERROR.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, answered, target) = (stop.clone(), answered.clone(), server.udp());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let answer = udp(target, &query("web.example.org.", RecordType::A)).await;
                if answer.metadata.response_code != ResponseCode::NoError
                    || answer.answers.len() != 1
                {
                    failures.push(answer.metadata.response_code);
                }
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            failures
        })
    };

    replace(&conf, &corefile("10.0.0.2"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while web_ip(&server).await.1 != Some(Ipv4Addr::new(10, 0, 0, 2).into()) {
        assert!(
            Instant::now() < deadline,
            "the new Corefile was not put in service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.udp(), udp_before, "the listener was kept");

    let metrics_addr = server.http("/metrics");
    let failed_before = failed_reloads(&http_get(metrics_addr, "/metrics").await.1);
    replace(
        &conf,
        "example.org {\n    bind 127.0.0.1\n    reload 2s 0s\n    hosts {\n        10.0.0.3 web.example.org\n    }\n    nosuchplugin\n}\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http_get(metrics_addr, "/metrics").await.1;
        if failed_reloads(&metrics) > failed_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken Corefile was not noticed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        web_ip(&server).await,
        (
            ResponseCode::NoError,
            Some(Ipv4Addr::new(10, 0, 0, 2).into())
        ),
        "the running configuration is kept"
    );

    stop.store(true, Ordering::Relaxed);
    let failures = load.await.unwrap();
    assert!(
        failures.is_empty(),
        "failed queries during reloads: {failures:?}"
    );
    assert!(answered.load(Ordering::Relaxed) > 100);
}
