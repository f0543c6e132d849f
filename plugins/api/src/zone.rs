//! Zone names: parsing them from the Corefile, expanding CIDRs into reverse zones, and
//! matching names against zones. Every plugin and the server's block keys use these,
//! so a zone is written, expanded and matched the same way everywhere.

use std::net::IpAddr;

use hickory_proto::rr::Name;

use crate::{ConfigError, Token};

/// Parses a zone name written in a Corefile (`cluster.local`, `cluster.local.`, `.`),
/// as a fully qualified, lower-case name.
pub fn parse_zone(token: &Token) -> Result<Name, ConfigError> {
    let text = token.text.trim();
    let name = Name::from_ascii(text)
        .map_err(|e| token.error(format!("expected a zone name, got {text:?}: {e}")))?;
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    Ok(name)
}

/// Parses a zone argument that may also be a CIDR standing for its reverse zones
/// (`10.96.0.0/12`), as server block keys and the `kubernetes` plugin accept them.
pub fn parse_zone_or_cidr(token: &Token) -> Result<Vec<Name>, ConfigError> {
    if token.text.contains('/') {
        return reverse_zones(&token.text).ok_or_else(|| {
            token.error(format!(
                "expected a zone name or a CIDR such as 10.96.0.0/12, got {:?}",
                token.text
            ))
        });
    }
    parse_zone(token).map(|zone| vec![zone])
}

/// The search domains of `resolv.conf` text (the last `search` or `domain` line wins,
/// as the resolver reads it), fully qualified and lower case.
pub fn resolv_conf_search(resolv_conf: &str) -> Vec<Name> {
    let mut search = Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search") | Some("domain") => {
                search = words
                    .filter_map(|w| Name::from_ascii(w).ok())
                    .map(|mut n| {
                        n.set_fqdn(true);
                        n.to_lowercase()
                    })
                    .filter(|n| !n.is_root())
                    .collect();
            }
            _ => {}
        }
    }
    search
}

/// The longest of `zones` that `name` falls in, if any.
pub fn longest_match<'z>(name: &Name, zones: &'z [Name]) -> Option<&'z Name> {
    zones
        .iter()
        .filter(|zone| zone.zone_of(name))
        .max_by_key(|zone| zone.num_labels())
}

/// Whether `name` is `in-addr.arpa.` or `ip6.arpa.` or below (a zone or a query name).
pub fn is_reverse_zone(name: &Name) -> bool {
    let labels: Vec<&[u8]> = name.iter().collect();
    match labels.as_slice() {
        [.., a, b] => {
            b.eq_ignore_ascii_case(b"arpa")
                && (a.eq_ignore_ascii_case(b"in-addr") || a.eq_ignore_ascii_case(b"ip6"))
        }
        _ => false,
    }
}

/// The reverse zones of a CIDR. A prefix that is not a multiple of 8 (IPv4) or 4
/// (IPv6) bits stands for every zone one boundary further down, as in CoreDNS:
/// `10.96.0.0/12` is `96.10.in-addr.arpa.` to `111.10.in-addr.arpa.`. `None` when
/// `cidr` is not one.
pub fn reverse_zones(cidr: &str) -> Option<Vec<Name>> {
    let (addr, prefix) = cidr.trim().split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let (bits, total, digits, suffix): (u32, u32, Vec<u32>, &str) = match addr {
        IpAddr::V4(v4) => (
            8,
            32,
            v4.octets().iter().map(|o| u32::from(*o)).collect(),
            "in-addr.arpa.",
        ),
        IpAddr::V6(v6) => (
            4,
            128,
            v6.octets()
                .iter()
                .flat_map(|o| [u32::from(o >> 4), u32::from(o & 0xf)])
                .collect(),
            "ip6.arpa.",
        ),
    };
    if prefix > total {
        return None;
    }
    let labels = prefix.div_ceil(bits) as usize;
    let spare = labels as u32 * bits - prefix;
    let mut zones = Vec::new();
    for variant in 0..(1u32 << spare) {
        let mut parts: Vec<String> = digits[..labels]
            .iter()
            .enumerate()
            .map(|(i, digit)| {
                let digit = if i + 1 == labels {
                    (digit & !((1u32 << spare) - 1)) | variant
                } else {
                    *digit
                };
                if bits == 8 {
                    digit.to_string()
                } else {
                    format!("{digit:x}")
                }
            })
            .collect();
        parts.reverse();
        parts.push(suffix.to_owned());
        zones.push(Name::from_ascii(parts.join(".")).ok()?);
    }
    Some(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_search_line() {
        let text = "nameserver 10.0.0.10\nsearch a.example\nsearch Corp.Example. lab.example\noptions ndots:5\n";
        let names: Vec<String> = resolv_conf_search(text)
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["corp.example.", "lab.example."]);
        assert!(resolv_conf_search("nameserver 1.1.1.1\n").is_empty());
    }

    fn names(zones: &[Name]) -> Vec<String> {
        zones.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn cidrs_become_reverse_zones() {
        let zones = |c: &str| names(&reverse_zones(c).unwrap());
        assert_eq!(zones("10.0.0.0/24"), ["0.0.10.in-addr.arpa."]);
        assert_eq!(
            zones("10.0.0.0/23"),
            ["0.0.10.in-addr.arpa.", "1.0.10.in-addr.arpa."]
        );
        assert_eq!(zones("10.96.0.0/12").len(), 16);
        assert_eq!(zones("10.96.0.0/12")[0], "96.10.in-addr.arpa.");
        assert_eq!(zones("0.0.0.0/0"), ["in-addr.arpa."]);
        assert_eq!(zones("fd00::/8"), ["d.f.ip6.arpa."]);
        assert_eq!(reverse_zones("10.0.0.0"), None);
        assert_eq!(reverse_zones("10.0.0.0/33"), None);
        assert_eq!(reverse_zones("cluster.local/8"), None);
    }

    #[test]
    fn reverse_zones_are_recognised() {
        let name = |s: &str| Name::from_ascii(s).unwrap();
        assert!(is_reverse_zone(&name("10.IN-ADDR.arpa.")));
        assert!(is_reverse_zone(&name("ip6.arpa.")));
        assert!(!is_reverse_zone(&name("arpa.")));
        assert!(!is_reverse_zone(&name("cluster.local.")));
    }

    #[test]
    fn zone_arguments_take_names_and_cidrs() {
        let zones = |s: &str| names(&parse_zone_or_cidr(&Token::synthetic(s)).unwrap());
        assert_eq!(zones("Cluster.Local"), ["cluster.local."]);
        assert_eq!(zones("10.0.0.0/24"), ["0.0.10.in-addr.arpa."]);
        let error = parse_zone_or_cidr(&Token::synthetic("10.0.0/99")).unwrap_err();
        assert!(error.message.contains("expected a zone name or a CIDR"));
    }
}
