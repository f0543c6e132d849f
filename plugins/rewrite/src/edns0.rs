//! `edns0` rules: options of the request's OPT record set, replaced, appended or
//! removed before the rest of the chain (and so `forward`'s upstreams) sees the query,
//! as CoreDNS's `edns0` rules do.
//!
//! Syntax: `edns0 local ACTION CODE DATA`, `edns0 nsid ACTION`, `edns0 subnet ACTION
//! V4BITS V6BITS`, where ACTION is `set` (replace the option, or add it), `replace`
//! (only an option that is there), `append` (only when none is there) or `unset`
//! (remove every option of that code; `unset` takes no further arguments).

use std::net::IpAddr;

use clusterdns_api::proto::op::Edns;
use clusterdns_api::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};
use clusterdns_api::{ConfigError, Ctx, Token};

/// What an `edns0` rule does with its option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Replaces the option, or adds it when the request has none.
    Set,
    /// Replaces the option; does nothing (and does not match) when there is none.
    Replace,
    /// Adds the option when the request has none; does nothing (and does not match)
    /// otherwise.
    Append,
    /// Removes every option of the code.
    Unset,
}

/// A request property an `edns0 local` rule can send in its option, in the binary
/// form CoreDNS gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variable {
    /// `{qname}`: the question name, lower case and fully qualified, as text.
    QName,
    /// `{qtype}`: the question type, two bytes.
    QType,
    /// `{client_ip}`: the client's address, 4 or 16 bytes.
    ClientIp,
    /// `{client_port}`: two bytes.
    ClientPort,
    /// `{protocol}`: `udp` or `tcp`, as text.
    Protocol,
    /// `{server_ip}`: the address the query arrived on, 4 or 16 bytes.
    ServerIp,
    /// `{server_port}`: two bytes.
    ServerPort,
}

impl Variable {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "{qname}" => Self::QName,
            "{qtype}" => Self::QType,
            "{client_ip}" => Self::ClientIp,
            "{client_port}" => Self::ClientPort,
            "{protocol}" => Self::Protocol,
            "{server_ip}" => Self::ServerIp,
            "{server_port}" => Self::ServerPort,
            _ => return None,
        })
    }

    /// The variable's value for `ctx`'s query (as rewritten by earlier rules).
    fn value(self, ctx: &Ctx) -> Vec<u8> {
        match self {
            Self::QName => ctx.qname().to_lowercase().to_string().into_bytes(),
            Self::QType => u16::from(ctx.qtype()).to_be_bytes().to_vec(),
            Self::ClientIp => ip_bytes(ctx.src.ip()),
            Self::ClientPort => ctx.src.port().to_be_bytes().to_vec(),
            Self::Protocol => ctx.protocol.as_str().as_bytes().to_vec(),
            Self::ServerIp => ip_bytes(ctx.local.ip()),
            Self::ServerPort => ctx.local.port().to_be_bytes().to_vec(),
        }
    }
}

/// An address in wire form: 4 bytes for IPv4 (an IPv4-mapped IPv6 address included),
/// 16 for IPv6.
fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The data of an `edns0 local` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LocalData {
    /// Fixed bytes: `0x` and hex digits, or the text itself.
    Bytes(Vec<u8>),
    /// A property of the request, taken when the rule applies.
    Variable(Variable),
}

/// One `edns0` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Edns0Rule {
    /// An option of any code with the given data (`unset`: data unused).
    Local {
        action: Action,
        code: u16,
        data: LocalData,
    },
    /// An empty NSID option: asks the upstream to name itself (RFC 5001).
    Nsid { action: Action },
    /// EDNS Client Subnet (RFC 7871) from the client's address, cut to `v4` or `v6`
    /// bits.
    Subnet { action: Action, v4: u8, v6: u8 },
}

