//! [`WireQuery`]: a plain query parsed in place, and what a plugin answers to it.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};

use super::policy::{CLASS_IN, HEADER_LEN, MAX_UDP_PAYLOAD, TYPE_OPT, max_answer_size};

/// The most labels a name of 255 bytes can have.
const MAX_LABELS: usize = 128;

/// What a plugin does with a query offered on the wire path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Not this plugin's business: ask the next one.
    Pass,
    /// Take the ordinary path: decode, [`Plugin::serve`](crate::Plugin::serve), encode.
    Ordinary,
    /// The answer is in the buffer.
    Answered {
        /// Its rcode, for metrics.
        rcode: ResponseCode,
        /// The plugin that wrote it, for metrics.
        writer: &'static str,
    },
}

/// The client's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireEdns {
    /// The UDP payload size it offers.
    pub payload: u16,
    /// The DO bit.
    pub dnssec_ok: bool,
}

/// The order in which a plugin writing several address records on the wire path
/// writes them. `loadbalance` sets it before the plugins that answer (the registry
/// runs it first); the ordinary path gets the same effect from `loadbalance`
/// reordering the finished answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerOrder {
    /// As the data has them.
    #[default]
    AsFound,
    /// A uniform shuffle of the address records (A/AAAA) of each section, as
    /// `loadbalance`'s round robin does to an answer; see [`shuffle_would_reorder`].
    Shuffled,
}

/// Whether [`AnswerOrder::Shuffled`] could change the order of `records` (one section
/// of an answer): `loadbalance`'s round robin shuffles the address records and,
/// separately, the MX records, so a section with more than one of either.
pub fn shuffle_would_reorder(records: &[Record]) -> bool {
    let count = |types: &[RecordType]| {
        records
            .iter()
            .filter(|r| types.contains(&r.record_type()))
            .count()
    };
    count(&[RecordType::A, RecordType::AAAA]) > 1 || count(&[RecordType::MX]) > 1
}

/// A plain query, parsed in place: header checked, question name lowered into a
/// buffer on the stack, label positions known.
pub struct WireQuery<'a> {
    packet: &'a [u8],
    /// The question name in wire format, lower case, ending with the root label.
    lower: [u8; 255],
    name_len: usize,
    /// The offset of each label's length byte within the name, leftmost first.
    labels: [u8; MAX_LABELS],
    label_count: usize,
    qtype: u16,
    question_end: usize,
    edns: Option<WireEdns>,
    /// The largest answer the client accepts: `u16::MAX` over TCP.
    max_size: u16,
    /// The payload size our answer's OPT record advertises.
    answer_payload: u16,
    /// How address records are to be ordered (set by `loadbalance`).
    order: AnswerOrder,
    /// The listener's metrics label (`dns://:53`), once the server has set it.
    server: Option<&'a Arc<str>>,
    /// The client's address, once the server has set it.
    client: Option<std::net::SocketAddr>,
}

impl<'a> WireQuery<'a> {
    /// Parses `packet` if it is a plain query: QR 0, opcode QUERY, TC 0, one question
    /// of class IN without compression, no answer or authority records, and at most one
    /// additional record, an OPT of version 0 without options, ending the packet. Any
    /// thing else is `None`, and the ordinary path handles it (and its errors).
    pub fn parse(packet: &'a [u8], over_udp: bool) -> Option<Self> {
        let header = packet.get(..HEADER_LEN)?;
        // QR, opcode (4 bits) and TC must all be zero.
        if header[2] & 0xfa != 0 {
            return None;
        }
        let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        if count(4) != 1 || count(6) != 0 || count(8) != 0 || count(10) > 1 {
            return None;
        }
        let mut query = Self {
            packet,
            lower: [0; 255],
            name_len: 0,
            labels: [0; MAX_LABELS],
            label_count: 0,
            qtype: 0,
            question_end: 0,
            edns: None,
            max_size: 0,
            answer_payload: MAX_UDP_PAYLOAD,
            order: AnswerOrder::AsFound,
            server: None,
            client: None,
        };
        let mut at = HEADER_LEN;
        loop {
            let len = usize::from(*packet.get(at)?);
            if len > 63 {
                // A compression pointer or an extended label type.
                return None;
            }
            let end = query.name_len + 1 + len;
            if end > query.lower.len() {
                return None;
            }
            if len > 0 {
                if query.label_count == MAX_LABELS {
                    return None;
                }
                query.labels[query.label_count] = u8::try_from(query.name_len).ok()?;
                query.label_count += 1;
            }
            let raw = packet.get(at..at + 1 + len)?;
            for (dst, src) in query.lower[query.name_len..end].iter_mut().zip(raw) {
                *dst = src.to_ascii_lowercase();
            }
            query.name_len = end;
            at += 1 + len;
            if len == 0 {
                break;
            }
        }
        let fixed = packet.get(at..at + 4)?;
        query.qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        if u16::from_be_bytes([fixed[2], fixed[3]]) != CLASS_IN {
            return None;
        }
        at += 4;
        query.question_end = at;
        if count(10) == 1 {
            // Root owner, type OPT, payload, extended rcode 0, version 0, flags, no data.
            let opt = packet.get(at..at + 11)?;
            if opt[0] != 0
                || u16::from_be_bytes([opt[1], opt[2]]) != TYPE_OPT
                || opt[5] != 0
                || opt[6] != 0
                || opt[9] != 0
                || opt[10] != 0
            {
                return None;
            }
            query.edns = Some(WireEdns {
                payload: u16::from_be_bytes([opt[3], opt[4]]),
                dnssec_ok: opt[7] & 0x80 != 0,
            });
            at += 11;
        }
        if at != packet.len() {
            return None;
        }
        query.max_size = max_answer_size(
            query.edns.map(|edns| edns.payload),
            over_udp,
            MAX_UDP_PAYLOAD,
        );
        Some(query)
    }

