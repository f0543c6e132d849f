//! Reading `template CLASS TYPE [ZONE...] { ... }`.

use clusterdns_api::pattern::{MAX_PATTERN_LEN, PatternError, bounded_regex};
use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{DNSClass, Name, RecordType};
use clusterdns_api::wire::WireName;
use clusterdns_api::zone::parse_zone;
use clusterdns_api::{ConfigError, Directive, Fallthrough, SetupCtx, Token};
use regex::Regex;

use crate::gotmpl::GoTemplate;

/// Which section a record template fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Answer,
    Authority,
    Additional,
}

impl Section {
    /// The `section` metric label, as CoreDNS writes it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::Authority => "authority",
            Self::Additional => "additional",
        }
    }
}

/// One record template: its source (the `template` metric label) and parsed form.
#[derive(Debug, Clone)]
pub(crate) struct RrTemplate {
    pub source: String,
    pub template: GoTemplate,
}

/// One `template` directive.
#[derive(Debug)]
pub(crate) struct TemplateConfig {
    pub qclass: DNSClass,
    pub qtype: RecordType,
    pub zones: Vec<Name>,
    pub wire_zones: Vec<WireName>,
    /// Empty: match every name (CoreDNS's default `.*`).
    pub regexes: Vec<Regex>,
    pub answer: Vec<RrTemplate>,
    pub authority: Vec<RrTemplate>,
    pub additional: Vec<RrTemplate>,
    pub rcode: ResponseCode,
    pub ederror: Option<(u16, String)>,
    pub fallthrough: Fallthrough,
}

impl TemplateConfig {
    pub(crate) fn parse(directive: &Directive, ctx: &SetupCtx) -> Result<Self, ConfigError> {
        directive.arg_count(2, usize::MAX)?;
        let qclass = parse_class(&directive.args[0])?;
        let qtype = parse_type(&directive.args[1])?;
        let zones = if directive.args.len() > 2 {
            directive.args[2..]
                .iter()
                .map(parse_zone)
                .collect::<Result<Vec<_>, _>>()?
        } else {
            ctx.zones.clone()
        };
        let mut config = Self {
            qclass,
            qtype,
            wire_zones: zones.iter().map(WireName::new).collect(),
            zones,
            regexes: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            rcode: ResponseCode::NoError,
            ederror: None,
            fallthrough: Fallthrough::default(),
        };
        for option in directive.block_lines() {
            match option.name.text.as_str() {
                "match" => {
                    option.check_args(1, usize::MAX)?;
                    for arg in &option.args {
                        config.regexes.push(parse_regex(arg)?);
                    }
                }
                "answer" => config.answer.extend(parse_records(option)?),
                "authority" => config.authority.extend(parse_records(option)?),
                "additional" => config.additional.extend(parse_records(option)?),
                "rcode" => config.rcode = parse_rcode(option.single()?)?,
                "ederror" => {
                    option.check_args(1, 2)?;
                    let code =
                        option.args[0].parse::<u16>("an extended DNS error code (0-65535)")?;
                    let reason = option
                        .args
                        .get(1)
                        .map(|t| t.text.clone())
                        .unwrap_or_default();
                    config.ederror = Some((code, reason));
                }
                "fallthrough" => config.fallthrough = Fallthrough::parse(option)?,
                // Deprecated in CoreDNS and ignored there too.
                "upstream" => option.no_block()?,
                "var" | "expr" => {
                    return Err(option.name.error(format!(
                        "{}: {:?} (expr-lang expressions) is not supported",
                        directive.name.text, option.name.text
                    )));
                }
                _ => return Err(directive.unknown_option(option)),
            }
        }
        Ok(config)
    }

    /// Whether an answer is only a header: no records to render, no EDNS option, and
    /// an rcode the wire path writes as CoreDNS does (SERVFAIL is the server's
    /// non-authoritative answer; extended rcodes need an OPT record).
    pub(crate) fn is_rcode_only(&self) -> bool {
        self.answer.is_empty()
            && self.authority.is_empty()
            && self.additional.is_empty()
            && self.ederror.is_none()
            && self.rcode != ResponseCode::ServFail
            && self.rcode.high() == 0
    }
}

fn parse_class(token: &Token) -> Result<DNSClass, ConfigError> {
    Ok(match token.text.to_ascii_uppercase().as_str() {
        "IN" => DNSClass::IN,
        "CH" => DNSClass::CH,
        "HS" => DNSClass::HS,
        "NONE" => DNSClass::NONE,
        "ANY" => DNSClass::ANY,
        _ => return Err(token.error(format!("template: invalid query class {}", token.text))),
    })
}

fn parse_type(token: &Token) -> Result<RecordType, ConfigError> {
    match token.text.to_ascii_uppercase().parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => {
            Err(token.error(format!("template: invalid RR type {}", token.text)))
        }
        Ok(qtype) => Ok(qtype),
    }
}

/// The rcode names of miekg/dns's `StringToRcode`.
pub(crate) fn parse_rcode(token: &Token) -> Result<ResponseCode, ConfigError> {
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
        "BADSIG" | "BADVERS" => 16,
        "BADKEY" => 17,
        "BADTIME" => 18,
        "BADMODE" => 19,
        "BADNAME" => 20,
        "BADALG" => 21,
        "BADTRUNC" => 22,
        "BADCOOKIE" => 23,
        _ => return Err(token.error(format!("unknown rcode {}", token.text))),
    };
    Ok(<ResponseCode as From<u16>>::from(code))
}

/// A `match` pattern, bounded in length, nesting and compiled size.
pub(crate) fn parse_regex(token: &Token) -> Result<Regex, ConfigError> {
    bounded_regex(&token.text).map_err(|error| match error {
        PatternError::TooLong(len) => {
            token.error(format!("regex pattern too long: {len} > {MAX_PATTERN_LEN}"))
        }
        PatternError::Invalid(e) => token.error(format!(
            "could not parse regex: {}, {}",
            token.text,
            regex_problem(&e)
        )),
    })
}

fn parse_records(option: &Directive) -> Result<Vec<RrTemplate>, ConfigError> {
    option.check_args(1, usize::MAX)?;
    option
        .args
        .iter()
        .map(|arg| {
            let template = GoTemplate::parse(&arg.text)
                .map_err(|e| arg.error(format!("could not compile template: {e}")))?;
            Ok(RrTemplate {
                source: arg.text.clone(),
                template,
            })
        })
        .collect()
}

/// The gist of a regex error on one line (the crate's message spans several).
fn regex_problem(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}
