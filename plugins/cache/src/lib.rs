//! The `cache` plugin: CoreDNS's response cache. Positive answers go to a `success`
//! store, NXDOMAIN/NODATA (and, briefly, SERVFAIL) to a `denial` store, both bounded;
//! popular entries can be refreshed before they expire (`prefetch`) and expired ones
//! served while the rest of the chain fails (`serve_stale`). See the crate's README
//! for the Corefile syntax and the differences from CoreDNS.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod classify;
mod config;
mod encoded;
mod item;
mod lookup;
mod metrics;
mod plugin;
mod question;
mod store;
mod wire;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

pub use config::set_default_serve_stale;
pub use plugin::Cache;

use config::CacheConfig;

/// Builds the plugin from `cache [TTL] [ZONES...] { ... }`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = CacheConfig::parse(directive, ctx)?;
    Ok(Some(Arc::new(Cache::new(config))))
}

#[cfg(test)]
mod tests;
