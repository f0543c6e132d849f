//! The wire path: answering a plain query straight from its bytes, without decoding it
//! into a `Message` or encoding one.
//!
//! Nearly every query a cluster DNS server sees is plain: one question of class IN,
//! perhaps an OPT record without options. Decoding such a query into hickory's types
//! and encoding the answer back costs more than finding the answer. So the server
//! first parses the packet into a [`WireQuery`] (no allocation) and offers it to the
//! block's plugins in chain order through [`Plugin::serve_wire`](crate::Plugin):
//!
//! - [`Wire::Pass`]: the plugin leaves this query alone (as `errors` does for answers
//!   that are no errors); the next plugin is asked;
//! - [`Wire::Answered`]: the plugin wrote the whole answer into the buffer;
//! - [`Wire::Ordinary`]: the query takes the ordinary path through
//!   [`Plugin::serve`](crate::Plugin::serve), as every plugin says unless it
//!   implements this.
//!
//! A wire answer must be exactly what the ordinary path would send; the tests of each
//! plugin that answers here compare the two.
//!
//! The module's parts: [`policy`] (answer sizes, the answer's OPT record, the reply
//! header: shared with the ordinary path's codec), `query` ([`WireQuery`], [`Wire`],
//! [`AnswerOrder`]), `name` ([`WireName`], zone matching) and `writer`
//! ([`AnswerWriter`]).

mod name;
pub mod policy;
mod query;
mod writer;

pub use name::WireName;
pub use policy::{HEADER_LEN, LEGACY_UDP_PAYLOAD, MAX_UDP_PAYLOAD};
pub use query::{AnswerOrder, Wire, WireEdns, WireQuery, shuffle_would_reorder};
pub use writer::{AnswerWriter, Section, pointer, write_name};

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

    fn packet(name: &str, qtype: RecordType, edns: Option<Edns>) -> Vec<u8> {
        let mut message = Message::new(7, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(edns) = edns {
            message.set_edns(edns);
        }
        message.to_vec().unwrap()
    }

    #[test]
    fn parses_a_plain_query_and_lowers_its_name() {
        let bytes = packet("Web.Default.SVC.cluster.local.", RecordType::AAAA, None);
        let query = WireQuery::parse(&bytes, true).unwrap();
        assert_eq!(query.id(), 7);
        assert_eq!(query.qtype(), RecordType::AAAA);
        assert_eq!(query.label_count(), 5);
        assert_eq!(query.label(0), Some(&b"web"[..]));
        assert_eq!(query.label(2), Some(&b"svc"[..]));
        assert_eq!(query.suffix(3), b"\x07cluster\x05local\x00");
        assert_eq!(
            query.raw_suffix(1),
            b"\x07Default\x03SVC\x07cluster\x05local\x00"
        );
        let zone = |name: &str| WireName::new(&Name::from_ascii(name).unwrap());
        assert_eq!(zone("Cluster.LOCAL.").start_in(&query), Some(3));
        assert_eq!(zone(".").start_in(&query), Some(5));
        assert_eq!(zone("local.").start_in(&query), Some(4));
        assert_eq!(zone("org.").start_in(&query), None);
        assert_eq!(zone("a.b.c.d.e.f.").start_in(&query), None);
        assert_eq!(query.label(5), None);
        assert_eq!(
            query.labels_before(2).collect::<Vec<_>>(),
            [&b"web"[..], &b"default"[..]]
        );
        assert_eq!(query.labels_before(99).len(), 5);
        assert_eq!(query.max_size(), 512);
        assert_eq!(query.edns(), None);
    }

    #[test]
    fn reads_the_opt_record_and_bounds_the_size() {
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        edns.set_dnssec_ok(true);
        let bytes = packet("a.example.", RecordType::A, Some(edns));
        let query = WireQuery::parse(&bytes, true).unwrap();
        assert_eq!(
            query.edns(),
            Some(WireEdns {
                payload: 4096,
                dnssec_ok: true
            })
        );
        assert_eq!(query.max_size(), MAX_UDP_PAYLOAD);
        assert_eq!(
            WireQuery::parse(&bytes, false).unwrap().max_size(),
            u16::MAX
        );
    }

    #[test]
    fn leaves_anything_unusual_to_the_ordinary_path() {
        let plain = packet("a.example.", RecordType::A, None);
        assert!(WireQuery::parse(&plain, true).is_some());
        // A response, a truncated packet, trailing bytes, two questions, class CH.
        let mut response = plain.clone();
        response[2] |= 0x80;
        assert!(WireQuery::parse(&response, true).is_none());
        assert!(WireQuery::parse(&plain[..plain.len() - 1], true).is_none());
        let mut trailing = plain.clone();
        trailing.push(0);
        assert!(WireQuery::parse(&trailing, true).is_none());
        let mut two = plain.clone();
        two[5] = 2;
        assert!(WireQuery::parse(&two, true).is_none());
        let mut chaos = plain.clone();
        let at = chaos.len() - 1;
        chaos[at] = 3;
        assert!(WireQuery::parse(&chaos, true).is_none());
        // An OPT record with an option (a cookie) or of version 1.
        let mut edns = Edns::new();
        edns.options_mut()
            .insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
                10,
                vec![1; 8],
            ));
        assert!(WireQuery::parse(&packet("a.example.", RecordType::A, Some(edns)), true).is_none());
        let mut edns = Edns::new();
        edns.set_version(1);
        assert!(WireQuery::parse(&packet("a.example.", RecordType::A, Some(edns)), true).is_none());
        // Every prefix of a query is rejected without a panic.
        for end in 0..plain.len() {
            assert!(WireQuery::parse(&plain[..end], true).is_none());
        }
    }

    #[test]
    fn writes_an_answer_that_decodes() {
        let mut edns = Edns::new();
        edns.set_max_payload(1400);
        let bytes = packet("Web.Example.", RecordType::A, Some(edns));
        let query = WireQuery::parse(&bytes, true).unwrap();
        let mut buf = Vec::new();
        let mut writer = AnswerWriter::new(&query, ResponseCode::NoError, true, &mut buf);
        writer.address(&query.pointer_to(0), 30, "10.0.0.1".parse().unwrap());
        writer.section(Section::Additional);
        let mut target = Vec::new();
        write_name(&mut target, &[b"ns"], &query.pointer_to(1));
        writer.address(&target, 30, "fd00::1".parse().unwrap());
        assert!(writer.finish(&query).is_some());
        let reply = Message::from_vec(&buf).unwrap();
        assert_eq!(reply.metadata.id, 7);
        assert!(reply.metadata.authoritative);
        assert!(reply.metadata.recursion_desired);
        assert_eq!(reply.queries[0].name().to_string(), "Web.Example.");
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].name.to_string(), "Web.Example.");
        assert_eq!(reply.additionals[0].name.to_string(), "ns.Example.");
        assert_eq!(reply.edns.as_ref().unwrap().max_payload(), MAX_UDP_PAYLOAD);
    }
}
