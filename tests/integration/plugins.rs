//! Answers written by plugins, over UDP and TCP.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use crate::support::{TestServer, query, tcp, udp};

const WHOAMI: &str = "example.org {\n    bind 127.0.0.1\n    whoami\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_answers_over_udp_and_tcp() {
    let server = TestServer::start(WHOAMI, &[]).await;
    for over_tcp in [false, true] {
        let question = query("WhoAmI.Example.Org.", RecordType::A);
        let answer = if over_tcp {
            tcp(server.tcp(), &question).await
        } else {
            udp(server.udp(), &question).await
        };
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.authoritative);
        assert_eq!(answer.queries[0].name().to_string(), "WhoAmI.Example.Org.");
        let ips: Vec<IpAddr> = answer
            .additionals
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect();
        assert_eq!(ips, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let srv = answer
            .additionals
            .iter()
            .find(|r| r.record_type() == RecordType::SRV)
            .expect("an SRV record with the client's port");
        let proto = if over_tcp { "_tcp" } else { "_udp" };
        assert!(
            srv.name.to_string().starts_with(proto),
            "{} should start with {proto}",
            srv.name
        );
    }
}

const HOSTS: &str = "example.org {\n    bind 127.0.0.1\n    hosts {\n        10.1.2.3 web.example.org\n        fd00::1 web.example.org\n    }\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_answers_a_aaaa_and_nxdomain() {
    let server = TestServer::start(HOSTS, &[]).await;
    let answer = udp(server.udp(), &query("WEB.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(answer.answers[0].name.to_string(), "WEB.example.org.");
    assert_eq!(
        answer.answers[0].data,
        RData::A(Ipv4Addr::new(10, 1, 2, 3).into())
    );

    let answer = tcp(server.tcp(), &query("web.example.org.", RecordType::AAAA)).await;
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(answer.answers[0].record_type(), RecordType::AAAA);

    let answer = udp(server.udp(), &query("nope.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn longest_zone_picks_the_block() {
    let corefile = "example.org {\n    bind 127.0.0.1\n    whoami\n}\nweb.example.org {\n    bind 127.0.0.1\n    hosts {\n        10.9.9.9 a.web.example.org\n    }\n}\n";
    let server = TestServer::start(corefile, &[]).await;
    assert_eq!(
        server.server.udp_addrs().len(),
        1,
        "both blocks share one listener"
    );
    let answer = udp(server.udp(), &query("a.web.example.org.", RecordType::A)).await;
    assert_eq!(answer.answers.len(), 1, "hosts block answers its zone");
    let answer = udp(server.udp(), &query("other.example.org.", RecordType::A)).await;
    assert!(answer.answers.is_empty());
    assert!(
        !answer.additionals.is_empty(),
        "whoami block answers the parent zone"
    );
}
