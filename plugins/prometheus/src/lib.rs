//! The `prometheus` plugin: exports the process's metrics over HTTP.
//!
//! It adds nothing to the query chain. It asks the server to serve `/metrics` with the
//! process-wide registry in OpenMetrics text, and marks its server block so the server
//! records CoreDNS's per-query metrics (`coredns_dns_requests_total`, ...) for it. See
//! the crate's README.

// Tests may unwrap; the non-test build of the crate is still checked for it.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod build_info;
mod process;

use std::sync::Arc;

use clusterdns_api::{ConfigError, Directive, HttpReply, HttpRoute, Plugin, SetupCtx};

/// CoreDNS's default listen address for `/metrics`.
pub const DEFAULT_ADDR: &str = "localhost:9153";
/// The path of the endpoint.
pub const PATH: &str = "/metrics";
/// What `/metrics` answers: the text the registry encodes is OpenMetrics.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads `prometheus [ADDRESS]`, registers the `/metrics` route and turns on the
/// per-query metrics of the block.
pub fn setup(
    directive: &Directive,
    ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.no_block()?;
    let addr = clusterdns_api::http_endpoint(directive, DEFAULT_ADDR)?;
    build_info::register();
    ctx.metrics = true;
    ctx.http_routes.push(HttpRoute {
        addr,
        path: PATH,
        handler: Arc::new(handle),
    });
    Ok(None)
}

/// Answers one `/metrics` scrape: the `coredns_*` families, then the process ones
/// (`process_*`, `go_goroutines`), which dashboards read without the prefix.
fn handle() -> HttpReply {
    let coredns = clusterdns_api::metrics::encode_text();
    let mut body = coredns
        .strip_suffix("# EOF\n")
        .unwrap_or(&coredns)
        .to_owned();
    process::encode_text(&mut body);
    body.push_str("# EOF\n");
    HttpReply {
        status: 200,
        content_type: CONTENT_TYPE,
        body,
    }
}

#[cfg(test)]
mod tests;
