//! The plugin driven through its `Plugin` interface, in front of a scripted upstream
//! plugin that counts its calls. Time is Tokio's, paused, so TTLs can be run down
//! without sleeping.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use clusterdns_api::proto::op::{Edns, Query, ResponseCode};
use clusterdns_api::proto::rr::rdata::{A, SOA};
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::testing::directive;
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Protocol, Response, SetupCtx};
use parking_lot::Mutex;

use crate::Cache;
use crate::config::CacheConfig;

/// What the scripted upstream answers.
#[derive(Clone, Debug)]
enum Mode {
    /// NOERROR with one A record of this TTL.
    A(u32),
    /// NXDOMAIN with an SOA of this TTL and MINIMUM.
    NxDomain { ttl: u32, minimum: u32 },
    /// NOERROR, no answer, SOA of this TTL and MINIMUM.
    NoData { ttl: u32, minimum: u32 },
    /// NXDOMAIN without SOA.
    NxDomainNoSoa,
    /// SERVFAIL.
    ServFail,
    /// An error from the chain (an upstream that timed out).
    Fail,
    /// A truncated NOERROR with an A record.
    Truncated,
    /// An answer to another question.
    WrongQuestion,
    /// Never answers.
    Hang,
}

struct Upstream {
    calls: AtomicUsize,
    mode: Mutex<Mode>,
    /// Whether the last query it saw had AD set.
    saw_ad: AtomicBool,
    /// Whether its answers set AD.
    answer_ad: AtomicBool,
    /// The address its A records carry; changes show which answer a client got.
    address: Mutex<Ipv4Addr>,
}

impl Upstream {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            mode: Mutex::new(mode),
            saw_ad: AtomicBool::new(false),
            answer_ad: AtomicBool::new(false),
            address: Mutex::new(Ipv4Addr::new(10, 0, 0, 1)),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock() = mode;
    }

    fn answer(&self, ctx: &Ctx, mode: &Mode) -> Result<Response, PluginError> {
        let soa = |ttl: u32, minimum: u32| {
            Record::from_rdata(
                Name::from_ascii("example.org.").unwrap(),
                ttl,
                RData::SOA(SOA::new(
                    Name::from_ascii("ns.example.org.").unwrap(),
                    Name::from_ascii("hostmaster.example.org.").unwrap(),
                    1,
                    7200,
                    1800,
                    86400,
                    minimum,
                )),
            )
        };
        let a = |ttl: u32| {
            Record::from_rdata(ctx.qname().clone(), ttl, RData::A(A(*self.address.lock())))
        };
        let mut response = match mode {
            Mode::A(ttl) => {
                Response::authoritative(ctx, "upstream", ResponseCode::NoError, vec![a(*ttl)])
            }
            Mode::NxDomain { ttl, minimum } => {
                let mut r = Response::new(ctx, "upstream", ResponseCode::NXDomain);
                r.message.authorities.push(soa(*ttl, *minimum));
                r
            }
            Mode::NoData { ttl, minimum } => {
                let mut r = Response::new(ctx, "upstream", ResponseCode::NoError);
                r.message.authorities.push(soa(*ttl, *minimum));
                r
            }
            Mode::NxDomainNoSoa => Response::new(ctx, "upstream", ResponseCode::NXDomain),
            Mode::ServFail => Response::new(ctx, "upstream", ResponseCode::ServFail),
            Mode::Fail => return Err(PluginError::failed("upstream", "i/o timeout")),
            Mode::Truncated => {
                let mut r =
                    Response::authoritative(ctx, "upstream", ResponseCode::NoError, vec![a(60)]);
                r.message.metadata.truncation = true;
                r
            }
            Mode::WrongQuestion => {
                let mut r =
                    Response::authoritative(ctx, "upstream", ResponseCode::NoError, vec![a(60)]);
                r.message.add_query(Query::query(
                    Name::from_ascii("evil.example.org.").unwrap(),
                    RecordType::A,
                ));
                r
            }
            Mode::Hang => unreachable!(),
        };
        response.message.metadata.authentic_data = self.answer_ad.load(Ordering::SeqCst);
        Ok(response)
    }
}

