//! What every reply must be, whatever the query was (README.md, "Protocol behaviour").

use clusterdns_api::Protocol;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// The UDP answer size without EDNS.
const PLAIN_UDP: usize = 512;
/// The largest UDP answer the server sends, whatever the client offers.
const MAX_UDP: usize = 1232;
/// The largest DNS message a TCP frame carries.
const MAX_TCP: usize = 65_535;
/// How far from [`MAX_TCP`] a truncated TCP reply may end: the room the record that
/// did not fit needed, at most.
const FULL_TCP_SLACK: usize = 1_024;

/// Checks `reply`, the server's answer over `protocol` to the message `query`:
///
/// - queries that are responses (QR set) get no reply;
/// - the header echoes the query's ID and opcode, with QR set;
/// - over UDP the size is at most 512 bytes, or `min(client's EDNS size, 1232)` when
///   the query has an OPT record (never less than 512); over TCP the answer is whole
///   (TC clear) and fits a frame, or TC is set on a frame filled to within 1 kB;
/// - the reply parses as a DNS message;
/// - an answer (NOERROR or NXDOMAIN) repeats the question exactly, case included.
pub fn check_reply(query: &[u8], reply: &[u8], protocol: Protocol) -> Result<(), String> {
    if query.len() >= 3 && query[2] & 0x80 != 0 {
        return Err("a response (QR set) was answered".into());
    }
    if reply.len() < 12 {
        return Err(format!("a reply of {} bytes", reply.len()));
    }
    if reply[..2] != query[..2] {
        return Err("the reply's ID is not the query's".into());
    }
    if reply[2] & 0x80 == 0 {
        return Err("QR is not set".into());
    }
    if (reply[2] >> 3) & 0x0f != (query[2] >> 3) & 0x0f {
        return Err("the reply's opcode is not the query's".into());
    }
    let parsed_query = Message::from_vec(query).ok();
    let limit = match protocol {
        Protocol::Udp => parsed_query
            .as_ref()
            .and_then(|q| q.edns.as_ref())
            .map_or(PLAIN_UDP, |edns| {
                usize::from(edns.max_payload()).clamp(PLAIN_UDP, MAX_UDP)
            }),
        Protocol::Tcp => MAX_TCP,
    };
    if reply.len() > limit {
        return Err(format!(
            "a {} reply of {} bytes where {limit} are allowed",
            protocol.as_str(),
            reply.len()
        ));
    }
    // Over TCP the answer is whole unless it did not fit a frame (a SRV answer for a
    // service with 10,000 ports): then TC says so, and the frame is full.
    if protocol == Protocol::Tcp && reply[2] & 0x02 != 0 && reply.len() < MAX_TCP - FULL_TCP_SLACK {
        return Err(format!("a TCP reply of {} bytes with TC set", reply.len()));
    }
    let parsed = strict_parse(reply)?;
    let answered = matches!(
        parsed.metadata.response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    );
    if let Some(query) = parsed_query
        && answered
        && query.queries.len() == 1
    {
        let asked = &query.queries[0];
        let echoed = parsed.queries.first();
        let same = echoed.is_some_and(|echoed| {
            echoed.name().to_ascii() == asked.name().to_ascii()
                && echoed.query_type() == asked.query_type()
                && echoed.query_class() == asked.query_class()
        });
        if !same {
            return Err(format!(
                "the question was {asked}, the reply repeats {echoed:?}"
            ));
        }
    }
    Ok(())
}

/// Parses `reply` strictly: a DNS message that ends exactly where its last record does
/// (a truncated answer must not carry the start of one more record).
pub fn strict_parse(reply: &[u8]) -> Result<Message, String> {
    let mut decoder = BinDecoder::new(reply);
    let parsed =
        Message::read(&mut decoder).map_err(|e| format!("the reply does not parse: {e}"))?;
    if !decoder.is_empty() {
        return Err(format!(
            "{} bytes after the last record of a {}-byte reply",
            decoder.len(),
            reply.len()
        ));
    }
    Ok(parsed)
}

