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
//! - [`Wire::Slow`]: the query takes the ordinary path through [`Plugin::serve`]
//!   (crate::Plugin), as every plugin says unless it implements this.
//!
//! A wire answer must be exactly what the ordinary path would send; the tests of each
//! plugin that answers here compare the two.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

/// The length of the DNS header.
pub const HEADER_LEN: usize = 12;
/// The largest UDP answer the server sends, whatever the client offers (DNS Flag Day
/// 2020); also the payload size written in answer OPT records.
pub const MAX_UDP_PAYLOAD: u16 = 1232;
/// The UDP answer size without EDNS (RFC 1035).
pub const LEGACY_UDP_PAYLOAD: u16 = 512;
/// Class IN.
const CLASS_IN: u16 = 1;
/// The OPT pseudo-record's type.
const TYPE_OPT: u16 = 41;
/// The most labels a name of 255 bytes can have.
const MAX_LABELS: usize = 128;

/// What a plugin does with a query offered on the wire path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Not this plugin's business: ask the next one.
    Pass,
    /// Take the ordinary path.
    Slow,
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
    max_size: u16,
    /// Set by `loadbalance`: address records are to be written in random order.
    pub shuffle: bool,
    /// The listener's metrics label (`dns://:53`), once the server has set it.
    server: Option<&'a Arc<str>>,
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
            shuffle: false,
            server: None,
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
        query.max_size = match (over_udp, query.edns) {
            (false, _) => u16::MAX,
            (true, None) => LEGACY_UDP_PAYLOAD,
            (true, Some(edns)) => edns.payload.clamp(LEGACY_UDP_PAYLOAD, MAX_UDP_PAYLOAD),
        };
        Some(query)
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

    /// Label `i` (0 is the leftmost) in lower case.
    pub fn label(&self, i: usize) -> &[u8] {
        let start = usize::from(self.labels[i]);
        let len = usize::from(self.lower[start]);
        &self.lower[start + 1..start + 1 + len]
    }

    /// The name from label `i` to the root, lower case, in wire format (`i ==
    /// label_count()` gives the root).
    pub fn suffix(&self, i: usize) -> &[u8] {
        let start = if i < self.label_count {
            usize::from(self.labels[i])
        } else {
            self.name_len - 1
        };
        &self.lower[start..self.name_len]
    }

    /// The name from label `i` to the root as the client wrote it, in wire format.
    pub fn raw_suffix(&self, i: usize) -> &[u8] {
        let start = if i < self.label_count {
            usize::from(self.labels[i])
        } else {
            self.name_len - 1
        };
        &self.packet[HEADER_LEN + start..HEADER_LEN + self.name_len]
    }

    /// A compression pointer to label `i` of the question as the client wrote it.
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

/// A zone (or any name) in lower-case wire format, to match question names on the wire
/// path without decoding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireName {
    wire: Vec<u8>,
    labels: usize,
}

impl WireName {
    /// `name` lowered into wire format.
    pub fn new(name: &Name) -> Self {
        let mut wire = Vec::new();
        for label in name.iter() {
            // A label is at most 63 bytes.
            wire.push(label.len() as u8);
            wire.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        wire.push(0);
        Self {
            wire,
            labels: name.num_labels() as usize,
        }
    }

    /// How many labels (the root not counted).
    pub fn label_count(&self) -> usize {
        self.labels
    }

    /// The index of this name's first label in `query`'s question name, if the question
    /// is this name or below it (without regard to case).
    pub fn start_in(&self, query: &WireQuery<'_>) -> Option<usize> {
        let start = query.label_count().checked_sub(self.labels)?;
        (query.suffix(start) == self.wire.as_slice()).then_some(start)
    }
}

/// The sections of an answer, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The answer section.
    Answer = 0,
    /// The authority section.
    Authority = 1,
    /// The additional section.
    Additional = 2,
}

/// Writes an answer to a [`WireQuery`] into a buffer: the header and question first,
/// then records section by section, then the OPT record when the query had one.
pub struct AnswerWriter<'b> {
    buf: &'b mut Vec<u8>,
    section: Section,
    counts: [u16; 3],
}

impl<'b> AnswerWriter<'b> {
    /// Starts the answer: the request's ID, QR, opcode QUERY, AA as given, RD and CD
    /// copied, `rcode`, and the question as the client wrote it.
    pub fn new(
        query: &WireQuery<'_>,
        rcode: ResponseCode,
        authoritative: bool,
        buf: &'b mut Vec<u8>,
    ) -> Self {
        buf.clear();
        let request = query.packet;
        let rd = request[2] & 0x01;
        let cd = request[3] & 0x10;
        let aa = if authoritative { 0x04 } else { 0 };
        buf.extend_from_slice(&request[..2]);
        buf.push(0x80 | aa | rd);
        buf.push(cd | (rcode.low() & 0x0f));
        buf.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(&request[HEADER_LEN..query.question_end]);
        Self {
            buf,
            section: Section::Answer,
            counts: [0; 3],
        }
    }

