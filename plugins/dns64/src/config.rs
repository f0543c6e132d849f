//! The `dns64` directive.

use std::net::Ipv6Addr;

use clusterdns_api::{ConfigError, Directive, Token};

/// An IPv6 prefix of 32, 40, 48, 56, 64 or 96 bits (RFC 6052).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// The network address (bits after the prefix are zero).
    pub network: Ipv6Addr,
    /// The prefix length in bits.
    pub len: u8,
}

impl Prefix {
    /// The well-known prefix `64:ff9b::/96`.
    pub const WELL_KNOWN: Prefix = Prefix {
        network: Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        len: 96,
    };

    /// Reads `ADDRESS/LENGTH`: an IPv6 network whose length is a multiple of 8 from 32
    /// to 96 (CoreDNS's rule). Host bits are cleared, as Go's `ParseCIDR` does.
    pub fn parse(token: &Token) -> Result<Self, ConfigError> {
        let text = token.text.as_str();
        let (address, len) = text
            .split_once('/')
            .ok_or_else(|| token.error(format!("dns64: invalid CIDR address: {text}")))?;
        let len: u8 = len
            .parse()
            .map_err(|_| token.error(format!("dns64: invalid CIDR address: {text}")))?;
        if address.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(token.error(format!("dns64: invalid netmask 32 IPv6 address: {text:?}")));
        }
        let address: Ipv6Addr = address
            .parse()
            .map_err(|_| token.error(format!("dns64: invalid CIDR address: {text}")))?;
        if len > 128 {
            return Err(token.error(format!("dns64: invalid CIDR address: {text}")));
        }
        if !len.is_multiple_of(8) || !(32..=96).contains(&len) {
            return Err(token.error(format!("dns64: invalid prefix length {text:?}")));
        }
        let mask = u128::MAX << (128 - u32::from(len));
        Ok(Prefix {
            network: Ipv6Addr::from(u128::from(address) & mask),
            len,
        })
    }
}

/// What the directive says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where IPv4 addresses are embedded.
    pub prefix: Prefix,
    /// Translate even answers that have AAAA records.
    pub translate_all: bool,
    /// Translate queries from IPv4 clients too.
    pub allow_ipv4: bool,
}

impl Config {
    /// Reads `dns64 [PREFIX] [{ ... }]`.
    pub fn parse(directive: &Directive) -> Result<Self, ConfigError> {
        directive.arg_count(0, 1)?;
        let mut config = Config {
            prefix: Prefix::WELL_KNOWN,
            translate_all: false,
            allow_ipv4: false,
        };
        if let Some(prefix) = directive.args.first() {
            config.prefix = Prefix::parse(prefix)?;
        }
        for option in directive.block_lines() {
            match option.name.text.as_str() {
                "prefix" => config.prefix = Prefix::parse(option.single()?)?,
                "translate_all" => {
                    option.flag()?;
                    config.translate_all = true;
                }
                "allow_ipv4" => {
                    option.flag()?;
                    config.allow_ipv4 = true;
                }
                _ => return Err(directive.unknown_option(option)),
            }
        }
        Ok(config)
    }
}
