//! `loop`: detect a forwarding loop at start.
//!
//! When the server starts (or a reload builds this plugin), it sends itself a query
//! `HINFO <random>.<random>.<zone>` on its own listener. A name that random is never
//! asked by anyone else; if this plugin sees it pass by more than twice, the query went
//! out through `forward` and came back: a loop (typically `/etc/resolv.conf` pointing at
//! a local stub resolver that forwards back to us).
//!
//! CoreDNS then exits, and the pod crash-loops. Here the loop is logged clearly, queries
//! for the zone are answered SERVFAIL at once (so the loop stops amplifying), and the
//! plugin reports not ready, so `/ready` tells the operator — the process stays up and
//! keeps serving everything else.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod probe;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{
    BoxFuture, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response, SetupCtx,
};

/// How many times the probe may pass before it is a loop (CoreDNS: more than twice).
const LOOP_THRESHOLD: u32 = 2;

/// Reads `loop` (no arguments) and builds the plugin for the block's first zone.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.check_args(0, 0)?;
    let zone = ctx.zones.first().cloned().unwrap_or_else(Name::root);
    let probe = probe_name(&zone)
        .map_err(|e| directive.error(format!("cannot build a probe name under {zone}: {e}")))?;
    Ok(Some(Arc::new(Loop::new(zone, probe))))
}

fn probe_name(zone: &Name) -> Result<Name, clusterdns_api::proto::ProtoError> {
    let first: u64 = rand::random();
    let second: u64 = rand::random();
    Name::from_ascii(format!("{first}.{second}"))?.append_domain(zone)
}

/// The loop detector of one server block.
pub struct Loop {
    zone: Name,
    probe: Name,
    /// Times the probe was seen.
    seen: AtomicU32,
    /// Whether probing is over (found nothing): from then on the plugin only passes
    /// queries on.
    done: Arc<AtomicBool>,
    /// Whether a loop was found.
    looping: AtomicBool,
    /// Whether the probe task was started (once, even if started is called per listener).
    probing: AtomicBool,
}

impl Loop {
    fn new(zone: Name, probe: Name) -> Self {
        Self {
            zone,
            probe,
            seen: AtomicU32::new(0),
            done: Arc::new(AtomicBool::new(false)),
            looping: AtomicBool::new(false),
            probing: AtomicBool::new(false),
        }
    }

    /// The probe's name, for tests.
    pub fn probe(&self) -> &Name {
        &self.probe
    }

    /// Whether a loop was detected.
    pub fn is_looping(&self) -> bool {
        self.looping.load(Ordering::Relaxed)
    }

    fn observe(&self, ctx: &Ctx) {
        // `Name` equality ignores case, as DNS does.
        if ctx.qtype() != RecordType::HINFO || *ctx.qname() != self.probe {
            return;
        }
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen > LOOP_THRESHOLD && !self.looping.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "plugin/loop: Loop ({} -> {}) detected for zone {:?}: the server forwards \
                 queries for this zone back to itself (check the upstreams of `forward`, \
                 often /etc/resolv.conf pointing at a local resolver). Query: \"HINFO {}\". \
                 Answering SERVFAIL for the zone and reporting not ready.",
                ctx.src,
                ctx.local,
                self.zone.to_string(),
                self.probe
            );
        }
    }
}

impl Plugin for Loop {
    fn name(&self) -> &'static str {
        "loop"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        if self.looping.load(Ordering::Relaxed) && self.zone.zone_of(ctx.qname()) {
            let response = Response::new(ctx, "loop", ResponseCode::ServFail);
            return Box::pin(async move { Ok(response) });
        }
        if !self.done.load(Ordering::Relaxed) {
            self.observe(ctx);
        }
        next.run(ctx)
    }

    /// Once the probe is over and no loop was found, queries only pass through.
    fn serve_wire(&self, _query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        if self.done.load(Ordering::Relaxed) && !self.looping.load(Ordering::Relaxed) {
            Wire::Pass
        } else {
            Wire::Ordinary
        }
    }

    fn ready(&self) -> bool {
        !self.is_looping()
    }

    fn started(&self, listen: &[SocketAddr]) {
        let Some(target) = listen.first().copied() else {
            return;
        };
        if self.probing.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("plugin/loop: no runtime to send the probe from; loop detection is off");
            return;
        };
        runtime.spawn(probe::run(
            probe::loopback(target),
            self.probe.clone(),
            self.done.clone(),
        ));
    }
}

#[cfg(test)]
mod tests;
