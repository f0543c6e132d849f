//! Whether an answer is translated, and the translated answer (CoreDNS
//! `responseShouldDNS64` and `Synthesize`).

use std::net::{Ipv4Addr, Ipv6Addr};

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::AAAA;
use clusterdns_api::proto::rr::{RData, RecordType};
use clusterdns_api::{Ctx, Response};

use crate::config::Prefix;

/// The TTL limit when the AAAA answer carries no SOA (RFC 6147 5.1.7).
const DEFAULT_SOA_TTL: u32 = 600;

/// Whether the answer to the AAAA query is to be translated: not a name error (an
/// NXDOMAIN without answers), and without AAAA records unless `translate_all`. Every
/// other error (SERVFAIL, REFUSED...) counts as an empty answer (RFC 6147 5.1.2).
pub(crate) fn wanted(answer: &Response, translate_all: bool) -> bool {
    let message = &answer.message;
    if message.metadata.response_code == ResponseCode::NXDomain && message.answers.is_empty() {
        return false;
    }
    translate_all
        || !message
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::AAAA)
}

/// The answer to `ctx`'s AAAA query made of `a_answer` (the A answer for the same name):
/// NOERROR, its truncation, authority and additional sections, its A records turned
/// into AAAA records with the TTL limited by the SOA TTL of `original` (the AAAA
/// answer; 600 without one), and its other records (CNAMEs) unchanged.
pub(crate) fn answer(
    ctx: &Ctx,
    prefix: &Prefix,
    original: &Response,
    a_answer: Response,
) -> Response {
    let soa_ttl = original
        .message
        .authorities
        .iter()
        .rfind(|r| r.record_type() == RecordType::SOA)
        .map_or(DEFAULT_SOA_TTL, |r| r.ttl);
    let mut response = Response::new(ctx, crate::NAME, ResponseCode::NoError);
    let a_message = a_answer.message;
    response.message.metadata.truncation = a_message.metadata.truncation;
    response.message.authorities = a_message.authorities;
    response.message.additionals = a_message.additionals;
    response.message.answers = a_message
        .answers
        .into_iter()
        .map(|mut record| {
            if let RData::A(a) = &record.data {
                let v6 = embed(prefix, a.0);
                record.data = RData::AAAA(AAAA(v6));
                record.ttl = record.ttl.min(soa_ttl);
            }
            record
        })
        .collect();
    response
}

/// `v4` embedded in `prefix` as RFC 6052 section 2.2 lays it out: the address bytes
/// fill the prefix's remainder, skipping byte 8 (bits 64 to 71 are zero).
pub fn embed(prefix: &Prefix, v4: Ipv4Addr) -> Ipv6Addr {
    let mut out = prefix.network.octets();
    let v4 = v4.octets();
    let mut at = usize::from(prefix.len / 8);
    for byte in v4 {
        if at == 8 {
            out[at] = 0;
            at += 1;
        }
        if let Some(slot) = out.get_mut(at) {
            *slot = byte;
        }
        at += 1;
    }
    Ipv6Addr::from(out)
}
