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

/// `chaos` in a block of its own on the same port as the cluster zone, as OpenShift
/// configures it: CH TXT names answered there, CH queries elsewhere REFUSED, IN queries
/// untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_answers_its_names_in_class_ch_only() {
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
    let server = crate::support::TestServer::start(
        "hostname.bind version.bind {\n  bind 127.0.0.1\n  chaos clusterdns-test admin@example.org\n}\n\
         example.org {\n  bind 127.0.0.1\n  whoami\n}\n",
        &[],
    )
    .await;
    let ask = |name: &str, qtype: RecordType, class: DNSClass| {
        let mut message = Message::new(77, MessageType::Query, OpCode::Query);
        let mut query = Query::query(Name::from_ascii(name).unwrap(), qtype);
        query.set_query_class(class);
        message.add_query(query);
        message
    };
    for tcp in [false, true] {
        let question = ask("version.bind.", RecordType::TXT, DNSClass::CH);
        let answer = if tcp {
            crate::support::tcp(server.tcp(), &question).await
        } else {
            crate::support::udp(server.udp(), &question).await
        };
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(answer.answers[0].dns_class, DNSClass::CH);
        match &answer.answers[0].data {
            RData::TXT(txt) => assert_eq!(txt.to_string(), "clusterdns-test"),
            other => panic!("{other}"),
        }
        let hostname = crate::support::udp(
            server.udp(),
            &ask("HOSTNAME.bind.", RecordType::TXT, DNSClass::CH),
        )
        .await;
        assert_eq!(hostname.answers.len(), 1);
        assert_eq!(hostname.queries[0].name().to_string(), "HOSTNAME.bind.");
    }
    // CH in a block without chaos, and CH A in chaos's block: REFUSED.
    for (name, qtype) in [
        ("example.org.", RecordType::TXT),
        ("version.bind.", RecordType::A),
    ] {
        let answer = crate::support::udp(server.udp(), &ask(name, qtype, DNSClass::CH)).await;
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::Refused,
            "{name} {qtype}"
        );
    }
    // Class IN is served as ever.
    let answer = crate::support::udp(
        server.udp(),
        &ask("example.org.", RecordType::A, DNSClass::IN),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
}
