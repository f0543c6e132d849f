//! The rules of `rewrite` and how they are read: CoreDNS's `newRule` and friends.

use clusterdns_api::pattern::{MAX_PATTERN_LEN, PatternError, bounded_regex};
use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{DNSClass, RecordType};
use clusterdns_api::{ConfigError, Token};
use regex::Regex;

use crate::edns0::{self, Edns0Rule};

/// Whether the rules after a matching one still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Stop,
    Continue,
}

/// How a rule compares the (lower-case, fully qualified) question name.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Substring(String),
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(s) => name == s,
            Self::Prefix(s) => name.starts_with(s.as_str()),
            Self::Suffix(s) => name.ends_with(s.as_str()),
            Self::Substring(s) => name.contains(s.as_str()),
            Self::Regex(r) => r.is_match(name),
        }
    }
}

/// Rewrites a name in an answer (owner or value).
#[derive(Debug, Clone)]
pub(crate) enum StringRewriter {
    /// `{N}` in the replacement stands for group N.
    Regex(Regex, String),
    /// The name itself, or a name below it, gets the replacement in its place.
    Remap { from: String, to: String },
    /// A suffix swapped for another.
    Suffix { from: String, to: String },
}

impl StringRewriter {
    pub(crate) fn rewrite(&self, src: &str) -> Option<String> {
        match self {
            Self::Regex(regex, replacement) => {
                let captures = regex.captures(src)?;
                Some(expand(replacement, &captures))
            }
            Self::Remap { from, to } => {
                if src == from {
                    return Some(to.clone());
                }
                let cut = src.len().checked_sub(from.len())?;
                (cut > 0 && src.ends_with(from.as_str()) && src.as_bytes()[cut - 1] == b'.')
                    .then(|| format!("{}{to}", &src[..cut]))
            }
            Self::Suffix { from, to } => src
                .strip_suffix(from.as_str())
                .map(|before| format!("{before}{to}")),
        }
    }
}

/// What is done to the answer once the rest of the chain has answered.
#[derive(Debug, Clone)]
pub(crate) enum ResponseRule {
    Name(StringRewriter),
    Value(StringRewriter),
    Ttl {
        min: u32,
        max: u32,
    },
    Rcode {
        old: ResponseCode,
        new: ResponseCode,
    },
}

/// A `name` rule.
#[derive(Debug, Clone)]
pub(crate) struct NameRule {
    pub matcher: Matcher,
    pub replacement: String,
    /// `answer auto` (or an exact rule): map the new name back to the client's.
    pub auto: bool,
    pub responses: Vec<ResponseRule>,
}

/// One rewrite rule.
#[derive(Debug, Clone)]
pub(crate) enum RuleKind {
    Name(NameRule),
    Type {
        from: RecordType,
        to: RecordType,
    },
    Class {
        from: DNSClass,
        to: DNSClass,
    },
    Ttl {
        matcher: Matcher,
        min: u32,
        max: u32,
    },
    Rcode {
        matcher: Matcher,
        old: ResponseCode,
        new: ResponseCode,
    },
    /// Options of the request's OPT record; matches every query.
    Edns0(Edns0Rule),
}

/// A rule and its mode.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub mode: Mode,
    pub kind: RuleKind,
}

/// Replaces `{N}` in `replacement` with group N of `captures` (groups that did not
/// take part count as empty), as CoreDNS does for groups 0 to 100.
pub(crate) fn expand(replacement: &str, captures: &regex::Captures<'_>) -> String {
    let mut out = replacement.to_owned();
    for i in 0..captures.len().min(101) {
        let value = captures.get(i).map_or("", |m| m.as_str());
        out = out.replace(&format!("{{{i}}}"), value);
    }
    out
}