    /// Sets RA and AD in the header (both clear unless set here).
    pub fn set_flags(&mut self, recursion_available: bool, authentic_data: bool) {
        let flags = &mut self.buf[3];
        *flags &= !0xa0;
        if recursion_available {
            *flags |= 0x80;
        }
        if authentic_data {
            *flags |= 0x20;
        }
    }

    /// Appends whole pre-encoded sections (`counts` records in answer, authority and
    /// additional order, compressed against a question of the same length), after
    /// anything written so far. Returns the offset they start at, for patching.
    pub fn append_sections(&mut self, sections: &[u8], counts: [u16; 3]) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(sections);
        for (total, more) in self.counts.iter_mut().zip(counts) {
            *total = total.saturating_add(more);
        }
        self.section = Section::Additional;
        start
    }

    /// Overwrites the four bytes at `at` (a TTL field written before) with `value`.
    pub fn patch_u32(&mut self, at: usize, value: u32) {
        if let Some(field) = self.buf.get_mut(at..at + 4) {
            field.copy_from_slice(&value.to_be_bytes());
        }
    }

    /// Moves on to `section`; sections are written in order.
    pub fn section(&mut self, section: Section) {
        debug_assert!(section >= self.section, "sections are written in order");
        self.section = section;
    }

    /// Writes the start of a record whose owner is the name at `owner` (a compression
    /// pointer), with type, class IN and TTL; the caller writes the RDATA through
    /// [`rdata`](Self::rdata).
    fn record_start(&mut self, owner: &[u8], rtype: RecordType, ttl: u32) {
        self.counts[self.section as usize] += 1;
        self.buf.extend_from_slice(owner);
        self.buf.extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.buf.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
    }

    /// Writes a whole record: owner (wire bytes, usually a pointer), type, TTL, and
    /// the RDATA that `write` appends. Returns the offset of the RDATA.
    pub fn record(
        &mut self,
        owner: &[u8],
        rtype: RecordType,
        ttl: u32,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> usize {
        self.record_start(owner, rtype, ttl);
        let length_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        write(self.buf);
        let rdata_len = self.buf.len() - length_at - 2;
        let len = u16::try_from(rdata_len).unwrap_or(u16::MAX).to_be_bytes();
        self.buf[length_at..length_at + 2].copy_from_slice(&len);
        length_at + 2
    }

    /// Writes an A or AAAA record for `ip`.
    pub fn address(&mut self, owner: &[u8], ttl: u32, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.record(owner, RecordType::A, ttl, |buf| {
                    buf.extend_from_slice(&v4.octets());
                });
            }
            IpAddr::V6(v6) => {
                self.record(owner, RecordType::AAAA, ttl, |buf| {
                    buf.extend_from_slice(&v6.octets());
                });
            }
        }
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is written (never, after [`new`](Self::new)).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Ends the answer: writes the OPT record (our payload size, version 0, the DO bit
    /// echoed) when the query had one, and the section counts. `None` when the answer is
    /// larger than the client accepts: the ordinary path then decides what to drop.
    pub fn finish(self, query: &WireQuery<'_>) -> Option<usize> {
        let mut additionals = self.counts[Section::Additional as usize];
        if let Some(edns) = query.edns {
            additionals += 1;
            self.buf.push(0);
            self.buf.extend_from_slice(&TYPE_OPT.to_be_bytes());
            self.buf.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
            let flags: u8 = if edns.dnssec_ok { 0x80 } else { 0 };
            self.buf.extend_from_slice(&[0, 0, flags, 0, 0, 0]);
        }
        if self.buf.len() > usize::from(query.max_size) {
            return None;
        }
        self.buf[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        self.buf[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        self.buf[10..12].copy_from_slice(&additionals.to_be_bytes());
        Some(self.buf.len())
    }
}

/// Appends `labels` (as written) followed by the name at `tail` (a compression pointer,
/// or `[0]` for the root) to `buf`.
pub fn write_name(buf: &mut Vec<u8>, labels: &[&[u8]], tail: &[u8]) {
    for label in labels {
        // Labels come from validated Kubernetes names or the question: at most 63 bytes.
        let len = label.len().min(63);
        buf.push(len as u8);
        buf.extend_from_slice(&label[..len]);
    }
    buf.extend_from_slice(tail);
}

/// A compression pointer to `offset` in the message.
pub fn pointer(offset: usize) -> Option<[u8; 2]> {
    let offset = u16::try_from(offset).ok().filter(|o| *o < 0x4000)?;
    Some((offset | 0xc000).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};

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
        assert_eq!(query.label(0), b"web");
        assert_eq!(query.label(2), b"svc");
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
