//! The `rewrite` plugin in the query chain: the question is rewritten, the rest of the
//! chain answers the rewritten question, and the answer's records are mapped back.
//!
//! The client always gets its own question back: the server writes the question of
//! an answer from the request, never from the chain (so the CoreDNS 1.8.4 regression,
//! answers carrying the rewritten question, cannot happen here), and the plugin
//! restores `ctx.query` (and `ctx.edns`, which `edns0` rules change) before returning.

use clusterdns_api::proto::op::{Edns, Message, ResponseCode};
use clusterdns_api::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use clusterdns_api::wire::{Wire, WireQuery};
use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};

use crate::rules::{Matcher, Mode, ResponseRule, Rule, RuleKind, StringRewriter, expand};

/// The directive name.
const NAME: &str = "rewrite";

/// All `rewrite` lines of a server block, in Corefile order.
pub struct Rewrite {
    rules: Vec<Rule>,
    /// Per rule, the last label (lower case) every name it matches ends with, where
    /// its matcher says so (`exact`, and `suffix` patterns that start a label): the
    /// wire path rules out such a rule for a query whose last label differs, without
    /// spelling the name.
    last_labels: Vec<Option<Vec<u8>>>,
    /// Whether any rule is an `edns0` rule, which changes `ctx.edns`.
    edns0: bool,
}

/// How a rule stands towards a wire query, before the name is spelled.
enum Quick {
    /// It cannot match.
    Never,
    /// It matches.
    Matches,
    /// The name must be spelled to tell.
    Spell,
}

impl Rewrite {
    pub(crate) fn new(rules: Vec<Rule>) -> Self {
        let last_labels = rules.iter().map(|rule| last_label(&rule.kind)).collect();
        let edns0 = rules
            .iter()
            .any(|rule| matches!(rule.kind, RuleKind::Edns0(_)));
        Self {
            rules,
            last_labels,
            edns0,
        }
    }

    /// What `rule` (number `i`) does with a query of `qtype` (class IN) whose last
    /// label is `last` (`None` for the root).
    fn quick(&self, i: usize, qtype: RecordType, last: Option<&[u8]>) -> Quick {
        match &self.rules[i].kind {
            RuleKind::Type { from, .. } => {
                if *from == qtype {
                    Quick::Matches
                } else {
                    Quick::Never
                }
            }
            RuleKind::Class { from, .. } => {
                if *from == DNSClass::IN {
                    Quick::Matches
                } else {
                    Quick::Never
                }
            }
            RuleKind::Edns0(_) => Quick::Matches,
            _ => match (&self.last_labels[i], last) {
                // The root's spelling is ".", which such a pattern is not and does
                // not end with.
                (Some(_), None) => Quick::Never,
                // A label spelled differently differs in bytes too (escapes add a
                // backslash, which the pattern has none of).
                (Some(wanted), Some(last)) if wanted.as_slice() != last => Quick::Never,
                _ => Quick::Spell,
            },
        }
    }

    /// Applies the rules to `ctx.query`; returns what is to be done to the answer.
    fn rewrite_query(&self, ctx: &mut Ctx) -> Result<Vec<ResponseRule>, PluginError> {
        let mut responses = Vec::new();
        for rule in &self.rules {
            let name = ctx.qname().to_lowercase().to_string();
            let done = match &rule.kind {
                RuleKind::Name(rule) => {
                    let Some(new) = rewritten_name(&rule.matcher, &rule.replacement, &name) else {
                        continue;
                    };
                    let mut parsed = Name::from_ascii(&new).map_err(|_| {
                        PluginError::failed(NAME, format!("invalid name after rewrite: {new}"))
                    })?;
                    parsed.set_fqdn(true);
                    ctx.query.set_name(parsed);
                    let mut rules = Vec::with_capacity(rule.responses.len() + 2);
                    if rule.auto {
                        let back = StringRewriter::Remap {
                            from: new,
                            to: name,
                        };
                        rules.push(ResponseRule::Name(back.clone()));
                        rules.push(ResponseRule::Value(back));
                    }
                    rules.extend(rule.responses.iter().cloned());
                    rules
                }
                RuleKind::Type { from, to } => {
                    if ctx.qtype() != *from {
                        continue;
                    }
                    ctx.query.set_query_type(*to);
                    Vec::new()
                }
                RuleKind::Class { from, to } => {
                    if ctx.qclass() != *from {
                        continue;
                    }
                    ctx.query.set_query_class(*to);
                    Vec::new()
                }
                RuleKind::Ttl { matcher, min, max } => {
                    if !matcher.matches(&name) {
                        continue;
                    }
                    vec![ResponseRule::Ttl {
                        min: *min,
                        max: *max,
                    }]
                }
                RuleKind::Rcode { matcher, old, new } => {
                    if !matcher.matches(&name) {
                        continue;
                    }
                    vec![ResponseRule::Rcode {
                        old: *old,
                        new: *new,
                    }]
                }
                RuleKind::Edns0(rule) => {
                    if !rule.apply(ctx) {
                        continue;
                    }
                    Vec::new()
                }
            };
            responses.extend(done);
            if rule.mode == Mode::Stop {
                break;
            }
        }
        Ok(responses)
    }

