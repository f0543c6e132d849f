//! The `forward` plugin: proxies queries for a zone to upstream resolvers over UDP
//! and TCP, with health checks, upstream selection policies and a limit on queries in
//! flight. See the crate's README for the Corefile syntax.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod budget;
mod coalesce;
mod config;
mod errors;
mod exchange;
mod metrics;
mod plugin;
mod policy;
mod rcode;
mod tls;
mod upstream;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

pub use errors::{ExchangeError, ForwardError, SetupError, TlsError};
pub use plugin::Forward;

use config::ForwardConfig;

/// Builds the plugin from `forward FROM TO... { ... }`.
///
/// A resolv.conf given as TO is read here, once. No socket is opened and no task is
/// started until the first query: health checks start when an upstream fails, and the
/// task closing idle connections when the first one is kept.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = ForwardConfig::parse(directive, ctx)?;
    let forward = Forward::new(&config).map_err(|e| directive.error(e.to_string()))?;
    metrics::init();
    Ok(Some(Arc::new(forward)))
}