    /// The whole request packet.
    pub(crate) fn packet(&self) -> &'a [u8] {
        self.packet
    }

    /// The query's ID.
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.packet[0], self.packet[1]])
    }

    /// Tells plugins which listener the query came in on (`Ctx::server`).
    pub fn set_server(&mut self, server: &'a Arc<str>) {
        self.server = Some(server);
    }

    /// The listener's metrics label, as `Ctx::server`.
    pub fn server(&self) -> Option<&'a Arc<str>> {
        self.server
    }

    /// Tells plugins who asked (`Ctx::src`).
    pub fn set_client(&mut self, client: std::net::SocketAddr) {
        self.client = Some(client);
    }

    /// The client's address, as `Ctx::src`, once the server has set it.
    pub fn client(&self) -> Option<std::net::SocketAddr> {
        self.client
    }

    /// Whether the query came over UDP (its answer is limited in size).
    pub fn over_udp(&self) -> bool {
        self.max_size != u16::MAX
    }

    /// The CD (checking disabled) bit.
    pub fn checking_disabled(&self) -> bool {
        self.packet[3] & 0x10 != 0
    }

    /// The AD (authentic data) bit of the query.
    pub fn authentic_data(&self) -> bool {
        self.packet[3] & 0x20 != 0
    }

    /// The DO bit (false without an OPT record).
    pub fn dnssec_ok(&self) -> bool {
        self.edns.is_some_and(|edns| edns.dnssec_ok)
    }

    /// The question (name as the client wrote it, type, class) in wire format.
    pub fn question(&self) -> &[u8] {
        &self.packet[HEADER_LEN..self.question_end]
    }

    /// The question's type.
    pub fn qtype(&self) -> RecordType {
        RecordType::from(self.qtype)
    }

    /// The client's OPT record, if it sent one.
    pub fn edns(&self) -> Option<WireEdns> {
        self.edns
    }

    /// Sets the server's UDP payload size for this query (a block's `bufsize`): the
    /// answer is limited by it and its OPT record advertises it.
    pub fn set_server_payload(&mut self, payload: u16) {
        self.answer_payload = payload;
        let over_udp = self.max_size != u16::MAX;
        self.max_size = max_answer_size(self.edns.map(|edns| edns.payload), over_udp, payload);
    }

    /// The payload size the answer's OPT record advertises.
    pub fn answer_payload(&self) -> u16 {
        self.answer_payload
    }

    /// The largest answer this client accepts.
    pub fn max_size(&self) -> u16 {
        self.max_size
    }

    /// The request's size in bytes.
    pub fn request_size(&self) -> usize {
        self.packet.len()
    }

    /// How many labels the question name has (the root not counted).
    pub fn label_count(&self) -> usize {
        self.label_count
    }

    /// Label `i` (0 is the leftmost) in lower case; `None` for `i >= label_count()`.
    pub fn label(&self, i: usize) -> Option<&[u8]> {
        if i >= self.label_count {
            return None;
        }
        let start = usize::from(self.labels[i]);
        let len = usize::from(self.lower[start]);
        self.lower.get(start + 1..start + 1 + len)
    }

    /// Labels `0..end` (all of them when `end >= label_count()`), leftmost first, in
    /// lower case.
    pub fn labels_before(&self, end: usize) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..end.min(self.label_count)).map(|i| self.label(i).unwrap_or_default())
    }

    /// How address records are to be ordered.
    pub fn order(&self) -> AnswerOrder {
        self.order
    }

    /// Asks the plugins that answer after this one to order address records so.
    pub fn set_order(&mut self, order: AnswerOrder) {
        self.order = order;
    }

    /// The name from label `i` to the root, lower case, in wire format (`i >=
    /// label_count()` gives the root).
    pub fn suffix(&self, i: usize) -> &[u8] {
        let start = if i < self.label_count {
            usize::from(self.labels[i])
        } else {
            self.name_len - 1
        };
        &self.lower[start..self.name_len]
    }

    /// The name from label `i` to the root as the client wrote it, in wire format
    /// (`i >= label_count()` gives the root).
    pub fn raw_suffix(&self, i: usize) -> &[u8] {
        let start = if i < self.label_count {
            usize::from(self.labels[i])
        } else {
            self.name_len - 1
        };
        &self.packet[HEADER_LEN + start..HEADER_LEN + self.name_len]
    }

    /// A compression pointer to label `i` of the question as the client wrote it
    /// (`i >= label_count()` points at the root).
    pub fn pointer_to(&self, i: usize) -> [u8; 2] {
        let start = if i < self.label_count {
            usize::from(self.labels[i])
        } else {
            self.name_len - 1
        };
        // The question starts at offset 12, so this is at most 12 + 255.
        let offset = (HEADER_LEN + start) as u16 | 0xc000;
        offset.to_be_bytes()
    }
}
