//! An entry's answer encoded once, for the wire path: the sections' bytes behind the
//! question they were stored for, and where each TTL is, so a hit copies them and
//! patches the TTLs in place.

use clusterdns_api::wire::shuffle_would_reorder;
use hickory_proto::op::Query;
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::question::Question;

/// An entry's answer sections, encoded.
#[derive(Debug)]
pub(crate) struct WireAnswer {
    /// The question they were encoded behind: name as stored, type, class.
    pub question: Vec<u8>,
    /// Answer, authority and additional records, compressed against `question` at
    /// offset 12.
    pub sections: Vec<u8>,
    pub counts: [u16; 3],
    /// Where each record's TTL is, relative to the start of `sections`.
    pub ttls: Vec<u16>,
    /// Whether a shuffle would reorder it (`shuffle_would_reorder` of a section): such
    /// an answer is not replayed as stored when the query asks for shuffled records.
    pub reorderable: bool,
}

impl WireAnswer {
    /// Encodes the answer, authority and additional `sections` of an entry for
    /// `question` behind that question; `None` if they cannot be encoded.
    pub fn build(question: &Question, sections: &[Vec<Record>; 3]) -> Option<Self> {
        let qname = &question.name;
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.emit_vec(&[0; 12]).ok()?;
        let mut query = Query::query(qname.clone(), question.qtype);
        query.set_query_class(question.qclass);
        query.emit(&mut encoder).ok()?;
        let question_end = encoder.offset();
        let mut counts = [0u16; 3];
        for (count, records) in counts.iter_mut().zip(sections) {
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
        let reorderable = sections
            .iter()
            .any(|records| shuffle_would_reorder(records));
        Some(Self {
            question,
            sections: sections_bytes,
            counts,
            ttls,
            reorderable,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
