//! The `cache` plugin in front of `forward` to a fake upstream on loopback whose answers
//! the tests choose and whose queries they count.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use parking_lot::Mutex;

use crate::support::{self, TestServer, http_get, query, udp};

/// How the fake upstream behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// A names get an A record, names starting with `nx` NXDOMAIN with an SOA.
    Answer,
    /// Every query gets SERVFAIL.
    ServFail,
    /// Queries are read and never answered.
    Silent,
}

struct State {
    mode: Mutex<Mode>,
    /// Queries seen, health checks (`. NS`) aside.
    queries: AtomicUsize,
    /// TTL of the A records.
    a_ttl: AtomicU32,
    /// TTL and MINIMUM of the SOA in NXDOMAIN answers.
    soa_ttl: AtomicU32,
    soa_minimum: AtomicU32,
    /// The last octet of the A records' address: bumping it shows fresh answers.
    generation: AtomicU8,
}

/// A fake authoritative server on 127.0.0.1 (UDP) whose behaviour the test sets.
struct Upstream {
    server: support::Upstream,
    state: Arc<State>,
}

impl Upstream {
    async fn start() -> Self {
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Answer),
            queries: AtomicUsize::new(0),
            a_ttl: AtomicU32::new(300),
            soa_ttl: AtomicU32::new(600),
            soa_minimum: AtomicU32::new(60),
            generation: AtomicU8::new(1),
        });
        let answers = state.clone();
        let server = support::Upstream::start(false, move |request| reply(&answers, request)).await;
        Self { server, state }
    }

    fn queries(&self) -> usize {
        self.state.queries.load(Ordering::SeqCst)
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock() = mode;
    }

    /// A server block for `zone` caching with `cache`, forwarding to this upstream.
    fn corefile(&self, zone: &str, cache: &str) -> String {
        format!(
            "{zone} {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    {cache}\n    forward . {} {{\n        read_timeout 300ms\n    }}\n}}\n",
            self.server.addr
        )
    }
}

fn reply(state: &State, request: &Message) -> Option<Message> {
    let question = request.queries.first()?;
    let health_check = question.name().is_root() && question.query_type() == RecordType::NS;
    if !health_check {
        state.queries.fetch_add(1, Ordering::SeqCst);
    }
    let mode = *state.mode.lock();
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.checking_disabled = request.metadata.checking_disabled;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    match mode {
        Mode::Silent => return None,
        Mode::ServFail => reply.metadata.response_code = ResponseCode::ServFail,
        Mode::Answer if health_check => {}
        Mode::Answer => {
            let name = question.name();
            let first = name.iter().next().unwrap_or_default();
            if first.starts_with(b"nx") {
                reply.metadata.response_code = ResponseCode::NXDomain;
                let zone = name.base_name();
                let soa = SOA::new(
                    Name::from_ascii("ns.example.").unwrap(),
                    Name::from_ascii("hostmaster.example.").unwrap(),
                    1,
                    7200,
                    1800,
                    86400,
                    state.soa_minimum.load(Ordering::SeqCst),
                );
                reply.authorities.push(Record::from_rdata(
                    zone,
                    state.soa_ttl.load(Ordering::SeqCst),
                    RData::SOA(soa),
                ));
            } else if question.query_type() == RecordType::A {
                let octet = state.generation.load(Ordering::SeqCst);
                reply.answers.push(Record::from_rdata(
                    name.clone(),
                    state.a_ttl.load(Ordering::SeqCst),
                    RData::A(A(Ipv4Addr::new(192, 0, 2, octet))),
                ));
            }
        }
    }
    Some(reply)
}

fn ttl(answer: &Message) -> u32 {
    answer
        .answers
        .iter()
        .chain(&answer.authorities)
        .map(|r| r.ttl)
        .next()
        .expect("a record")
}

fn address(answer: &Message) -> Ipv4Addr {
    match &answer.answers.first().expect("an answer").data {
        RData::A(a) => a.0,
        other => panic!("not an A record: {other:?}"),
    }
}

