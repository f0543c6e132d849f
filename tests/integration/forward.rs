//! The `forward` plugin against fake upstream servers on loopback (answering, dead,
//! slow, spoofing, truncating) and against a real resolver (unbound).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::support::{self, TestServer, http_get, query, query_edns, tcp, udp, udp_raw};

/// What a fake upstream does with a query.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Answers at once.
    Normal,
    /// Reads queries and never answers (health checks included).
    Dead,
    /// Answers after a delay.
    Slow(Duration),
    /// Sends undecodable bytes with the right ID, then the answer.
    GarbageFirst,
    /// Sends a forged answer with another ID, then the answer.
    WrongIdFirst,
    /// Sends a forged answer with the right ID for another question, then the answer.
    WrongQuestionFirst,
    /// Over UDP an empty answer with TC set; over TCP the full answer.
    Truncated,
    /// Answers SERVFAIL.
    ServFail,
    /// Answers with 300 A records, about 5 KB, whatever the advertised UDP size.
    Huge,
}

/// The address a forged answer points to.
const FORGED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

struct State {
    index: u8,
    mode: Mutex<Mode>,
    /// Queries other than health checks, over UDP and TCP.
    queries: AtomicUsize,
    /// Of which over TCP.
    tcp_queries: AtomicUsize,
    /// Health checks (`. NS`).
    health_checks: AtomicUsize,
    /// TCP connections accepted.
    tcp_accepts: AtomicUsize,
}

