//! `whoami`: answers every query with the client's own address, port and transport.
//!
//! It is the smallest useful plugin: a fast, dependency-free endpoint to check that the
//! server answers at all, which is why CoreDNS loads it when it has no Corefile. The
//! answer section stays empty; the additional section carries an A (or AAAA) record
//! with the client's IP under the query name, and an SRV record
//! `_<transport>.<qname>` whose port is the client's source port.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::net::IpAddr;
use std::sync::Arc;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::{A, AAAA, SRV};
use clusterdns_api::proto::rr::{Name, RData, Record};
use clusterdns_api::{
    BoxFuture, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response, SetupCtx,
};

/// The directive name, also the `writer` of every answer.
const NAME: &str = "whoami";

/// Builds the plugin from `whoami`, which takes no arguments and no block.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.check_args(0, 0)?;
    Ok(Some(Arc::new(Whoami)))
}

/// The `whoami` plugin. It never calls the rest of the chain: like CoreDNS's, it
/// answers every query, whatever its name or type.
#[derive(Clone, Copy, Debug, Default)]
pub struct Whoami;

impl Whoami {
    /// The answer to `ctx`: NOERROR, AA set, empty answer section, and the client's
    /// address and port in the additional section (TTL 0, so nobody caches it).
    pub fn answer(ctx: &Ctx) -> Result<Response, PluginError> {
        let qname = ctx.qname().clone();
        let class = ctx.qclass();

        // A client on a dual-stack socket shows up as ::ffff:a.b.c.d; CoreDNS reports
        // such a client as IPv4 (an A record), and so do we.
        let address = match ctx.src.ip().to_canonical() {
            IpAddr::V4(ip) => RData::A(A(ip)),
            IpAddr::V6(ip) => RData::AAAA(AAAA(ip)),
        };
        let mut address = Record::from_rdata(qname.clone(), 0, address);
        address.dns_class = class;

        // `prepend_label` only fails when the name would exceed 255 bytes; CoreDNS
        // would fail to pack that answer too, so it is reported as an error.
        let srv_name = qname
            .prepend_label(format!("_{}", ctx.protocol.as_str()))
            .map_err(|e| PluginError::failed(NAME, format!("SRV owner name: {e}")))?;
        let srv = SRV::new(0, 0, ctx.src.port(), Name::root());
        let mut srv = Record::from_rdata(srv_name, 0, RData::SRV(srv));
        srv.dns_class = class;

        let mut response = Response::authoritative(ctx, NAME, ResponseCode::NoError, Vec::new());
        response.message.additionals = vec![address, srv];
        Ok(response)
    }
}

impl Plugin for Whoami {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let answer = Self::answer(ctx);
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests;
