//! Which answers the cache stores, and for how long (RFC 2308, as CoreDNS's cache
//! decides it): an answer's class, whether it may be stored at all, its cache TTL, and
//! whether its CNAME chain reaches the question's type.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::config::{CacheConfig, MIN_TTL};

/// What kind of answer a message is, for caching (CoreDNS's `response.Typify`, with
/// the cache's own refinement of NOERROR answers that do not answer the question).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// NOERROR with records, a referral, or an empty NOERROR without SOA.
    Success,
    /// NXDOMAIN.
    NxDomain,
    /// NOERROR with an SOA in the authority section and no answer to the question.
    NoData,
    /// SERVFAIL or NOTIMP: cached briefly, in the denial store.
    ServerError,
    /// Anything else (REFUSED, FORMERR, NXDOMAIN with answers, ...): never cached.
    Other,
}

impl Class {
    /// Whether the class goes in the denial store.
    pub fn is_denial(self) -> bool {
        matches!(self, Self::NxDomain | Self::NoData | Self::ServerError)
    }
}

/// Classifies `message` as an answer to (`qname`, `qtype`, `qclass`).
pub(crate) fn classify(
    message: &Message,
    qname: &Name,
    qtype: RecordType,
    qclass: DNSClass,
) -> Class {
    let rcode = message.metadata.response_code;
    let soa = has_soa(message);
    if !message.answers.is_empty() {
        return match rcode {
            ResponseCode::NoError
                if soa && !answers_question(&message.answers, qname, qtype, qclass) =>
            {
                Class::NoData
            }
            ResponseCode::NoError => Class::Success,
            _ => Class::Other,
        };
    }
    match rcode {
        ResponseCode::NoError if soa => Class::NoData,
        ResponseCode::NXDomain => Class::NxDomain,
        ResponseCode::ServFail | ResponseCode::NotImp => Class::ServerError,
        // A referral (NS in authority) or an empty answer: positive, as in CoreDNS.
        ResponseCode::NoError => Class::Success,
        _ => Class::Other,
    }
}

/// Whether an answer of `class` may be stored at all (CoreDNS's `key`): never a
/// truncated one, an error other than SERVFAIL/NOTIMP, an NXDOMAIN without SOA (no
/// negative TTL to go by), nor a NOERROR whose CNAME chain does not reach the asked
/// type and that has no SOA (an incomplete answer, RFC 2308 §5).
pub(crate) fn storable(
    message: &Message,
    class: Class,
    qname: &Name,
    qtype: RecordType,
    qclass: DNSClass,
) -> bool {
    if message.metadata.truncation {
        return false;
    }
    match class {
        Class::Other => false,
        Class::NxDomain => has_soa(message),
        Class::Success => {
            message.answers.is_empty()
                || has_soa(message)
                || answers_question(&message.answers, qname, qtype, qclass)
        }
        Class::NoData | Class::ServerError => true,
    }
}

/// How long an answer of `class` is cached, in seconds (before it is stored, every
/// record's TTL is set to it, as CoreDNS does, so the first answer and the cached
/// ones agree).
///
/// Positive answers: the smallest record TTL (OPT aside), clamped to the success
/// store's `[MINTTL, TTL]`. Negative answers: the same over the records and the SOA's
/// MINIMUM field (RFC 2308 §5: the negative TTL is min(SOA TTL, MINIMUM)), clamped to
/// the denial store's bounds. SERVFAIL: the `servfail` duration. An answer without
/// any record gets CoreDNS's fail-safe of 5 seconds before clamping.
pub(crate) fn cache_ttl(message: &Message, class: Class, config: &CacheConfig) -> u32 {
    match class {
        Class::ServerError => config.servfail_ttl,
        Class::NxDomain | Class::NoData => {
            let store = &config.denial;
            let soa_minimum = message
                .authorities
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SOA(soa) => Some(soa.minimum),
                    _ => None,
                })
                .min()
                .unwrap_or(u32::MAX);
            store.clamp(smallest_ttl(message, store.max_ttl).min(soa_minimum))
        }
        Class::Success | Class::Other => {
            let store = &config.success;
            store.clamp(smallest_ttl(message, store.max_ttl))
        }
    }
}