/// Reads `edns0 TYPE ACTION ARGS...`; `kind` is the `edns0` word, `args` what follows.
pub(crate) fn parse(kind: &Token, args: &[Token]) -> Result<Edns0Rule, ConfigError> {
    let [option_type, action, rest @ ..] = args else {
        return Err(kind.error("rewrite: too few arguments for an EDNS0 rule"));
    };
    let action = match action.text.to_ascii_lowercase().as_str() {
        "set" => Action::Set,
        "replace" => Action::Replace,
        "append" => Action::Append,
        "unset" => Action::Unset,
        _ => {
            return Err(action.error(format!(
                "rewrite: invalid EDNS0 action {:?}: expected set, replace, append or unset",
                action.text
            )));
        }
    };
    // CoreDNS's `revert` removes the option from the answer again: answers here never
    // carry the upstream's options (the server writes its own OPT record), so it is
    // accepted and already in effect.
    let rest = match rest {
        [before @ .., last] if action != Action::Unset && last.text == "revert" => before,
        _ => rest,
    };
    let option_type_text = option_type.text.to_ascii_lowercase();
    let count_error = |what: &str| {
        option_type.error(format!(
            "rewrite: EDNS0 {option_type_text} {} {what}",
            args[1].text.to_ascii_lowercase()
        ))
    };
    Ok(match option_type_text.as_str() {
        "local" => match (action, rest) {
            (Action::Unset, [code]) => Edns0Rule::Local {
                action,
                code: option_code(code)?,
                data: LocalData::Bytes(Vec::new()),
            },
            (Action::Unset, _) => return Err(count_error("takes exactly one argument: CODE")),
            (_, [code, data]) => Edns0Rule::Local {
                action,
                code: option_code(code)?,
                data: local_data(data)?,
            },
            _ => return Err(count_error("takes exactly two arguments: CODE DATA")),
        },
        "nsid" => match rest {
            [] => Edns0Rule::Nsid { action },
            _ => return Err(count_error("takes no arguments")),
        },
        "subnet" => match (action, rest) {
            (Action::Unset, []) => Edns0Rule::Subnet {
                action,
                v4: 0,
                v6: 0,
            },
            (Action::Unset, _) => return Err(count_error("takes no arguments")),
            (_, [v4, v6]) => Edns0Rule::Subnet {
                action,
                v4: prefix_length(v4, 32, "IPv4")?,
                v6: prefix_length(v6, 128, "IPv6")?,
            },
            _ => return Err(count_error("takes exactly two arguments: V4BITS V6BITS")),
        },
        _ => {
            return Err(option_type.error(format!(
                "rewrite: invalid EDNS0 option type {:?}: expected local, nsid or subnet",
                option_type.text
            )));
        }
    })
}

/// An unsigned number as Go's `strconv.ParseUint(s, 0, bits)` reads it: `0x` hex,
/// `0o` or a leading `0` octal, `0b` binary, else decimal.
fn parse_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (octal, 8)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (binary, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn option_code(token: &Token) -> Result<u16, ConfigError> {
    parse_number(&token.text)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| {
            token.error(format!(
                "rewrite: invalid EDNS0 option code {:?}: expected a number from 0 to 65535",
                token.text
            ))
        })
}

fn prefix_length(token: &Token, max: u8, family: &str) -> Result<u8, ConfigError> {
    parse_number(&token.text)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            token.error(format!(
                "rewrite: invalid {family} bit mask length {:?}: expected 0 to {max}",
                token.text
            ))
        })
}

/// `{variable}`, `0x` and hex digits, or text taken as it is.
fn local_data(token: &Token) -> Result<LocalData, ConfigError> {
    let text = &token.text;
    if text.starts_with('{') && text.ends_with('}') {
        return Variable::parse(text)
            .map(LocalData::Variable)
            .ok_or_else(|| {
                token.error(format!(
                    "rewrite: unsupported variable name {text:?}: expected {{qname}}, {{qtype}}, \
                 {{client_ip}}, {{client_port}}, {{protocol}}, {{server_ip}} or {{server_port}} \
                 (metadata labels need the metadata plugin, which this server does not have)"
                ))
            });
    }
    let bytes = match text.strip_prefix("0x") {
        Some(hex) => decode_hex(hex).ok_or_else(|| {
            token.error(format!(
                "rewrite: invalid hex data {text:?} for an EDNS0 local rule"
            ))
        })?,
        None => text.as_bytes().to_vec(),
    };
    if bytes.len() > usize::from(u16::MAX) {
        return Err(token.error("rewrite: EDNS0 local data longer than 65535 bytes"));
    }
    Ok(LocalData::Bytes(bytes))
}

/// Pairs of hex digits (either case) as bytes.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| char::from(b).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

