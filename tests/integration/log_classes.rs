//! `log . { class ... }` as OpenShift's Corefile uses it, through the real binary: a
//! non-default port (as OpenShift's 5353) shared by a `chaos` block, `import`s of globs
//! that match nothing (as AKS and k3s write them), and the log lines each class lets
//! through.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::support::{self, Upstream, binary, free_port, http_get, query, udp};

/// Answers by the first label: `ok` A 192.0.2.1, `nx` NXDOMAIN, `nodata` NODATA,
/// `fail` SERVFAIL, `refused` REFUSED.
fn upstream_answer(request: &Message) -> Option<Message> {
    let question = request.queries.first()?.clone();
    let mut reply = support::reply_to(request);
    let owner = question.name().clone();
    let first = owner
        .iter()
        .next()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .unwrap_or_default();
    match first.as_str() {
        "ok" => reply.answers.push(Record::from_rdata(
            owner,
            60,
            RData::A(A::new(192, 0, 2, 1)),
        )),
        "nx" => reply.metadata.response_code = ResponseCode::NXDomain,
        "fail" => reply.metadata.response_code = ResponseCode::ServFail,
        "refused" => reply.metadata.response_code = ResponseCode::Refused,
        _ => {}
    }
    Some(reply)
}

fn block(zone: &str, port: u16, classes: &str, upstream: SocketAddr) -> String {
    format!(
        "{zone}:{port} {{
    bind 127.0.0.1
    bufsize 1232
    errors
    log . {{
        class {classes}
    }}
    forward . {upstream}
    import custom/*.override
}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_logs_its_answers_only() {
    let upstream = Upstream::start(true, upstream_answer).await;
    let port = free_port();
    let ready_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut corefile = format!(
        ".:{port} {{\n    bind 127.0.0.1\n    ready 127.0.0.1:{ready_port}\n    log . {{\n        class error\n    }}\n    forward . {}\n}}\nhostname.bind:{port} {{\n    bind 127.0.0.1\n    chaos\n}}\nimport custom/*.server\n",
        upstream.addr
    );
    for (zone, classes) in [
        ("error.test", "error"),
        ("denial.test", "denial"),
        ("success.test", "success"),
        ("all.test", "all"),
        ("two.test", "denial success"),
    ] {
        corefile.push_str(&block(zone, port, classes, upstream.addr));
    }
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, corefile).unwrap();
    let log_path = dir.path().join("out.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(binary())
        .arg("-conf")
        .arg(&conf)
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let dns: SocketAddr = ([127, 0, 0, 1], port).into();
    let ready: SocketAddr = ([127, 0, 0, 1], ready_port).into();
    let deadline = Instant::now() + Duration::from_secs(15);
    while http_get_ok(ready).await.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the server did not start: {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let zones = [
        "error.test",
        "denial.test",
        "success.test",
        "all.test",
        "two.test",
    ];
    for zone in zones {
        for first in ["ok", "nx", "nodata", "fail", "refused"] {
            let name = format!("{first}.{zone}.");
            let answer = udp(dns, &query(&name, RecordType::A)).await;
            let expected = match first {
                "nx" => ResponseCode::NXDomain,
                "fail" => ResponseCode::ServFail,
                "refused" => ResponseCode::Refused,
                _ => ResponseCode::NoError,
            };
            assert_eq!(answer.metadata.response_code, expected, "{name}");
        }
    }
    // The chaos block on the same port.
    let mut question = query("hostname.bind.", RecordType::TXT);
    question.queries[0].set_query_class(DNSClass::CH);
    let answer = udp(dns, &question).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1);

    // Log lines are written as they happen; give the writer a moment, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let output = std::fs::read_to_string(&log_path).unwrap();
    let logged = |name: &str| output.lines().any(|l| l.contains(&format!(" {name} ")));
    for zone in zones {
        for first in ["ok", "nx", "nodata", "fail", "refused"] {
            let name = format!("{first}.{zone}.");
            // A forwarded SERVFAIL or REFUSED is an error; NXDOMAIN and NODATA (no SOA
            // from this upstream: NOERROR without records) as CoreDNS types them.
            let class = match first {
                "ok" | "nodata" => "success",
                "nx" => "denial",
                _ => "error",
            };
            let wanted = match zone {
                "all.test" => true,
                "two.test" => class != "error",
                _ => zone.starts_with(class),
            };
            assert_eq!(logged(&name), wanted, "{name} ({class}):\n{output}");
        }
    }
}

async fn http_get_ok(addr: SocketAddr) -> Option<()> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    (http_get(addr, "/ready").await.0 == 200).then_some(())
}