impl Plugin for Upstream {
    fn name(&self) -> &'static str {
        "upstream"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.saw_ad
            .store(ctx.metadata.authentic_data, Ordering::SeqCst);
        let mode = self.mode.lock().clone();
        Box::pin(async move {
            if matches!(mode, Mode::Hang) {
                std::future::pending::<()>().await;
            }
            // Like a real upstream, never answer on the first poll.
            tokio::task::yield_now().await;
            self.answer(ctx, &mode)
        })
    }
}

struct Harness {
    cache: Arc<Cache>,
    chain: Vec<Arc<dyn Plugin>>,
    upstream: Arc<Upstream>,
    server: Arc<str>,
}

fn setup_ctx(zones: &[&str]) -> SetupCtx {
    SetupCtx::new(
        zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect(),
        53,
        std::path::PathBuf::from("/"),
        clusterdns_api::Readiness::new(),
    )
}

/// A cache built from `corefile` in a root block, in front of an upstream in `mode`.
/// `server` is the listener label, unique per test so metrics can be read back.
fn harness(corefile: &str, mode: Mode, server: &str) -> Harness {
    let config = CacheConfig::parse(&directive(corefile), &setup_ctx(&["."])).unwrap();
    let upstream = Upstream::new(mode);
    let chain: Vec<Arc<dyn Plugin>> = vec![upstream.clone()];
    Harness {
        cache: Arc::new(Cache::new(config)),
        chain,
        upstream,
        server: Arc::from(server),
    }
}

#[derive(Clone, Copy, Default)]
struct Flags {
    dnssec_ok: bool,
    checking_disabled: bool,
    authentic_data: bool,
}

impl Harness {
    fn ctx(&self, name: &str, qtype: RecordType, flags: Flags) -> Ctx {
        let mut ctx = Ctx::new(
            Query::query(Name::from_ascii(name).unwrap(), qtype),
            SocketAddr::from(([127, 0, 0, 1], 5353)),
            Protocol::Udp,
        );
        ctx.server = self.server.clone();
        ctx.metadata.checking_disabled = flags.checking_disabled;
        ctx.metadata.authentic_data = flags.authentic_data;
        if flags.dnssec_ok {
            let mut edns = Edns::new();
            edns.set_dnssec_ok(true);
            ctx.edns = Some(edns);
        }
        ctx
    }

    async fn ask_with(
        &self,
        name: &str,
        qtype: RecordType,
        flags: Flags,
    ) -> Result<Response, PluginError> {
        let mut ctx = self.ctx(name, qtype, flags);
        let before = (ctx.metadata, ctx.query.clone());
        let result = self.cache.serve(&mut ctx, Next::new(&self.chain)).await;
        assert_eq!(
            before.0, ctx.metadata,
            "the cache leaves the header as it was"
        );
        assert_eq!(before.1, ctx.query);
        result
    }

    async fn ask(&self, name: &str) -> Response {
        self.ask_with(name, RecordType::A, Flags::default())
            .await
            .unwrap()
    }

    fn metric(&self, family: &str, kind: Option<&str>) -> u64 {
        let text = clusterdns_api::metrics::encode_text();
        let server = &*self.server;
        let wanted = match kind {
            Some(kind) => format!("coredns_cache_{family}{{server=\"{server}\",type=\"{kind}\","),
            None => format!("coredns_cache_{family}{{server=\"{server}\","),
        };
        text.lines()
            .find(|line| line.starts_with(&wanted))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }
}

fn ttl_of(response: &Response) -> u32 {
    response
        .message
        .answers
        .iter()
        .chain(&response.message.authorities)
        .map(|r| r.ttl)
        .next()
        .expect("a record")
}

fn advance(seconds: u64) -> impl Future<Output = ()> {
    tokio::time::advance(Duration::from_secs(seconds))
}