/// A query with the DO bit, or the CD bit, set.
fn query_flags(name: &str, dnssec_ok: bool, checking_disabled: bool) -> Message {
    let mut message = query(name, RecordType::A);
    message.metadata.checking_disabled = checking_disabled;
    if dnssec_ok {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        message.set_edns(edns);
    }
    message
}

/// The value of the first `/metrics` line starting with `prefix`.
async fn metric(server: &TestServer, prefix: &str) -> Option<u64> {
    let (_, body) = http_get(server.http("/metrics"), "/metrics").await;
    body.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_do_not_reach_the_upstream_and_ttls_count_down() {
    let upstream = Upstream::start().await;
    let zone = "hits.cache.test";
    let server = TestServer::start(&upstream.corefile(zone, "cache 30"), &[]).await;
    let name = "www.hits.cache.test.";
    let first = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ttl(&first), 30, "capped by `cache 30`");
    assert_eq!(upstream.queries(), 1);
    let second = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(upstream.queries(), 1, "answered from the cache");
    assert!(second.metadata.authoritative, "AA on cached answers");
    assert!(second.metadata.recursion_available);
    assert_eq!(address(&second), address(&first));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let aged = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(upstream.queries(), 1);
    assert!(
        (27..=28).contains(&ttl(&aged)),
        "TTL {} after 2.1s in the cache",
        ttl(&aged)
    );

    let labels =
        "server=\"dns://127.0.0.1:0\",type=\"success\",zones=\"hits.cache.test.\",view=\"\"}";
    assert_eq!(
        metric(&server, &format!("coredns_cache_hits_total{{{labels}")).await,
        Some(2)
    );
    assert_eq!(
        metric(&server, &format!("coredns_cache_entries{{{labels}")).await,
        Some(1)
    );
    assert_eq!(
        metric(
            &server,
            "coredns_cache_misses_total{server=\"dns://127.0.0.1:0\",zones=\"hits.cache.test.\""
        )
        .await,
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_question_is_echoed_as_asked_on_a_hit() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&upstream.corefile("case.cache.test", "cache"), &[]).await;
    udp(server.udp(), &query("www.case.cache.test.", RecordType::A)).await;
    let mixed = "WwW.CaSe.Cache.TEST.";
    let hit = udp(server.udp(), &query(mixed, RecordType::A)).await;
    assert_eq!(upstream.queries(), 1, "case does not matter to the key");
    assert_eq!(hit.queries[0].name().to_string(), mixed);
    assert_eq!(
        hit.answers[0].name.to_string(),
        mixed,
        "owner in the client's case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_is_cached_for_the_soa_minimum() {
    let upstream = Upstream::start().await;
    upstream.state.soa_ttl.store(600, Ordering::SeqCst);
    upstream.state.soa_minimum.store(2, Ordering::SeqCst);
    let server = TestServer::start(
        &upstream.corefile(
            "neg.cache.test",
            "cache {\n        denial 1024 1800 0\n    }",
        ),
        &[],
    )
    .await;
    let name = "nx-1.neg.cache.test.";
    let first = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(first.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ttl(&first), 2, "min(SOA TTL 600, MINIMUM 2)");
    let second = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(second.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(second.authorities.len(), 1, "with its SOA");
    assert_eq!(upstream.queries(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(upstream.queries(), 2, "expired after the SOA minimum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_success_leaves_denials_cached() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(
        &upstream.corefile(
            "off.cache.test",
            "cache 30 {\n        disable success off.cache.test\n    }",
        ),
        &[],
    )
    .await;
    for _ in 0..2 {
        udp(server.udp(), &query("www.off.cache.test.", RecordType::A)).await;
    }
    assert_eq!(upstream.queries(), 2, "positive answers not cached");
    for _ in 0..2 {
        let answer = udp(server.udp(), &query("nx.off.cache.test.", RecordType::A)).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain);
    }
    assert_eq!(upstream.queries(), 3, "denials still cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_and_cd_queries_get_their_own_entries() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(&upstream.corefile("bits.cache.test", "cache"), &[]).await;
    let name = "www.bits.cache.test.";
    for round in 0..2 {
        for (dnssec_ok, checking_disabled) in [(false, false), (true, false), (false, true)] {
            let answer = udp(
                server.udp(),
                &query_flags(name, dnssec_ok, checking_disabled),
            )
            .await;
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
            assert_eq!(answer.metadata.checking_disabled, checking_disabled);
        }
        assert_eq!(
            upstream.queries(),
            3,
            "round {round}: one entry per DO/CD combination"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stale_answers_while_the_upstream_is_down() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(
        &upstream.corefile(
            "stale.cache.test",
            "cache {\n        success 1024 1 0\n        serve_stale 1h immediate 30s\n    }",
        ),
        &[],
    )
    .await;
    let name = "www.stale.cache.test.";
    let first = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(ttl(&first), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    upstream.set_mode(Mode::Silent);
    let stale = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(stale.metadata.response_code, ResponseCode::NoError);
    assert_eq!(address(&stale), address(&first));
    assert_eq!(ttl(&stale), 30, "the configured stale TTL");
    let asked = upstream.queries();
    assert!(asked >= 2, "the refresh was tried");

    upstream.set_mode(Mode::ServFail);
    let stale = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(
        stale.metadata.response_code,
        ResponseCode::NoError,
        "not the SERVFAIL"
    );
    assert_eq!(address(&stale), address(&first));
    assert!(upstream.queries() > asked);

    upstream.state.generation.store(2, Ordering::SeqCst);
    upstream.set_mode(Mode::Answer);
    let fresh = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(
        address(&fresh),
        Ipv4Addr::new(192, 0, 2, 2),
        "fresh once it is back"
    );
    assert_eq!(ttl(&fresh), 1);

    assert_eq!(
        metric(
            &server,
            "coredns_cache_served_stale_total{server=\"dns://127.0.0.1:0\",zones=\"stale.cache.test.\""
        )
        .await,
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_serve_stale_a_dead_upstream_means_servfail() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(
        &upstream.corefile(
            "nostale.cache.test",
            "cache {\n        success 1024 1 0\n    }",
        ),
        &[],
    )
    .await;
    let name = "www.nostale.cache.test.";
    udp(server.udp(), &query(name, RecordType::A)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upstream.set_mode(Mode::Silent);
    let answer = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_refreshes_a_popular_entry_before_it_expires() {
    let upstream = Upstream::start().await;
    upstream.state.a_ttl.store(4, Ordering::SeqCst);
    let server = TestServer::start(
        &upstream.corefile(
            "pre.cache.test",
            "cache {\n        success 1024 3600 0\n        prefetch 1 1m 50%\n    }",
        ),
        &[],
    )
    .await;
    let name = "www.pre.cache.test.";
    let first = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(address(&first), Ipv4Addr::new(192, 0, 2, 1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    upstream.state.generation.store(2, Ordering::SeqCst);
    // 2 of 4 seconds left, popular: this query refreshes the entry.
    let refreshed = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(upstream.queries(), 2);
    assert_eq!(address(&refreshed), Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(ttl(&refreshed), 4);
    let hit = udp(server.udp(), &query(name, RecordType::A)).await;
    assert_eq!(upstream.queries(), 2);
    assert_eq!(address(&hit), Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(
        metric(
            &server,
            "coredns_cache_prefetch_total{server=\"dns://127.0.0.1:0\",zones=\"pre.cache.test.\""
        )
        .await,
        Some(1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_cache_zones_are_not_cached() {
    let upstream = Upstream::start().await;
    let server = TestServer::start(
        &upstream.corefile("zones.cache.test", "cache sub.zones.cache.test"),
        &[],
    )
    .await;
    for _ in 0..2 {
        udp(server.udp(), &query("www.zones.cache.test.", RecordType::A)).await;
    }
    assert_eq!(upstream.queries(), 2);
    for _ in 0..2 {
        udp(
            server.udp(),
            &query("www.sub.zones.cache.test.", RecordType::A),
        )
        .await;
    }
    assert_eq!(upstream.queries(), 3);
}
