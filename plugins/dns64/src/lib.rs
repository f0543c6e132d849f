//! `dns64`: AAAA answers synthesized from A answers, for IPv6-only clients behind NAT64
//! (RFC 6147), as CoreDNS's dns64 plugin makes them. See the crate's README.
//!
//! An AAAA query (class IN, from an IPv6 client unless `allow_ipv4`) goes down the chain
//! as asked. When the answer has no AAAA record (or always, with `translate_all`) and is
//! not a name error, the same name is asked again with type A down the rest of the
//! chain, and each A record of that answer becomes an AAAA record: the IPv4 address
//! embedded in the prefix as RFC 6052 lays it out.
//!
//! On the wire path every AAAA query it may translate goes to the ordinary path, except
//! one the cluster zone answers with AAAA records (asked of the block's
//! [`ClusterDirectory`](clusterdns_api::ClusterDirectory), when it has `kubernetes`):
//! that answer is left as it is, so `kubernetes` may write it on the wire path. On an
//! IPv6-only cluster that is nearly every query a pod sends.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod metrics;
mod synthesize;

use std::sync::Arc;

use clusterdns_api::proto::rr::{DNSClass, RecordType};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{
    BoxFuture, ClusterHandle, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response,
    SetupCtx,
};

pub use config::{Config, Prefix};

/// The directive name, also the `writer` of synthesized answers.
const NAME: &str = "dns64";

/// Reads `dns64 [PREFIX] [{ prefix PREFIX; translate_all; allow_ipv4 }]`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = Config::parse(directive)?;
    metrics::register();
    // Not required: without `kubernetes` in the block every AAAA query it may
    // translate takes the ordinary path, as it always did.
    Ok(Some(Arc::new(Dns64::new(config, ctx.cluster.clone()))))
}

/// The `dns64` plugin.
#[derive(Clone, Debug)]
pub struct Dns64 {
    config: Config,
    /// The block's cluster, if it has one: which AAAA answers it leaves alone.
    cluster: ClusterHandle,
}

impl Dns64 {
    /// A plugin translating as `config` says; `cluster` (possibly never provided)
    /// tells it which cluster names already have AAAA records.
    pub fn new(config: Config, cluster: ClusterHandle) -> Self {
        Self { config, cluster }
    }

    /// Whether the query may be translated (CoreDNS `requestShouldIntercept`): type
    /// AAAA, class IN, and from an IPv6 client unless `allow_ipv4`.
    fn intercepts(&self, ctx: &Ctx) -> bool {
        ctx.qtype() == RecordType::AAAA
            && ctx.qclass() == DNSClass::IN
            && (self.config.allow_ipv4 || ctx.src.ip().to_canonical().is_ipv6())
    }
}

impl Plugin for Dns64 {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        if !self.intercepts(ctx) {
            return next.run(ctx);
        }
        Box::pin(async move {
            let original = next.run(ctx).await?;
            if !synthesize::wanted(&original, self.config.translate_all) {
                return Ok(original);
            }
            let mut ask_a = ctx.clone();
            ask_a.query.set_query_type(RecordType::A);
            let a_answer = next.run(&mut ask_a).await?;
            let answer = synthesize::answer(ctx, &self.config.prefix, &original, a_answer);
            metrics::translated(&ctx.server);
            Ok(answer)
        })
    }

    /// Hands on what it would not translate: other types, IPv4 clients (without
    /// `allow_ipv4`), and names the cluster zone answers with AAAA records (without
    /// `translate_all`), which [`synthesize::wanted`] leaves as they are, so the
    /// bytes are the same as the ordinary path's.
    fn serve_wire(&self, query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        if query.qtype() != RecordType::AAAA {
            return Wire::Pass;
        }
        if let Some(client) = query.client()
            && !self.config.allow_ipv4
            && client.ip().to_canonical().is_ipv4()
        {
            return Wire::Pass;
        }
        if self.config.translate_all {
            return Wire::Ordinary;
        }
        match self.cluster.get() {
            Some(directory) if directory.answers_addresses(query) => Wire::Pass,
            _ => Wire::Ordinary,
        }
    }
}

#[cfg(test)]
mod tests;
