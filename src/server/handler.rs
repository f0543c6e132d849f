//! The request path shared by UDP and TCP: packet → decode → block → chain → encoded
//! answer, with metrics. Transports only move bytes.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use arc_swap::ArcSwap;
use clusterdns_api::metrics::Label;
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{Ctx, Next, PluginError, Protocol, Response};
use hickory_proto::op::{Edns, Metadata, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use pin_project_lite::pin_project;

use super::codec::{self, AnswerParts, Decoded, ErrorReply};
use super::routes::{Block, Routes};
use crate::metrics::{DNS_METRICS, DROPPED_ZONE, QueryRecord};

/// What every connection and worker of one listener shares.
pub struct ListenerState {
    /// The listener's metrics label, e.g. `dns://:53`.
    pub server: Label,
    /// The blocks served, swapped whole on reload.
    pub routes: ArcSwap<Routes>,
    /// The address the listener is bound to.
    pub local: SocketAddr,
    /// The server's shutdown phase: queries after SIGTERM are noted there.
    pub drain: Arc<super::Drain>,
}

/// A query running through a chain, owning everything it needs, so it can be polled
/// inline by a UDP worker and, if it has to wait, moved to the runtime.
pub type ChainFuture = Pin<Box<dyn Future<Output = Finished> + Send>>;

/// The outcome of [`prepare`].
pub enum Prepared {
    /// The answer is in the buffer (an error the server writes itself).
    Reply,
    /// Send nothing.
    Drop,
    /// Run this future to completion, then [`finish`] it.
    Run(ChainFuture),
}

/// What the answer needs from the request, kept outside the chain future: it is still
/// there when a plugin panics, so the SERVFAIL reply needs no pre-made copy. The chain
/// owns the [`Ctx`] (a plugin may change it on the way), so the few of its fields that
/// encoding and the metrics need are kept here too: the header and question (for a
/// SERVFAIL after a panic), and what [`Accounting`] records. What `Ctx` lacks: the
/// block (whether it records metrics), the answer's OPT record and its size limit.
struct Request {
    block: Arc<Block>,
    zone: Label,
    server: Label,
    metadata: Metadata,
    /// The question as the client wrote it, echoed in the answer.
    question: Query,
    protocol: Protocol,
    client: SocketAddr,
    start: Instant,
    request_size: usize,
    /// The OPT record to answer with, when the request had one.
    answer_edns: Option<Edns>,
    /// The largest answer the client accepts.
    max_size: u16,
    dnssec_ok: bool,
}

impl Request {
    fn accounting(&self) -> Accounting<'_> {
        Accounting {
            server: &self.server,
            zone: &self.zone,
            protocol: self.protocol,
            client: self.client,
            qtype: self.question.query_type(),
            dnssec_ok: self.dnssec_ok,
            request_size: self.request_size,
            start: self.start,
        }
    }
}

/// What the per-query metrics know of a query before it is answered. Both request
/// paths fill one, borrowing what they have, and [`record`](Self::record) it once the
/// answer is written, so both count the same way.
struct Accounting<'a> {
    server: &'a Label,
    zone: &'a Label,
    protocol: Protocol,
    client: SocketAddr,
    qtype: RecordType,
    dnssec_ok: bool,
    request_size: usize,
    start: Instant,
}

impl Accounting<'_> {
    /// Counts the answer: its rcode, the plugin that wrote it (empty when the server
    /// did) and its size.
    fn record(&self, rcode: ResponseCode, writer: &'static str, response_size: usize) {
        DNS_METRICS.record(&QueryRecord {
            server: self.server,
            zone: self.zone,
            proto: self.protocol.as_str(),
            ipv6: self.client.is_ipv6(),
            qtype: self.qtype,
            dnssec_ok: self.dnssec_ok,
            request_size: self.request_size,
            response_size,
            rcode,
            plugin: writer,
            duration: self.start.elapsed(),
        });
    }
}

/// A chain's result with what is needed to encode and count it.
pub struct Finished {
    request: Request,
    result: Result<Response, PluginError>,
}

