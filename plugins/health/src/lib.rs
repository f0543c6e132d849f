//! The `health` plugin: an HTTP liveness endpoint, and the lameduck delay on shutdown.
//!
//! It adds nothing to the query chain. It asks the server to serve `/health`, which
//! answers 200 `OK` for as long as the process serves HTTP at all, lameduck included:
//! liveness must not fail while the server drains, or the kubelet would kill it early.
//! See the crate's README for the Corefile syntax.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterdns_api::{ConfigError, Directive, HttpReply, HttpRoute, Plugin, SetupCtx};

/// CoreDNS's default listen address for `/health`.
pub const DEFAULT_ADDR: &str = ":8080";
/// The path of the endpoint.
pub const PATH: &str = "/health";

/// Reads `health [ADDRESS] { lameduck DURATION }`, registers the `/health` route and,
/// with `lameduck`, sets how long the server keeps answering after SIGTERM.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    let addr = clusterdns_api::http_endpoint(directive, DEFAULT_ADDR)?;
    let lameduck = parse_block(directive)?;
    metrics::init();
    if lameduck.is_some() {
        ctx.lameduck = lameduck;
    }
    ctx.http_routes.push(HttpRoute {
        addr,
        path: PATH,
        handler: Arc::new(handle),
    });
    Ok(None)
}

/// Reads the block: `lameduck DURATION` is its only option.
fn parse_block(directive: &Directive) -> Result<Option<Duration>, ConfigError> {
    let mut lameduck = None;
    for line in directive.block_lines() {
        match line.name.text.as_str() {
            "lameduck" => {
                line.check_args(1, 1)?;
                lameduck = Some(line.args[0].duration()?);
            }
            _ => return Err(directive.unknown_option(line)),
        }
    }
    Ok(lameduck)
}

/// Answers one `/health` request, timing it for
/// `coredns_health_request_duration_seconds`.
fn handle() -> HttpReply {
    let start = Instant::now();
    let reply = HttpReply::text(200, "OK");
    metrics::observe(start.elapsed());
    reply
}

#[cfg(test)]
mod tests;
