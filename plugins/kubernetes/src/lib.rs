//! The `kubernetes` plugin: the cluster zone (`cluster.local`), answered from an
//! in-memory index of Services, EndpointSlices, Namespaces (and Pods with
//! `pods verified`), as CoreDNS's kubernetes plugin answers it. See the crate's
//! README for the Corefile syntax and the record rules.
//!
//! # Layout
//!
//! - [`config`]: the directive and its options;
//! - [`object`]: slim objects, and their conversion from the k8s-openapi types;
//! - [`source`]: where objects come from ([`source::manifest`] files, the
//!   [`source::api`] Kubernetes API), as a stream of [`source::Change`]s;
//! - [`index`]: the objects kept the way queries arrive;
//! - `name`, `answer` and `plan`: the name grammar, the lookup, and which records
//!   an answer holds;
//! - `wire`: the same answers written straight into the packet, for the common
//!   queries;
//! - `plugin`: the [`Kubernetes`] plugin in the chain.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod answer;
pub mod config;
mod directory;
pub mod index;
mod metrics;
mod name;
pub mod object;
mod plan;
mod plugin;
pub mod selector;
pub mod source;
mod wire;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;

use std::net::IpAddr;
use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

pub use answer::Settings;
pub use plugin::Kubernetes;

use config::{Config, PodMode};
use index::Index;
use object::{Kind, KindSet};
use source::api::ApiSource;
use source::decode::Filter;
use source::manifest::ManifestSource;
use source::{ChangeSink, Source};

/// Builds the plugin from `kubernetes [ZONES...] { ... }`.
///
/// With `manifests`, the files are read here, so answers are right from the first
/// query; the poller that re-reads them starts with the first query (or when the
/// listeners are up). Without it, the API source starts watching at the same moment.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = Config::parse(directive, ctx)?;
    if config.pods != PodMode::Verified
        && let Some(autopath) = ctx
            .cluster
            .required_by()
            .into_iter()
            .find(|token| token.text == "autopath")
    {
        tracing::warn!(
            "{}:{}: autopath needs `pods verified` in kubernetes to know a client's namespace; without it, queries are not autopathed (as in CoreDNS)",
            autopath.file,
            autopath.line
        );
    }
    let plugin = build(config, local_ips(&ctx.bind));
    let host_search = std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| clusterdns_api::zone::resolv_conf_search(&text))
        .unwrap_or_default();
    ctx.cluster.provide(Arc::new(directory::Directory::new(
        plugin.settings().clone(),
        plugin.index().clone(),
        host_search,
    )));
    Ok(Some(Arc::new(plugin)))
}

/// Builds the plugin from a parsed configuration, with the server's own addresses.
pub fn build(config: Config, local_ips: Vec<IpAddr>) -> Kubernetes {
    let index = Index::new(config.endpoint_pod_names, &config.primary.to_string());
    let mut kinds = KindSet::of(&[Kind::Service, Kind::Namespace]);
    if !config.noendpoints {
        kinds = kinds.with(Kind::EndpointSlice);
    }
    if config.pods == PodMode::Verified {
        kinds = kinds.with(Kind::Pod);
    }
    let mut source: Box<dyn Source> = if config.manifests.is_empty() {
        Box::new(ApiSource::new(
            config.api.clone(),
            config.labels.clone(),
            config.namespace_labels.clone(),
            &index,
            kinds,
        ))
    } else {
        let filter = Filter {
            kinds,
            labels: config.labels.clone(),
            namespace_labels: config.namespace_labels.clone(),
        };
        let feed = ChangeSink::new(&index, kinds);
        Box::new(ManifestSource::new(config.manifests.clone(), filter, feed))
    };
    source.prime();
    let settings = Settings {
        zones: config.zones,
        primary: config.primary,
        ttl: config.ttl,
        pods: config.pods,
        filters_namespaces: !config.namespaces.is_empty() || config.namespace_labels.is_some(),
        namespaces: config.namespaces,
        ignore_empty_service: config.ignore_empty_service,
        fallthrough: config.fallthrough,
        local_ips,
    };
    let plugin = Kubernetes::new(settings, index, source, config.startup_timeout);
    plugin.ensure_started();
    plugin
}

/// The server's own addresses, as CoreDNS finds them: those of `bind`, else every
/// interface address except loopback.
fn local_ips(bind: &[IpAddr]) -> Vec<IpAddr> {
    let specific: Vec<IpAddr> = bind
        .iter()
        .copied()
        .filter(|ip| !ip.is_unspecified())
        .collect();
    if !specific.is_empty() {
        return specific;
    }
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| !ip.is_loopback())
            .collect(),
        Err(_) => Vec::new(),
    }
}
