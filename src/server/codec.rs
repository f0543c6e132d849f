//! Wire format in and out: decoding a query without building a whole `Message`, and
//! encoding an answer with UDP truncation and EDNS.
//!
//! Everything the server must do before a plugin sees a query lives here, so that UDP
//! and TCP behave the same: drop responses (QR=1) so we are never a reflector, FORMERR for
//! what does not decode, NOTIMP for opcodes other than QUERY, BADVERS for EDNS versions
//! above 0. Nothing in here panics on input.

use clusterdns_api::wire::policy::{self, ANSWER_OPT_LEN, AnswerOpt, reply_metadata};
use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// A query that decoded well enough to be answered by the chain.
#[derive(Debug)]
pub struct DecodedQuery {
    /// Header fields of the request.
    pub metadata: Metadata,
    /// The one question.
    pub query: Query,
    /// The client's OPT record.
    pub edns: Option<Edns>,
}

/// What to do with an incoming packet.
#[derive(Debug)]
pub enum Decoded {
    /// Run the chain.
    Query(DecodedQuery),
    /// Answer at once with this error (FORMERR, NOTIMP, BADVERS), without the chain.
    Error(ErrorReply),
    /// Send nothing: not a query, or too broken to even echo an ID.
    Drop,
}

/// An answer the server writes by itself.
#[derive(Debug)]
pub struct ErrorReply {
    /// Header of the request.
    pub metadata: Metadata,
    /// The question, when it could be read.
    pub query: Option<Query>,
    /// The client's OPT record, when it could be read (echoed, as RFC 6891 asks).
    pub edns: Option<Edns>,
    /// The error.
    pub rcode: ResponseCode,
}

/// Decodes a request packet.
pub fn decode(packet: &[u8]) -> Decoded {
    let mut decoder = BinDecoder::new(packet);
    let Ok(header) = Header::read(&mut decoder) else {
        return Decoded::Drop;
    };
    if header.metadata.message_type == MessageType::Response {
        return Decoded::Drop;
    }
    let error = |rcode, query, edns| {
        Decoded::Error(ErrorReply {
            metadata: header.metadata,
            query,
            edns,
            rcode,
        })
    };
    let counts = header.counts;
    if header.metadata.op_code != OpCode::Query {
        // RFC 8490 §5.1 (and Knot, Unbound): an opcode we do not implement is NOTIMP,
        // whatever the rest of the message holds, even no question at all. The question
        // and OPT record are echoed when they can be read.
        let (query, edns) = match counts.queries {
            1 => match Query::read(&mut decoder) {
                Ok(query) => {
                    let edns = read_edns(&mut decoder, counts, header.metadata.op_code)
                        .ok()
                        .flatten();
                    (Some(query), edns)
                }
                Err(_) => (None, None),
            },
            _ => (None, None),
        };
        return error(ResponseCode::NotImp, query, edns);
    }
    if counts.queries != 1 {
        // RFC 9619: exactly one question.
        return error(ResponseCode::FormErr, None, None);
    }
    let Ok(query) = Query::read(&mut decoder) else {
        return error(ResponseCode::FormErr, None, None);
    };
    let edns = match read_edns(&mut decoder, counts, header.metadata.op_code) {
        Ok(edns) => edns,
        Err(()) => return error(ResponseCode::FormErr, Some(query), None),
    };
    if edns.as_ref().is_some_and(|e| e.version() > 0) {
        return error(ResponseCode::BADVERS, Some(query), edns);
    }
    Decoded::Query(DecodedQuery {
        metadata: header.metadata,
        query,
        edns,
    })
}

/// Reads the answer, authority and additional sections, keeping only the OPT record.
/// Two OPT records, an OPT outside the additional section, or a record running past
/// the packet are errors (FORMERR).
fn read_edns(
    decoder: &mut BinDecoder<'_>,
    counts: HeaderCounts,
    op_code: OpCode,
) -> Result<Option<Edns>, ()> {
    let prior = usize::from(counts.answers) + usize::from(counts.authorities);
    if prior > 0 {
        Message::read_records(decoder, prior, false, op_code).map_err(|_| ())?;
    }
    if counts.additionals == 0 {
        return Ok(None);
    }
    let (_, edns, _) =
        Message::read_records(decoder, usize::from(counts.additionals), true, op_code)
            .map_err(|_| ())?;
    Ok(edns)
}

/// The most bytes an answer to this request may take ([`policy::max_answer_size`]),
/// `server_payload` being the block's UDP payload size.
pub fn max_answer_size(edns: Option<&Edns>, over_udp: bool, server_payload: u16) -> u16 {
    policy::max_answer_size(edns.map(Edns::max_payload), over_udp, server_payload)
}

/// The OPT record we answer a request's OPT record with ([`AnswerOpt`]), advertising
/// `payload`.
pub fn answer_edns(request: &Edns, payload: u16) -> Edns {
    AnswerOpt {
        payload,
        dnssec_ok: request.flags().dnssec_ok,
    }
    .to_edns()
}