/// Decodes `packet` and either writes an immediate answer into `buf` or returns the
/// chain future that will produce one.
pub fn prepare(
    state: &ListenerState,
    packet: &[u8],
    client: SocketAddr,
    protocol: Protocol,
    buf: &mut Vec<u8>,
) -> Prepared {
    let start = Instant::now();
    state.drain.seen();
    if let Some(mut query) = WireQuery::parse(packet, protocol == Protocol::Udp)
        && serve_wire(state, &mut query, client, protocol, start, buf)
    {
        return Prepared::Reply;
    }
    prepare_ordinary(state, packet, client, protocol, start, buf)
}

/// [`prepare`] without the wire path: decode, route, and the chain's `serve`.
pub fn prepare_ordinary(
    state: &ListenerState,
    packet: &[u8],
    client: SocketAddr,
    protocol: Protocol,
    start: Instant,
    buf: &mut Vec<u8>,
) -> Prepared {
    let over_udp = protocol == Protocol::Udp;
    let query = match codec::decode(packet) {
        Decoded::Drop => return Prepared::Drop,
        Decoded::Error(reply) => return error_reply(&reply, over_udp, buf),
        Decoded::Query(query) => query,
    };
    let refuse = |query: codec::DecodedQuery, buf: &mut Vec<u8>| {
        let reply = ErrorReply {
            metadata: query.metadata,
            query: Some(query.query),
            edns: query.edns,
            rcode: ResponseCode::Refused,
        };
        error_reply(&reply, over_udp, buf)
    };
    // Zone transfers are not offered.
    if matches!(
        query.query.query_type(),
        RecordType::AXFR | RecordType::IXFR
    ) {
        return refuse(query, buf);
    }
    let routes = state.routes.load();
    let Some(matched) = routes.find(query.query.name()) else {
        let accounting = Accounting {
            server: &state.server,
            zone: &DROPPED_ZONE,
            protocol,
            client: canonical(client),
            qtype: query.query.query_type(),
            dnssec_ok: query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            request_size: packet.len(),
            start,
        };
        let prepared = refuse(query, buf);
        accounting.record(ResponseCode::Refused, "", buf.len());
        return prepared;
    };
    // Class IN is served; another class only by a block with a plugin for it (`chaos`).
    let class = query.query.query_class();
    if class != DNSClass::IN && !matched.block.chain.iter().any(|p| p.answers_class(class)) {
        return refuse(query, buf);
    }
    let block = matched.block.clone();
    let zone = matched.zone.clone();
    drop(routes);
    let client = canonical(client);
    let payload = block.udp_payload;
    let answer_edns = query
        .edns
        .as_ref()
        .map(|edns| codec::answer_edns(edns, payload));
    let max_size = codec::max_answer_size(query.edns.as_ref(), over_udp, payload);
    let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    let ctx = Ctx {
        metadata: query.metadata,
        query: query.query.clone(),
        src: client,
        local: state.local,
        protocol,
        request_size: packet.len(),
        zone: zone.0.clone(),
        server: state.server.0.clone(),
        start,
        edns: query.edns,
    };
    let request = Request {
        block: block.clone(),
        zone,
        server: state.server.clone(),
        metadata: query.metadata,
        question: query.query,
        protocol,
        client,
        start,
        request_size: packet.len(),
        answer_edns,
        max_size,
        dnssec_ok,
    };
    Prepared::Run(Box::pin(CatchPanic {
        inner: run_chain(block, ctx),
        request: Some(request),
    }))
}

/// Offers a plain query to the block's plugins on the wire path
/// (`clusterdns_api::wire`). Returns whether one answered it into `buf`; otherwise the
/// ordinary path serves it, and answers any panic here with SERVFAIL when the chain
/// panics again there.
fn serve_wire<'a>(
    state: &'a ListenerState,
    query: &mut WireQuery<'a>,
    client: SocketAddr,
    protocol: Protocol,
    start: Instant,
    buf: &mut Vec<u8>,
) -> bool {
    // Zone transfers are refused by the ordinary path.
    if matches!(query.qtype(), RecordType::AXFR | RecordType::IXFR) {
        return false;
    }
    let routes = state.routes.load();
    let Some(matched) = routes.find_wire(query) else {
        return false;
    };
    query.set_server(&state.server.0);
    query.set_client(canonical(client));
    if matched.block.udp_payload != clusterdns_api::wire::MAX_UDP_PAYLOAD {
        query.set_server_payload(matched.block.udp_payload);
    }
    let chain = &matched.block.chain;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for plugin in chain {
            match plugin.serve_wire(query, buf) {
                Wire::Pass => continue,
                outcome => return outcome,
            }
        }
        Wire::Ordinary
    }));
    let Ok(Wire::Answered { rcode, writer }) = outcome else {
        if outcome.is_err() {
            tracing::error!("a plugin panicked on the wire path; trying the ordinary path");
        }
        return false;
    };
    if matched.block.metrics {
        let accounting = Accounting {
            server: &state.server,
            zone: matched.zone,
            protocol,
            client: canonical(client),
            qtype: query.qtype(),
            dnssec_ok: query.dnssec_ok(),
            request_size: query.request_size(),
            start,
        };
        accounting.record(rcode, writer, buf.len());
    }
    true
}