    /// Whether any rule could act on a query for `name` (lower case, fully qualified,
    /// in presentation form) of type `qtype`, class IN.
    fn any_rule_matches(&self, name: &str, qtype: RecordType) -> bool {
        self.rules.iter().any(|rule| match &rule.kind {
            RuleKind::Name(rule) => rule.matcher.matches(name),
            RuleKind::Type { from, .. } => *from == qtype,
            RuleKind::Class { from, .. } => *from == DNSClass::IN,
            RuleKind::Ttl { matcher, .. } | RuleKind::Rcode { matcher, .. } => {
                matcher.matches(name)
            }
            RuleKind::Edns0(_) => true,
        })
    }
}

/// The last label of every name `kind`'s matcher can match, when its pattern tells:
/// an `exact` name, or a `suffix` that starts at a label (`.cluster.internal.`).
fn last_label(kind: &RuleKind) -> Option<Vec<u8>> {
    let matcher = match kind {
        RuleKind::Name(rule) => &rule.matcher,
        RuleKind::Ttl { matcher, .. } | RuleKind::Rcode { matcher, .. } => matcher,
        RuleKind::Type { .. } | RuleKind::Class { .. } | RuleKind::Edns0(_) => return None,
    };
    let label = match matcher {
        Matcher::Exact(name) => name.strip_suffix('.')?.rsplit('.').next()?,
        Matcher::Suffix(suffix) => {
            let body = suffix.strip_suffix('.')?;
            let (_, label) = body.rsplit_once('.')?;
            label
        }
        _ => return None,
    };
    (!label.is_empty() && !label.contains('\\')).then(|| label.as_bytes().to_vec())
}

/// The new name a name rule gives `name`, or `None` when it does not match.
fn rewritten_name(matcher: &Matcher, replacement: &str, name: &str) -> Option<String> {
    match matcher {
        Matcher::Exact(from) => (name == from).then(|| replacement.to_owned()),
        Matcher::Prefix(prefix) => name
            .strip_prefix(prefix.as_str())
            .map(|rest| format!("{replacement}{rest}")),
        Matcher::Suffix(suffix) => name
            .strip_suffix(suffix.as_str())
            .map(|rest| format!("{rest}{replacement}")),
        Matcher::Substring(sub) => name
            .contains(sub.as_str())
            .then(|| name.replace(sub.as_str(), replacement)),
        Matcher::Regex(regex) => regex
            .captures(name)
            .map(|captures| expand(replacement, &captures)),
    }
}

/// Applies the response rules to every record, last rule first (as CoreDNS reverts),
/// authority, answer and additional sections; rcode rules once for an answer without
/// records.
fn revert(rules: &[ResponseRule], message: &mut Message) {
    if rules.is_empty() {
        return;
    }
    let mut rcode = message.metadata.response_code;
    let has_records = !(message.answers.is_empty()
        && message.authorities.is_empty()
        && message.additionals.is_empty());
    for record in message
        .authorities
        .iter_mut()
        .chain(message.answers.iter_mut())
        .chain(message.additionals.iter_mut())
    {
        for rule in rules.iter().rev() {
            apply(rule, record, &mut rcode);
        }
    }
    if !has_records {
        for rule in rules.iter().rev() {
            if let ResponseRule::Rcode { old, new } = rule
                && rcode == *old
            {
                rcode = *new;
            }
        }
    }
    message.metadata.response_code = rcode;
}

