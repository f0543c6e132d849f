//! `loadbalance`: shuffles the address records of answers (round-robin DNS), and
//! optionally moves addresses from preferred subnets to the front.
//!
//! Clients mostly use the first address they get, so shuffling spreads them over all
//! addresses of a name. CNAMEs are kept before the address records because some stub
//! resolvers (glibc) only follow a CNAME that comes first.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod order;
mod prefer;

use std::sync::Arc;

use clusterdns_api::proto::op::{Message, ResponseCode};
use clusterdns_api::proto::rr::RecordType;
use clusterdns_api::wire::{AnswerOrder, Wire, WireQuery};
use clusterdns_api::{
    BoxFuture, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response, SetupCtx, Token,
};

pub use prefer::Cidr;

/// The directive name.
const NAME: &str = "loadbalance";

/// Builds the plugin from
/// `loadbalance [round_robin | weighted FILE | prefer CIDR...] [{ prefer CIDR... }]`.
///
/// `weighted` is refused: it needs a weight file and its reloader, which clusterdns
/// does not have yet, and silently falling back to `round_robin` would hide that.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let mut preferred = Vec::new();
    match directive.args.split_first() {
        None => {}
        Some((policy, rest)) => match policy.text.as_str() {
            "round_robin" => {
                if let Some(extra) = rest.first() {
                    return Err(extra.error(format!(
                        "{NAME}: unknown property for round_robin: {:?}",
                        extra.text
                    )));
                }
            }
            "prefer" => {
                // Not in CoreDNS, which only takes `prefer` inside the block; accepted
                // on the line as a shorthand for `round_robin { prefer ... }`.
                preferred.extend(parse_cidrs(directive, policy, rest)?);
            }
            "weighted" => {
                return Err(policy.error(format!(
                    "{NAME}: the weighted policy is not supported yet; use round_robin"
                )));
            }
            other => {
                return Err(policy.error(format!(
                    "{NAME}: unknown policy {other:?}: expected round_robin, weighted or prefer"
                )));
            }
        },
    }
    for option in directive.block_lines() {
        match option.name.text.as_str() {
            "prefer" => {
                option.no_block()?;
                preferred.extend(parse_cidrs(directive, &option.name, &option.args)?);
            }
            _ => return Err(directive.unknown_option(option)),
        }
    }
    Ok(Some(Arc::new(LoadBalance { preferred })))
}

/// Parses the CIDRs after `prefer` (`at`), at least one.
fn parse_cidrs(
    directive: &Directive,
    at: &Token,
    args: &[Token],
) -> Result<Vec<Cidr>, ConfigError> {
    if args.is_empty() {
        return Err(at.error(format!(
            "{}: prefer needs at least one CIDR",
            directive.name.text
        )));
    }
    args.iter().map(Cidr::parse).collect()
}

/// The `loadbalance` plugin: round-robin shuffling, then the preferred subnets first.
#[derive(Clone, Debug, Default)]
pub struct LoadBalance {
    preferred: Vec<Cidr>,
}

impl LoadBalance {
    /// Reorders `message` in place, as CoreDNS does when the answer is written: only
    /// NOERROR answers, and never zone transfers, whose record order carries meaning
    /// (the SOA must come first and last).
    pub fn reorder(&self, qtype: RecordType, message: &mut Message) {
        if message.metadata.response_code != ResponseCode::NoError
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return;
        }
        let mut rng = rand::rng();
        for section in [
            &mut message.answers,
            &mut message.authorities,
            &mut message.additionals,
        ] {
            order::round_robin(section, &mut rng);
        }
        if !self.preferred.is_empty() {
            // CoreDNS leaves the authority section out of the subnet ordering.
            for section in [&mut message.answers, &mut message.additionals] {
                prefer::preferred_first(section, &self.preferred);
            }
        }
    }
}

impl Plugin for LoadBalance {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async move {
            let mut response = next.run(ctx).await?;
            self.reorder(ctx.qtype(), &mut response.message);
            Ok(response)
        })
    }

    /// Round robin is a shuffle of the address records, which wire answers do
    /// themselves when asked; `prefer` needs the ordinary path.
    fn serve_wire(&self, query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        if !self.preferred.is_empty() {
            return Wire::Ordinary;
        }
        query.set_order(AnswerOrder::Shuffled);
        Wire::Pass
    }
}

#[cfg(test)]
mod tests;
