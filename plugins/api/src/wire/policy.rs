//! The server's wire policy, in one place: how large an answer may be, what OPT record
//! an answer carries, and which header fields an answer copies from its request. The
//! server's codec (the ordinary path), [`AnswerWriter`](super::AnswerWriter) (the wire
//! path) and `forward` (what it advertises upstream) all read it from here, so a
//! change of EDNS behaviour is made once.

use hickory_proto::op::{Edns, MessageType, Metadata, ResponseCode};

/// The length of the DNS header.
pub const HEADER_LEN: usize = 12;
/// The largest UDP answer the server sends, whatever the client offers (DNS Flag Day
/// 2020); also the payload size written in answer OPT records and advertised upstream.
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The UDP answer size without EDNS (RFC 1035).
pub const LEGACY_UDP_PAYLOAD: u16 = 512;
/// The length of the OPT record answers carry: root owner, type, class (payload), TTL
/// (extended rcode, version, flags), empty RDATA.
pub const ANSWER_OPT_LEN: u16 = 11;

/// EDNS options that concern only one hop, never passed between a client and an
/// upstream in either direction: DNS cookies (RFC 7873, code 10) are made per client
/// and server pair, TCP keepalive (RFC 7828, 11) and padding (RFC 7830, 12) are about
/// one connection.
pub const HOP_BY_HOP_OPTIONS: [u16; 3] = [10, 11, 12];
/// Class IN.
pub(crate) const CLASS_IN: u16 = 1;
/// The OPT pseudo-record's type.
pub(crate) const TYPE_OPT: u16 = 41;

/// The most bytes an answer may take: whole over TCP; over UDP the client's EDNS
/// payload size (`client_payload`, `None` without EDNS), at least 512 and at most
/// `server_payload`: [`MAX_UDP_PAYLOAD`], or what `bufsize` sets for the block.
pub fn max_answer_size(client_payload: Option<u16>, over_udp: bool, server_payload: u16) -> u16 {
    match (over_udp, client_payload) {
        (false, _) => u16::MAX,
        (true, None) => LEGACY_UDP_PAYLOAD,
        (true, Some(payload)) => {
            payload.clamp(LEGACY_UDP_PAYLOAD, server_payload.max(LEGACY_UDP_PAYLOAD))
        }
    }
}

/// The OPT record an answer carries when its request had one: our payload size,
/// version 0, the DO bit echoed, no options (unknown options and flags are not echoed,
/// RFC 6891 §6.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerOpt {
    /// The UDP payload size we accept: [`MAX_UDP_PAYLOAD`], or the block's `bufsize`.
    pub payload: u16,
    /// The request's DO bit.
    pub dnssec_ok: bool,
}

impl AnswerOpt {
    /// The record in wire format; `rcode_high` is the upper 8 bits of the answer's
    /// extended rcode (0 but for BADVERS and the like).
    pub fn to_wire(self, rcode_high: u8) -> [u8; ANSWER_OPT_LEN as usize] {
        let [payload_hi, payload_lo] = self.payload.to_be_bytes();
        let [type_hi, type_lo] = TYPE_OPT.to_be_bytes();
        let flags = if self.dnssec_ok { 0x80 } else { 0 };
        [
            0, type_hi, type_lo, payload_hi, payload_lo, rcode_high, 0, flags, 0, 0, 0,
        ]
    }

    /// The record as hickory's `Edns`, for the ordinary path's encoder.
    pub fn to_edns(self) -> Edns {
        let mut edns = Edns::new();
        edns.set_max_payload(self.payload);
        edns.set_version(0);
        edns.set_dnssec_ok(self.dnssec_ok);
        edns
    }
}

/// The header of an answer to `request` with `rcode`: ID and opcode copied, QR set, RD
/// copied, and CD copied for QUERY only (a reference server copies no other flag into
/// an answer to an opcode it does not implement); every other flag clear.
pub fn reply_metadata(request: &Metadata, rcode: ResponseCode) -> Metadata {
    let mut metadata = Metadata::new(request.id, MessageType::Response, request.op_code);
    metadata.recursion_desired = request.recursion_desired;
    metadata.checking_disabled =
        request.checking_disabled && request.op_code == hickory_proto::op::OpCode::Query;
    metadata.response_code = rcode;
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::OpCode;
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

    #[test]
    fn answer_sizes_follow_the_transport_and_the_client() {
        let max = MAX_UDP_PAYLOAD;
        assert_eq!(max_answer_size(None, false, max), u16::MAX);
        assert_eq!(max_answer_size(Some(4096), false, max), u16::MAX);
        assert_eq!(max_answer_size(None, true, max), 512);
        assert_eq!(max_answer_size(Some(100), true, max), 512);
        assert_eq!(max_answer_size(Some(1000), true, max), 1000);
        assert_eq!(max_answer_size(Some(4096), true, max), 1232);
        // A block's bufsize lowers or raises the cap, never below 512.
        assert_eq!(max_answer_size(Some(4096), true, 600), 600);
        assert_eq!(max_answer_size(Some(4096), true, 4096), 4096);
        assert_eq!(max_answer_size(Some(1000), true, 100), 512);
        assert_eq!(max_answer_size(None, true, 4096), 512);
    }

    #[test]
    fn the_two_forms_of_the_answer_opt_are_the_same_bytes() {
        for (payload, dnssec_ok) in [(MAX_UDP_PAYLOAD, false), (512, true), (4096, false)] {
            let opt = AnswerOpt { payload, dnssec_ok };
            let mut bytes = Vec::new();
            let mut encoder = BinEncoder::new(&mut bytes);
            opt.to_edns().emit(&mut encoder).unwrap();
            assert_eq!(bytes, opt.to_wire(0), "DO {dnssec_ok}");
        }
    }

    #[test]
    fn replies_copy_rd_and_cd_only_for_query() {
        let mut request = Metadata::new(9, MessageType::Query, OpCode::Query);
        request.recursion_desired = true;
        request.checking_disabled = true;
        request.authentic_data = true;
        let reply = reply_metadata(&request, ResponseCode::NXDomain);
        assert_eq!(reply.id, 9);
        assert_eq!(reply.message_type, MessageType::Response);
        assert!(reply.recursion_desired && reply.checking_disabled);
        assert!(!reply.authentic_data && !reply.authoritative);
        assert_eq!(reply.response_code, ResponseCode::NXDomain);
        request.op_code = OpCode::Unknown(15);
        let reply = reply_metadata(&request, ResponseCode::NotImp);
        assert!(reply.recursion_desired && !reply.checking_disabled);
    }
}
