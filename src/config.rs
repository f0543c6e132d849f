//! Server block keys (`[dns://]zone[:port]`) and how blocks share listeners.

use clusterdns_api::zone::{parse_zone, reverse_zones};
use clusterdns_api::{ConfigError, Token};
use hickory_proto::rr::Name;

/// One parsed server block key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The zones the key stands for (several for a reverse CIDR that does not end on
    /// an octet or nibble boundary).
    pub zones: Vec<Name>,
    /// The port.
    pub port: u16,
}

/// Parses a server block key: `[dns://]ZONE[:PORT]`, where ZONE may be `.` or a CIDR
/// (`10.0.0.0/24`, `fd00::/64`), which stands for its reverse zones.
pub fn parse_key(token: &Token, default_port: u16) -> Result<Key, ConfigError> {
    let text = token.text.as_str();
    let rest = match text.split_once("://") {
        None => text,
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => {
            return Err(token.error(format!(
                "server block key {text:?}: scheme {scheme}:// is not supported (only dns://)"
            )));
        }
    };
    let (zone_text, port) = split_port(token, rest, default_port)?;
    let zones = if zone_text.contains('/') {
        reverse_zones(zone_text).ok_or_else(|| {
            token.error(format!(
                "server block key {:?}: expected a CIDR such as 10.0.0.0/24",
                token.text
            ))
        })?
    } else {
        let zone_token = Token {
            text: if zone_text.is_empty() {
                ".".into()
            } else {
                zone_text.into()
            },
            ..token.clone()
        };
        vec![parse_zone(&zone_token)?]
    };
    Ok(Key { zones, port })
}

/// Splits `zone:port`, where the zone may itself be an IPv6 CIDR containing colons.
fn split_port<'a>(
    token: &Token,
    text: &'a str,
    default_port: u16,
) -> Result<(&'a str, u16), ConfigError> {
    // A port can only follow the last colon when what precedes it is not an IPv6 CIDR
    // (`fd00::/64` has colons of its own, and its last one is followed by `/64`).
    match text.rsplit_once(':') {
        Some((zone, port)) if !port.contains('/') && !zone.ends_with(':') => {
            let port = port.parse::<u16>().map_err(|_| {
                token.error(format!(
                    "server block key {:?}: expected a port number after ':', got {port:?}",
                    token.text
                ))
            })?;
            Ok((zone, port))
        }
        _ => Ok((text, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Result<Key, ConfigError> {
        parse_key(&Token::synthetic(text), 53)
    }

    fn zones(text: &str) -> Vec<String> {
        key(text)
            .unwrap()
            .zones
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn keys() {
        assert_eq!(key(".:53").unwrap().port, 53);
        assert_eq!(zones(".:53"), ["."]);
        assert_eq!(zones("."), ["."]);
        assert_eq!(key("cluster.local:1053").unwrap().port, 1053);
        assert_eq!(zones("dns://Cluster.Local:1053"), ["cluster.local."]);
        assert_eq!(key("example.org").unwrap().port, 53);
        assert_eq!(zones(":1053"), ["."]);
    }

    #[test]
    fn reverse_cidrs() {
        assert_eq!(zones("10.0.0.0/8"), ["10.in-addr.arpa."]);
        assert_eq!(
            zones("10.96.0.0/12:53"),
            [
                "96.10.in-addr.arpa.",
                "97.10.in-addr.arpa.",
                "98.10.in-addr.arpa.",
                "99.10.in-addr.arpa.",
                "100.10.in-addr.arpa.",
                "101.10.in-addr.arpa.",
                "102.10.in-addr.arpa.",
                "103.10.in-addr.arpa.",
                "104.10.in-addr.arpa.",
                "105.10.in-addr.arpa.",
                "106.10.in-addr.arpa.",
                "107.10.in-addr.arpa.",
                "108.10.in-addr.arpa.",
                "109.10.in-addr.arpa.",
                "110.10.in-addr.arpa.",
                "111.10.in-addr.arpa.",
            ]
        );
        assert_eq!(zones("fd00::/8"), ["d.f.ip6.arpa."]);
        assert_eq!(key("fd00::/8:5353").unwrap().port, 5353);
    }

    #[test]
    fn bad_keys() {
        assert_eq!(
            key("tls://example.org").unwrap_err().message,
            "server block key \"tls://example.org\": scheme tls:// is not supported (only dns://)"
        );
        assert_eq!(
            key("example.org:http").unwrap_err().message,
            "server block key \"example.org:http\": expected a port number after ':', got \"http\""
        );
        assert!(key("10.0.0.0/33").is_err());
    }
}