/// The parts of an answer, borrowed, ready to encode.
pub struct AnswerParts<'a> {
    /// Header fields (ID, flags, rcode). QR is forced to 1.
    pub metadata: Metadata,
    /// The question to echo.
    pub query: Option<&'a Query>,
    /// Answer section.
    pub answers: &'a [Record],
    /// Authority section.
    pub authorities: &'a [Record],
    /// Additional section (without OPT).
    pub additionals: &'a [Record],
    /// The OPT record to add, if the request had one.
    pub edns: Option<&'a Edns>,
}

/// Encodes an answer into `buf` (cleared first) in at most `max_size` bytes.
///
/// When the answer or authority section does not fit, as many whole records as fit are
/// kept, the rest of the message is dropped, and TC is set so the client retries over
/// TCP. Additional records that do not fit are dropped without TC (RFC 2181 §9). The
/// OPT record is always written: room for it is reserved before the sections. A TC
/// bit the answer already has (a plugin's truncated upstream answer) is kept, so the
/// client retries over TCP either way. The message ends exactly after its last whole
/// record: nothing of a record that did not fit is left behind. Fails only if not even
/// the header and question fit (impossible for a question that arrived in a packet of
/// at most `max_size` bytes).
pub fn encode(
    parts: &AnswerParts<'_>,
    max_size: u16,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    buf.clear();
    let opt_size: u16 = if parts.edns.is_some() {
        ANSWER_OPT_LEN
    } else {
        0
    };
    let mut encoder = BinEncoder::new(buf);
    encoder.set_max_size(max_size.saturating_sub(opt_size));
    let place = encoder.place::<Header>()?;
    let mut counts = HeaderCounts::default();
    if let Some(query) = parts.query {
        query.emit(&mut encoder)?;
        counts.queries = 1;
    }
    let mut metadata = parts.metadata;
    metadata.message_type = MessageType::Response;
    let (answers, complete) = emit_records(&mut encoder, parts.answers)?;
    counts.answers = answers;
    if complete {
        let (authorities, complete) = emit_records(&mut encoder, parts.authorities)?;
        counts.authorities = authorities;
        if complete {
            counts.additionals = emit_records(&mut encoder, parts.additionals)?.0;
        } else {
            metadata.truncation = true;
        }
    } else {
        metadata.truncation = true;
    }
    if let Some(edns) = parts.edns {
        encoder.set_max_size(max_size);
        let mut edns = edns.clone();
        edns.set_rcode_high(metadata.response_code.high());
        edns.emit(&mut encoder)?;
        counts.additionals += 1;
    }
    place.replace(&mut encoder, Header { metadata, counts })?;
    // A record that did not fit was rolled back, but its bytes stay in the buffer past
    // the end of the message unless cut off here.
    encoder.trim();
    Ok(())
}

/// Emits whole records until one does not fit. Returns how many were written and
/// whether all were.
fn emit_records(
    encoder: &mut BinEncoder<'_>,
    records: &[Record],
) -> Result<(u16, bool), EncodeError> {
    let limit = records.len().min(usize::from(u16::MAX));
    let (written, complete) = match encoder.emit_iter(&mut records[..limit].iter()) {
        Ok(count) => (count, limit == records.len()),
        Err(hickory_proto::ProtoError::NotAllRecordsWritten { count, .. }) => (count, false),
        Err(e) => return Err(EncodeError(e)),
    };
    // `written <= limit <= u16::MAX`.
    Ok((u16::try_from(written).unwrap_or(u16::MAX), complete))
}

/// An answer could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode answer: {0}")]
pub struct EncodeError(#[from] hickory_proto::ProtoError);

/// Encodes a server-written error answer (FORMERR, NOTIMP, BADVERS, REFUSED, SERVFAIL).
pub fn encode_error(
    reply: &ErrorReply,
    over_udp: bool,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let payload = policy::MAX_UDP_PAYLOAD;
    let edns = reply.edns.as_ref().map(|edns| answer_edns(edns, payload));
    encode_rcode(
        &reply.metadata,
        reply.query.as_ref(),
        edns.as_ref(),
        reply.rcode,
        max_answer_size(reply.edns.as_ref(), over_udp, payload),
        buf,
    )
}

/// Encodes an answer with no records: the header the server's policy gives an answer
/// to `request` with `rcode` ([`reply_metadata`]), the question, and `answer_edns`.
/// Every answer the server writes by itself (errors, a failed or panicked chain) is
/// this one.
pub fn encode_rcode(
    request: &Metadata,
    query: Option<&Query>,
    answer_edns: Option<&Edns>,
    rcode: ResponseCode,
    max_size: u16,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode(
        &AnswerParts {
            metadata: reply_metadata(request, rcode),
            query,
            answers: &[],
            authorities: &[],
            additionals: &[],
            edns: answer_edns,
        },
        max_size,
        buf,
    )
}
