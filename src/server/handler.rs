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
use clusterdns_api::{Ctx, Next, PluginError, Protocol, Response};
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use super::codec::{self, AnswerParts, Decoded, ErrorReply};
use super::routes::{Block, Routes};
use crate::metrics::{DNS_METRICS, QueryRecord};

/// What every connection and worker of one listener shares.
pub struct ListenerState {
    /// The listener's metrics label, e.g. `dns://:53`.
    pub server: Label,
    /// The blocks served, swapped whole on reload.
    pub routes: ArcSwap<Routes>,
    /// The address the listener is bound to.
    pub local: SocketAddr,
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

/// A chain's result with what is needed to encode and count it.
pub struct Finished {
    block: Arc<Block>,
    zone: Label,
    server: Label,
    ctx: Ctx,
    question: Query,
    result: Result<Response, PluginError>,
}

/// Decodes `packet` and either writes an immediate answer into `buf` or returns the
/// chain future that will produce one.
pub fn prepare(
    state: &ListenerState,
    packet: &[u8],
    src: SocketAddr,
    protocol: Protocol,
    buf: &mut Vec<u8>,
) -> Prepared {
    let start = Instant::now();
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
    // Only class IN is served, and zone transfers are not offered.
    if query.query.query_class() != DNSClass::IN
        || matches!(
            query.query.query_type(),
            RecordType::AXFR | RecordType::IXFR
        )
    {
        return refuse(query, buf);
    }
    let routes = state.routes.load();
    let Some(matched) = routes.find(query.query.name()) else {
        return refuse(query, buf);
    };
    let block = matched.block.clone();
    let zone = matched.zone.clone();
    drop(routes);
    let ctx = Ctx {
        metadata: query.metadata,
        query: query.query.clone(),
        edns: query.edns,
        src: canonical(src),
        local: state.local,
        protocol,
        request_size: packet.len(),
        zone: zone.0.clone(),
        server: state.server.0.clone(),
        start,
    };
    let job = Finished {
        block,
        zone,
        server: state.server.clone(),
        ctx,
        question: query.query,
        result: Err(PluginError::NoNextPlugin),
    };
    let fallback = Finished {
        block: job.block.clone(),
        zone: job.zone.clone(),
        server: job.server.clone(),
        ctx: job.ctx.clone(),
        question: job.question.clone(),
        result: Err(PluginError::failed("server", "plugin panicked")),
    };
    Prepared::Run(Box::pin(CatchPanic {
        inner: Box::pin(run_chain(job)),
        fallback: Some(fallback),
    }))
}

async fn run_chain(mut job: Finished) -> Finished {
    let block = job.block.clone();
    job.result = Next::new(&block.chain).run(&mut job.ctx).await;
    job
}

/// Encodes the chain's answer into `buf` and records metrics. Returns whether there is
/// something to send.
pub fn finish(job: Finished, buf: &mut Vec<u8>) -> bool {
    let over_udp = job.ctx.protocol == Protocol::Udp;
    let response = match job.result {
        Ok(response) => response,
        Err(_) => Response::new(&job.ctx, "", ResponseCode::ServFail),
    };
    let mut metadata = response.message.metadata;
    let request = &job.ctx.metadata;
    metadata.id = request.id;
    metadata.op_code = request.op_code;
    metadata.recursion_desired = request.recursion_desired;
    metadata.checking_disabled = request.checking_disabled;
    let edns = job.ctx.edns.as_ref().map(codec::answer_edns);
    let parts = AnswerParts {
        metadata,
        query: Some(&job.question),
        answers: &response.message.answers,
        authorities: &response.message.authorities,
        additionals: &response.message.additionals,
        edns: edns.as_ref(),
    };
    let max = codec::max_answer_size(job.ctx.edns.as_ref(), over_udp);
    let mut rcode = metadata.response_code;
    let mut writer = response.writer;
    if let Err(error) = codec::encode(&parts, max, buf) {
        tracing::error!(%error, qname = %job.question.name(), "encoding the answer failed");
        rcode = ResponseCode::ServFail;
        writer = "";
        let reply = ErrorReply {
            metadata: job.ctx.metadata,
            query: Some(job.question.clone()),
            edns: job.ctx.edns.clone(),
            rcode,
        };
        if codec::encode_error(&reply, over_udp, buf).is_err() {
            return false;
        }
    }
    if job.block.metrics {
        DNS_METRICS.record(&QueryRecord {
            server: &job.server,
            zone: &job.zone,
            proto: job.ctx.protocol.as_str(),
            ipv6: job.ctx.src.is_ipv6(),
            qtype: job.question.query_type(),
            dnssec_ok: job.ctx.dnssec_ok(),
            request_size: job.ctx.request_size,
            response_size: buf.len(),
            rcode,
            plugin: writer,
            duration: job.ctx.start.elapsed(),
        });
    }
    true
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

/// Turns a panic inside a plugin into a SERVFAIL answer and a `coredns_panics_total`
/// increment, as CoreDNS's recovery does, instead of taking a worker down. It keeps a
/// copy of the job without a result, which [`finish`] answers with SERVFAIL.
struct CatchPanic {
    inner: Pin<Box<dyn Future<Output = Finished> + Send>>,
    fallback: Option<Finished>,
}

impl Future for CatchPanic {
    type Output = Finished;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Finished> {
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(_) => {
                DNS_METRICS.panicked();
                tracing::error!("a plugin panicked; answering SERVFAIL");
                match self.fallback.take() {
                    Some(fallback) => Poll::Ready(fallback),
                    // Polled again after a panic was already answered: never completes.
                    None => Poll::Pending,
                }
            }
        }
    }
}
