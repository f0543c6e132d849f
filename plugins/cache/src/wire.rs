//! Cache hits on the wire path (see `clusterdns_api::wire`): an entry keeps its
//! answer encoded once, and a hit copies those bytes behind the client's header and
//! question, with the TTLs counted down in place.
//!
//! The encoded sections are compressed against the question the entry was stored
//! for, so they are used only when the client spelled the question byte for byte the
//! same (the usual case: resolvers ask in lower case); another spelling takes the
//! ordinary path, which writes owner names in the client's case. Prefetch, stale
//! entries, misses, and answers that need reordering (`loadbalance` with several
//! address records) or truncation take the ordinary path too.

use std::sync::Arc;

use clusterdns_api::wire::{AnswerWriter, Wire, WireQuery};
use hickory_proto::op::Query;
use hickory_proto::rr::{DNSClass, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use tokio::time::Instant;

use crate::item::{Item, WRITER, copy_records};
use crate::plugin::Cache;

/// An entry's answer sections, encoded.
#[derive(Debug)]
pub(crate) struct WireAnswer {
    /// The question they were encoded behind: name as stored, type, class.
    question: Vec<u8>,
    /// Answer, authority and additional records, compressed against `question` at
    /// offset 12.
    sections: Vec<u8>,
    counts: [u16; 3],
    /// Where each record's TTL is, relative to the start of `sections`.
    ttls: Vec<u16>,
    /// Whether `loadbalance` would reorder it (more than one address or MX record in
    /// a section).
    reorderable: bool,
}

impl WireAnswer {
    /// Encodes `item`'s records as `Item::to_response` gives them; `None` if they
    /// cannot be encoded or are too large to be worth it.
    pub fn build(item: &Item) -> Option<Self> {
        let qname = &item.question.name;
        let sections = [&item.answers, &item.authorities, &item.additionals]
            .map(|records| copy_records(records, 0, qname));
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.emit_vec(&[0; 12]).ok()?;
        let mut query = Query::query(qname.clone(), item.question.qtype);
        query.set_query_class(item.question.qclass);
        query.emit(&mut encoder).ok()?;
        let question_end = encoder.offset();
        let mut counts = [0u16; 3];
        for (count, records) in counts.iter_mut().zip(&sections) {
            *count = u16::try_from(records.len()).ok()?;
            for record in records {
                record.emit(&mut encoder).ok()?;
            }
        }
        drop(encoder);
        let question = bytes.get(12..question_end)?.to_vec();
        let sections_bytes = bytes.get(question_end..)?.to_vec();
        let total = usize::from(counts[0]) + usize::from(counts[1]) + usize::from(counts[2]);
        let ttls = ttl_offsets(&sections_bytes, total)?;
        let reorderable = sections.iter().any(|records| reorderable(records));
        Some(Self {
            question,
            sections: sections_bytes,
            counts,
            ttls,
            reorderable,
        })
    }
}

/// Whether `loadbalance` would change the order of `records`.
fn reorderable(records: &[Record]) -> bool {
    let count = |types: &[RecordType]| {
        records
            .iter()
            .filter(|r| types.contains(&r.record_type()))
            .count()
    };
    count(&[RecordType::A, RecordType::AAAA]) > 1 || count(&[RecordType::MX]) > 1
}

/// The offsets of the TTL fields of `count` records encoded back to back in `bytes`.
fn ttl_offsets(bytes: &[u8], count: usize) -> Option<Vec<u16>> {
    let mut offsets = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        // The owner name: labels, ending with the root or a pointer.
        loop {
            let len = *bytes.get(at)?;
            if len == 0 {
                at += 1;
                break;
            }
            if len & 0xc0 == 0xc0 {
                at += 2;
                break;
            }
            at += 1 + usize::from(len);
        }
        // Type and class, then the TTL, then RDLENGTH and RDATA.
        offsets.push(u16::try_from(at + 4).ok()?);
        let length = bytes.get(at + 8..at + 10)?;
        at += 10 + usize::from(u16::from_be_bytes([length[0], length[1]]));
    }
    (at == bytes.len()).then_some(offsets)
}

