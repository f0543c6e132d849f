//! `errors`: logs the errors of the plugins after it.
//!
//! When the rest of the chain fails, the server answers SERVFAIL and the failure would
//! otherwise go unseen; this plugin logs it the way CoreDNS does,
//! `plugin/errors: 2 example.org. A: <error>` (2 being SERVFAIL's rcode), and hands
//! the same error back. `consolidate` rules fold floods of similar errors (an upstream
//! timing out) into one summary line per period.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod consolidate;
mod flusher;
mod setup;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::RecordType;
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};

pub use consolidate::{Consolidator, Level, Outcome, Rule, go_duration};
pub use setup::setup;

use flusher::Shared;

/// Where log lines go: the tracing logger in the server, a collector in tests.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// The `errors` plugin.
pub struct Errors {
    shared: Arc<Shared>,
    /// Whether there are `consolidate` rules: without them the common path takes no
    /// lock at all.
    consolidating: bool,
}

impl std::fmt::Debug for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Errors")
            .field("consolidating", &self.consolidating)
            .finish_non_exhaustive()
    }
}

impl Errors {
    /// A plugin with `rules`, logging through tracing.
    pub fn new(rules: Vec<Rule>) -> Self {
        Self::with_sink(rules, Arc::new(log_to_tracing))
    }

    /// A plugin with `rules`, logging to `sink`.
    pub fn with_sink(rules: Vec<Rule>, sink: Sink) -> Self {
        let consolidating = !rules.is_empty();
        Self {
            shared: Arc::new(Shared::new(Consolidator::new(rules), sink)),
            consolidating,
        }
    }

    /// Logs (or counts) the failure of `ctx`'s query.
    fn report(&self, ctx: &Ctx, error: &PluginError) {
        let text = error.to_string();
        let outcome = if self.consolidating {
            self.consolidate(&text)
        } else {
            Outcome::Log
        };
        let level = match outcome {
            Outcome::Counted => return,
            Outcome::Log => Level::Error,
            Outcome::LogFirst(level) => level,
        };
        // The server answers SERVFAIL for every plugin error, so that is the rcode
        // CoreDNS would print.
        let line = format!(
            "{} {} {}: {text}",
            u16::from(ResponseCode::ServFail),
            ctx.qname().to_lowercase().to_ascii(),
            type_name(ctx.qtype()),
        );
        (self.shared.sink)(level, &line);
    }

    /// Runs `text` through the consolidation rules, first closing the windows that
    /// are due: that alone keeps summaries flowing while errors keep coming, even
    /// without the background flusher.
    fn consolidate(&self, text: &str) -> Outcome {
        let now = Instant::now();
        let (due, outcome, woken) = {
            let mut state = self.shared.state.lock();
            let due = state.flush(now);
            let before = state.next_deadline();
            let outcome = state.record(text, now);
            let after = state.next_deadline();
            // The flusher sleeps until the earliest deadline it knew of; it must
            // hear about an earlier one.
            let woken = match (before, after) {
                (None, Some(_)) => true,
                (Some(b), Some(a)) => a < b,
                _ => false,
            };
            (due, outcome, woken)
        };
        self.shared.emit(due);
        if woken {
            flusher::ensure_started(&self.shared);
            self.shared.wake.notify_one();
        }
        outcome
    }
}

impl Drop for Errors {
    /// Prints what the open windows counted so far, as CoreDNS does on shutdown; a
    /// reload drops the old chain, so counts are not lost then either.
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        let pending = self.shared.state.lock().flush_all();
        self.shared.emit(pending);
        self.shared.wake.notify_one();
    }
}

impl Plugin for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async move {
            let result = next.run(ctx).await;
            if let Err(error) = &result {
                self.report(ctx, error);
            }
            result
        })
    }

    /// Wire answers are never errors: nothing to report.
    fn serve_wire(&self, _query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        Wire::Pass
    }
}

/// A type's mnemonic as CoreDNS prints it (`TYPE65534` for one without a name).
fn type_name(qtype: RecordType) -> String {
    match qtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

/// The default sink: tracing, under the `plugin/errors:` prefix CoreDNS's logger adds.
fn log_to_tracing(level: Level, line: &str) {
    match level {
        Level::Error => tracing::error!(target: "clusterdns::errors", "plugin/errors: {line}"),
        Level::Warning => tracing::warn!(target: "clusterdns::errors", "plugin/errors: {line}"),
        Level::Info => tracing::info!(target: "clusterdns::errors", "plugin/errors: {line}"),
        Level::Debug => tracing::debug!(target: "clusterdns::errors", "plugin/errors: {line}"),
    }
}

#[cfg(test)]
mod tests;
