//! The `ready` plugin: an HTTP readiness endpoint for the Kubernetes probe.
//!
//! It adds nothing to the query chain. It asks the server to serve `/ready`, which
//! reports the readiness of the plugins of the chains in service (through
//! [`Readiness`](clusterdns_api::Readiness)) and turns 503 as soon as shutdown begins,
//! so the Service stops sending queries during lameduck. See the crate's README.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod probe;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, HttpRoute, Plugin, SetupCtx};

pub use probe::Monitor;
use probe::ReadyProbe;

/// CoreDNS's default listen address for `/ready`.
pub const DEFAULT_ADDR: &str = ":8181";
/// The path of the endpoint.
pub const PATH: &str = "/ready";

/// Reads `ready [ADDRESS] { monitor until-ready|continuously }` and registers the
/// `/ready` route.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let addr = clusterdns_api::http_endpoint(directive, DEFAULT_ADDR)?;
    let monitor = parse_block(directive)?;
    let probe = ReadyProbe::new(ctx.readiness.clone(), monitor);
    ctx.http_routes.push(HttpRoute {
        addr,
        path: PATH,
        handler: Arc::new(move || probe.reply()),
    });
    Ok(None)
}

/// Reads the block: `monitor MODE` is its only option.
fn parse_block(directive: &Directive) -> Result<Monitor, ConfigError> {
    let mut monitor = Monitor::UntilReady;
    for line in directive.block_lines() {
        match line.name.text.as_str() {
            "monitor" => {
                line.check_args(1, 1)?;
                let mode = &line.args[0];
                monitor = match mode.text.as_str() {
                    "until-ready" => Monitor::UntilReady,
                    "continuously" => Monitor::Continuously,
                    other => {
                        return Err(mode.error(format!(
                            "monitor: expected until-ready or continuously, got {other:?}"
                        )));
                    }
                };
            }
            _ => return Err(directive.unknown_option(line)),
        }
    }
    Ok(monitor)
}

#[cfg(test)]
mod tests;
