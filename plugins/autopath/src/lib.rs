//! `autopath`: the client's search path walked on the server, so a pod whose
//! `resolv.conf` says `ndots:5` gets the answer for `www.example.org` from its first
//! query (`www.example.org.shop.svc.cluster.local`) instead of its fifth, as CoreDNS's
//! autopath plugin does. See the crate's README.
//!
//! With `@kubernetes`, the search path is the one the kubelet gives the client's pod,
//! found through the block's [`ClusterDirectory`](clusterdns_api::ClusterDirectory)
//! from the client's address (which needs `pods verified`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod metrics;
mod walk;

use std::sync::Arc;

use clusterdns_api::proto::rr::Name;
use clusterdns_api::wire::{Wire, WireName, WireQuery};
use clusterdns_api::zone::longest_match;
use clusterdns_api::{
    BoxFuture, ClusterHandle, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response,
    SetupCtx,
};

pub use config::{Config, SearchSource};

/// The directive name.
const NAME: &str = "autopath";

/// Reads `autopath [ZONE...] RESOLV-CONF`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = Config::parse(directive, ctx)?;
    if config.search == SearchSource::Kubernetes {
        ctx.cluster.require(&directive.name);
    }
    metrics::register();
    Ok(Some(Arc::new(AutoPath::new(config, ctx.cluster.clone()))))
}

/// The `autopath` plugin.
pub struct AutoPath {
    config: Config,
    wire_zones: Vec<WireName>,
    /// The first element of a static search path, on the wire path.
    wire_first: Option<WireName>,
    cluster: ClusterHandle,
}

impl AutoPath {
    /// A plugin walking `config`'s search path; `cluster` gives it with `@kubernetes`.
    pub fn new(config: Config, cluster: ClusterHandle) -> Self {
        let wire_first = match &config.search {
            SearchSource::Static(path) => path.first().map(WireName::new),
            SearchSource::Kubernetes => None,
        };
        Self {
            wire_zones: config.zones.iter().map(WireName::new).collect(),
            wire_first,
            config,
            cluster,
        }
    }

    /// The search path for this query, if it is to be walked (CoreDNS: a search path
    /// exists and the name is its first element or below it).
    fn search_path(&self, ctx: &Ctx) -> Option<Vec<Name>> {
        let qname = ctx.qname().to_lowercase();
        longest_match(&qname, &self.config.zones)?;
        let path = match &self.config.search {
            SearchSource::Static(path) => path.clone(),
            SearchSource::Kubernetes => {
                let directory = self.cluster.get()?;
                let namespace = directory.pod_namespace(ctx.src.ip().to_canonical())?;
                directory.search_path(&qname, &namespace)?
            }
        };
        let first = path.first()?;
        // A name that is the first element itself has no base to complete (CoreDNS
        // answers it SERVFAIL); it is passed on as asked.
        (first.zone_of(&qname) && qname.num_labels() > first.num_labels()).then_some(path)
    }
}

impl Plugin for AutoPath {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        match self.search_path(ctx) {
            Some(path) => Box::pin(walk::walk(ctx, next, path)),
            None => next.run(ctx),
        }
    }

    /// Hands on what cannot be autopathed: names outside the zones and (with
    /// `@kubernetes`) queries from clients that are not known pods, or whose name does
    /// not have the labels `<namespace>.svc` of the client's namespace. A name that
    /// has them and exists in the cluster zone is handed on too: the walk's first step
    /// is the name itself, its answer is not NXDOMAIN, so the walk would send exactly
    /// the answer `kubernetes` gives (CoreDNS does the same). The rest (names that may
    /// be found further along the path) takes the ordinary path.
    fn serve_wire(&self, query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        if !self.wire_zones.iter().any(|z| z.start_in(query).is_some()) {
            return Wire::Pass;
        }
        if let Some(first) = &self.wire_first {
            return match first.start_in(query) {
                Some(start) if start > 0 => Wire::Ordinary,
                _ => Wire::Pass,
            };
        }
        let (Some(client), Some(directory)) = (query.client(), self.cluster.get()) else {
            return Wire::Ordinary;
        };
        let Some(namespace) = directory.pod_namespace(client.ip().to_canonical()) else {
            return Wire::Pass;
        };
        let count = query.label_count();
        let Some(at) = (1..count.saturating_sub(1)).find(|&i| {
            query.label(i) == Some(namespace.as_bytes()) && query.label(i + 1) == Some(b"svc")
        }) else {
            return Wire::Pass;
        };
        // The walk asks the name with the search domain in lower case: only a name
        // whose `<namespace>.svc...` the client wrote in lower case is the name it asks.
        if query.raw_suffix(at) == query.suffix(at) && directory.holds_name(query) {
            Wire::Pass
        } else {
            Wire::Ordinary
        }
    }
}

#[cfg(test)]
mod tests;
