//! The `template` plugin: answers queries from record templates, selected by class,
//! type, zone and regular expression, as CoreDNS's `template` does. Its most common
//! use in clusters is the IPv4-only AAAA filter, `template IN AAAA . { rcode NOERROR }`,
//! which is answered on the wire path. See the crate's README for the syntax.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod gotmpl;
mod metrics;
mod plugin;
mod rr;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, Plugin, SetupCtx};

pub use plugin::Template;

/// Builds one plugin from `template CLASS TYPE [ZONE...] { ... }`.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let config = config::TemplateConfig::parse(directive, ctx)?;
    Ok(Some(Arc::new(Template::new(config))))
}

#[cfg(test)]
mod tests;
