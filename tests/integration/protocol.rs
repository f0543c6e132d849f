//! What the server does before any plugin: REFUSED, truncation, EDNS, error rcodes,
//! malformed packets.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::support::{TestServer, query, query_edns, tcp, udp, udp_raw};

fn big_hosts_corefile(records: usize) -> String {
    let mut corefile = String::from("example.org {\n    bind 127.0.0.1\n    hosts {\n");
    for i in 0..records {
        corefile.push_str(&format!(
            "        10.0.{}.{} big.example.org\n",
            i / 250,
            i % 250 + 1
        ));
    }
    corefile.push_str("    }\n}\n");
    corefile
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_served_zones_are_refused() {
    let server = TestServer::start("example.org {\n    bind 127.0.0.1\n    whoami\n}\n", &[]).await;
    let answer = udp(server.udp(), &query("example.com.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
    assert_eq!(answer.queries[0].name().to_string(), "example.com.");
    let answer = tcp(server.tcp(), &query("org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_are_truncated_over_udp_and_whole_over_tcp() {
    let server = TestServer::start(&big_hosts_corefile(200), &[]).await;

    // No EDNS: at most 512 bytes, TC set, only whole records.
    let question = query("big.example.org.", RecordType::A);
    let bytes = udp_raw(
        server.udp(),
        &question.to_vec().unwrap(),
        Duration::from_secs(5),
    )
    .await
    .expect("answer");
    assert!(bytes.len() <= 512, "{} bytes without EDNS", bytes.len());
    let answer = Message::from_vec(&bytes).expect("whole records only");
    assert!(answer.metadata.truncation);
    assert!(
        answer.answers.len() > 10 && answer.answers.len() < 200,
        "{}",
        answer.answers.len()
    );
    assert!(answer.edns.is_none());

    // EDNS offering more than 1232: capped at 1232, OPT kept.
    for payload in [1232u16, 4096, 65535] {
        let question = query_edns("big.example.org.", RecordType::A, payload);
        let bytes = udp_raw(
            server.udp(),
            &question.to_vec().unwrap(),
            Duration::from_secs(5),
        )
        .await
        .expect("answer");
        assert!(
            bytes.len() <= 1232,
            "{} bytes for payload {payload}",
            bytes.len()
        );
        let answer = Message::from_vec(&bytes).expect("whole records only");
        assert!(answer.metadata.truncation);
        assert!(answer.answers.len() > 50, "{}", answer.answers.len());
        let edns = answer.edns.expect("OPT echoed");
        assert_eq!(edns.max_payload(), 1232);
    }

    // EDNS offering less than 512 is treated as 512.
    let question = query_edns("big.example.org.", RecordType::A, 100);
    let answer = udp(server.udp(), &question).await;
    assert!(answer.metadata.truncation);
    assert!(!answer.answers.is_empty());

    // TCP: the whole answer.
    let answer = tcp(server.tcp(), &query("big.example.org.", RecordType::A)).await;
    assert!(!answer.metadata.truncation);
    assert_eq!(answer.answers.len(), 200);
}

/// A hand-written header + question for `example.org. A IN`.
fn raw_query(id: u16, flags: u16, qdcount: u16, arcount: u16) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&flags.to_be_bytes());
    packet.extend_from_slice(&qdcount.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0]);
    packet.extend_from_slice(&arcount.to_be_bytes());
    for _ in 0..qdcount {
        packet.extend_from_slice(b"\x07example\x03org\x00\x00\x01\x00\x01");
    }
    packet
}

fn opt_record(version: u8) -> Vec<u8> {
    // root owner, type OPT, payload 1232, ext-rcode 0, version, flags 0, rdlen 0
    vec![0, 0, 41, 0x04, 0xd0, 0, version, 0, 0, 0, 0]
}

async fn rcode_of(server: &TestServer, packet: &[u8]) -> Option<(ResponseCode, Message)> {
    let bytes = udp_raw(server.udp(), packet, Duration::from_millis(700)).await?;
    let message = Message::from_vec(&bytes).expect("decodable error answer");
    Some((message.metadata.response_code, message))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_badvers_notimp_formerr() {
    let server = TestServer::start("example.org {\n    bind 127.0.0.1\n    whoami\n}\n", &[]).await;

    // EDNS version 1 → BADVERS with an OPT of version 0.
    let mut packet = raw_query(7, 0x0100, 1, 1);
    packet.extend_from_slice(&opt_record(1));
    let (rcode, message) = rcode_of(&server, &packet).await.expect("BADVERS answer");
    // 16 is both BADVERS and BADSIG on the wire; the decoder picks the latter name.
    assert_eq!(u16::from(rcode), 16);
    assert_eq!(message.metadata.id, 7);
    assert_eq!(message.edns.expect("OPT").version(), 0);
    assert!(message.answers.is_empty());

    // Opcode 15 → NOTIMP; opcode UPDATE (5) too.
    for opcode in [15u16, 5] {
        let packet = raw_query(8, opcode << 11, 1, 0);
        let (rcode, _) = rcode_of(&server, &packet).await.expect("NOTIMP answer");
        assert_eq!(rcode, ResponseCode::NotImp, "opcode {opcode}");
    }
    // The opcode is checked before the question count (RFC 8490 §5.1, as Knot and
    // Unbound do): a header-only DSO (6) or opcode-15 message is NOTIMP, not FORMERR.
    // RD is copied into the answer, CD is not.
    for opcode in [6u16, 15] {
        let rd_cd = 0x0100 | 0x0010;
        let packet = raw_query(12, (opcode << 11) | rd_cd, 0, 0);
        let (rcode, message) = rcode_of(&server, &packet)
            .await
            .expect("NOTIMP answer to a header-only message");
        assert_eq!(rcode, ResponseCode::NotImp, "header-only opcode {opcode}");
        assert_eq!(message.metadata.id, 12);
        assert_eq!(u8::from(message.metadata.op_code), opcode as u8);
        assert!(message.metadata.recursion_desired, "RD copied");
        assert!(!message.metadata.checking_disabled, "CD not copied");
        assert!(message.queries.is_empty());
    }

    // No question, two questions → FORMERR.
    for qdcount in [0u16, 2] {
        let packet = raw_query(9, 0x0100, qdcount, 0);
        let (rcode, message) = rcode_of(&server, &packet).await.expect("FORMERR answer");
        assert_eq!(rcode, ResponseCode::FormErr, "qdcount {qdcount}");
        assert_eq!(message.metadata.id, 9);
    }

    // Two OPT records → FORMERR.
    let mut packet = raw_query(10, 0x0100, 1, 2);
    packet.extend_from_slice(&opt_record(0));
    packet.extend_from_slice(&opt_record(0));
    let (rcode, _) = rcode_of(&server, &packet).await.expect("FORMERR answer");
    assert_eq!(rcode, ResponseCode::FormErr);

    // Class CH and AXFR are refused.
    let mut packet = raw_query(11, 0x0100, 1, 0);
    let len = packet.len();
    packet[len - 1] = 3; // class CH
    let (rcode, _) = rcode_of(&server, &packet).await.expect("answer");
    assert_eq!(rcode, ResponseCode::Refused);
    let answer = udp(server.udp(), &query("example.org.", RecordType::AXFR)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_are_dropped_and_the_server_keeps_serving() {
    let server = TestServer::start("example.org {\n    bind 127.0.0.1\n    whoami\n}\n", &[]).await;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![1]),
        ("five bytes", vec![1, 2, 3, 4, 5]),
        ("QR=1", raw_query(1, 0x8100, 1, 0)),
    ];
    let mut self_pointer = raw_query(2, 0x0100, 1, 0);
    self_pointer.truncate(12);
    self_pointer.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    cases.push(("compression pointer to itself", self_pointer));
    let mut no_terminator = raw_query(3, 0x0100, 1, 0);
    no_terminator.truncate(12);
    no_terminator.extend_from_slice(b"\x07example\x03org");
    cases.push(("name without terminator", no_terminator));
    let mut huge_counts = raw_query(4, 0x0100, 1, 0);
    huge_counts[6..12].copy_from_slice(&[0xff; 6]);
    cases.push(("record counts of 65535", huge_counts));
    let mut bad_label = raw_query(5, 0x0100, 1, 0);
    bad_label[12] = 0x40;
    cases.push(("label type 0x40", bad_label));

    for (what, packet) in &cases {
        let reply = udp_raw(server.udp(), packet, Duration::from_millis(300)).await;
        if let Some(reply) = reply {
            assert_ne!(*what, "QR=1", "a response must never be answered");
            // A reply, if any, is a FORMERR no larger than the query.
            let message = Message::from_vec(&reply).expect("decodable");
            assert_eq!(
                message.metadata.response_code,
                ResponseCode::FormErr,
                "{what}"
            );
            assert!(
                reply.len() <= packet.len().max(12),
                "{what}: reply larger than query"
            );
        }
        let probe = udp(server.udp(), &query("probe.example.org.", RecordType::A)).await;
        assert_eq!(
            probe.metadata.response_code,
            ResponseCode::NoError,
            "alive after {what}"
        );
    }
}