#[tokio::test(start_paused = true)]
async fn hit_after_miss_does_not_ask_upstream() {
    let h = harness("cache", Mode::A(300), "unit-hit");
    let first = h.ask("www.example.org.").await;
    assert_eq!(first.writer, "upstream");
    assert_eq!(h.upstream.calls(), 1);
    let second = h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 1, "answered from the cache");
    assert_eq!(second.writer, "cache");
    assert!(
        second.message.metadata.authoritative,
        "AA is set on cached answers"
    );
    assert_eq!(second.rcode(), ResponseCode::NoError);
    assert_eq!(second.message.answers, first.message.answers);
    assert_eq!(h.metric("requests_total", None), 2);
    assert_eq!(h.metric("misses_total", None), 1);
    assert_eq!(h.metric("hits_total", Some("success")), 1);
    assert_eq!(h.metric("entries", Some("success")), 1);
    assert_eq!(h.cache.entries(), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_hit_completes_on_the_first_poll() {
    let h = harness("cache", Mode::A(300), "unit-poll");
    h.ask("www.example.org.").await;
    let mut ctx = h.ctx("www.example.org.", RecordType::A, Flags::default());
    let mut future = pin!(h.cache.serve(&mut ctx, Next::new(&h.chain)));
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => assert_eq!(response.writer, "cache"),
        Poll::Ready(Err(e)) => panic!("{e}"),
        Poll::Pending => panic!("a hit must not wait"),
    }
}

#[tokio::test(start_paused = true)]
async fn ttls_count_down_and_entries_expire() {
    let h = harness("cache", Mode::A(60), "unit-ttl");
    assert_eq!(ttl_of(&h.ask("www.example.org.").await), 60);
    advance(2).await;
    assert_eq!(ttl_of(&h.ask("www.example.org.").await), 58);
    advance(57).await;
    assert_eq!(ttl_of(&h.ask("www.example.org.").await), 1);
    assert_eq!(h.upstream.calls(), 1);
    advance(1).await;
    let again = h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2, "expired: asked again");
    assert_eq!(ttl_of(&again), 60);
}

#[tokio::test(start_paused = true)]
async fn positional_ttl_caps_and_rewrites_the_first_answer() {
    let h = harness("cache 30", Mode::A(300), "unit-cap");
    let first = h.ask("www.example.org.").await;
    assert_eq!(
        ttl_of(&first),
        30,
        "the first answer agrees with the cached ones"
    );
    advance(30).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn keepttl_serves_the_stored_ttl() {
    let h = harness("cache {\nkeepttl\n}", Mode::A(60), "unit-keepttl");
    h.ask("www.example.org.").await;
    advance(20).await;
    assert_eq!(ttl_of(&h.ask("www.example.org.").await), 60);
    advance(40).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2, "still expires");
}

#[tokio::test(start_paused = true)]
async fn key_folds_case_and_echoes_the_clients_spelling() {
    let h = harness("cache", Mode::A(300), "unit-case");
    h.ask("www.example.org.").await;
    let answer = h.ask("WwW.ExAmPlE.oRg.").await;
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(answer.writer, "cache");
    assert!(
        answer.message.answers[0]
            .name
            .eq_case(&Name::from_ascii("WwW.ExAmPlE.oRg.").unwrap()),
        "{}",
        answer.message.answers[0].name
    );
}

