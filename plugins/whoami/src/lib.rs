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
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::wire::{AnswerWriter, Section, Wire, WireQuery};
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

    /// The same answer written on the wire: the address record's owner points at the
    /// question, the SRV owner is `_udp`/`_tcp` and a pointer to it, as the ordinary
    /// path's encoder compresses them. The root name (written without a pointer there)
    /// and names too long for the SRV owner take the ordinary path.
    fn serve_wire(&self, query: &mut WireQuery<'_>, buf: &mut Vec<u8>) -> Wire {
        let Some(client) = query.client() else {
            return Wire::Ordinary;
        };
        let label: &[u8] = if query.over_udp() { b"_udp" } else { b"_tcp" };
        if query.label_count() == 0 || query.raw_suffix(0).len() + 1 + label.len() > 255 {
            return Wire::Ordinary;
        }
        let name = query.pointer_to(0);
        let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
        writer.section(Section::Additional);
        writer.address(&name, 0, client.ip().to_canonical());
        let mut owner = Vec::with_capacity(1 + label.len() + name.len());
        owner.push(label.len() as u8);
        owner.extend_from_slice(label);
        owner.extend_from_slice(&name);
        writer.record(&owner, RecordType::SRV, 0, |rdata| {
            // Priority 0, weight 0, the client's port, the root as target.
            rdata.extend_from_slice(&[0, 0, 0, 0]);
            rdata.extend_from_slice(&client.port().to_be_bytes());
            rdata.push(0);
        });
        match writer.finish(query) {
            Some(_) => Wire::Answered {
                rcode: ResponseCode::NoError,
                writer: NAME,
            },
            None => Wire::Ordinary,
        }
    }
}

#[cfg(test)]
mod tests;
