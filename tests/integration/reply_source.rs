//! UDP replies leave from the address the query was sent to, also when the listener is
//! bound to the wildcard address and the host has several addresses (the Service IP on
//! an interface, host-network and node-local setups): a client drops an answer from
//! another address.
//!
//! All of 127.0.0.0/8 is local on Linux, so a query to 127.0.0.2 reaches a listener on
//! the wildcard address, and without care its reply would leave from 127.0.0.1, the
//! address the kernel picks for the route back to a client on 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;

use crate::support::{TestServer, query};

/// Sends `message` from `client` to `server`; the answer and the address it came from.
async fn ask(client: &UdpSocket, server: SocketAddr, message: &Message) -> (Message, SocketAddr) {
    client
        .send_to(&message.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, from) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no answer from {server}"))
        .unwrap();
    let answer = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(answer.metadata.id, message.metadata.id);
    (answer, from)
}

/// The port of the server's (only) UDP listener, which must be on a wildcard address.
fn wildcard_port(server: &TestServer) -> u16 {
    let addr = server.server.udp_addrs()[0];
    assert!(addr.ip().is_unspecified(), "listening on {addr}");
    addr.port()
}

/// Asks for `name` at each of `ips` on `port` and checks who answered.
async fn assert_replies_from(port: u16, ips: &[IpAddr], name: &str) {
    for &ip in ips {
        let client_ip: IpAddr = if ip.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            Ipv6Addr::LOCALHOST.into()
        };
        let client = UdpSocket::bind(SocketAddr::new(client_ip, 0))
            .await
            .unwrap();
        let server = SocketAddr::new(ip, port);
        // Several queries, so that both workers' sockets (SO_REUSEPORT spreads clients
        // by their port) and both the batched and the later send path are exercised.
        for _ in 0..4 {
            let (answer, from) = ask(&client, server, &query(name, RecordType::A)).await;
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
            assert_eq!(from, server, "the reply to a query sent to {server}");
        }
    }
}

/// Whether this host can use IPv6 loopback.
fn has_ipv6_loopback() -> bool {
    std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// `::` (dual-stack, the default without `bind`): IPv4 queries arrive as v4-mapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_wildcard_replies_from_the_address_asked() {
    let server = TestServer::start("example.org {\n    whoami\n}\n", &[]).await;
    let port = wildcard_port(&server);
    let mut ips: Vec<IpAddr> = vec![
        Ipv4Addr::new(127, 0, 0, 2).into(),
        Ipv4Addr::new(127, 0, 0, 3).into(),
        Ipv4Addr::LOCALHOST.into(),
    ];
    if has_ipv6_loopback() {
        ips.push(Ipv6Addr::LOCALHOST.into());
    }
    assert_replies_from(port, &ips, "example.org.").await;
}

/// `bind 0.0.0.0`: an IPv4-only wildcard socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_wildcard_replies_from_the_address_asked() {
    let server = TestServer::start("example.org {\n    bind 0.0.0.0\n    whoami\n}\n", &[]).await;
    let port = wildcard_port(&server);
    assert!(server.server.udp_addrs()[0].is_ipv4());
    let ips: Vec<IpAddr> = vec![
        Ipv4Addr::new(127, 0, 0, 2).into(),
        Ipv4Addr::LOCALHOST.into(),
    ];
    assert_replies_from(port, &ips, "example.org.").await;
}

/// A query that waits for an upstream is answered later, from the runtime, not from the
/// worker's batch: that reply must leave from the right address too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_answers_come_from_the_address_asked() {
    let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    // A fake upstream that answers every query with an empty NOERROR answer.
    let fake = tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((len, from)) = upstream.recv_from(&mut buf).await {
            let Ok(question) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            let mut answer = question.clone();
            answer.metadata.message_type = hickory_proto::op::MessageType::Response;
            answer.metadata.recursion_available = true;
            let _ = upstream.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });
    let corefile = format!(". {{\n    forward . {upstream_addr}\n}}\n");
    let server = TestServer::start(&corefile, &[]).await;
    let port = wildcard_port(&server);
    let mut ips: Vec<IpAddr> = vec![Ipv4Addr::new(127, 0, 0, 2).into()];
    if has_ipv6_loopback() {
        ips.push(Ipv6Addr::LOCALHOST.into());
    }
    // Different names: the forward plugin has no cache, but be sure each one waits.
    for (i, ip) in ips.iter().enumerate() {
        assert_replies_from(port, &[*ip], &format!("q{i}.example.net.")).await;
    }
    fake.abort();
}