/// `plugin.Name(s).Normalize()`: lower case, fully qualified.
fn normalize(s: &str) -> String {
    let mut s = s.to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

fn regex(token: &Token, what: &str) -> Result<Regex, ConfigError> {
    bounded_regex(&token.text).map_err(|error| match error {
        PatternError::TooLong(len) => token.error(format!(
            "{what}: regex pattern too long: {len} > {MAX_PATTERN_LEN}"
        )),
        PatternError::Invalid(e) => {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or_default().trim().to_owned();
            token.error(format!(
                "{what}: invalid regex pattern {:?}: {last}",
                token.text
            ))
        }
    })
}

/// A regex whose replacement uses no group it does not have.
fn regex_with_replacement(from: &Token, to: &str, what: &str) -> Result<Regex, ConfigError> {
    let pattern = regex(from, what)?;
    let used = (0..=100)
        .filter(|i| to.contains(&format!("{{{i}}}")))
        .count();
    if used > pattern.captures_len() - 1 {
        return Err(from.error(format!(
            "{what}: the rewrite pattern ({to}) uses more subexpressions than its matching pattern ({})",
            from.text
        )));
    }
    Ok(pattern)
}

/// Reads one rule from a line's words (`[stop|continue] TYPE ARGS...`); `at` is where
/// errors point when there are no words.
pub(crate) fn parse_rule(args: &[Token], at: &Token) -> Result<Rule, ConfigError> {
    let first = args
        .first()
        .ok_or_else(|| at.error("rewrite: no rule type specified"))?;
    let (mode, rest) = match first.text.to_ascii_lowercase().as_str() {
        "stop" => (Mode::Stop, &args[1..]),
        "continue" => (Mode::Continue, &args[1..]),
        _ => (Mode::Stop, args),
    };
    let Some((kind, rest)) = rest.split_first() else {
        return Err(first.error(format!(
            "rewrite: {} rule must begin with a rule type",
            first.text
        )));
    };
    let kind = match kind.text.to_ascii_lowercase().as_str() {
        "answer" => {
            return Err(kind.error("rewrite: response rewrites must begin with a name rule"));
        }
        "name" => RuleKind::Name(parse_name(kind, rest)?),
        "type" => {
            let [from, to] = exactly_two(kind, rest)?;
            RuleKind::Type {
                from: record_type(from)?,
                to: record_type(to)?,
            }
        }
        "class" => {
            let [from, to] = exactly_two(kind, rest)?;
            RuleKind::Class {
                from: class(from)?,
                to: class(to)?,
            }
        }
        "ttl" => parse_ttl_rule(kind, rest)?,
        "rcode" => parse_rcode_rule(kind, rest)?,
        "edns0" => RuleKind::Edns0(edns0::parse(kind, rest)?),
        "cname" => {
            return Err(kind.error(format!(
                "rewrite: {} rules are not supported by this server",
                kind.text
            )));
        }
        _ => return Err(kind.error(format!("rewrite: invalid rule type {:?}", kind.text))),
    };
    Ok(Rule { mode, kind })
}

fn exactly_two<'t>(kind: &Token, rest: &'t [Token]) -> Result<[&'t Token; 2], ConfigError> {
    match rest {
        [a, b] => Ok([a, b]),
        _ => Err(kind.error(format!(
            "rewrite: {} rules must have exactly two arguments",
            kind.text
        ))),
    }
}

fn record_type(token: &Token) -> Result<RecordType, ConfigError> {
    match token.text.to_ascii_uppercase().parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(token.error(format!(
            "rewrite: invalid type {:?}",
            token.text.to_ascii_uppercase()
        ))),
        Ok(t) => Ok(t),
    }
}

fn class(token: &Token) -> Result<DNSClass, ConfigError> {
    Ok(match token.text.to_ascii_uppercase().as_str() {
        "IN" => DNSClass::IN,
        "CH" => DNSClass::CH,
        "HS" => DNSClass::HS,
        "NONE" => DNSClass::NONE,
        "ANY" => DNSClass::ANY,
        _ => {
            return Err(token.error(format!(
                "rewrite: invalid class {:?}",
                token.text.to_ascii_uppercase()
            )));
        }
    })
}

/// A matcher of `ttl` and `rcode` rules: `exact|prefix|suffix|substring|regex NAME`.
fn matcher(how: &Token, name: &Token, what: &str) -> Result<Matcher, ConfigError> {
    Ok(match how.text.to_ascii_lowercase().as_str() {
        "exact" => Matcher::Exact(normalize(&name.text)),
        "prefix" => Matcher::Prefix(normalize(&name.text)),
        "suffix" => Matcher::Suffix(normalize(&name.text)),
        "substring" => Matcher::Substring(normalize(&name.text)),
        "regex" => Matcher::Regex(regex(name, what)?),
        _ => {
            return Err(how.error(format!(
                "rewrite: {what} rule supports only exact, prefix, suffix, substring, and regex name matching"
            )));
        }
    })
}

