//! What is cached: an answer's flags and records, when it was stored and for how long,
//! how popular it is, who refreshes it, and how it is turned back into an answer (and
//! into wire bytes, once, for the wire path). Which answers are stored, and for how
//! long, is `classify.rs`.
//!
//! Times are Tokio's `Instant`, which is the standard one unless Tokio's `test-util` is
//! on: then unit tests can pause the clock and run TTLs down without sleeping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use clusterdns_api::{Ctx, Response};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use parking_lot::Mutex;

use crate::encoded::WireAnswer;
use crate::question::Question;

/// The `plugin` label of answers served from the cache.
pub(crate) const WRITER: &str = "cache";

/// How often an entry is asked for (CoreDNS's `freq`): hits counted while the gaps
/// between them stay under the prefetch window.
#[derive(Clone, Copy, Debug)]
struct Freq {
    last: Instant,
    hits: u32,
}

/// A cached answer.
#[derive(Debug)]
pub(crate) struct Item {
    pub question: Question,
    pub rcode: ResponseCode,
    pub authentic_data: bool,
    pub recursion_available: bool,
    /// The records, their TTLs set to [`Item::ttl`].
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// How long the entry lives, in seconds.
    pub ttl: u32,
    /// When it was stored.
    pub stored: Instant,
    freq: Mutex<Freq>,
    /// Whether a query is refreshing it (prefetch or stale refresh): at most one at a time.
    refreshing: AtomicBool,
    /// After a failed stale refresh, no other before this instant.
    retry_after: Mutex<Option<Instant>>,
    /// The records encoded, made on the first hit on the wire path.
    wire: OnceLock<Option<WireAnswer>>,
}

impl Item {
    /// An entry for `message`, whose records already carry `ttl`.
    pub fn new(question: Question, message: &Message, ttl: u32, now: Instant) -> Self {
        Self {
            question,
            rcode: message.metadata.response_code,
            authentic_data: message.metadata.authentic_data,
            recursion_available: message.metadata.recursion_available,
            answers: message.answers.clone(),
            authorities: message.authorities.clone(),
            // OPT is hop-by-hop; hickory keeps it out of `additionals`, but a plugin
            // could still put one there.
            additionals: message
                .additionals
                .iter()
                .filter(|r| r.record_type() != RecordType::OPT)
                .cloned()
                .collect(),
            ttl,
            stored: now,
            freq: Mutex::new(Freq { last: now, hits: 0 }),
            refreshing: AtomicBool::new(false),
            retry_after: Mutex::new(None),
            wire: OnceLock::new(),
        }
    }

    /// Seconds of life left at `now`: negative once expired (CoreDNS's `item.ttl`, which
    /// counts whole elapsed seconds).
    pub fn remaining(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.stored).as_secs();
        i64::from(self.ttl) - i64::try_from(elapsed).unwrap_or(i64::MAX)
    }

    /// When the entry expires.
    pub fn expires(&self) -> Instant {
        self.stored + Duration::from_secs(u64::from(self.ttl))
    }

    /// Whether a denial entry is a SERVFAIL (or NOTIMP), which a valid positive entry
    /// for the same key outranks.
    pub fn is_server_error(&self) -> bool {
        matches!(self.rcode, ResponseCode::ServFail | ResponseCode::NotImp)
    }

    /// Counts a hit for prefetch and returns the hits so far (CoreDNS's `Freq.Update`).
    pub fn hit(&self, window: Duration, now: Instant) -> u32 {
        let mut freq = self.freq.lock();
        if now.saturating_duration_since(freq.last) > window {
            freq.hits = 1;
        } else {
            freq.hits = freq.hits.saturating_add(1);
        }
        freq.last = now;
        freq.hits
    }

    /// Carries the popularity of the entry a refresh replaced over to this one.
    pub fn inherit_hits(&self, from: &Item) {
        let hits = from.freq.lock().hits;
        self.freq.lock().hits = hits;
    }

    /// Claims the right to refresh this entry: false when another query is refreshing
    /// it, or when a failed refresh asked to wait before the next one. Use
    /// [`RefreshClaim`], which cannot forget to release it.
    fn begin_refresh(&self, now: Instant) -> bool {
        if let Some(after) = *self.retry_after.lock()
            && now < after
        {
            return false;
        }
        self.refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Releases the claim of [`Item::begin_refresh`]; after a failure with a recheck
    /// period, no refresh is tried again before it has passed.
    fn end_refresh(&self, refreshed: bool, recheck: Duration, now: Instant) {
        *self.retry_after.lock() = (!refreshed && !recheck.is_zero()).then(|| now + recheck);
        self.refreshing.store(false, Ordering::Release);
    }

    /// The records encoded for the wire path, made on first use; `None` when they
    /// cannot be encoded.
    pub fn wire(&self) -> Option<&WireAnswer> {
        self.wire
            .get_or_init(|| {
                let qname = &self.question.name;
                let sections = [&self.answers, &self.authorities, &self.additionals]
                    .map(|records| copy_records(records, 0, qname));
                WireAnswer::build(&self.question, &sections)
            })
            .as_ref()
    }

    /// The answer to `ctx` from this entry, every record with TTL `ttl`.
    ///
    /// AA is always set, as CoreDNS does: old glibc `getaddrinfo` discarded answers
    /// without it. AD is kept only for clients that asked for DNSSEC (DO) or set AD
    /// themselves (RFC 6840 §5.7-5.8). Owner names equal to the question are written
    /// as this client spelled the question (the entry may have been stored from a
    /// query with different case).
    pub fn to_response(&self, ctx: &Ctx, ttl: u32) -> Response {
        let mut response = Response::new(ctx, WRITER, self.rcode);
        let metadata = &mut response.message.metadata;
        metadata.authoritative = true;
        metadata.recursion_available = self.recursion_available;
        metadata.authentic_data =
            self.authentic_data && (ctx.dnssec_ok() || ctx.metadata.authentic_data);
        let qname = ctx.qname();
        response.message.answers = copy_records(&self.answers, ttl, qname);
        response.message.authorities = copy_records(&self.authorities, ttl, qname);
        response.message.additionals = copy_records(&self.additionals, ttl, qname);
        response
    }
}

