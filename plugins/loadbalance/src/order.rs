//! Round-robin: a uniform shuffle of the address and MX records of one section, and
//! the split of a section by record kind that round robin and `prefer` share.

use clusterdns_api::proto::rr::{Record, RecordType};
use rand::Rng;
use rand::seq::SliceRandom;

/// One section split by what the orderings do with each kind of record.
#[derive(Default)]
pub(crate) struct Parts {
    pub cnames: Vec<Record>,
    pub addresses: Vec<Record>,
    pub mx: Vec<Record>,
    pub rest: Vec<Record>,
}

/// Drains `records` into CNAMEs, A/AAAA, MX and everything else, each in its order.
pub(crate) fn partition_by_type(records: &mut Vec<Record>) -> Parts {
    let mut parts = Parts::default();
    for record in records.drain(..) {
        match record.record_type() {
            RecordType::CNAME => parts.cnames.push(record),
            RecordType::A | RecordType::AAAA => parts.addresses.push(record),
            RecordType::MX => parts.mx.push(record),
            _ => parts.rest.push(record),
        }
    }
    parts
}

/// Shuffles the A/AAAA records and, separately, the MX records of `records`, and lays
/// the section out as CoreDNS does: CNAMEs first, then other types in their original
/// order, then the shuffled addresses, then the shuffled MX records. The wire path's
/// `AnswerOrder::Shuffled` is this shuffle; `clusterdns_api::wire::shuffle_would_reorder`
/// says when it can change anything (the tests hold the two together).
pub(crate) fn round_robin(records: &mut Vec<Record>, rng: &mut impl Rng) {
    if records.len() <= 1 {
        return;
    }
    let mut parts = partition_by_type(records);
    parts.addresses.shuffle(rng);
    parts.mx.shuffle(rng);
    records.extend(parts.cnames);
    records.extend(parts.rest);
    records.extend(parts.addresses);
    records.extend(parts.mx);
}