fn parse_name(kind: &Token, args: &[Token]) -> Result<NameRule, ConfigError> {
    if args.len() < 2 {
        return Err(kind.error("rewrite: too few arguments for a name rule"));
    }
    let (how, from, to) = if args.len() == 2 {
        ("exact".to_owned(), &args[0], &args[1])
    } else {
        (args[0].text.to_ascii_lowercase(), &args[1], &args[2])
    };
    let (mut from_text, mut to_text) = if how == "regex" {
        (from.text.clone(), to.text.clone())
    } else {
        (normalize(&from.text), normalize(&to.text))
    };
    if (how == "exact" || how == "suffix") && !from_text.ends_with('.') {
        from_text.push('.');
    }
    if (how == "exact" || how == "suffix") && !to_text.ends_with('.') {
        to_text.push('.');
    }
    let (auto, mut responses) = if args.len() > 3 {
        parse_answer_rules(&how, &args[3..], kind)?
    } else {
        (false, Vec::new())
    };
    let (matcher, auto) = match how.as_str() {
        // An exact rule always maps the answer back.
        "exact" => (Matcher::Exact(from_text.clone()), true),
        "prefix" => (Matcher::Prefix(from_text.clone()), auto),
        "suffix" => {
            if auto {
                let back = StringRewriter::Suffix {
                    from: to_text.clone(),
                    to: from_text.clone(),
                };
                responses.splice(
                    0..0,
                    [ResponseRule::Name(back.clone()), ResponseRule::Value(back)],
                );
            }
            (Matcher::Suffix(from_text.clone()), false)
        }
        "substring" => (Matcher::Substring(from_text.clone()), auto),
        "regex" => {
            let pattern = regex_with_replacement(from, &to.text, "name rule")?;
            to_text = normalize(&to.text);
            (Matcher::Regex(pattern), auto)
        }
        other => {
            return Err(args[0].error(format!(
                "rewrite: name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {other}"
            )));
        }
    };
    Ok(NameRule {
        matcher,
        replacement: to_text,
        auto,
        responses,
    })
}

/// `answer auto`, `answer name FROM TO`, `answer value FROM TO`, repeated.
fn parse_answer_rules(
    how: &str,
    args: &[Token],
    kind: &Token,
) -> Result<(bool, Vec<ResponseRule>), ConfigError> {
    if args.len() < 2 {
        return Err(kind.error(format!("rewrite: invalid arguments for {how} rule")));
    }
    let mut auto = false;
    let mut rules = Vec::new();
    let mut name_rules = 0;
    let mut at = 0;
    let mut last: Option<String> = None;
    while at < args.len() {
        if last.is_none() && args[at].text != "answer" {
            return Err(args[at].error(format!(
                "rewrite: exceeded the number of arguments for a non-answer rule argument for {how} rule"
            )));
        }
        if args[at].text == "answer" {
            at += 1;
        }
        let Some(word) = args.get(at) else {
            return Err(kind.error(format!(
                "rewrite: type missing for answer rule for {how} rule"
            )));
        };
        at += 1;
        last = Some(word.text.clone());
        match word.text.as_str() {
            "auto" => auto = true,
            which @ ("name" | "value") => {
                let (Some(from), Some(to)) = (args.get(at), args.get(at + 1)) else {
                    return Err(word.error(format!(
                        "rewrite: {which} answer rule for {how} rule: 2 arguments required"
                    )));
                };
                let pattern = regex_with_replacement(from, &to.text, "answer rule")?;
                let rewriter = StringRewriter::Regex(pattern, normalize(&to.text));
                if which == "name" {
                    rules.push(ResponseRule::Name(rewriter));
                    name_rules += 1;
                } else {
                    rules.push(ResponseRule::Value(rewriter));
                }
                at += 2;
            }
            other => {
                return Err(word.error(format!(
                    "rewrite: invalid type {other:?} for answer rule for {how} rule"
                )));
            }
        }
    }
    if auto && name_rules > 0 {
        return Err(kind.error(
            "rewrite: auto name answer rule cannot be combined with explicit name answer rules",
        ));
    }
    Ok((auto, rules))
}