fn apply(rule: &ResponseRule, record: &mut Record, rcode: &mut ResponseCode) {
    match rule {
        ResponseRule::Name(rewriter) => {
            if let Some(name) = rewrite_name(rewriter, &record.name) {
                record.name = name;
            }
        }
        ResponseRule::Value(rewriter) => {
            let target = match &mut record.data {
                RData::SRV(srv) => &mut srv.target,
                RData::MX(mx) => &mut mx.exchange,
                RData::CNAME(cname) => &mut cname.0,
                RData::NS(ns) => &mut ns.0,
                RData::PTR(ptr) => &mut ptr.0,
                RData::SOA(soa) => &mut soa.mname,
                _ => return,
            };
            if let Some(name) = rewrite_name(rewriter, target) {
                *target = name;
            }
        }
        ResponseRule::Ttl { min, max } => {
            record.ttl = record.ttl.clamp(*min, *max);
        }
        ResponseRule::Rcode { old, new } => {
            if *rcode == *old {
                *rcode = *new;
            }
        }
    }
}

/// `name` rewritten, when the rewriter changes it into a valid name.
fn rewrite_name(rewriter: &StringRewriter, name: &Name) -> Option<Name> {
    let text = name.to_string();
    let new = rewriter.rewrite(&text).filter(|new| *new != text)?;
    let mut parsed = Name::from_ascii(&new).ok()?;
    parsed.set_fqdn(true);
    Some(parsed)
}

/// The question name of a wire query as CoreDNS's `state.Name()` spells it (lower
/// case, fully qualified), or `None` when a label holds a byte that presentation form
/// escapes: such a name is left to the ordinary path, which spells it exactly.
fn wire_name<'b>(query: &WireQuery<'_>, buf: &'b mut [u8; 256]) -> Option<&'b str> {
    let mut len = 0;
    for i in 0..query.label_count() {
        let label = query.label(i)?;
        if !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_' || *b == b'*')
        {
            return None;
        }
        let end = len + label.len() + 1;
        buf.get_mut(len..end - 1)?.copy_from_slice(label);
        *buf.get_mut(end - 1)? = b'.';
        len = end;
    }
    if len == 0 {
        buf[0] = b'.';
        len = 1;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

impl Plugin for Rewrite {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        Box::pin(async move {
            let original = ctx.query.clone();
            // Only `edns0` rules change the OPT record; it is kept only then.
            let original_edns = self.edns0.then(|| ctx.edns.clone());
            let restore = |ctx: &mut Ctx, query, edns: Option<Option<Edns>>| {
                ctx.query = query;
                if let Some(edns) = edns {
                    ctx.edns = edns;
                }
            };
            let responses = match self.rewrite_query(ctx) {
                Ok(responses) => responses,
                Err(error) => {
                    restore(ctx, original, original_edns);
                    return Err(error);
                }
            };
            let result = next.run(ctx).await;
            restore(ctx, original, original_edns);
            match result {
                Ok(mut response) => {
                    revert(&responses, &mut response.message);
                    Ok(response)
                }
                // CoreDNS writes the failure through its reverter, so an rcode rule
                // for SERVFAIL applies to it too.
                Err(error) => {
                    let mut failed = Response::new(ctx, NAME, ResponseCode::ServFail);
                    revert(&responses, &mut failed.message);
                    if failed.rcode() == ResponseCode::ServFail {
                        Err(error)
                    } else {
                        Ok(failed)
                    }
                }
            }
        })
    }

    /// Passes a query no rule can act on (the rules are tested on the name as
    /// `serve` tests them, so the decision is exact); anything a rule matches is
    /// rewritten on the ordinary path.
    fn serve_wire(&self, query: &mut WireQuery<'_>, _buf: &mut Vec<u8>) -> Wire {
        let qtype = query.qtype();
        let last = query
            .label_count()
            .checked_sub(1)
            .and_then(|i| query.label(i));
        let mut spell = false;
        for i in 0..self.rules.len() {
            match self.quick(i, qtype, last) {
                Quick::Never => {}
                Quick::Matches => return Wire::Ordinary,
                Quick::Spell => spell = true,
            }
        }
        if !spell {
            return Wire::Pass;
        }
        let mut buf = [0u8; 256];
        let Some(name) = wire_name(query, &mut buf) else {
            return Wire::Ordinary;
        };
        if self.any_rule_matches(name, query.qtype()) {
            Wire::Ordinary
        } else {
            Wire::Pass
        }
    }
}
