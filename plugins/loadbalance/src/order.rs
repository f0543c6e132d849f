//! Round-robin: a uniform shuffle of the address and MX records of one section.

use clusterdns_api::proto::rr::{Record, RecordType};
use rand::Rng;
use rand::seq::SliceRandom;

/// Shuffles the A/AAAA records and, separately, the MX records of `records`, and lays
/// the section out as CoreDNS does: CNAMEs first, then other types in their original
/// order, then the shuffled addresses, then the shuffled MX records.
pub(crate) fn round_robin(records: &mut Vec<Record>, rng: &mut impl Rng) {
    if records.len() <= 1 {
        return;
    }
    let mut cnames = Vec::new();
    let mut rest = Vec::new();
    let mut addresses = Vec::new();
    let mut mx = Vec::new();
    for record in records.drain(..) {
        match record.record_type() {
            RecordType::CNAME => cnames.push(record),
            RecordType::A | RecordType::AAAA => addresses.push(record),
            RecordType::MX => mx.push(record),
            _ => rest.push(record),
        }
    }
    addresses.shuffle(rng);
    mx.shuffle(rng);
    records.extend(cnames);
    records.extend(rest);
    records.extend(addresses);
    records.extend(mx);
}
