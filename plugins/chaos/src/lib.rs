//! `chaos`: answers the server's identity in class CH, as `dig CH TXT version.bind`
//! asks for it: `version.bind` and `version.server` (the version), `authors.bind` (the
//! authors), `hostname.bind` and `id.server` (the host name). See the crate's README.
//!
//! The server hands queries of class CH only to blocks with this plugin (everything
//! else of that class is REFUSED), and this plugin answers every CH query it gets, so
//! no CH query is ever forwarded: a CH question for any other name or type is REFUSED
//! here.
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::TXT;
use clusterdns_api::proto::rr::{DNSClass, RData, Record, RecordType};
use clusterdns_api::{
    BoxFuture, ConfigError, Ctx, Directive, Next, Plugin, PluginError, Response, SetupCtx,
};

/// The directive name, also the `writer` of every answer.
const NAME: &str = "chaos";

/// What `version.bind` answers when the Corefile names no version.
pub fn default_version() -> String {
    format!("clusterdns-{}", env!("CARGO_PKG_VERSION"))
}

/// Reads `chaos [VERSION] [AUTHORS...]`.
pub fn setup(
    directive: &Directive,
    _ctx: &mut SetupCtx,
) -> Result<Option<Arc<dyn Plugin>>, ConfigError> {
    directive.no_block()?;
    let mut args = directive.args.iter().map(|token| token.text.clone());
    let version = args.next().unwrap_or_else(default_version);
    let authors = args.collect();
    Ok(Some(Arc::new(Chaos {
        version,
        authors,
        hostname: hostname(),
    })))
}

/// The `chaos` plugin.
#[derive(Clone, Debug)]
pub struct Chaos {
    version: String,
    authors: Vec<String>,
    hostname: String,
}

impl Chaos {
    /// The TXT strings a name stands for; `None` for names this plugin does not know.
    fn texts(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "version.bind." | "version.server." => Some(vec![self.version.clone()]),
            "authors.bind." => Some(self.authors.clone()),
            "hostname.bind." | "id.server." => Some(vec![self.hostname.clone()]),
            _ => None,
        }
    }

    /// The answer to a CH query: one TXT record per string (TTL 0, class CH) for the
    /// names above, REFUSED for anything else.
    fn answer(&self, ctx: &Ctx) -> Response {
        let name = ctx.qname().to_lowercase().to_string();
        let texts = match (ctx.qtype(), self.texts(&name)) {
            (RecordType::TXT, Some(texts)) => texts,
            _ => return Response::new(ctx, NAME, ResponseCode::Refused),
        };
        let records = texts
            .into_iter()
            .map(|text| {
                let mut record =
                    Record::from_rdata(ctx.qname().clone(), 0, RData::TXT(TXT::new(vec![text])));
                record.dns_class = DNSClass::CH;
                record
            })
            .collect();
        Response::authoritative(ctx, NAME, ResponseCode::NoError, records)
    }
}

impl Plugin for Chaos {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        if ctx.qclass() != DNSClass::CH {
            return next.run(ctx);
        }
        let response = self.answer(ctx);
        Box::pin(async move { Ok(response) })
    }

    fn answers_class(&self, class: DNSClass) -> bool {
        class == DNSClass::CH
    }
}

/// The host name (in a pod, the pod's name), as `hostname.bind` reports it: the
/// kernel's, read where Linux publishes it, else `$HOSTNAME`, else `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests;
