//! The search path walk (CoreDNS `AutoPath.ServeDNS` and `cnamer`).

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::CNAME;
use clusterdns_api::proto::rr::{Name, RData, Record};
use clusterdns_api::{Ctx, Next, PluginError, Response};

/// Whether the rest of the chain wrote an answer a client takes (CoreDNS
/// `plugin.ClientWrite`): errors that the server answers itself are not.
fn client_write(rcode: ResponseCode) -> bool {
    !matches!(
        rcode,
        ResponseCode::ServFail
            | ResponseCode::Refused
            | ResponseCode::FormErr
            | ResponseCode::NotImp
    )
}

/// Asks the rest of the chain for `base` under each element of `path` in turn (`path`
/// ends with the root: `base` alone). The first answer that is not NXDOMAIN is sent,
/// with a CNAME from the name asked to its owner when they differ; when every answer
/// is NXDOMAIN (or an error), the first one is sent, and the client walks its path.
pub(crate) async fn walk(
    ctx: &mut Ctx,
    next: Next<'_>,
    path: Vec<Name>,
) -> Result<Response, PluginError> {
    let original = ctx.qname().clone();
    let Some(first) = path.first() else {
        return next.run(ctx).await;
    };
    let base_labels = original.num_labels().saturating_sub(first.num_labels());
    let Ok(mut base) = Name::from_labels(original.iter().take(usize::from(base_labels))) else {
        return next.run(ctx).await;
    };
    base.set_fqdn(false);
    let mut first_reply: Option<Response> = None;
    for (step, suffix) in path.iter().enumerate() {
        let Ok(candidate) = base.clone().append_domain(suffix) else {
            continue;
        };
        let mut sub = ctx.clone();
        sub.query.set_name(candidate);
        let reply = next.run(&mut sub).await?;
        let rcode = reply.rcode();
        let usable = client_write(rcode) && rcode != ResponseCode::NXDomain;
        if usable {
            let mut reply = reply;
            cname_to(&mut reply, &original);
            // Counted when the walk saved the client a query: a name found as asked is
            // answered the same on the wire path, where nothing walks (and nothing counts).
            if step > 0 {
                crate::metrics::success(&ctx.server);
            }
            return Ok(reply);
        }
        if first_reply.is_none() {
            first_reply = Some(reply);
        }
    }
    match first_reply {
        Some(reply) => Ok(reply),
        None => next.run(ctx).await,
    }
}

/// Puts a CNAME from `original` to the owner of the first answer record not owned by
/// `original` in front of the answer (its TTL that record's), so that the client
/// accepts records of a name it did not ask for.
fn cname_to(reply: &mut Response, original: &Name) {
    let Some(found) = reply.message.answers.iter().find(|r| r.name != *original) else {
        return;
    };
    let cname = Record::from_rdata(
        original.clone(),
        found.ttl,
        RData::CNAME(CNAME(found.name.clone())),
    );
    reply.message.answers.insert(0, cname);
}
