//! Helpers shared by the integration tests: start a server on a Corefile, ask it
//! questions over real UDP and TCP sockets on loopback.

pub mod cluster_plugins;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clusterdns::server::ListenerOptions;
use clusterdns::{Options, Server};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A server started from a Corefile written into a fresh directory.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Writes `corefile` (and `files`, name → content) into a temporary directory and
    /// starts the server with port 0 for every block that names no port.
    pub async fn start(corefile: &str, files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).expect("write file");
        }
        let conf = dir.path().join("Corefile");
        std::fs::write(&conf, corefile).expect("write Corefile");
        let mut options = Options::new(conf);
        options.dns_port = 0;
        options.listener = ListenerOptions {
            udp_workers: 2,
            ..ListenerOptions::default()
        };
        let server = Server::start(&options).await.expect("server starts");
        Self { server, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn udp(&self) -> SocketAddr {
        loopback(self.server.udp_addrs()[0])
    }

    pub fn tcp(&self) -> SocketAddr {
        loopback(self.server.tcp_addrs()[0])
    }

    pub fn http(&self, path: &str) -> SocketAddr {
        loopback(self.server.http_addr(path).expect("path is served"))
    }

    /// Waits until `/ready` answers 200; panics after `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) {
        let start = std::time::Instant::now();
        while http_get(self.http("/ready"), "/ready").await.0 != 200 {
            assert!(start.elapsed() < deadline, "/ready never answered 200");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A wildcard address, as something a client can send to.
pub fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// A query message with RD set and a random ID.
pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message
}

/// The same with an OPT record advertising `payload`.
pub fn query_edns(name: &str, qtype: RecordType, payload: u16) -> Message {
    let mut message = query(name, qtype);
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

/// Sends raw bytes over UDP; the answer's bytes, or `None` after `wait`.
pub async fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(packet, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => Some(buf[..len].to_vec()),
        _ => None,
    }
}

/// Asks over UDP and decodes the answer, checking it answers our ID.
pub async fn udp(server: SocketAddr, message: &Message) -> Message {
    let bytes = message.to_vec().expect("encode");
    let answer = udp_raw(server, &bytes, Duration::from_secs(5))
        .await
        .expect("an answer over UDP");
    let answer = Message::from_vec(&answer).expect("a decodable answer");
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

/// Sends raw bytes over TCP with the length prefix; the answer's bytes.
pub async fn tcp_raw(server: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.expect("write");
    let read = async {
        let len = stream.read_u16().await.ok()?;
        let mut answer = vec![0u8; usize::from(len)];
        stream.read_exact(&mut answer).await.ok()?;
        Some(answer)
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()
        .flatten()
}

/// Asks over TCP and decodes the answer.
pub async fn tcp(server: SocketAddr, message: &Message) -> Message {
    let bytes = message.to_vec().expect("encode");
    let answer = tcp_raw(server, &bytes).await.expect("an answer over TCP");
    let answer = Message::from_vec(&answer).expect("a decodable answer");
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

/// A plain HTTP/1.1 GET; status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("HTTP answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The `clusterdns` binary built for these tests.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_clusterdns"))
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("address").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// How a fake upstream answers: the reply to a request, or `None` for silence.
pub type UpstreamHandler = Arc<dyn Fn(&Message) -> Option<Message> + Send + Sync>;

/// A fake upstream DNS server on 127.0.0.1, answering through a handler: over UDP, and
/// over TCP on the same port when asked for (without TCP, connections are refused, as
/// from a server that has no TCP).
pub struct Upstream {
    pub addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Upstream {
    pub async fn start(
        tcp: bool,
        handler: impl Fn(&Message) -> Option<Message> + Send + Sync + 'static,
    ) -> Self {
        let handler: UpstreamHandler = Arc::new(handler);
        let (socket, listener) = loop {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            if !tcp {
                break (socket, None);
            }
            let addr = socket.local_addr().expect("address");
            if let Ok(listener) = TcpListener::bind(addr).await {
                break (socket, Some(listener));
            }
        };
        let addr = socket.local_addr().expect("address");
        let mut tasks = vec![tokio::spawn(serve_udp(socket, handler.clone()))];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(serve_tcp(listener, handler)));
        }
        Self { addr, tasks }
    }
}

fn answer(handler: &UpstreamHandler, request: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    handler(&request)?.to_vec().ok()
}

async fn serve_udp(socket: UdpSocket, handler: UpstreamHandler) {
    let mut buf = vec![0u8; 65535];
    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
        if let Some(reply) = answer(&handler, &buf[..len]) {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, handler: UpstreamHandler) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            while let Some(request) = read_frame(&mut stream).await {
                let Some(reply) = answer(&handler, &request) else {
                    return;
                };
                if !write_frame(&mut stream, &reply).await {
                    return;
                }
            }
        });
    }
}

/// The reply skeleton an upstream sends: ID, opcode, RD copied, RA set, the question.
pub fn reply_to(request: &Message) -> Message {
    let mut reply = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = request.queries.clone();
    reply
}

/// Reads one length-prefixed DNS message from a TCP stream; `None` at the end or on
/// error.
pub async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let len = stream.read_u16().await.ok()?;
    let mut message = vec![0u8; usize::from(len)];
    stream.read_exact(&mut message).await.ok()?;
    Some(message)
}

/// Writes one DNS message with its length prefix; whether it was written.
pub async fn write_frame(stream: &mut (impl AsyncWriteExt + Unpin), message: &[u8]) -> bool {
    let Ok(len) = u16::try_from(message.len()) else {
        return false;
    };
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).await.is_ok()
}
