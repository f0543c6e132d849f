//! The `hosts` plugin: answers A, AAAA and PTR queries from an `/etc/hosts`-style
//! file and from entries written inline in the Corefile, re-reading the file when it
//! changes. See the crate's README for the Corefile syntax.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod map;
mod metrics;
mod plugin;
mod source;
mod watcher;

#[cfg(test)]
mod test_support;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

pub use plugin::Hosts;

use config::HostsConfig;
use source::HostsSource;

/// Builds the plugin from `hosts [FILE [ZONES...]] { ... }`.
///
/// The file is read here, so answers are right from the first query; a missing file
/// is only logged. The watcher that re-reads it starts here when a Tokio runtime is
/// running, or else with the first query.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = HostsConfig::parse(directive, ctx)?;
    let source = Arc::new(HostsSource::new(
        config.path,
        config.zones.clone(),
        config.reverse,
        &config.inline,
    ));
    source.reload_if_changed();
    let hosts = Hosts::new(
        source,
        config.zones,
        config.ttl,
        config.reload,
        config.fallthrough,
        config.fallthrough_unsupported,
    );
    hosts.ensure_watcher();
    Ok(Some(Arc::new(hosts)))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
