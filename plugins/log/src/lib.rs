//! `log`: one line per query, after the chain has answered it.
//!
//! The line is CoreDNS's Common Log Format unless the Corefile gives another, so tools
//! that parse CoreDNS query logs keep working:
//!
//! ```text
//! 127.0.0.1:40212 - 39437 "A IN example.org. udp 41 false 512" NOERROR qr,aa,rd 68 0.000123456s
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod classify;
mod format;
mod setup;

use std::sync::Arc;
use std::time::Instant;

use clusterdns_api::proto::op::{Edns, Message, ResponseCode};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Protocol, Response};

pub use classify::{ResponseClass, ResponseType};
pub use format::{COMBINED, COMMON, Entry, Format};
pub use setup::{Classes, Rule, setup};

/// Where lines go: tracing in the server, a collector in tests.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// The `log` plugin of one `log` line.
pub struct Log {
    rules: Vec<Rule>,
    sink: Sink,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Log {
    /// A plugin with `rules`, logging at INFO through tracing (target
    /// `clusterdns::log`).
    pub fn new(rules: Vec<Rule>) -> Self {
        Self::with_sink(
            rules,
            Arc::new(|line| tracing::info!(target: "clusterdns::log", "{line}")),
        )
    }

    /// A plugin with `rules`, logging to `sink`.
    pub fn with_sink(rules: Vec<Rule>, sink: Sink) -> Self {
        Self { rules, sink }
    }

    /// Logs `result`, the chain's outcome for `ctx`, if `rule` takes it.
    fn log(
        &self,
        rule: &Rule,
        ctx: &Ctx,
        result: &mut Result<Response, PluginError>,
        start: Instant,
    ) {
        let duration = start.elapsed();
        // An error is answered SERVFAIL by the server; log that answer, as CoreDNS
        // logs the SERVFAIL it writes for a failed plugin.
        let mut failed;
        let message = match result {
            Ok(response) => &mut response.message,
            Err(_) => {
                failed = Response::new(ctx, "log", ResponseCode::ServFail);
                &mut failed.message
            }
        };
        let response_type = ResponseType::of(message, ctx.qtype());
        if !rule.classes.contains(response_type.class()) {
            return;
        }
        let rsize = if rule.format.needs_rsize() {
            wire_size(ctx, message)
        } else {
            None
        };
        let entry = Entry {
            name: ctx.qname().to_lowercase().to_ascii(),
            qtype: ctx.qtype(),
            qclass: ctx.qclass(),
            protocol: ctx.protocol,
            remote: ctx.src,
            local: ctx.local,
            size: ctx.request_size,
            id: ctx.metadata.id,
            opcode: ctx.metadata.op_code,
            dnssec_ok: ctx.dnssec_ok(),
            bufsize: match ctx.protocol {
                Protocol::Tcp => u16::MAX,
                Protocol::Udp => ctx.udp_payload(),
            },
            header: message.metadata,
            rsize,
            duration,
            response_type,
        };
        (self.sink)(&rule.format.render(&entry));
    }
}

/// The size of `message` once the server adds the question and, for an EDNS client,
/// an OPT record: measured before any UDP truncation. The question and EDNS are put
/// in place for the measurement and put back after, so the answer is not copied.
fn wire_size(ctx: &Ctx, message: &mut Message) -> Option<usize> {
    let queries = std::mem::replace(&mut message.queries, vec![ctx.query.clone()]);
    let edns = std::mem::replace(&mut message.edns, ctx.edns.as_ref().map(|_| Edns::new()));
    let size = message.to_vec().ok().map(|wire| wire.len());
    message.queries = queries;
    message.edns = edns;
    size
}

impl Plugin for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async move {
            // The first rule whose name covers the query decides, as in CoreDNS.
            let Some(rule) = self.rules.iter().find(|r| r.scope.zone_of(ctx.qname())) else {
                return next.run(ctx).await;
            };
            let start = Instant::now();
            let mut result = next.run(ctx).await;
            self.log(rule, ctx, &mut result, start);
            result
        })
    }
}

#[cfg(test)]
mod tests;