/// A fake upstream DNS server on 127.0.0.1, UDP and TCP on the same port. Its
/// answers to A queries carry 192.0.2.INDEX, so a test sees who answered.
struct Fake {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Fake {
    async fn start(index: u8, mode: Mode) -> Self {
        for _ in 0..50 {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            let Ok(listener) = TcpListener::bind(addr).await else {
                continue;
            };
            let state = Arc::new(State {
                index,
                mode: Mutex::new(mode),
                queries: AtomicUsize::new(0),
                tcp_queries: AtomicUsize::new(0),
                health_checks: AtomicUsize::new(0),
                tcp_accepts: AtomicUsize::new(0),
            });
            let tasks = vec![
                tokio::spawn(serve_udp(Arc::new(udp), state.clone())),
                tokio::spawn(serve_tcp(listener, state.clone())),
            ];
            return Self { addr, state, tasks };
        }
        panic!("no port free for both UDP and TCP");
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn queries(&self) -> usize {
        self.state.queries.load(Ordering::SeqCst)
    }

    fn tcp_queries(&self) -> usize {
        self.state.tcp_queries.load(Ordering::SeqCst)
    }

    fn health_checks(&self) -> usize {
        self.state.health_checks.load(Ordering::SeqCst)
    }

    fn tcp_accepts(&self) -> usize {
        self.state.tcp_accepts.load(Ordering::SeqCst)
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, state: Arc<State>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let (socket, state) = (socket.clone(), state.clone());
        tokio::spawn(async move {
            for packet in replies(&state, &request, false).await {
                let _ = socket.send_to(&packet, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        state.tcp_accepts.fetch_add(1, Ordering::SeqCst);
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(buf) = support::read_frame(&mut stream).await {
                let Ok(request) = Message::from_vec(&buf) else {
                    return;
                };
                for packet in replies(&state, &request, true).await {
                    if !support::write_frame(&mut stream, &packet).await {
                        return;
                    }
                }
            }
        });
    }
}

/// The datagrams (or TCP messages) a fake sends back for `request`.
async fn replies(state: &State, request: &Message, over_tcp: bool) -> Vec<Vec<u8>> {
    let Some(question) = request.queries.first() else {
        return Vec::new();
    };
    if question.name().is_root() && question.query_type() == RecordType::NS {
        state.health_checks.fetch_add(1, Ordering::SeqCst);
    } else {
        state.queries.fetch_add(1, Ordering::SeqCst);
        if over_tcp {
            state.tcp_queries.fetch_add(1, Ordering::SeqCst);
        }
    }
    let mode = *state.mode.lock().unwrap();
    let answer = |m: &Message| m.to_vec().unwrap();
    let normal = response(request, state.index, false);
    match mode {
        Mode::Normal => vec![answer(&normal)],
        Mode::Dead => Vec::new(),
        Mode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            vec![answer(&normal)]
        }
        Mode::GarbageFirst => {
            let id = request.metadata.id.to_be_bytes();
            let mut garbage = vec![id[0], id[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
            garbage.extend_from_slice(&[0xff; 30]);
            vec![garbage, answer(&normal)]
        }
        Mode::WrongIdFirst => {
            let mut forged = forged(request, question.name().clone());
            forged.metadata.id = request.metadata.id.wrapping_add(1);
            vec![answer(&forged), answer(&normal)]
        }
        Mode::WrongQuestionFirst => {
            let evil = Name::from_ascii("evil.example.").unwrap();
            let mut forged = forged(request, evil.clone());
            forged.queries = vec![Query::query(evil, question.query_type())];
            vec![answer(&forged), answer(&normal)]
        }
        Mode::Truncated if over_tcp => vec![answer(&response(request, state.index, true))],
        Mode::Truncated => {
            let mut truncated = normal.clone();
            truncated.answers.clear();
            truncated.authorities.clear();
            truncated.metadata.truncation = true;
            vec![answer(&truncated)]
        }
        Mode::Huge => {
            let mut huge = normal.clone();
            let name = question.name().clone();
            for i in 0..300u16 {
                let [high, low] = i.to_be_bytes();
                let a = A::new(198, 51, high, low);
                huge.add_answer(Record::from_rdata(name.clone(), 300, RData::A(a)));
            }
            vec![answer(&huge)]
        }
        Mode::ServFail => {
            let mut failed = normal.clone();
            failed.answers.clear();
            failed.metadata.response_code = ResponseCode::ServFail;
            failed.metadata.authoritative = false;
            vec![answer(&failed)]
        }
    }
}

/// The fake's answer: for A queries `192.0.2.INDEX` (and two more records when `big`),
/// an NS record in authority and its address in additional; NXDOMAIN with an SOA for
/// names starting with `nx.`. AA and RA are set.
fn response(request: &Message, index: u8, big: bool) -> Message {
    let question = &request.queries[0];
    let name = question.name().clone();
    let mut message = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    message.metadata.authoritative = true;
    message.metadata.recursion_available = true;
    message.metadata.recursion_desired = request.metadata.recursion_desired;
    message.add_query(question.clone());
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        message.set_edns(edns);
    }
    let zone = Name::from_ascii("example.org.").unwrap();
    if name.to_ascii().to_ascii_lowercase().starts_with("nx.") {
        message.metadata.response_code = ResponseCode::NXDomain;
        let soa = SOA::new(
            Name::from_ascii("ns.example.org.").unwrap(),
            Name::from_ascii("hostmaster.example.org.").unwrap(),
            1,
            7200,
            1800,
            86400,
            30,
        );
        message.add_authority(Record::from_rdata(zone, 30, RData::SOA(soa)));
        return message;
    }
    if question.query_type() == RecordType::A {
        message.add_answer(Record::from_rdata(
            name.clone(),
            300,
            RData::A(A::new(192, 0, 2, index)),
        ));
        if big {
            for last in 1..=2 {
                message.add_answer(Record::from_rdata(
                    name.clone(),
                    300,
                    RData::A(A::new(198, 51, 100, last)),
                ));
            }
        }
        let ns = Name::from_ascii("ns.example.org.").unwrap();
        message.add_authority(Record::from_rdata(zone, 300, RData::NS(NS(ns.clone()))));
        message.add_additional(Record::from_rdata(ns, 300, RData::A(A::new(192, 0, 2, 53))));
    }
    message
}

fn forged(request: &Message, name: Name) -> Message {
    let mut message = response(request, 0, false);
    message.answers = vec![Record::from_rdata(name, 300, RData::A(A(FORGED)))];
    message
}

/// The IPv4 addresses of the answer section.
fn answer_ips(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// Which fake answered: the last octet of its 192.0.2.X record.
fn answered_by(message: &Message) -> Option<u8> {
    answer_ips(message)
        .first()
        .filter(|ip| ip.octets()[..3] == [192, 0, 2])
        .map(|ip| ip.octets()[3])
}

/// A server block forwarding `.` to `fakes`, with `options` in the forward block and
/// `extra` lines after it.
fn corefile(fakes: &[&Fake], options: &str, extra: &str) -> String {
    let to: Vec<String> = fakes.iter().map(|f| f.addr.to_string()).collect();
    format!(
        ". {{\n    bind 127.0.0.1\n    forward . {} {{\n{options}\n    }}\n{extra}}}\n",
        to.join(" ")
    )
}

/// Asks over UDP, waiting up to `wait`; the answer and how long it took.
async fn udp_timed(server: SocketAddr, message: &Message, wait: Duration) -> (Message, Duration) {
    let start = Instant::now();
    let bytes = udp_raw(server, &message.to_vec().unwrap(), wait)
        .await
        .expect("an answer in time");
    let answer = Message::from_vec(&bytes).unwrap();
    assert_eq!(answer.metadata.id, message.metadata.id);
    (answer, start.elapsed())
}

/// Asks over TCP, waiting up to 8s; the answer and how long it took.
async fn tcp_timed(server: SocketAddr, message: Message) -> (Message, Duration) {
    let start = Instant::now();
    let packet = message.to_vec().unwrap();
    let mut stream = TcpStream::connect(server).await.unwrap();
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&packet);
    stream.write_all(&framed).await.unwrap();
    let read = async {
        let len = stream.read_u16().await.unwrap();
        let mut answer = vec![0u8; usize::from(len)];
        stream.read_exact(&mut answer).await.unwrap();
        answer
    };
    let bytes = tokio::time::timeout(Duration::from_secs(8), read)
        .await
        .expect("an answer over TCP in time");
    let answer = Message::from_vec(&bytes).unwrap();
    assert_eq!(answer.metadata.id, message.metadata.id);
    (answer, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_pass_through_with_flags_and_sections() {
    let fake = Fake::start(1, Mode::Normal).await;
    let server = TestServer::start(&corefile(&[&fake], "", ""), &[]).await;
    for over_tcp in [false, true] {
        let question = query("WWW.Example.ORG.", RecordType::A);
        let answer = if over_tcp {
            tcp(server.tcp(), &question).await
        } else {
            udp(server.udp(), &question).await
        };
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.authoritative, "AA passes through");
        assert!(answer.metadata.recursion_available, "RA passes through");
        assert!(answer.metadata.recursion_desired);
        assert_eq!(answer.queries[0].name().to_ascii(), "WWW.Example.ORG.");
        assert_eq!(answer_ips(&answer), [Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(answer.answers[0].name.to_ascii(), "WWW.Example.ORG.");
        assert_eq!(answer.answers[0].ttl, 300);
        assert_eq!(answer.authorities.len(), 1);
        assert_eq!(answer.authorities[0].record_type(), RecordType::NS);
        assert_eq!(answer.additionals.len(), 1);
        assert!(answer.edns.is_none(), "no OPT to a client that sent none");
    }
    assert_eq!(fake.tcp_queries(), 1, "a TCP client is forwarded over TCP");

    let answer = udp(
        server.udp(),
        &query_edns("nx.example.org.", RecordType::A, 4096),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(answer.authorities[0].record_type(), RecordType::SOA);
    assert!(answer.edns.is_some(), "the client's EDNS is answered");
    assert_eq!(fake.queries(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_pick_upstreams_in_their_order() {
    let fakes = [
        Fake::start(1, Mode::Normal).await,
        Fake::start(2, Mode::Normal).await,
        Fake::start(3, Mode::Normal).await,
    ];
    let all: Vec<&Fake> = fakes.iter().collect();
    let seen = |server: &TestServer, queries: usize| {
        let server = server.udp();
        async move {
            let mut by = Vec::new();
            for i in 0..queries {
                let answer =
                    udp(server, &query(&format!("q{i}.example.org."), RecordType::A)).await;
                by.push(answered_by(&answer).unwrap());
            }
            by
        }
    };

    let server = TestServer::start(&corefile(&all, "policy sequential", ""), &[]).await;
    assert_eq!(seen(&server, 4).await, [1, 1, 1, 1]);
    drop(server);

    let server = TestServer::start(&corefile(&all, "policy round_robin", ""), &[]).await;
    assert_eq!(seen(&server, 6).await, [2, 3, 1, 2, 3, 1]);
    drop(server);

    let server = TestServer::start(&corefile(&all, "policy random", ""), &[]).await;
    let by = seen(&server, 30).await;
    for index in 1..=3 {
        assert!(
            by.contains(&index),
            "random reaches upstream {index}: {by:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_upstream_is_skipped_then_reenabled_by_health_checks() {
    let dead = Fake::start(1, Mode::Dead).await;
    let good = Fake::start(2, Mode::Normal).await;
    let options = "policy sequential\nread_timeout 500ms\nhealth_check 100ms";
    let server = TestServer::start(&corefile(&[&dead, &good], options, ""), &[]).await;

    // The first query waits for the dead upstream, then gets the next one's answer.
    let (answer, took) = udp_timed(
        server.udp(),
        &query("a.example.org.", RecordType::A),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(answered_by(&answer), Some(2));
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert_eq!(dead.queries(), 1);

    // The failure starts health checks, which fail too: the upstream is down after
    // max_fails (2) failures, and queries go straight to the good one. A second check
    // is only sent once the first has failed.
    let start = Instant::now();
    while dead.health_checks() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "health checks run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..3 {
        let (answer, took) = udp_timed(
            server.udp(),
            &query(&format!("b{i}.example.org."), RecordType::A),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(answered_by(&answer), Some(2));
        assert!(
            took < Duration::from_millis(400),
            "down upstream skipped: {took:?}"
        );
    }
    assert_eq!(dead.queries(), 1, "no query was sent to the down upstream");

    // It comes back: a health check sees it, and it is used again.
    dead.set_mode(Mode::Normal);
    let start = Instant::now();
    loop {
        let answer = udp(server.udp(), &query("c.example.org.", RecordType::A)).await;
        if answered_by(&answer) == Some(1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "the upstream is re-enabled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(dead.health_checks() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_upstreams_dead_answers_servfail_in_bounded_time() {
    let first = Fake::start(1, Mode::Dead).await;
    let second = Fake::start(2, Mode::Dead).await;
    let server = TestServer::start(&corefile(&[&first, &second], "", "    errors\n"), &[]).await;
    // Default read timeout (2s) and deadline: a UDP and a TCP client at once, then one
    // more once both upstreams are marked down.
    let first_question = query("a.example.org.", RecordType::A);
    let udp_client = udp_timed(server.udp(), &first_question, Duration::from_secs(8));
    let tcp_client = tcp_timed(server.tcp(), query("b.example.org.", RecordType::A));
    let ((udp_answer, udp_took), (tcp_answer, tcp_took)) = tokio::join!(udp_client, tcp_client);
    for (answer, took) in [(udp_answer, udp_took), (tcp_answer, tcp_took)] {
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
        assert!(took < Duration::from_secs(6), "{took:?}");
        assert!(took >= Duration::from_millis(1900), "{took:?}");
    }
    let (answer, took) = udp_timed(
        server.udp(),
        &query("c.example.org.", RecordType::A),
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(first.queries() + second.queries() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failfast_answers_servfail_at_once_when_all_are_down() {
    let dead = Fake::start(1, Mode::Dead).await;
    let options =
        "read_timeout 300ms\nhealth_check 5s\nmax_fails 1\nfailfast_all_unhealthy_upstreams";
    let server = TestServer::start(&corefile(&[&dead], options, ""), &[]).await;
    let (answer, _) = udp_timed(
        server.udp(),
        &query("a.example.org.", RecordType::A),
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    let (answer, took) = udp_timed(
        server.udp(),
        &query("b.example.org.", RecordType::A),
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(dead.queries(), 1, "the down upstream was not asked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_refuses_the_excess() {
    let slow = Fake::start(1, Mode::Slow(Duration::from_millis(600))).await;
    let corefile = corefile(&[&slow], "max_concurrent 1", "    prometheus 127.0.0.1:0\n");
    let server = TestServer::start(&corefile, &[]).await;
    let addr = server.udp();
    let clients: Vec<_> = (0..5)
        .map(|i| {
            tokio::spawn(async move {
                udp(addr, &query(&format!("c{i}.example.org."), RecordType::A))
                    .await
                    .metadata
                    .response_code
            })
        })
        .collect();
    let mut rcodes = Vec::new();
    for client in clients {
        rcodes.push(client.await.unwrap());
    }
    let refused = rcodes
        .iter()
        .filter(|r| **r == ResponseCode::Refused)
        .count();
    let answered = rcodes
        .iter()
        .filter(|r| **r == ResponseCode::NoError)
        .count();
    assert!(refused >= 1 && answered >= 1, "{rcodes:?}");
    assert_eq!(refused + answered, 5, "{rcodes:?}");

    let (_, metrics) = http_get(server.http("/metrics"), "/metrics").await;
    let rejects: u64 = metrics
        .lines()
        .find(|l| l.starts_with("coredns_forward_max_concurrent_rejects_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .expect("the rejects counter");
    assert!(rejects >= refused as u64, "{rejects} < {refused}");
    let to = format!("to=\"{}\"", slow.addr);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("coredns_proxy_request_duration_seconds_count{")
                && l.contains("proxy_name=\"forward\"")
                && l.contains(&to)
                && l.contains("rcode=\"NOERROR\"")
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_udp_answers_are_retried_over_tcp() {
    let fake = Fake::start(1, Mode::Truncated).await;
    let server = TestServer::start(&corefile(&[&fake], "", ""), &[]).await;
    let answer = udp(
        server.udp(),
        &query_edns("big.example.org.", RecordType::A, 1232),
    )
    .await;
    assert!(!answer.metadata.truncation);
    assert_eq!(answer_ips(&answer).len(), 3, "the full answer from TCP");
    assert_eq!(fake.queries(), 2);
    assert_eq!(fake.tcp_queries(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_udp_answers_are_retried_over_tcp() {
    let fake = Fake::start(1, Mode::Huge).await;
    let server = TestServer::start(&corefile(&[&fake], "prefer_udp", ""), &[]).await;
    let answer = tcp(server.tcp(), &query("huge.example.org.", RecordType::A)).await;
    assert_eq!(answer.answers.len(), 301);
    assert_eq!((fake.queries(), fake.tcp_queries()), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_and_garbage_replies_are_ignored() {
    for mode in [
        Mode::WrongIdFirst,
        Mode::WrongQuestionFirst,
        Mode::GarbageFirst,
    ] {
        let fake = Fake::start(1, mode).await;
        let server = TestServer::start(&corefile(&[&fake], "", ""), &[]).await;
        for over_tcp in [false, true] {
            let question = query("www.example.org.", RecordType::A);
            let answer = if over_tcp {
                tcp(server.tcp(), &question).await
            } else {
                udp(server.udp(), &question).await
            };
            assert_eq!(
                answer.metadata.response_code,
                ResponseCode::NoError,
                "{mode:?}"
            );
            assert_eq!(
                answer_ips(&answer),
                [Ipv4Addr::new(192, 0, 2, 1)],
                "{mode:?} over_tcp={over_tcp}"
            );
        }
        assert_eq!(fake.queries(), 2, "{mode:?}: one attempt each");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_tcp_reuses_connections() {
    let fake = Fake::start(1, Mode::Normal).await;
    let server = TestServer::start(&corefile(&[&fake], "force_tcp", ""), &[]).await;
    for i in 0..3 {
        let answer = udp(
            server.udp(),
            &query(&format!("t{i}.example.org."), RecordType::A),
        )
        .await;
        assert_eq!(answered_by(&answer), Some(1));
    }
    assert_eq!(fake.tcp_queries(), 3);
    assert_eq!(fake.tcp_accepts(), 1, "one connection, reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_udp_asks_over_udp_for_tcp_clients() {
    let fake = Fake::start(1, Mode::Normal).await;
    let server = TestServer::start(&corefile(&[&fake], "prefer_udp", ""), &[]).await;
    let answer = tcp(server.tcp(), &query("u.example.org.", RecordType::A)).await;
    assert_eq!(answered_by(&answer), Some(1));
    assert_eq!((fake.queries(), fake.tcp_queries()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_next_rcodes() {
    let failing = Fake::start(1, Mode::ServFail).await;
    let good = Fake::start(2, Mode::Normal).await;
    let server = TestServer::start(
        &corefile(
            &[&failing, &good],
            "policy sequential\nfailover SERVFAIL\nnext NXDOMAIN",
            "    whoami\n",
        ),
        &[],
    )
    .await;
    let answer = udp(server.udp(), &query("f.example.org.", RecordType::A)).await;
    assert_eq!(answered_by(&answer), Some(2), "SERVFAIL fails over");
    assert_eq!((failing.queries(), good.queries()), (1, 1));

    // NXDOMAIN from upstream: the next plugin (whoami) answers instead.
    failing.set_mode(Mode::Normal);
    let answer = udp(server.udp(), &query("nx.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    assert!(
        answer
            .additionals
            .iter()
            .any(|r| r.record_type() == RecordType::SRV),
        "whoami's answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_from_or_excepted_go_to_the_next_plugin() {
    let fake = Fake::start(1, Mode::Normal).await;
    let corefile = format!(
        ". {{\n    bind 127.0.0.1\n    forward Example.org {} {{\n        except skip.example.org\n    }}\n    whoami\n}}\n",
        fake.addr
    );
    let server = TestServer::start(&corefile, &[]).await;
    let answer = udp(server.udp(), &query("www.EXAMPLE.org.", RecordType::A)).await;
    assert_eq!(answered_by(&answer), Some(1));
    let answer = udp(server.udp(), &query("skip.example.org.", RecordType::A)).await;
    assert_eq!(answered_by(&answer), None);
    assert!(
        answer
            .additionals
            .iter()
            .any(|r| r.record_type() == RecordType::SRV)
    );
    for name in ["a.skip.example.org.", "www.example.net.", "org."] {
        let answer = udp(server.udp(), &query(name, RecordType::A)).await;
        assert!(answer.answers.is_empty(), "{name}");
        assert!(
            answer
                .additionals
                .iter()
                .any(|r| r.record_type() == RecordType::SRV),
            "{name} answered by whoami"
        );
    }
    assert_eq!(fake.queries(), 1);
}

/// Kills the child process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> Option<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    let port = socket.local_addr().ok()?.port();
    std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(port)
}

/// unbound serving `example.test` from local data on 127.0.0.1: plain DNS on the first
/// port, DNS over TLS (with the forward plugin's test certificate, for `dns.example`)
/// on the second. `None` when there is no unbound binary.
async fn start_unbound(dir: &Path) -> Option<(Child, u16, u16)> {
    let binary = ["/usr/sbin/unbound", "/usr/local/sbin/unbound"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/forward/tests/data");
    let mut last_error = String::new();
    for _ in 0..5 {
        let (Some(port), Some(tls_port)) = (free_port(), free_port()) else {
            continue;
        };
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n    interface: 127.0.0.1@{port}\n    interface: 127.0.0.1@{tls_port}\n    \
                 port: {port}\n    tls-port: {tls_port}\n    \
                 tls-service-key: \"{certs}/server.key\"\n    \
                 tls-service-pem: \"{certs}/server.pem\"\n    \
                 do-daemonize: no\n    use-syslog: no\n    logfile: \"\"\n    chroot: \"\"\n    \
                 username: \"\"\n    directory: \"{dir}\"\n    pidfile: \"\"\n    \
                 num-threads: 1\n    do-ip6: no\n    module-config: \"iterator\"\n    \
                 local-zone: \"example.test.\" static\n    \
                 local-data: \"www.example.test. A 192.0.2.7\"\n\
                 remote-control:\n    control-enable: no\n",
                certs = certs.display(),
                dir = dir.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(binary)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("unbound starts");
        let mut child = Child(child);
        // Wait until it answers.
        let upstream = SocketAddr::from(([127, 0, 0, 1], port));
        let probe = query("www.example.test.", RecordType::A).to_vec().unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = child.0.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.0.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                last_error = format!("unbound exited with {status}: {stderr}");
                break;
            }
            if udp_raw(upstream, &probe, Duration::from_millis(200))
                .await
                .is_some()
            {
                return Some((child, port, tls_port));
            }
        }
    }
    panic!("unbound did not come up: {last_error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs unbound (apt-get install unbound; .ci/run runs it)"]
async fn forwards_to_unbound() {
    let dir = tempfile::tempdir().unwrap();
    let (unbound, port, tls_port) = start_unbound(dir.path())
        .await
        .expect("an unbound binary (apt-get install unbound)");
    let corefile = format!(". {{\n    bind 127.0.0.1\n    forward . 127.0.0.1:{port}\n}}\n");
    let server = TestServer::start(&corefile, &[]).await;
    let answer = udp(server.udp(), &query("WWW.example.test.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(
        answer.metadata.authoritative,
        "unbound's local data is authoritative"
    );
    assert_eq!(answer_ips(&answer), [Ipv4Addr::new(192, 0, 2, 7)]);
    assert_eq!(answer.answers[0].name.to_ascii(), "WWW.example.test.");
    let answer = tcp(server.tcp(), &query("www.example.test.", RecordType::A)).await;
    assert_eq!(answer_ips(&answer), [Ipv4Addr::new(192, 0, 2, 7)]);
    let answer = udp(server.udp(), &query("nothere.example.test.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    let answer = udp(server.udp(), &query("www.example.test.", RecordType::AAAA)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.answers.is_empty());
    drop(server);

    // The same over DNS over TLS, trusting the test CA.
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/forward/tests/data/ca.pem");
    let corefile = format!(
        ". {{\n    bind 127.0.0.1\n    forward . tls://127.0.0.1%dns.example:{tls_port} {{\n        \
         tls {}\n    }}\n}}\n",
        ca.display()
    );
    let server = TestServer::start(&corefile, &[]).await;
    for over_tcp in [false, true] {
        let question = query("www.example.test.", RecordType::A);
        let answer = if over_tcp {
            tcp(server.tcp(), &question).await
        } else {
            udp(server.udp(), &question).await
        };
        assert_eq!(
            answer_ips(&answer),
            [Ipv4Addr::new(192, 0, 2, 7)],
            "over DoT"
        );
    }
    drop(unbound);
}

/// An upstream that answers just after the read timeout: the retry does not abandon
/// the first attempt, and its answer (the first to arrive) is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_the_read_timeout_is_still_used() {
    let slow = Fake::start(1, Mode::Slow(Duration::from_millis(1500))).await;
    let server = TestServer::start(
        &corefile(&[&slow], "        read_timeout 1s\n        max_fails 0", ""),
        &[],
    )
    .await;
    let (answer, took) = udp_timed(
        server.udp(),
        &query("late.example.org.", RecordType::A),
        Duration::from_secs(8),
    )
    .await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answered_by(&answer), Some(1));
    // The first attempt answers at 1.5 s; the retry started at 1 s would answer at
    // 2.5 s, and waiting for it alone would have given up at 2 s (SERVFAIL).
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_millis(2400), "{took:?}");
    assert_eq!(
        slow.queries(),
        2,
        "a retry was sent beside the first attempt"
    );

    // Over TCP too.
    let (answer, took) = tcp_timed(server.tcp(), query("late2.example.org.", RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(took < Duration::from_millis(2400), "{took:?}");
}