/// Whether two replies say the same: the same header (ID, flags, section counts), and
/// the same records in the same order, names compared with their case, OPT included.
/// Name compression may differ (a name can point at any earlier copy of itself).
pub fn same_reply(a: &[u8], b: &[u8]) -> Result<(), String> {
    if a == b {
        return Ok(());
    }
    if a.len() < 12 || b.len() < 12 || a[..12] != b[..12] {
        return Err("the headers differ".into());
    }
    let describe = |bytes: &[u8]| -> Result<Vec<String>, String> {
        let message =
            Message::from_vec(bytes).map_err(|e| format!("a reply does not parse: {e}"))?;
        let mut lines: Vec<String> = message
            .queries
            .iter()
            .map(|q| {
                format!(
                    "question {} {} {}",
                    q.name().to_ascii(),
                    q.query_class(),
                    q.query_type()
                )
            })
            .collect();
        for (section, records) in [
            ("answer", &message.answers),
            ("authority", &message.authorities),
            ("additional", &message.additionals),
        ] {
            lines.extend(records.iter().map(|r| format!("{section} {r}")));
        }
        lines.push(format!("edns {:?}", message.edns));
        Ok(lines)
    };
    let (a, b) = (describe(a)?, describe(b)?);
    if a == b {
        Ok(())
    } else {
        Err(format!(
            "the records differ:\n  {}\nand\n  {}",
            a.join("\n  "),
            b.join("\n  ")
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::seeds::query;
    use hickory_proto::op::{MessageType, OpCode};
    use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};

    fn reply_to(query_bytes: &[u8], owner: &str, address: [u8; 4]) -> Vec<u8> {
        let query = Message::from_vec(query_bytes).unwrap();
        let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        reply.add_query(query.queries[0].clone());
        reply.add_answer(Record::from_rdata(
            Name::from_ascii(owner).unwrap(),
            30,
            RData::A(rdata::A::from(std::net::Ipv4Addr::from(address))),
        ));
        reply.to_vec().unwrap()
    }

    /// A well-formed reply to `query_bytes` with `records` A records.
    fn reply_with(query_bytes: &[u8], records: usize) -> Vec<u8> {
        let query = Message::from_vec(query_bytes).unwrap();
        let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        reply.add_query(query.queries[0].clone());
        for i in 0..records {
            reply.add_answer(Record::from_rdata(
                query.queries[0].name().clone(),
                30,
                RData::A(rdata::A::from(std::net::Ipv4Addr::from(i as u32))),
            ));
        }
        reply.to_vec().unwrap()
    }

    /// The largest reply with A records of at most `size` bytes, and the smallest above.
    fn replies_around(query_bytes: &[u8], size: usize) -> (Vec<u8>, Vec<u8>) {
        let mut n = 1;
        while reply_with(query_bytes, n + 1).len() <= size {
            n += 1;
        }
        (reply_with(query_bytes, n), reply_with(query_bytes, n + 1))
    }

    #[test]
    fn a_proper_reply_passes() {
        let query = query("web.shop.svc.cluster.local.", RecordType::A, None, 7);
        let reply = reply_to(&query, "web.shop.svc.cluster.local.", [10, 96, 12, 5]);
        assert_eq!(check_reply(&query, &reply, Protocol::Udp), Ok(()));
    }

    #[test]
    fn broken_replies_are_caught() {
        let query = query("web.shop.svc.cluster.local.", RecordType::A, None, 7);
        let reply = reply_to(&query, "web.shop.svc.cluster.local.", [10, 96, 12, 5]);
        let mut other_id = reply.clone();
        other_id[1] ^= 1;
        assert!(
            check_reply(&query, &other_id, Protocol::Udp)
                .unwrap_err()
                .contains("ID")
        );
        let mut no_qr = reply.clone();
        no_qr[2] &= 0x7f;
        assert!(
            check_reply(&query, &no_qr, Protocol::Udp)
                .unwrap_err()
                .contains("QR")
        );
        let mut too_long = reply.clone();
        too_long.resize(513, 0);
        assert!(
            check_reply(&query, &too_long, Protocol::Udp)
                .unwrap_err()
                .contains("513")
        );
        let mut cut = reply.clone();
        cut.truncate(reply.len() - 2);
        assert!(
            check_reply(&query, &cut, Protocol::Udp)
                .unwrap_err()
                .contains("parse")
        );
        // The start of one more record after the last whole one (what a truncated
        // answer once carried).
        let mut trailing = reply.clone();
        trailing.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0]);
        assert!(
            check_reply(&query, &trailing, Protocol::Udp)
                .unwrap_err()
                .contains("after the last record")
        );
        let mut response = query.clone();
        response[2] |= 0x80;
        assert!(check_reply(&response, &reply, Protocol::Udp).is_err());
        let other_case = self::query("WEB.shop.svc.cluster.local.", RecordType::A, None, 7);
        assert!(
            check_reply(&other_case, &reply, Protocol::Udp)
                .unwrap_err()
                .contains("question")
        );
    }

    #[test]
    fn edns_allows_larger_udp_replies_up_to_1232() {
        let mut edns = hickory_proto::op::Edns::new();
        edns.set_max_payload(4096);
        let query = query("web.shop.svc.cluster.local.", RecordType::A, Some(edns), 7);
        let (fits, too_large) = replies_around(&query, 1232);
        assert_eq!(check_reply(&query, &fits, Protocol::Udp), Ok(()));
        assert!(
            check_reply(&query, &too_large, Protocol::Udp)
                .unwrap_err()
                .contains("1232")
        );
    }

    #[test]
    fn tcp_replies_are_whole_and_may_be_large() {
        let query = query("web.shop.svc.cluster.local.", RecordType::A, None, 7);
        let (mut reply, _) = replies_around(&query, 5000);
        assert_eq!(check_reply(&query, &reply, Protocol::Tcp), Ok(()));
        assert!(check_reply(&query, &reply, Protocol::Udp).is_err());
        reply[2] |= 0x02;
        assert!(
            check_reply(&query, &reply, Protocol::Tcp)
                .unwrap_err()
                .contains("TC")
        );
    }

    #[test]
    fn replies_that_differ_only_in_compression_are_the_same() {
        // A SRV answer whose glue record's owner points at the question (0x0c) in one
        // and at the SRV target (0x48) in the other.
        let head: &[u8] = &[
            0x00, 0xfb, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0a, b'k',
            b'u', b'b', b'e', b'r', b'n', b'e', b't', b'e', b's', 0x07, b'd', b'e', b'f', b'a',
            b'u', b'l', b't', 0x03, b's', b'v', b'c', 0x07, b'c', b'l', b'u', b's', b't', b'e',
            b'r', 0x05, b'l', b'o', b'c', b'a', b'l', 0x00, 0x00, 0x21, 0x00, 0x01, 0xc0, 0x0c,
            0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x64,
            0x01, 0xbb, 0x0a, b'k', b'u', b'b', b'e', b'r', b'n', b'e', b't', b'e', b's', 0x07,
            b'd', b'e', b'f', b'a', b'u', b'l', b't', 0x03, b's', b'v', b'c', 0x07, b'c', b'l',
            b'u', b's', b't', b'e', b'r', 0x05, b'l', b'o', b'c', b'a', b'l', 0x00,
        ];
        let glue = |pointer: u8| {
            let mut packet = head.to_vec();
            packet.extend_from_slice(&[
                0xc0, pointer, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 0x0a,
                0x60, 0x00, 0x01,
            ]);
            packet
        };
        assert_eq!(same_reply(&glue(0x0c), &glue(0x48)), Ok(()));
        let mut other_ttl = glue(0x48);
        let at = other_ttl.len() - 7;
        other_ttl[at] = 0x1f;
        assert!(same_reply(&glue(0x0c), &other_ttl).is_err());
    }

    #[test]
    fn replies_that_differ_in_case_or_header_are_not_the_same() {
        let query = query("web.shop.svc.cluster.local.", RecordType::A, None, 7);
        let lower = reply_to(&query, "web.shop.svc.cluster.local.", [10, 96, 12, 5]);
        let upper = reply_to(&query, "WEB.shop.svc.cluster.local.", [10, 96, 12, 5]);
        assert!(
            same_reply(&lower, &upper)
                .unwrap_err()
                .contains("records differ")
        );
        let mut flags = lower.clone();
        flags[3] |= 0x03;
        assert!(same_reply(&lower, &flags).unwrap_err().contains("headers"));
    }
}
