//! `prefer CIDR...`: addresses in preferred subnets go first.

use std::net::IpAddr;

use clusterdns_api::proto::rr::{RData, Record};
use clusterdns_api::{ConfigError, Token};

/// An IP network such as `10.9.20.0/24` or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX`. Host bits may be set (`10.9.20.5/24` is
    /// `10.9.20.0/24`), as Go's `net.ParseCIDR` allows.
    pub fn parse(token: &Token) -> Result<Self, ConfigError> {
        let invalid = || token.error(format!("loadbalance: invalid CIDR {:?}", token.text));
        let (address, prefix) = token.text.split_once('/').ok_or_else(invalid)?;
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        // Go refuses a sign or leading zeros in the prefix; so do we.
        if prefix.is_empty()
            || !prefix.bytes().all(|b| b.is_ascii_digit())
            || (prefix.len() > 1 && prefix.starts_with('0'))
        {
            return Err(invalid());
        }
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(invalid());
        }
        Ok(Self {
            network: mask(address, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address counts as IPv4,
    /// as in Go.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `ip` with every bit after the first `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::from((bits & kept).to_be_bytes())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::from((bits & kept).to_be_bytes())
        }
    }
}

/// The address of an A or AAAA record.
fn address_of(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// Lays `records` out as CoreDNS's `prefer` does: CNAMEs, then the addresses in the
/// first preferred subnet, the second, ..., then the other addresses (each group in
/// its current, already shuffled, order), then MX records, then everything else.
pub(crate) fn preferred_first(records: &mut Vec<Record>, subnets: &[Cidr]) {
    let mut parts = crate::order::partition_by_type(records);
    // The rank of an address: the index of the first subnet holding it, or
    // `subnets.len()` for none. A stable sort by rank keeps each group's order.
    let rank = |record: &Record| {
        address_of(record)
            .and_then(|ip| subnets.iter().position(|subnet| subnet.contains(ip)))
            .unwrap_or(subnets.len())
    };
    parts.addresses.sort_by_cached_key(rank);
    records.extend(parts.cnames);
    records.extend(parts.addresses);
    records.extend(parts.mx);
    records.extend(parts.rest);
}