/// CoreDNS's `MinimalTTLWithMaximum`: the smallest TTL of the records (OPT aside),
/// starting from `maximum`; 5 seconds when there is no record at all.
fn smallest_ttl(message: &Message, maximum: u32) -> u32 {
    let mut records = message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
        .filter(|r| r.record_type() != RecordType::OPT)
        .peekable();
    if records.peek().is_none() {
        return MIN_TTL;
    }
    records.map(|r| r.ttl).fold(maximum, u32::min)
}

/// Sets every record's TTL (OPT aside) to `ttl`.
pub(crate) fn set_ttls(message: &mut Message, ttl: u32) {
    for record in message
        .answers
        .iter_mut()
        .chain(&mut message.authorities)
        .chain(&mut message.additionals)
    {
        if record.record_type() != RecordType::OPT {
            record.ttl = ttl;
        }
    }
}

fn has_soa(message: &Message) -> bool {
    message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

fn class_matches(record: &Record, qclass: DNSClass) -> bool {
    qclass == DNSClass::ANY || record.dns_class == qclass
}

/// Whether the answer section answers the question: for types other than CNAME and
/// ANY, the asked type must exist at the end of the CNAME chain that starts at the
/// question name (RFC 1034 §3.6.2). A malformed chain (an owner with two targets, a
/// loop) answers nothing.
pub(crate) fn answers_question(
    answers: &[Record],
    qname: &Name,
    qtype: RecordType,
    qclass: DNSClass,
) -> bool {
    if answers.is_empty() {
        return false;
    }
    match qtype {
        RecordType::ANY => answers
            .iter()
            .any(|r| class_matches(r, qclass) && r.name == *qname),
        RecordType::CNAME => matches!(cname_target(answers, qname, qclass), Ok(Some(_))),
        _ => {
            let Some(terminal) = chain_end(answers, qname, qclass) else {
                return false;
            };
            answers.iter().any(|r| {
                r.record_type() == qtype && class_matches(r, qclass) && r.name == *terminal
            })
        }
    }
}

/// The single CNAME target of `owner`: `Ok(None)` when it has none, `Err` when it has
/// two different ones.
fn cname_target<'a>(
    answers: &'a [Record],
    owner: &Name,
    qclass: DNSClass,
) -> Result<Option<&'a Name>, ()> {
    let mut target: Option<&Name> = None;
    for record in answers {
        let RData::CNAME(cname) = &record.data else {
            continue;
        };
        if !class_matches(record, qclass) || record.name != *owner {
            continue;
        }
        match target {
            Some(existing) if *existing != cname.0 => return Err(()),
            _ => target = Some(&cname.0),
        }
    }
    Ok(target)
}