#[tokio::test(start_paused = true)]
async fn do_and_cd_bits_get_their_own_entries() {
    let h = harness("cache", Mode::A(300), "unit-docd");
    let plain = Flags::default();
    let dnssec = Flags {
        dnssec_ok: true,
        ..Flags::default()
    };
    let cd = Flags {
        checking_disabled: true,
        ..Flags::default()
    };
    for (flags, calls) in [
        (plain, 1),
        (dnssec, 2),
        (cd, 3),
        (plain, 3),
        (dnssec, 3),
        (cd, 3),
    ] {
        h.ask_with("www.example.org.", RecordType::A, flags)
            .await
            .unwrap();
        assert_eq!(h.upstream.calls(), calls);
    }
    h.ask_with("www.example.org.", RecordType::AAAA, plain)
        .await
        .unwrap();
    assert_eq!(h.upstream.calls(), 4, "the type is part of the key");
    // The scripted upstream answers AAAA with an A record: that answers nothing, has no
    // SOA, and is not stored.
    assert_eq!(h.cache.entries(), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn ad_is_asked_for_and_only_given_to_clients_that_want_it() {
    let h = harness("cache", Mode::A(300), "unit-ad");
    h.upstream.answer_ad.store(true, Ordering::SeqCst);
    let first = h
        .ask_with("www.example.org.", RecordType::A, Flags::default())
        .await
        .unwrap();
    assert!(
        h.upstream.saw_ad.load(Ordering::SeqCst),
        "refreshes ask with AD"
    );
    assert!(!first.message.metadata.authentic_data);
    let hit = h
        .ask_with("www.example.org.", RecordType::A, Flags::default())
        .await
        .unwrap();
    assert!(!hit.message.metadata.authentic_data);
    let with_ad = h
        .ask_with(
            "www.example.org.",
            RecordType::A,
            Flags {
                authentic_data: true,
                ..Flags::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(h.upstream.calls(), 1);
    assert!(with_ad.message.metadata.authentic_data, "RFC 6840 §5.7");
}

#[tokio::test(start_paused = true)]
async fn nxdomain_is_cached_for_the_soa_minimum() {
    let h = harness(
        "cache",
        Mode::NxDomain {
            ttl: 600,
            minimum: 30,
        },
        "unit-nx",
    );
    let first = h.ask("gone.example.org.").await;
    assert_eq!(first.rcode(), ResponseCode::NXDomain);
    assert_eq!(ttl_of(&first), 30);
    advance(10).await;
    let hit = h.ask("gone.example.org.").await;
    assert_eq!(hit.writer, "cache");
    assert_eq!(hit.rcode(), ResponseCode::NXDomain);
    assert_eq!(ttl_of(&hit), 20);
    assert_eq!(hit.message.authorities.len(), 1, "the SOA is kept");
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(h.metric("hits_total", Some("denial")), 1);
    assert_eq!(h.cache.entries(), (0, 1));
    advance(20).await;
    h.ask("gone.example.org.").await;
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn nodata_is_cached_in_the_denial_store() {
    let h = harness(
        "cache {\ndenial 2048 10\n}",
        Mode::NoData {
            ttl: 300,
            minimum: 300,
        },
        "unit-nodata",
    );
    let first = h.ask("www.example.org.").await;
    assert_eq!(ttl_of(&first), 10, "denial TTL cap");
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(h.cache.entries(), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn uncacheable_answers_are_not_cached() {
    for (mode, label) in [
        (Mode::NxDomainNoSoa, "unit-nosoa"),
        (Mode::Truncated, "unit-tc"),
        (Mode::WrongQuestion, "unit-wrongq"),
    ] {
        let h = harness("cache", mode.clone(), label);
        let first = h.ask("www.example.org.").await;
        assert_eq!(first.writer, "upstream");
        let second = h.ask("www.example.org.").await;
        assert_eq!(second.writer, "upstream", "{mode:?} must not be cached");
        assert_eq!(h.upstream.calls(), 2, "{mode:?}");
        assert_eq!(h.cache.entries(), (0, 0), "{mode:?}");
        if matches!(mode, Mode::Truncated) {
            assert!(second.message.metadata.truncation, "TC passed through");
        }
        if matches!(mode, Mode::WrongQuestion) {
            assert_eq!(h.metric("drops_total", None), 2);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn chain_errors_are_passed_on_and_not_cached() {
    let h = harness("cache", Mode::Fail, "unit-err");
    assert!(
        h.ask_with("www.example.org.", RecordType::A, Flags::default())
            .await
            .is_err()
    );
    assert!(
        h.ask_with("www.example.org.", RecordType::A, Flags::default())
            .await
            .is_err()
    );
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn servfail_is_cached_for_the_servfail_duration() {
    let h = harness("cache", Mode::ServFail, "unit-servfail");
    assert_eq!(
        h.ask("www.example.org.").await.rcode(),
        ResponseCode::ServFail
    );
    advance(4).await;
    let hit = h.ask("www.example.org.").await;
    assert_eq!(hit.rcode(), ResponseCode::ServFail);
    assert_eq!(hit.writer, "cache");
    assert_eq!(h.upstream.calls(), 1, "cached for the default 5s");
    advance(1).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2, "and no longer");

    let h = harness(
        "cache {\nservfail 30s\n}",
        Mode::ServFail,
        "unit-servfail30",
    );
    h.ask("www.example.org.").await;
    advance(29).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 1);
    advance(1).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2);

    let h = harness("cache {\nservfail 0\n}", Mode::ServFail, "unit-servfail0");
    h.ask("www.example.org.").await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2, "servfail 0 disables it");
}

#[tokio::test(start_paused = true)]
async fn disable_skips_storing_for_its_zones_only() {
    let h = harness(
        "cache 30 {\ndisable success cluster.local\ndisable denial cluster.local\n}",
        Mode::A(30),
        "unit-disable",
    );
    h.ask("web.default.svc.cluster.local.").await;
    h.ask("web.default.svc.cluster.local.").await;
    assert_eq!(
        h.upstream.calls(),
        2,
        "cluster.local answers are not cached"
    );
    h.ask("www.example.org.").await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 3, "other zones are");
    h.upstream.set(Mode::NxDomain {
        ttl: 30,
        minimum: 30,
    });
    h.ask("nope.cluster.local.").await;
    h.ask("nope.cluster.local.").await;
    assert_eq!(h.upstream.calls(), 5);
    h.ask("nope.example.org.").await;
    h.ask("nope.example.org.").await;
    assert_eq!(h.upstream.calls(), 6);

    let h = harness(
        "cache {\ndisable success example.org\n}",
        Mode::NxDomain {
            ttl: 30,
            minimum: 30,
        },
        "unit-disable-success",
    );
    h.ask("nope.example.org.").await;
    h.ask("nope.example.org.").await;
    assert_eq!(h.upstream.calls(), 1, "denial still cached");
}

#[tokio::test(start_paused = true)]
async fn names_outside_the_zones_pass_through_uncounted() {
    let config = CacheConfig::parse(&directive("cache example.org"), &setup_ctx(&["."])).unwrap();
    let h = Harness {
        cache: Arc::new(Cache::new(config)),
        ..harness("cache", Mode::A(300), "unit-zones")
    };
    h.ask("www.example.net.").await;
    h.ask("www.example.net.").await;
    assert_eq!(h.upstream.calls(), 2);
    assert_eq!(h.metric("requests_total", None), 0);
    h.ask("www.example.org.").await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 3);
    assert_eq!(h.metric("requests_total", None), 2);
}

#[tokio::test(start_paused = true)]
async fn newest_answer_replaces_the_other_store() {
    let h = harness("cache {\nsuccess 1024 10 0\n}", Mode::A(10), "unit-replace");
    h.ask("www.example.org.").await;
    advance(10).await;
    h.upstream.set(Mode::NxDomain {
        ttl: 60,
        minimum: 60,
    });
    assert_eq!(
        h.ask("www.example.org.").await.rcode(),
        ResponseCode::NXDomain
    );
    assert_eq!(h.cache.entries(), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn serve_stale_answers_expired_entries_while_upstream_is_down() {
    let h = harness(
        "cache {\nsuccess 1024 3600 0\nserve_stale 1h verify\n}",
        Mode::A(10),
        "unit-stale",
    );
    h.ask("www.example.org.").await;
    advance(15).await;
    h.upstream.set(Mode::Fail);
    let stale = h.ask("www.example.org.").await;
    assert_eq!(stale.writer, "cache");
    assert_eq!(stale.rcode(), ResponseCode::NoError);
    assert_eq!(ttl_of(&stale), 0, "CoreDNS's default stale TTL");
    assert_eq!(h.upstream.calls(), 2, "verify asked first");
    h.upstream.set(Mode::ServFail);
    let stale = h.ask("www.example.org.").await;
    assert_eq!(
        stale.rcode(),
        ResponseCode::NoError,
        "SERVFAIL counts as down"
    );
    assert_eq!(h.upstream.calls(), 3);
    assert_eq!(h.metric("served_stale_total", None), 2);
    // Back up: the fresh answer is served and stored.
    *h.upstream.address.lock() = Ipv4Addr::new(10, 0, 0, 2);
    h.upstream.set(Mode::A(10));
    let fresh = h.ask("www.example.org.").await;
    assert_eq!(fresh.writer, "upstream");
    assert_eq!(ttl_of(&fresh), 10);
    let hit = h.ask("www.example.org.").await;
    assert_eq!(hit.writer, "cache");
    assert_eq!(
        hit.message.answers[0].data,
        RData::A(A(Ipv4Addr::new(10, 0, 0, 2)))
    );
    assert_eq!(h.upstream.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn serve_stale_ends_after_its_window() {
    let h = harness(
        "cache {\nsuccess 1024 3600 0\nserve_stale 1m\n}",
        Mode::A(10),
        "unit-stale-window",
    );
    h.ask("www.example.org.").await;
    h.upstream.set(Mode::Fail);
    advance(10 + 59).await;
    assert_eq!(h.ask("www.example.org.").await.writer, "cache");
    advance(1).await;
    assert!(
        h.ask_with("www.example.org.", RecordType::A, Flags::default())
            .await
            .is_err(),
        "beyond the window it is a miss"
    );
    assert_eq!(h.cache.entries(), (0, 0), "and the entry is gone");
}

#[tokio::test(start_paused = true)]
async fn serve_stale_response_ttl_and_failure_recheck() {
    let h = harness(
        "cache {\nsuccess 1024 3600 0\nserve_stale 1h immediate 30s 20s\n}",
        Mode::A(10),
        "unit-stale-recheck",
    );
    h.ask("www.example.org.").await;
    advance(11).await;
    h.upstream.set(Mode::Fail);
    let stale = h.ask("www.example.org.").await;
    assert_eq!(ttl_of(&stale), 30, "RESPONSE_TTL");
    assert_eq!(h.upstream.calls(), 2);
    advance(10).await;
    h.ask("www.example.org.").await;
    assert_eq!(
        h.upstream.calls(),
        2,
        "within the failure recheck: not asked"
    );
    advance(11).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 3, "after it: asked again");
    assert_eq!(h.metric("served_stale_total", None), 3);
    assert_eq!(
        h.metric("prefetch_total", None),
        2,
        "immediate refreshes count"
    );
}

#[tokio::test(start_paused = true)]
async fn serve_stale_verify_timeout_answers_stale_when_upstream_hangs() {
    let h = harness(
        "cache {\nsuccess 1024 3600 0\nserve_stale 1h verify 100ms\n}",
        Mode::A(10),
        "unit-stale-timeout",
    );
    h.ask("www.example.org.").await;
    advance(11).await;
    h.upstream.set(Mode::Hang);
    let started = tokio::time::Instant::now();
    let stale = h.ask("www.example.org.").await;
    assert_eq!(stale.writer, "cache");
    assert_eq!(started.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn serve_stale_immediate_refreshes_one_query_at_a_time() {
    let h = harness(
        "cache {\nsuccess 1024 3600 0\nserve_stale\n}",
        Mode::A(10),
        "unit-stale-once",
    );
    h.ask("www.example.org.").await;
    advance(11).await;
    h.upstream.set(Mode::Hang);
    // One query is stuck refreshing; the others get the stale entry at once.
    let mut ctx = h.ctx("www.example.org.", RecordType::A, Flags::default());
    let mut refreshing = pin!(h.cache.serve(&mut ctx, Next::new(&h.chain)));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(refreshing.as_mut().poll(&mut cx).is_pending());
    for _ in 0..3 {
        assert_eq!(h.ask("www.example.org.").await.writer, "cache");
    }
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn prefetch_refreshes_popular_entries_near_expiry() {
    let h = harness(
        "cache {\nprefetch 2 1m 50%\n}",
        Mode::A(10),
        "unit-prefetch",
    );
    h.ask("www.example.org.").await;
    h.ask("www.example.org.").await; // one hit: not popular yet, and not near expiry
    assert_eq!(h.upstream.calls(), 1);
    advance(6).await;
    *h.upstream.address.lock() = Ipv4Addr::new(10, 0, 0, 9);
    let refreshed = h.ask("www.example.org.").await; // two hits, 4s of 10 left
    assert_eq!(h.upstream.calls(), 2, "prefetched");
    assert_eq!(ttl_of(&refreshed), 10);
    assert_eq!(h.metric("prefetch_total", None), 1);
    advance(1).await;
    let hit = h.ask("www.example.org.").await;
    assert_eq!(hit.writer, "cache");
    assert_eq!(ttl_of(&hit), 9);
    assert_eq!(
        hit.message.answers[0].data,
        RData::A(A(Ipv4Addr::new(10, 0, 0, 9)))
    );
    // The refreshed entry kept its popularity: near expiry it is prefetched again.
    advance(5).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn unpopular_entries_are_not_prefetched() {
    let h = harness(
        "cache {\nprefetch 3 1m 50%\n}",
        Mode::A(10),
        "unit-prefetch-cold",
    );
    h.ask("www.example.org.").await;
    advance(6).await;
    h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_prefetch_serves_the_cached_entry() {
    let h = harness(
        "cache {\nprefetch 1 1m 50%\n}",
        Mode::A(10),
        "unit-prefetch-fail",
    );
    h.ask("www.example.org.").await;
    advance(6).await;
    h.upstream.set(Mode::Fail);
    let answer = h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 2);
    assert_eq!(answer.writer, "cache");
    assert_eq!(ttl_of(&answer), 4);
}

#[tokio::test(start_paused = true)]
async fn capacity_holds_under_100000_distinct_names() {
    let h = harness(
        "cache {\nsuccess 2048\ndenial 1024\n}",
        Mode::A(300),
        "unit-capacity",
    );
    assert_eq!(h.cache.capacities(), (2048, 1024));
    for i in 0..100_000 {
        h.ask(&format!("host-{i}.example.org.")).await;
        let (success, denial) = h.cache.entries();
        assert!(success <= 2048, "{success} entries after {i}");
        assert_eq!(denial, 0);
    }
    assert_eq!(h.cache.entries().0, 2048);
    assert_eq!(h.metric("entries", Some("success")), 2048);
    assert_eq!(h.metric("evictions_total", Some("success")), 100_000 - 2048);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_refresh_does_not_block_the_next_one() {
    let h = harness(
        "cache {\nprefetch 1 1m 50%\n}",
        Mode::A(10),
        "unit-prefetch-abandoned",
    );
    h.ask("www.example.org.").await;
    advance(6).await;
    h.upstream.set(Mode::Hang);
    {
        let mut ctx = h.ctx("www.example.org.", RecordType::A, Flags::default());
        let mut refreshing = pin!(h.cache.serve(&mut ctx, Next::new(&h.chain)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(refreshing.as_mut().poll(&mut cx).is_pending());
        // The server gives up on the query: the future is dropped mid-refresh.
    }
    assert_eq!(h.upstream.calls(), 2);
    h.upstream.set(Mode::A(10));
    let refreshed = h.ask("www.example.org.").await;
    assert_eq!(h.upstream.calls(), 3, "the next query may prefetch again");
    assert_eq!(ttl_of(&refreshed), 10);
}

// The wire path: fresh hits answered from encoded bytes, everything else left to the
// ordinary path without being counted twice.

use clusterdns_api::proto::op::{Message, MessageType, OpCode};
use clusterdns_api::wire::{Wire, WireQuery};

impl Harness {
    /// Asks `name` on the wire path; the decoded answer, or `None` for the ordinary path.
    fn ask_wire(
        &self,
        name: &str,
        qtype: RecordType,
        flags: Flags,
        shuffle: bool,
    ) -> Option<Message> {
        let mut message = Message::new(99, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.metadata.checking_disabled = flags.checking_disabled;
        message.metadata.authentic_data = flags.authentic_data;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if flags.dnssec_ok {
            let mut edns = Edns::new();
            edns.set_dnssec_ok(true);
            message.set_edns(edns);
        }
        let packet = message.to_vec().unwrap();
        let mut query = WireQuery::parse(&packet, true).unwrap();
        query.set_server(&self.server);
        if shuffle {
            query.set_order(clusterdns_api::wire::AnswerOrder::Shuffled);
        }
        let mut buf = Vec::new();
        match self.cache.serve_wire(&mut query, &mut buf) {
            Wire::Answered { rcode, writer } => {
                assert_eq!(writer, "cache");
                let reply = Message::from_vec(&buf).unwrap();
                assert_eq!(reply.metadata.response_code, rcode);
                assert_eq!(reply.metadata.id, 99);
                Some(reply)
            }
            Wire::Ordinary => {
                assert!(buf.is_empty(), "nothing written for the ordinary path");
                None
            }
            Wire::Pass => panic!("the cache never passes"),
        }
    }
}

fn record_texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn wire_hits_are_the_ordinary_hits() {
    let modes = [
        Mode::A(60),
        Mode::NxDomain {
            ttl: 60,
            minimum: 30,
        },
        Mode::NoData {
            ttl: 60,
            minimum: 30,
        },
        Mode::ServFail,
    ];
    let all_flags = [
        Flags::default(),
        Flags {
            dnssec_ok: true,
            ..Flags::default()
        },
        Flags {
            checking_disabled: true,
            authentic_data: true,
            ..Flags::default()
        },
    ];
    for (m, mode) in modes.into_iter().enumerate() {
        let h = harness("cache", mode.clone(), &format!("unit-wire-{m}"));
        h.upstream.answer_ad.store(true, Ordering::SeqCst);
        for flags in all_flags {
            let what = format!(
                "{mode:?} dnssec_ok={} cd={}",
                flags.dnssec_ok, flags.checking_disabled
            );
            let name = "www.example.org.";
            let requests = h.metric("requests_total", None);
            assert!(
                h.ask_wire(name, RecordType::A, flags, false).is_none(),
                "{what}: a miss"
            );
            assert_eq!(
                h.metric("requests_total", None),
                requests,
                "{what}: not counted"
            );
            h.ask_with(name, RecordType::A, flags).await.unwrap();
            advance(2).await;
            let reply = h
                .ask_wire(name, RecordType::A, flags, false)
                .expect("a wire hit");
            let expected = h
                .ask_with(name, RecordType::A, flags)
                .await
                .unwrap()
                .message;
            assert_eq!(
                reply.metadata.response_code, expected.metadata.response_code,
                "{what}"
            );
            assert!(reply.metadata.authoritative, "{what}");
            assert!(reply.metadata.recursion_desired, "{what}");
            assert_eq!(
                reply.metadata.checking_disabled, flags.checking_disabled,
                "{what}"
            );
            assert_eq!(
                reply.metadata.recursion_available, expected.metadata.recursion_available,
                "{what}"
            );
            assert_eq!(
                reply.metadata.authentic_data, expected.metadata.authentic_data,
                "{what}"
            );
            assert_eq!(
                record_texts(&reply.answers),
                record_texts(&expected.answers),
                "{what}"
            );
            assert_eq!(
                record_texts(&reply.authorities),
                record_texts(&expected.authorities),
                "{what}"
            );
            assert_eq!(reply.edns.is_some(), flags.dnssec_ok, "{what}");
            assert_eq!(
                h.metric("requests_total", None),
                requests + 3,
                "{what}: the wire hit is counted once"
            );
        }
        assert_eq!(
            h.upstream.calls(),
            all_flags.len(),
            "every hit came from the cache"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn ttls_count_down_on_the_wire_path() {
    let h = harness("cache", Mode::A(60), "unit-wire-ttl");
    h.ask("www.example.org.").await;
    advance(7).await;
    let reply = h
        .ask_wire("www.example.org.", RecordType::A, Flags::default(), false)
        .unwrap();
    assert_eq!(reply.answers[0].ttl, 53);
    advance(60).await;
    assert!(
        h.ask_wire("www.example.org.", RecordType::A, Flags::default(), false)
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn other_spellings_prefetch_and_reordering_take_the_ordinary_path() {
    let h = harness("cache", Mode::A(60), "unit-wire-case");
    h.ask("www.example.org.").await;
    assert!(
        h.ask_wire("WWW.example.org.", RecordType::A, Flags::default(), false)
            .is_none()
    );
    assert!(
        h.ask_wire(
            "www.example.org.",
            RecordType::AAAA,
            Flags::default(),
            false
        )
        .is_none()
    );
    // One address: nothing to reorder.
    assert!(
        h.ask_wire("www.example.org.", RecordType::A, Flags::default(), true)
            .is_some()
    );

    let h = harness("cache {\nprefetch 1\n}", Mode::A(60), "unit-wire-prefetch");
    h.ask("www.example.org.").await;
    assert!(
        h.ask_wire("www.example.org.", RecordType::A, Flags::default(), false)
            .is_none()
    );

    let h = harness("cache 30 example.com", Mode::A(60), "unit-wire-zones");
    h.ask("www.example.org.").await;
    assert!(
        h.ask_wire("www.example.org.", RecordType::A, Flags::default(), false)
            .is_none()
    );
}
