//! `rewrite` through real sockets: names rewritten onto the demo cluster and answered
//! back under the client's own name and question, the README's forms, and a stub
//! zone rewritten in a block as kubespray writes it.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, query, udp, udp_raw};

const CLUSTER: &str = include_str!("../../deploy/demo/cluster.yaml");

fn texts(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

const COREFILE: &str = ". {
    errors
    rewrite name suffix .cluster.internal. .cluster.local. answer auto
    rewrite continue name exact old-web.shop.svc.cluster.local. web.shop.svc.cluster.local.
    rewrite ttl exact kubernetes.default.svc.cluster.local. 30
    rewrite stop {
        name regex (.*)\\.legacy\\.example\\.$ {1}.svc.cluster.local
        answer name (.*)\\.svc\\.cluster\\.local\\.$ {1}.legacy.example
    }
    rewrite rcode suffix gone.example. NXDOMAIN REFUSED
    kubernetes cluster.local {
        manifests cluster.yaml
    }
    hosts /etc/hosts gone.example {
        10.1.1.1 present.gone.example
    }
}
";

async fn server() -> TestServer {
    let server = TestServer::start(COREFILE, &[("cluster.yaml", CLUSTER)]).await;
    let probe = query("web.shop.svc.cluster.local.", RecordType::A);
    let start = std::time::Instant::now();
    while udp(server.udp(), &probe).await.answers.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cluster loads"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
}

#[tokio::test]
async fn answers_carry_the_clients_question_and_names() {
    let server = server().await;
    // The suffix rule: asked under another cluster domain, answered under it.
    let asked = "Web.Shop.svc.cluster.internal.";
    let reply = udp(server.udp(), &query(asked, RecordType::A)).await;
    assert_eq!(
        reply.queries[0].name().to_string(),
        asked,
        "the question as written"
    );
    assert_eq!(reply.queries[0].query_type(), RecordType::A);
    assert_eq!(
        texts(&reply.answers),
        ["web.shop.svc.cluster.internal. 5 A 10.96.12.5"]
    );
    // SRV: owner and target mapped back (`answer auto` rewrites values too).
    let srv = udp(
        server.udp(),
        &query("_http._tcp.web.shop.svc.cluster.internal.", RecordType::SRV),
    )
    .await;
    assert_eq!(srv.answers.len(), 1);
    assert!(
        srv.answers[0]
            .name
            .to_string()
            .ends_with(".cluster.internal."),
        "{:?}",
        texts(&srv.answers)
    );
    assert!(
        srv.answers[0]
            .data
            .to_string()
            .ends_with(".cluster.internal."),
        "{:?}",
        texts(&srv.answers)
    );

    // An exact rule maps the answer back to the name asked.
    let old = udp(
        server.udp(),
        &query("old-web.shop.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        texts(&old.answers),
        ["old-web.shop.svc.cluster.local. 5 A 10.96.12.5"]
    );
    assert_eq!(
        old.queries[0].name().to_string(),
        "old-web.shop.svc.cluster.local."
    );

    // A ttl rule.
    let ttl = udp(
        server.udp(),
        &query("kubernetes.default.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(
        texts(&ttl.answers),
        ["kubernetes.default.svc.cluster.local. 30 A 10.96.0.1"]
    );

    // The block form, with an answer name rule.
    let legacy = udp(
        server.udp(),
        &query("web.shop.legacy.example.", RecordType::A),
    )
    .await;
    assert_eq!(
        legacy.queries[0].name().to_string(),
        "web.shop.legacy.example."
    );
    assert_eq!(
        texts(&legacy.answers),
        ["web.shop.legacy.example. 5 A 10.96.12.5"]
    );

    // An rcode rule: NXDOMAIN from hosts becomes REFUSED; answers are left alone.
    let gone = udp(server.udp(), &query("missing.gone.example.", RecordType::A)).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::Refused);
    let present = udp(server.udp(), &query("present.gone.example.", RecordType::A)).await;
    assert_eq!(
        texts(&present.answers),
        ["present.gone.example. 3600 A 10.1.1.1"]
    );

    // Names no rule touches are answered as without rewrite, on the wire path.
    let plain = udp(
        server.udp(),
        &query("db.data.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(plain.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test]
async fn untouched_names_get_the_same_bytes_as_without_rewrite() {
    let files = [("cluster.yaml", CLUSTER)];
    let with = server().await;
    let without = TestServer::start(
        ". {\n    errors\n    kubernetes cluster.local {\n        manifests cluster.yaml\n    }\n}\n",
        &files,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for name in [
        "web.shop.svc.cluster.local.",
        "DB.data.svc.cluster.local.",
        "nope.shop.svc.cluster.local.",
    ] {
        for qtype in [RecordType::A, RecordType::AAAA] {
            let mut message = query(name, qtype);
            message.metadata.id = 77;
            let packet = message.to_vec().unwrap();
            let a = udp_raw(with.udp(), &packet, Duration::from_secs(5))
                .await
                .unwrap();
            let b = udp_raw(without.udp(), &packet, Duration::from_secs(5))
                .await
                .unwrap();
            let (a, b) = (
                Message::from_vec(&a).unwrap(),
                Message::from_vec(&b).unwrap(),
            );
            assert_eq!(
                a.metadata.response_code, b.metadata.response_code,
                "{name} {qtype}"
            );
            assert_eq!(texts(&a.answers), texts(&b.answers), "{name} {qtype}");
            assert_eq!(a.queries, b.queries, "{name} {qtype}");
        }
    }
}
