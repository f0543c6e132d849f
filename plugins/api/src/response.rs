//! The answer a plugin returns.

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::Record;

use crate::Ctx;

/// An answer and the plugin that wrote it (the `plugin` label of
/// `coredns_dns_responses_total`).
///
/// The server builds the wire answer from it: header flags and rcode from `message`,
/// the question from the request, then the three sections, truncated to fit UDP.
/// The question and EDNS of `message` are ignored: the server writes its own, so a
/// plugin never has to copy them.
#[derive(Clone, Debug)]
pub struct Response {
    /// Flags, rcode and sections of the answer.
    pub message: Message,
    /// The directive name of the plugin that wrote the answer.
    pub writer: &'static str,
}

impl Response {
    /// An empty answer to `ctx` with `rcode`, its header as the server's policy says
    /// ([`reply_metadata`](crate::wire::policy::reply_metadata): ID, opcode, RD and CD
    /// copied).
    pub fn new(ctx: &Ctx, writer: &'static str, rcode: ResponseCode) -> Self {
        let metadata = crate::wire::policy::reply_metadata(&ctx.metadata, rcode);
        let mut message =
            Message::new(ctx.metadata.id, MessageType::Response, ctx.metadata.op_code);
        message.metadata = metadata;
        Self { message, writer }
    }

    /// An authoritative answer (AA set) with `rcode` and the given answer records.
    pub fn authoritative(
        ctx: &Ctx,
        writer: &'static str,
        rcode: ResponseCode,
        answers: Vec<Record>,
    ) -> Self {
        let mut response = Self::new(ctx, writer, rcode);
        response.message.metadata.authoritative = true;
        response.message.answers = answers;
        response
    }

    /// The answer's rcode.
    pub fn rcode(&self) -> ResponseCode {
        self.message.metadata.response_code
    }
}