fn parse_ttl_rule(kind: &Token, args: &[Token]) -> Result<RuleKind, ConfigError> {
    let (matcher, ttl) = match args {
        [name, ttl] => (Matcher::Exact(normalize(&name.text)), ttl),
        [how, name, ttl] => (matcher(how, name, "ttl")?, ttl),
        _ => {
            return Err(kind.error(format!(
                "rewrite: wrong number ({}) of arguments for a ttl rule",
                args.len()
            )));
        }
    };
    let (min, max) = ttl_range(&ttl.text).ok_or_else(|| {
        ttl.error(format!(
            "rewrite: invalid TTL '{}' for a ttl rule",
            ttl.text
        ))
    })?;
    Ok(RuleKind::Ttl { matcher, min, max })
}

/// `N`, `MIN-MAX`, `-MAX` or `MIN-`.
fn ttl_range(text: &str) -> Option<(u32, u32)> {
    let parse = |s: &str| s.parse::<u32>().ok();
    match text.split_once('-') {
        None => parse(text).map(|n| (n, n)),
        Some((min, max)) if !max.contains('-') => {
            let min_v = if min.is_empty() { 0 } else { parse(min)? };
            let max_v = match (min.is_empty(), max.is_empty()) {
                (true, true) => return None,
                (false, true) => 2_147_483_647,
                _ => parse(max)?,
            };
            (min_v <= max_v).then_some((min_v, max_v))
        }
        Some(_) => None,
    }
}

fn parse_rcode_rule(kind: &Token, args: &[Token]) -> Result<RuleKind, ConfigError> {
    let (matcher, old, new) = match args {
        [name, old, new] => (Matcher::Exact(normalize(&name.text)), old, new),
        [how, name, old, new] => (matcher(how, name, "rcode")?, old, new),
        _ => {
            return Err(kind.error(format!(
                "rewrite: wrong number ({}) of arguments for a rcode rule",
                args.len()
            )));
        }
    };
    Ok(RuleKind::Rcode {
        matcher,
        old: rcode(old)?,
        new: rcode(new)?,
    })
}

/// An rcode by name or number.
fn rcode(token: &Token) -> Result<ResponseCode, ConfigError> {
    let code: u16 = match token.text.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        other => other
            .parse::<u16>()
            .ok()
            .filter(|n| *n < 4096)
            .ok_or_else(|| {
                token.error(format!(
                    "rewrite: invalid RCODE '{}' for a rcode rule",
                    token.text
                ))
            })?,
    };
    Ok(<ResponseCode as From<u16>>::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_ranges_follow_coredns() {
        assert_eq!(ttl_range("15"), Some((15, 15)));
        assert_eq!(ttl_range("30-60"), Some((30, 60)));
        assert_eq!(ttl_range("-60"), Some((0, 60)));
        assert_eq!(ttl_range("30-"), Some((30, 2_147_483_647)));
        for bad in ["-", "60-30", "a", "1-2-3", ""] {
            assert_eq!(ttl_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn string_rewriters() {
        let remap = StringRewriter::Remap {
            from: "b.example.".into(),
            to: "a.example.".into(),
        };
        assert_eq!(remap.rewrite("b.example.").as_deref(), Some("a.example."));
        assert_eq!(
            remap.rewrite("x.b.example.").as_deref(),
            Some("x.a.example.")
        );
        assert_eq!(remap.rewrite("xb.example."), None);
        let suffix = StringRewriter::Suffix {
            from: ".svc.".into(),
            to: ".consul.".into(),
        };
        assert_eq!(suffix.rewrite("web.svc.").as_deref(), Some("web.consul."));
        let re = StringRewriter::Regex(Regex::new(r"(.*)\.bar\.$").unwrap(), "{1}.foo.".into());
        assert_eq!(re.rewrite("x.bar.").as_deref(), Some("x.foo."));
        assert_eq!(re.rewrite("x.baz."), None);
    }
}