/// The name the CNAME chain from `qname` ends at; `None` for a loop or a fork.
fn chain_end<'a>(answers: &'a [Record], qname: &'a Name, qclass: DNSClass) -> Option<&'a Name> {
    let mut name = qname;
    let mut visited: Vec<&Name> = Vec::new();
    loop {
        if visited.iter().any(|seen| **seen == *name) {
            return None;
        }
        visited.push(name);
        match cname_target(answers, name, qclass) {
            Err(()) => return None,
            Ok(None) => return Some(name),
            Ok(Some(target)) => name = target,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, CNAME, SOA, TXT};

    use super::*;
    use crate::config::StoreConfig;

    pub(crate) fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    pub(crate) fn a(owner: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::new(10, 0, 0, 1))))
    }

    pub(crate) fn cname(owner: &str, target: &str, ttl: u32) -> Record {
        Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
    }

    pub(crate) fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
        Record::from_rdata(
            name(zone),
            ttl,
            RData::SOA(SOA::new(
                name(&format!("ns.{zone}")),
                name(&format!("hostmaster.{zone}")),
                1,
                7200,
                1800,
                86400,
                minimum,
            )),
        )
    }

    pub(crate) fn message(
        rcode: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    ) -> Message {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        message.metadata.response_code = rcode;
        message.answers = answers;
        message.authorities = authorities;
        message
    }

    fn config() -> CacheConfig {
        CacheConfig {
            zones: vec![Name::root()],
            success: StoreConfig {
                capacity: 9984,
                max_ttl: 3600,
                min_ttl: 5,
            },
            denial: StoreConfig {
                capacity: 9984,
                max_ttl: 1800,
                min_ttl: 5,
            },
            servfail_ttl: 5,
            prefetch: None,
            serve_stale: None,
            disable_success: vec![],
            disable_denial: vec![],
            keepttl: false,
        }
    }

    fn classify_a(m: &Message) -> Class {
        classify(m, &name("www.example.org."), RecordType::A, DNSClass::IN)
    }

    #[test]
    fn classification() {
        let www = "www.example.org.";
        let m = message(ResponseCode::NoError, vec![a(www, 30)], vec![]);
        assert_eq!(classify_a(&m), Class::Success);
        let m = message(
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.org.", 60, 30)],
        );
        assert_eq!(classify_a(&m), Class::NxDomain);
        let m = message(
            ResponseCode::NoError,
            vec![],
            vec![soa("example.org.", 60, 30)],
        );
        assert_eq!(classify_a(&m), Class::NoData);
        let m = message(ResponseCode::ServFail, vec![], vec![]);
        assert_eq!(classify_a(&m), Class::ServerError);
        let m = message(ResponseCode::NotImp, vec![], vec![]);
        assert_eq!(classify_a(&m), Class::ServerError);
        let m = message(ResponseCode::Refused, vec![], vec![]);
        assert_eq!(classify_a(&m), Class::Other);
        let m = message(
            ResponseCode::NXDomain,
            vec![cname(www, "x.example.org.", 5)],
            vec![],
        );
        assert_eq!(classify_a(&m), Class::Other);
        // A CNAME chain that does not reach an A, with an SOA: NODATA.
        let m = message(
            ResponseCode::NoError,
            vec![cname(www, "x.example.org.", 30)],
            vec![soa("example.org.", 60, 30)],
        );
        assert_eq!(classify_a(&m), Class::NoData);
        // Without the SOA it is positive, but not storable.
        let m = message(
            ResponseCode::NoError,
            vec![cname(www, "x.example.org.", 30)],
            vec![],
        );
        assert_eq!(classify_a(&m), Class::Success);
        assert!(!storable(
            &m,
            Class::Success,
            &name(www),
            RecordType::A,
            DNSClass::IN
        ));
        // A complete chain is storable.
        let m = message(
            ResponseCode::NoError,
            vec![cname(www, "x.example.org.", 30), a("x.example.org.", 30)],
            vec![],
        );
        assert!(storable(
            &m,
            Class::Success,
            &name(www),
            RecordType::A,
            DNSClass::IN
        ));
    }

    #[test]
    fn truncated_answers_are_never_storable() {
        for (rcode, answers, authorities) in [
            (
                ResponseCode::NoError,
                vec![a("www.example.org.", 30)],
                vec![],
            ),
            (
                ResponseCode::NXDomain,
                vec![],
                vec![soa("example.org.", 60, 30)],
            ),
            (ResponseCode::ServFail, vec![], vec![]),
        ] {
            let mut m = message(rcode, answers, authorities);
            let class = classify_a(&m);
            assert!(storable(
                &m,
                class,
                &name("www.example.org."),
                RecordType::A,
                DNSClass::IN
            ));
            m.metadata.truncation = true;
            assert!(!storable(
                &m,
                class,
                &name("www.example.org."),
                RecordType::A,
                DNSClass::IN
            ));
        }
    }

    #[test]
    fn nxdomain_without_soa_and_other_errors_are_not_storable() {
        let q = name("www.example.org.");
        let m = message(ResponseCode::NXDomain, vec![], vec![]);
        assert!(!storable(
            &m,
            Class::NxDomain,
            &q,
            RecordType::A,
            DNSClass::IN
        ));
        let m = message(ResponseCode::Refused, vec![], vec![]);
        assert!(!storable(&m, Class::Other, &q, RecordType::A, DNSClass::IN));
    }

    #[test]
    fn chains() {
        let q = name("a.example.");
        let chain = [
            cname("a.example.", "b.example.", 5),
            cname("B.Example.", "c.example.", 5),
            a("c.example.", 5),
        ];
        assert!(answers_question(&chain, &q, RecordType::A, DNSClass::IN));
        assert!(answers_question(
            &chain,
            &q,
            RecordType::CNAME,
            DNSClass::IN
        ));
        assert!(answers_question(&chain, &q, RecordType::ANY, DNSClass::IN));
        assert!(!answers_question(
            &chain,
            &q,
            RecordType::AAAA,
            DNSClass::IN
        ));
        let looped = [
            cname("a.example.", "b.example.", 5),
            cname("b.example.", "a.example.", 5),
        ];
        assert!(!answers_question(&looped, &q, RecordType::A, DNSClass::IN));
        let forked = [
            cname("a.example.", "b.example.", 5),
            cname("a.example.", "c.example.", 5),
            a("b.example.", 5),
        ];
        assert!(!answers_question(&forked, &q, RecordType::A, DNSClass::IN));
        let elsewhere = [a("z.example.", 5)];
        assert!(!answers_question(
            &elsewhere,
            &q,
            RecordType::A,
            DNSClass::IN
        ));
    }

    #[test]
    fn positive_ttl_is_the_smallest_record_ttl_clamped() {
        let c = config();
        let www = "www.example.org.";
        let m = message(
            ResponseCode::NoError,
            vec![a(www, 300), a(www, 120)],
            vec![],
        );
        assert_eq!(cache_ttl(&m, Class::Success, &c), 120);
        let m = message(
            ResponseCode::NoError,
            vec![a(www, 300)],
            vec![soa("example.org.", 60, 10)],
        );
        assert_eq!(cache_ttl(&m, Class::Success, &c), 60, "authority counts");
        let m = message(ResponseCode::NoError, vec![a(www, 2)], vec![]);
        assert_eq!(cache_ttl(&m, Class::Success, &c), 5, "minimum TTL");
        let m = message(ResponseCode::NoError, vec![a(www, 86400)], vec![]);
        assert_eq!(cache_ttl(&m, Class::Success, &c), 3600, "maximum TTL");
        let m = message(ResponseCode::NoError, vec![], vec![]);
        assert_eq!(cache_ttl(&m, Class::Success, &c), 5, "no record: fail-safe");
        let mut capped = config();
        capped.success.max_ttl = 30;
        let m = message(ResponseCode::NoError, vec![a(www, 300)], vec![]);
        assert_eq!(cache_ttl(&m, Class::Success, &capped), 30);
        // Additional records count too, as in CoreDNS (whoami answers there).
        let mut m = message(ResponseCode::NoError, vec![a(www, 300)], vec![]);
        m.additionals.push(Record::from_rdata(
            name(www),
            20,
            RData::TXT(TXT::new(vec!["x".into()])),
        ));
        assert_eq!(cache_ttl(&m, Class::Success, &c), 20);
    }

    #[test]
    fn negative_ttl_is_min_of_soa_ttl_and_minimum_clamped() {
        let c = config();
        let m = message(
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.org.", 600, 30)],
        );
        assert_eq!(cache_ttl(&m, Class::NxDomain, &c), 30, "SOA minimum");
        let m = message(
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.org.", 20, 300)],
        );
        assert_eq!(cache_ttl(&m, Class::NxDomain, &c), 20, "SOA TTL");
        let m = message(
            ResponseCode::NoError,
            vec![],
            vec![soa("example.org.", 7200, 7200)],
        );
        assert_eq!(cache_ttl(&m, Class::NoData, &c), 1800, "denial maximum");
        let m = message(
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.org.", 1, 1)],
        );
        assert_eq!(cache_ttl(&m, Class::NxDomain, &c), 5, "denial minimum");
        let mut capped = config();
        capped.denial.max_ttl = 10;
        let m = message(
            ResponseCode::NXDomain,
            vec![],
            vec![soa("example.org.", 600, 300)],
        );
        assert_eq!(cache_ttl(&m, Class::NxDomain, &capped), 10);
    }

    #[test]
    fn servfail_ttl_is_the_servfail_duration() {
        let mut c = config();
        let m = message(ResponseCode::ServFail, vec![], vec![]);
        assert_eq!(cache_ttl(&m, Class::ServerError, &c), 5);
        c.servfail_ttl = 120;
        assert_eq!(cache_ttl(&m, Class::ServerError, &c), 120);
        c.servfail_ttl = 0;
        assert_eq!(cache_ttl(&m, Class::ServerError, &c), 0);
    }
}