async fn run_chain(block: Arc<Block>, mut ctx: Ctx) -> Result<Response, PluginError> {
    Next::new(&block.chain).run(&mut ctx).await
}

/// Encodes the chain's answer into `buf` and records metrics. Returns whether there is
/// something to send. A failed or panicked chain, and an answer that cannot be
/// encoded, are answered SERVFAIL, as CoreDNS answers them.
pub fn finish(job: Finished, buf: &mut Vec<u8>) -> bool {
    let request = &job.request;
    let encoded = match &job.result {
        Ok(response) => match encode_response(request, response, buf) {
            Ok(()) => Some((response.rcode(), response.writer)),
            Err(error) => {
                tracing::error!(%error, qname = %request.question.name(), "encoding the answer failed");
                None
            }
        },
        Err(_) => None,
    };
    let (rcode, writer) = match encoded {
        Some(answered) => answered,
        None => {
            let rcode = ResponseCode::ServFail;
            let written = codec::encode_rcode(
                &request.metadata,
                Some(&request.question),
                request.answer_edns.as_ref(),
                rcode,
                request.max_size,
                buf,
            );
            if written.is_err() {
                return false;
            }
            (rcode, "")
        }
    };
    if request.block.metrics {
        request.accounting().record(rcode, writer, buf.len());
    }
    true
}

/// Encodes a plugin's answer to `request`: its flags, rcode and sections, with the
/// request's ID, opcode, RD and CD, question and OPT record.
fn encode_response(
    request: &Request,
    response: &Response,
    buf: &mut Vec<u8>,
) -> Result<(), codec::EncodeError> {
    let mut metadata = response.message.metadata;
    metadata.id = request.metadata.id;
    metadata.op_code = request.metadata.op_code;
    metadata.recursion_desired = request.metadata.recursion_desired;
    metadata.checking_disabled = request.metadata.checking_disabled;
    // A plugin's EDNS options (an Extended DNS Error from `template`) ride on our OPT
    // record, when the client sent one.
    let with_options = extra_options(request.answer_edns.as_ref(), response);
    let parts = AnswerParts {
        metadata,
        query: Some(&request.question),
        answers: &response.message.answers,
        authorities: &response.message.authorities,
        additionals: &response.message.additionals,
        edns: with_options.as_ref().or(request.answer_edns.as_ref()),
    };
    codec::encode(&parts, request.max_size, buf)
}

/// Our OPT record with the options of the plugin's answer added; `None` when the
/// answer has none (or the client sent no OPT record). The hop-by-hop options of an
/// upstream's answer (its cookie, keepalive, padding) are not the client's.
fn extra_options(ours: Option<&Edns>, response: &Response) -> Option<Edns> {
    let theirs = response.message.edns.as_ref()?;
    let mut edns = ours?.clone();
    let mut added = false;
    for (code, option) in theirs.options().as_ref() {
        if clusterdns_api::wire::policy::HOP_BY_HOP_OPTIONS.contains(&u16::from(*code)) {
            continue;
        }
        edns.options_mut().insert(option.clone());
        added = true;
    }
    added.then_some(edns)
}

fn error_reply(reply: &ErrorReply, over_udp: bool, buf: &mut Vec<u8>) -> Prepared {
    match codec::encode_error(reply, over_udp, buf) {
        Ok(()) => Prepared::Reply,
        Err(_) => Prepared::Drop,
    }
}

