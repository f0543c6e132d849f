//! `k8s_external`: answers for the external IPs and load balancer ingress of Services
//! under zones of the operator's choosing (`service.namespace.example.org`), as CoreDNS's
//! k8s_external plugin does. See the crate's README.
//!
//! It runs before `kubernetes` and reads that plugin's index through the block's
//! [`ClusterDirectory`](clusterdns_api::ClusterDirectory): no second watch of the cluster.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod answer;
mod config;
mod lookup;

use std::sync::Arc;

use clusterdns_api::proto::rr::Name;
use clusterdns_api::wire::{Wire, WireName, WireQuery};
use clusterdns_api::zone::longest_match;
use clusterdns_api::{
    BoxFuture, ClusterHandle, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response,
    SetupCtx,
};

pub use config::Config;

/// The directive name, also the `writer` of its answers.
const NAME: &str = "k8s_external";

/// Reads `k8s_external [ZONE...] [{ ... }]`; the block must also have `kubernetes`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = Config::parse(directive, &ctx.zones)?;
    ctx.cluster.require(&directive.name);
    Ok(Some(Arc::new(External::new(config, ctx.cluster.clone()))))
}

/// The `k8s_external` plugin.
pub struct External {
    config: Config,
    /// The zones on the wire path.
    wire_zones: Vec<WireName>,
    cluster: ClusterHandle,
}

impl External {
    /// A plugin answering `config`'s zones from `cluster`.
    pub fn new(config: Config, cluster: ClusterHandle) -> Self {
        Self {
            wire_zones: config.zones.iter().map(WireName::new).collect(),
            config,
            cluster,
        }
    }

    fn zone_of(&self, qname: &Name) -> Option<Name> {
        longest_match(qname, &self.config.zones).cloned()
    }
}

impl Plugin for External {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let qname = ctx.qname().to_lowercase();
        let (Some(zone), Some(directory)) = (self.zone_of(&qname), self.cluster.get()) else {
            return next.run(ctx);
        };
        let directory = directory.clone();
        Box::pin(
            async move { answer::serve(&self.config, &*directory, &qname, &zone, ctx, next).await },
        )
    }

    fn serve_wire(&self, query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        if self
            .wire_zones
            .iter()
            .any(|zone| zone.start_in(query).is_some())
        {
            Wire::Ordinary
        } else {
            Wire::Pass
        }
    }
}

#[cfg(test)]
mod tests;