impl Cache {
    /// A fresh hit answered from its encoded sections; see the module docs.
    pub(crate) fn wire_hit(&self, query: &WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        if self.config.prefetch.is_some() || !self.in_zones_wire(query) {
            return Wire::Slow;
        }
        let Some(server) = query.server() else {
            return Wire::Slow;
        };
        let now = Instant::now();
        let key = self.keys.key_wire(
            query.suffix(0),
            query.qtype(),
            DNSClass::IN,
            query.dnssec_ok(),
            query.checking_disabled(),
        );
        let Some((item, store)) = self.fresh(key, query, now) else {
            return Wire::Slow;
        };
        let Some(encoded) = item.wire.get_or_init(|| WireAnswer::build(&item)) else {
            return Wire::Slow;
        };
        if encoded.question != query.question() || (query.shuffle && encoded.reorderable) {
            return Wire::Slow;
        }
        let ttl = if self.config.keepttl {
            item.ttl
        } else {
            u32::try_from(item.remaining(now).max(0)).unwrap_or(0)
        };
        let mut writer = AnswerWriter::new(query, item.rcode, true, buf);
        writer.set_flags(
            item.recursion_available,
            item.authentic_data && (query.dnssec_ok() || query.authentic_data()),
        );
        let start = writer.append_sections(&encoded.sections, encoded.counts);
        for offset in &encoded.ttls {
            writer.patch_u32(start + usize::from(*offset), ttl);
        }
        if writer.finish(query).is_none() {
            return Wire::Slow;
        }
        let metrics = self.metrics.server(server);
        metrics.requests.inc();
        metrics.hits[store].inc();
        Wire::Answered {
            rcode: item.rcode,
            writer: WRITER,
        }
    }

    /// The live entry for `query` and its store (0 success, 1 denial), looked up as
    /// `Cache::lookup` does; `None` whenever that would find anything but a live entry
    /// for exactly this question (a stale one, a collision, nothing), which the
    /// ordinary path then handles and counts.
    fn fresh(
        &self,
        key: crate::store::Key,
        query: &WireQuery<'_>,
        now: Instant,
    ) -> Option<(Arc<Item>, usize)> {
        let asks = |item: &Item| {
            let question = &item.question;
            question.qtype == query.qtype()
                && question.qclass == DNSClass::IN
                && question.dnssec_ok == query.dnssec_ok()
                && question.checking_disabled == query.checking_disabled()
        };
        if let Some(item) = self.denial.get(key)
            && asks(&item)
        {
            if item.remaining(now) <= 0 {
                return None;
            }
            if item.is_server_error()
                && let Some(positive) = self.success.get(key)
                && asks(&positive)
            {
                return (positive.remaining(now) > 0).then_some((positive, 0));
            }
            return Some((item, 1));
        }
        let item = self.success.get(key)?;
        (asks(&item) && item.remaining(now) > 0).then_some((item, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_addresses_or_mx_records_are_reorderable() {
        use hickory_proto::rr::rdata::{A, CNAME, MX};
        use hickory_proto::rr::{Name, RData};
        let name = Name::from_ascii("a.example.").unwrap();
        let a = |last| Record::from_rdata(name.clone(), 5, RData::A(A::new(10, 0, 0, last)));
        let mx = || Record::from_rdata(name.clone(), 5, RData::MX(MX::new(1, name.clone())));
        let cname = Record::from_rdata(name.clone(), 5, RData::CNAME(CNAME(name.clone())));
        assert!(!reorderable(&[a(1)]));
        assert!(!reorderable(&[cname.clone(), a(1), mx()]));
        assert!(reorderable(&[cname, a(1), a(2)]));
        assert!(reorderable(&[mx(), mx()]));
    }

    #[test]
    fn ttl_offsets_walk_names_and_pointers() {
        // owner pointer, A; owner literal "a" + root, TXT with 2 bytes of data.
        let bytes = [
            0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1, //
            1, b'a', 0, 0, 16, 0, 1, 0, 0, 0, 5, 0, 2, 1, b'x',
        ];
        assert_eq!(ttl_offsets(&bytes, 2), Some(vec![6, 23]));
        assert_eq!(ttl_offsets(&bytes, 1), None);
        assert_eq!(ttl_offsets(&bytes[..20], 2), None);
    }
}
