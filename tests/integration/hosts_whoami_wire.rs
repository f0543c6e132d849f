//! `hosts` and `whoami` on the wire path, through real sockets: a server answering on
//! the wire path and one whose chain only the ordinary path serves (`log` in front)
//! must send the same bytes, over UDP (one client socket for both, so whoami's port is
//! the same) and TCP.

use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

use crate::support::{TestServer, tcp_raw};

const COREFILE: &str = "example.org 10.in-addr.arpa {
    errors
    hosts {
        10.0.0.1 web.example.org
        10.0.0.2 web.example.org
        fd00::1 web.example.org v6.example.org
        10.0.0.7 single.example.org
    }
}
whoami.test {
    whoami
}
";

fn packet(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(payload);
        message.set_edns(opt);
    }
    message.to_vec().unwrap()
}

async fn ask(socket: &UdpSocket, server: std::net::SocketAddr, packet: &[u8]) -> Vec<u8> {
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    buf.truncate(len);
    buf
}

#[tokio::test]
async fn hosts_and_whoami_send_the_same_bytes_on_both_paths() {
    let ordinary = COREFILE
        .replace(
            "    errors\n",
            "    errors\n    log . {\n        class denial\n    }\n",
        )
        .replace(
            "    whoami\n",
            "    log . {\n        class denial\n    }\n    whoami\n",
        );
    assert_eq!(ordinary.matches("log .").count(), 2);
    let wire = TestServer::start(COREFILE, &[]).await;
    let slow = TestServer::start(&ordinary, &[]).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut compared = 0;
    let queries = [
        ("web.example.org.", RecordType::A),
        ("WEB.Example.org.", RecordType::AAAA),
        ("v6.example.org.", RecordType::A),
        ("missing.example.org.", RecordType::A),
        ("single.example.org.", RecordType::A),
        ("7.0.0.10.in-addr.arpa.", RecordType::PTR),
        ("me.whoami.test.", RecordType::A),
        ("A.B.Whoami.Test.", RecordType::TXT),
    ];
    for (name, qtype) in queries {
        for edns in [None, Some(1232), Some(4096)] {
            let packet = packet(name, qtype, edns);
            let a = ask(&socket, wire.udp(), &packet).await;
            let b = ask(&socket, slow.udp(), &packet).await;
            assert_eq!(a, b, "UDP {name} {qtype} {edns:?}");
            let reply = Message::from_vec(&a).unwrap();
            assert_eq!(reply.queries[0].name().to_string(), name);
            if !name.starts_with("missing") && !name.starts_with("v6") && qtype != RecordType::TXT {
                assert!(
                    !reply.answers.is_empty() || !reply.additionals.is_empty(),
                    "{name}"
                );
            }
            if !name.contains("hoami") {
                // whoami's answer names the client's port, which differs per connection.
                assert_eq!(
                    tcp_raw(wire.tcp(), &packet).await,
                    tcp_raw(slow.tcp(), &packet).await,
                    "TCP {name}"
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 24);
}