/// The right to refresh one entry, held by one query at a time and released when
/// dropped: also when the query is abandoned half-way, so that an entry is never left
/// claimed for good (which would stop its prefetches and stale refreshes).
pub(crate) struct RefreshClaim {
    item: Arc<Item>,
    recheck: Duration,
    refreshed: bool,
}

impl RefreshClaim {
    /// Claims `item`, unless another query holds it or a failed refresh asked to wait
    /// (`recheck` is that wait for this claim, should it fail).
    pub fn new(item: &Arc<Item>, recheck: Duration, now: Instant) -> Option<Self> {
        item.begin_refresh(now).then(|| Self {
            item: item.clone(),
            recheck,
            refreshed: false,
        })
    }

    /// Records whether the refresh succeeded (it failed unless told otherwise).
    pub fn set_refreshed(&mut self, refreshed: bool) {
        self.refreshed = refreshed;
    }
}

impl Drop for RefreshClaim {
    fn drop(&mut self) {
        self.item
            .end_refresh(self.refreshed, self.recheck, Instant::now());
    }
}

/// `records` with TTL `ttl`, owner names equal to `qname` spelled as `qname`.
pub(crate) fn copy_records(records: &[Record], ttl: u32, qname: &Name) -> Vec<Record> {
    records
        .iter()
        .map(|record| {
            let mut record = record.clone();
            record.ttl = ttl;
            if record.name == *qname && !record.name.eq_case(qname) {
                record.name = qname.clone();
            }
            record
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::classify::tests::{a, message, name};

    /// An entry for `qname` A with `ttl`, for store tests.
    pub(crate) fn item_for(qname: &str, ttl: u32) -> Arc<Item> {
        let question = Question {
            name: name(qname),
            qtype: RecordType::A,
            qclass: hickory_proto::rr::DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        };
        let m = message(ResponseCode::NoError, vec![a(qname, ttl)], vec![]);
        Arc::new(Item::new(question, &m, ttl, Instant::now()))
    }

    #[test]
    fn remaining_counts_down_whole_seconds() {
        let item = item_for("a.example.", 30);
        let stored = item.stored;
        assert_eq!(item.remaining(stored), 30);
        assert_eq!(item.remaining(stored + Duration::from_millis(1999)), 29);
        assert_eq!(item.remaining(stored + Duration::from_secs(30)), 0);
        assert_eq!(item.remaining(stored + Duration::from_secs(45)), -15);
    }

    #[test]
    fn frequency_resets_after_a_gap() {
        let item = item_for("a.example.", 30);
        let t = item.stored;
        let window = Duration::from_secs(10);
        assert_eq!(item.hit(window, t), 1);
        assert_eq!(item.hit(window, t + Duration::from_secs(5)), 2);
        assert_eq!(item.hit(window, t + Duration::from_secs(14)), 3);
        assert_eq!(
            item.hit(window, t + Duration::from_secs(30)),
            1,
            "gap of 16s"
        );
    }

    #[test]
    fn one_refresh_at_a_time_and_recheck_after_failure() {
        let item = item_for("a.example.", 30);
        let t = item.stored;
        assert!(item.begin_refresh(t));
        assert!(!item.begin_refresh(t), "already refreshing");
        item.end_refresh(false, Duration::from_secs(10), t);
        assert!(
            !item.begin_refresh(t + Duration::from_secs(5)),
            "recheck period"
        );
        assert!(item.begin_refresh(t + Duration::from_secs(11)));
        item.end_refresh(false, Duration::ZERO, t);
        assert!(item.begin_refresh(t), "no recheck configured");
    }

    #[test]
    fn a_claim_is_released_when_dropped() {
        let item = item_for("a.example.", 30);
        let t = item.stored;
        let claim = RefreshClaim::new(&item, Duration::from_secs(10), t).unwrap();
        assert!(RefreshClaim::new(&item, Duration::ZERO, t).is_none());
        drop(claim);
        assert!(
            RefreshClaim::new(
                &item,
                Duration::ZERO,
                Instant::now() + Duration::from_secs(11)
            )
            .is_some(),
            "released, with the recheck of a failure"
        );
        let mut claim = RefreshClaim::new(&item, Duration::from_secs(10), Instant::now()).unwrap();
        claim.set_refreshed(true);
        drop(claim);
        assert!(RefreshClaim::new(&item, Duration::ZERO, Instant::now()).is_some());
    }
}