impl Edns0Rule {
    /// Applies the rule to `ctx.edns`; whether it did anything (CoreDNS's
    /// `RewriteDone`: only then does a `stop` rule end the list).
    pub(crate) fn apply(&self, ctx: &mut Ctx) -> bool {
        match self {
            Self::Local { action, code, data } => {
                if *action == Action::Unset {
                    return unset(ctx, *code);
                }
                let data = match data {
                    LocalData::Bytes(bytes) => bytes.clone(),
                    LocalData::Variable(variable) => variable.value(ctx),
                };
                put(ctx, *action, EdnsOption::Unknown(*code, data))
            }
            Self::Nsid { action } => {
                if *action == Action::Unset {
                    return unset(ctx, u16::from(EdnsCode::NSID));
                }
                let Ok(empty) = NSIDPayload::new(Vec::new()) else {
                    return false;
                };
                put(ctx, *action, EdnsOption::NSID(empty))
            }
            Self::Subnet { action, v4, v6 } => {
                if *action == Action::Unset {
                    return unset(ctx, u16::from(EdnsCode::Subnet));
                }
                put(
                    ctx,
                    *action,
                    EdnsOption::Subnet(client_subnet(ctx.src.ip(), *v4, *v6)),
                )
            }
        }
    }
}

/// The client's subnet: its address cut to `v4` or `v6` bits (the bits beyond are
/// zero, as RFC 7871 requires), scope 0.
fn client_subnet(ip: IpAddr, v4: u8, v6: u8) -> ClientSubnet {
    match ip.to_canonical() {
        IpAddr::V4(addr) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4)).unwrap_or(0);
            let masked = std::net::Ipv4Addr::from(u32::from(addr) & mask);
            ClientSubnet::new(IpAddr::V4(masked), v4, 0)
        }
        IpAddr::V6(addr) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(v6)).unwrap_or(0);
            let masked = std::net::Ipv6Addr::from(u128::from(addr) & mask);
            ClientSubnet::new(IpAddr::V6(masked), v6, 0)
        }
    }
}

/// Removes every option of `code`. Always done, as in CoreDNS.
fn unset(ctx: &mut Ctx, code: u16) -> bool {
    if let Some(edns) = ctx.edns.as_mut() {
        edns.options_mut()
            .as_mut()
            .retain(|(c, _)| u16::from(*c) != code);
    }
    true
}

/// Puts `option` in the request as `action` says; whether anything changed. A request
/// without an OPT record gets one when an option is added: payload 512 and DO clear,
/// so that what the rest of the chain reads of the client (its payload size, its DO
/// bit) is unchanged.
fn put(ctx: &mut Ctx, action: Action, option: EdnsOption) -> bool {
    let code = u16::from(EdnsCode::from(&option));
    let existing = ctx.edns.as_mut().and_then(|edns| {
        edns.options_mut()
            .as_mut()
            .iter_mut()
            .find(|(c, _)| u16::from(*c) == code)
    });
    match (existing, action) {
        (Some(slot), Action::Set | Action::Replace) => {
            slot.1 = option;
            true
        }
        (None, Action::Set | Action::Append) => {
            ctx.edns
                .get_or_insert_with(Edns::new)
                .options_mut()
                .insert(option);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_go_reads_them() {
        assert_eq!(parse_number("0xffee"), Some(0xffee));
        assert_eq!(parse_number("0XFFEE"), Some(0xffee));
        assert_eq!(parse_number("65518"), Some(65518));
        assert_eq!(parse_number("010"), Some(8));
        assert_eq!(parse_number("0o17"), Some(15));
        assert_eq!(parse_number("0b101"), Some(5));
        assert_eq!(parse_number("0"), Some(0));
        for bad in ["", "0x", "abc", "-1", "09", "1.5", "+3"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_data() {
        assert_eq!(decode_hex("61626364"), Some(b"abcd".to_vec()));
        assert_eq!(decode_hex("FFee"), Some(vec![0xff, 0xee]));
        assert_eq!(decode_hex(""), Some(Vec::new()));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn subnets_keep_only_the_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4 = client_subnet(ip("192.168.77.201"), 20, 56);
        assert_eq!(v4.addr(), ip("192.168.64.0"));
        assert_eq!(v4.source_prefix(), 20);
        assert_eq!(v4.scope_prefix(), 0);
        assert_eq!(client_subnet(ip("10.1.2.3"), 0, 0).addr(), ip("0.0.0.0"));
        assert_eq!(client_subnet(ip("10.1.2.3"), 32, 0).addr(), ip("10.1.2.3"));
        let mapped = client_subnet(ip("::ffff:10.1.2.3"), 24, 56);
        assert_eq!(mapped.addr(), ip("10.1.2.0"), "IPv4-mapped is IPv4");
        let v6 = client_subnet(ip("2001:db8:aaaa:bbbb::1"), 24, 56);
        assert_eq!(v6.addr(), ip("2001:db8:aaaa:bb00::"));
        assert_eq!(v6.source_prefix(), 56);
        assert_eq!(
            client_subnet(ip("2001:db8::1"), 0, 128).addr(),
            ip("2001:db8::1")
        );
    }
}
