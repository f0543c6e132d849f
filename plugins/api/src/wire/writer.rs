//! [`AnswerWriter`]: an answer written straight into the send buffer.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::WireQuery;
use super::policy::{AnswerOpt, CLASS_IN};

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
    /// The upper bits of an extended rcode, for the OPT record.
    rcode_high: u8,
}

impl<'b> AnswerWriter<'b> {
    /// Starts the answer: the request's ID, QR, opcode QUERY, AA as given, RD and CD
    /// copied (as [`reply_metadata`](super::policy::reply_metadata) says), `rcode`,
    /// and the question as the client wrote it.
    pub fn new(
        query: &WireQuery<'_>,
        rcode: ResponseCode,
        authoritative: bool,
        buf: &'b mut Vec<u8>,
    ) -> Self {
        buf.clear();
        let request = query.packet();
        let rd = request[2] & 0x01;
        let cd = request[3] & 0x10;
        let aa = if authoritative { 0x04 } else { 0 };
        buf.extend_from_slice(&request[..2]);
        buf.push(0x80 | aa | rd);
        buf.push(cd | (rcode.low() & 0x0f));
        buf.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(query.question());
        Self {
            buf,
            section: Section::Answer,
            counts: [0; 3],
            rcode_high: rcode.high(),
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
        let rcode_high = self.rcode_high;
        let mut additionals = self.counts[Section::Additional as usize];
        if let Some(edns) = query.edns() {
            additionals += 1;
            let opt = AnswerOpt {
                payload: query.answer_payload(),
                dnssec_ok: edns.dnssec_ok,
            };
            self.buf.extend_from_slice(&opt.to_wire(rcode_high));
        }
        if self.buf.len() > usize::from(query.max_size()) {
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
