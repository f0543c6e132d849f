//! Cache hits on the wire path (see `clusterdns_api::wire`): an entry keeps its
//! answer encoded once, and a hit copies those bytes behind the client's header and
//! question, with the TTLs counted down in place.
//!
//! The encoded sections are compressed against the question the entry was stored
//! for, so they are used only when the client spelled the question byte for byte the
//! same (the usual case: resolvers ask in lower case); another spelling takes the
//! ordinary path, which writes owner names in the client's case. What the lookup finds
//! is decided by the one rule of `lookup.rs`; only its fresh hits are answered here.
//! Prefetch, stale entries, misses, and answers that need reordering (`loadbalance`
//! with several address records) or truncation take the ordinary path.

use clusterdns_api::wire::{AnswerOrder, AnswerWriter, Wire, WireQuery};
use hickory_proto::rr::DNSClass;
use tokio::time::Instant;

use crate::item::WRITER;
use crate::lookup::Lookup;
use crate::plugin::Cache;

impl Cache {
    /// A fresh hit answered from its encoded sections; see the module docs.
    pub(crate) fn wire_hit(&self, query: &WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        if self.config.prefetch.is_some() || !self.in_zones_wire(query) {
            return Wire::Ordinary;
        }
        let Some(server) = query.server() else {
            return Wire::Ordinary;
        };
        let now = Instant::now();
        let key = self.keys.key_wire(
            query.suffix(0),
            query.qtype(),
            DNSClass::IN,
            query.dnssec_ok(),
            query.checking_disabled(),
        );
        // The name is compared below, byte for byte, with the question it was encoded
        // behind (the key is a hash of it).
        let asks = |question: &crate::question::Question| {
            question.qtype == query.qtype()
                && question.qclass == DNSClass::IN
                && question.dnssec_ok == query.dnssec_ok()
                && question.checking_disabled == query.checking_disabled()
        };
        let Lookup::Fresh(item, store) = self.stores.find(key, asks, self.stale_window(), now)
        else {
            return Wire::Ordinary;
        };
        let Some(encoded) = item.wire() else {
            return Wire::Ordinary;
        };
        if encoded.question != query.question()
            || (query.order() == AnswerOrder::Shuffled && encoded.reorderable)
        {
            return Wire::Ordinary;
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
            return Wire::Ordinary;
        }
        let metrics = self.metrics.server(server);
        metrics.requests.inc();
        metrics.hits.get(store).inc();
        Wire::Answered {
            rcode: item.rcode,
            writer: WRITER,
        }
    }
}
