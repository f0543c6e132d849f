//! One parsed hosts file: forward, wildcard and reverse tables.
//!
//! The same parser reads the file on disk and the inline lines of the Corefile block,
//! so both follow hosts(5) the way CoreDNS does: `IP NAME [NAME...]`, `#` starts a
//! comment, and anything that does not fit is skipped rather than rejected (a hosts
//! file is often maintained by other tools, and one bad line must not hide the rest).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

/// The addresses of one owner name, in file order, without repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Addrs {
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

impl Addrs {
    fn push(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(ip) => push_unique(&mut self.v4, ip),
            IpAddr::V6(ip) => push_unique(&mut self.v6, ip),
        }
    }

    /// Appends `other`'s addresses after ours, skipping those we already have.
    pub fn merge(&mut self, other: &Addrs) {
        for ip in &other.v4 {
            push_unique(&mut self.v4, *ip);
        }
        for ip in &other.v6 {
            push_unique(&mut self.v6, *ip);
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// Appends `item` unless it is already there: a name listed twice must not give two
/// identical records.
pub(crate) fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// What to keep while parsing.
#[derive(Clone, Debug)]
pub(crate) struct ParseOptions<'a> {
    /// Names outside these zones are dropped, as CoreDNS does.
    pub zones: &'a [Name],
    /// Whether to build the address → names table for PTR answers.
    pub reverse: bool,
}

/// The tables of one hosts source. Names are stored lower case and fully qualified.
#[derive(Debug, Default)]
pub(crate) struct HostsMap {
    names: HashMap<Name, Addrs>,
    /// `*.example.org` entries, keyed by the wildcard's parent (`example.org.`).
    wildcards: HashMap<Name, Addrs>,
    reverse: HashMap<IpAddr, Vec<Name>>,
}

impl HostsMap {
    /// Parses hosts-file text.
    pub fn parse(text: &str, options: &ParseOptions<'_>) -> Self {
        let mut map = Self::default();
        for line in text.lines() {
            map.add_line(line, options);
        }
        map
    }

    fn add_line(&mut self, line: &str, options: &ParseOptions<'_>) {
        let line = line.split_once('#').map_or(line, |(before, _)| before);
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next().and_then(parse_ip) else {
            return;
        };
        for field in fields {
            let Some(name) = normalize_name(field) else {
                continue;
            };
            if !options.zones.iter().any(|zone| zone.zone_of(&name)) {
                continue;
            }
            if name.is_wildcard() {
                // Wildcards match many names, so they have no reverse entry.
                self.wildcards.entry(name.base_name()).or_default().push(ip);
                continue;
            }
            if options.reverse {
                push_unique(self.reverse.entry(ip).or_default(), name.clone());
            }
            self.names.entry(name).or_default().push(ip);
        }
    }

    /// The addresses of `name` (lower case, fully qualified): its own entry, or else the
    /// entry of a `*` one label above it. A name with an entry hides the wildcard, as in
    /// DNS wildcard matching.
    pub fn lookup(&self, name: &Name) -> Option<&Addrs> {
        if let Some(addrs) = self.names.get(name) {
            return Some(addrs);
        }
        if name.is_root() {
            return None;
        }
        self.wildcards.get(&name.base_name())
    }

    /// The names that have `ip` as an address.
    pub fn names_of(&self, ip: IpAddr) -> &[Name] {
        self.reverse.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// The number of entries, counted as CoreDNS's `coredns_hosts_entries` does: every
    /// name/address pair, plus every reverse pair.
    pub fn len(&self) -> usize {
        let forward: usize = self
            .names
            .values()
            .chain(self.wildcards.values())
            .map(Addrs::len)
            .sum();
        let reverse: usize = self.reverse.values().map(Vec::len).sum();
        forward + reverse
    }
}

/// Parses the address column. An IPv6 zone (`fe80::1%eth0`) is dropped, since DNS
/// has no place for it.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.split_once('%').map_or(text, |(ip, _zone)| ip);
    text.parse().ok().map(normalize_ip)
}

/// An IPv4-mapped IPv6 address counts as IPv4, as Go's `net.ParseIP` (and so CoreDNS)
/// treats it: `::ffff:10.0.0.1` is an A record, and its PTR is under in-addr.arpa.
pub(crate) fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Parses a host name column as a lower-case, fully qualified name.
fn normalize_name(text: &str) -> Option<Name> {
    let mut name = Name::from_ascii(text).ok()?.to_lowercase();
    name.set_fqdn(true);
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn parse(text: &str) -> HostsMap {
        let zones = [Name::root()];
        HostsMap::parse(
            text,
            &ParseOptions {
                zones: &zones,
                reverse: true,
            },
        )
    }

    #[test]
    fn reads_names_aliases_and_comments() {
        let map = parse(
            "# comment\n10.0.0.1 Web.Example.org web # trailing comment\n\
             ::1 localhost\n10.0.0.2 web.example.org.\n",
        );
        let web = map.lookup(&name("web.example.org.")).unwrap();
        assert_eq!(
            web.v4,
            [
                "10.0.0.1".parse::<Ipv4Addr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        assert!(map.lookup(&name("web.")).is_some());
        assert_eq!(
            map.lookup(&name("localhost.")).unwrap().v6,
            [Ipv6Addr::LOCALHOST]
        );
        assert_eq!(
            map.names_of("10.0.0.1".parse().unwrap()),
            [name("web.example.org."), name("web.")]
        );
    }

    #[test]
    fn skips_malformed_lines() {
        let map = parse(
            "not-an-ip host.example\n10.0.0.1\n300.1.1.1 bad.example\n\
             # 10.0.0.9 commented.example\n10.0.0.3 good.example\n",
        );
        assert_eq!(map.len(), 2);
        assert!(map.lookup(&name("good.example.")).is_some());
        assert!(map.lookup(&name("commented.example.")).is_none());
        assert!(map.lookup(&name("bad.example.")).is_none());
    }

    #[test]
    fn keeps_only_names_in_zones_and_honours_no_reverse() {
        let zones = [name("example.org.")];
        let map = HostsMap::parse(
            "10.0.0.1 a.example.org b.example.net\n",
            &ParseOptions {
                zones: &zones,
                reverse: false,
            },
        );
        assert!(map.lookup(&name("a.example.org.")).is_some());
        assert!(map.lookup(&name("b.example.net.")).is_none());
        assert!(map.names_of("10.0.0.1".parse().unwrap()).is_empty());
    }

    #[test]
    fn wildcards_match_one_label_and_yield_to_exact_names() {
        let map = parse("10.0.0.10 *.example.org\n10.0.0.11 www.example.org\n");
        let v4 = |n: &str| map.lookup(&name(n)).map(|a| a.v4.clone());
        assert_eq!(
            v4("apps.example.org."),
            Some(vec![Ipv4Addr::new(10, 0, 0, 10)])
        );
        assert_eq!(
            v4("www.example.org."),
            Some(vec![Ipv4Addr::new(10, 0, 0, 11)])
        );
        assert_eq!(v4("example.org."), None);
        assert_eq!(v4("deep.apps.example.org."), None);
        assert!(map.names_of("10.0.0.10".parse().unwrap()).is_empty());
    }

    #[test]
    fn ip_zones_and_mapped_addresses() {
        assert_eq!(parse_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(
            parse_ip("::ffff:10.1.2.3"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(parse_ip("example"), None);
    }
}