/// A v4 client on a dual-stack socket shows up as `::ffff:a.b.c.d`; plugins and logs
/// want `a.b.c.d`.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

pin_project! {
    /// Turns a panic inside a plugin into a SERVFAIL answer and a `coredns_panics_total`
    /// increment, as CoreDNS's recovery does, instead of taking a worker down. It owns
    /// the request's header, which outlives the chain future, so [`finish`] can answer
    /// a panicked chain with SERVFAIL.
    struct CatchPanic<F> {
        #[pin]
        inner: F,
        request: Option<Request>,
    }
}

impl<F> Future for CatchPanic<F>
where
    F: Future<Output = Result<Response, PluginError>>,
{
    type Output = Finished;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished> {
        let this = self.project();
        if this.request.is_none() {
            // Polled again after it completed (or a panic was answered): never completes.
            return Poll::Pending;
        }
        let inner = this.inner;
        let result = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result,
            Err(_) => {
                DNS_METRICS.panicked();
                tracing::error!("a plugin panicked; answering SERVFAIL");
                Err(PluginError::failed("server", "plugin panicked"))
            }
        };
        match this.request.take() {
            Some(request) => Poll::Ready(Finished { request, result }),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use hickory_proto::op::Message;
    use hickory_proto::rr::Name;

    use super::*;

    /// An answer's own EDNS options (an Extended DNS Error, an upstream's NSID) reach
    /// the client on our OPT record; an upstream's cookie, keepalive and padding do not.
    #[test]
    fn an_answers_options_reach_the_client_but_the_hop_by_hop_ones() {
        use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
        let mut theirs = Edns::new();
        for (code, data) in [
            (15u16, vec![0, 17]),
            (3, b"up-1".to_vec()),
            (10, vec![7; 24]),
            (11, vec![0, 10]),
            (12, vec![0; 8]),
        ] {
            theirs.options_mut().insert(EdnsOption::Unknown(code, data));
        }
        let mut message = Message::new(
            1,
            hickory_proto::op::MessageType::Response,
            hickory_proto::op::OpCode::Query,
        );
        message.set_edns(theirs);
        let response = Response {
            message,
            writer: "forward",
        };
        let ours = Edns::new();
        let sent = extra_options(Some(&ours), &response).unwrap();
        let mut codes: Vec<u16> = sent
            .options()
            .as_ref()
            .iter()
            .map(|(code, _)| u16::from(*code))
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, [3, 15]);
        assert!(sent.option(EdnsCode::Cookie).is_none());
        // Without the client's OPT record, nothing is added.
        assert!(extra_options(None, &response).is_none());
    }

    /// A chain that panics is answered SERVFAIL from the header alone, echoing the
    /// request's ID and question.
    #[tokio::test]
    async fn a_panicking_chain_is_answered_servfail() {
        let question = Query::query(Name::from_ascii("Web.Example.org.").unwrap(), RecordType::A);
        let mut metadata = Metadata::new(
            4242,
            hickory_proto::op::MessageType::Query,
            hickory_proto::op::OpCode::Query,
        );
        metadata.recursion_desired = true;
        let request = Request {
            block: Arc::new(Block {
                udp_payload: clusterdns_api::wire::MAX_UDP_PAYLOAD,
                zones: Vec::new(),
                chain: Vec::new(),
                metrics: false,
            }),
            zone: Label(Arc::from("example.org.")),
            server: Label(Arc::from("dns://:53")),
            metadata,
            question: question.clone(),
            protocol: Protocol::Udp,
            client: SocketAddr::from(([127, 0, 0, 1], 5353)),
            start: Instant::now(),
            request_size: 40,
            answer_edns: None,
            max_size: 512,
            dnssec_ok: false,
        };
        let job = CatchPanic {
            inner: async { panic!("plugin bug") },
            request: Some(request),
        }
        .await;
        let mut buf = Vec::new();
        assert!(finish(job, &mut buf));
        let reply = Message::from_vec(&buf).unwrap();
        assert_eq!(reply.metadata.id, 4242);
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert!(reply.metadata.recursion_desired);
        assert_eq!(reply.queries, vec![question]);
        assert!(reply.answers.is_empty());
    }
}
