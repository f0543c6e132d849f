//! What to answer, decided once for both request paths.
//!
//! A lookup (`answer.rs`) finds the entries a name stands for; the functions here
//! decide which records those entries give: which addresses and in which order, which
//! SRV records and which glue, and the SOA of a negative answer. The ordinary path
//! (`answer.rs`) turns a plan into hickory records; the wire path (`wire.rs`) writes
//! the same plan straight into the packet. Neither decides anything of its own beyond
//! how to spell names (the client's case, compression pointers), so a rule changed
//! here changes both, and the differential tests and fuzz target keep them equal.

use std::net::IpAddr;

use clusterdns_api::proto::rr::Name;
use hashbrown::HashSet;
use smallvec::SmallVec;

use crate::answer::{Hit, Target};
use crate::index::ServiceEntry;

/// The SOA's refresh timer (CoreDNS's).
pub(crate) const SOA_REFRESH: u32 = 7200;
/// The SOA's retry timer (CoreDNS's).
pub(crate) const SOA_RETRY: u32 = 1800;
/// The SOA's expire timer (CoreDNS's).
pub(crate) const SOA_EXPIRE: u32 = 86400;
/// The most the SOA record's own TTL may be, whatever the zone's TTL (CoreDNS).
const SOA_MAX_TTL: u32 = 300;
/// The longest name in wire format (RFC 1035).
const MAX_NAME_LEN: usize = 255;
/// Above this many addresses, duplicates are found with a hash set instead of a scan.
const SCAN_LIMIT: usize = 16;

/// The numbers of the zone's SOA record (the names are `ns.dns.<zone>` and
/// `hostmaster.<zone>`, spelled by each writer in the client's case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SoaPlan {
    /// The record's TTL.
    pub ttl: u32,
    /// The serial, refresh, retry, expire and minimum fields, in wire order.
    pub fields: [u32; 5],
}

/// The SOA of negative answers and SOA queries: the index's serial, CoreDNS's timers,
/// the zone TTL as the minimum (the negative-caching TTL), and a TTL of its own capped
/// at five minutes.
pub(crate) fn soa(serial: u32, zone_ttl: u32) -> SoaPlan {
    SoaPlan {
        ttl: zone_ttl.min(SOA_MAX_TTL),
        fields: [serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, zone_ttl],
    }
}

/// The answer to A or AAAA from a name's hits.
// The addresses stay inline on purpose: boxing them would bring back the allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AddressPlan<'v> {
    /// The distinct addresses of the family asked for, in the order found (the caller
    /// shuffles them when `loadbalance` asks for it); empty is NODATA.
    Addresses(SmallVec<[IpAddr; SCAN_LIMIT]>),
    /// An ExternalName: a CNAME to this target, followed by its addresses.
    Cname(&'v Name),
}

/// Decides A or AAAA: an ExternalName gives its CNAME, anything else the distinct
/// addresses of the family asked for. A name's hits are either one ExternalName or
/// addresses, never both.
pub(crate) fn addresses<'v>(hits: &[Hit<'v>], want_v4: bool) -> AddressPlan<'v> {
    let mut ips: SmallVec<[IpAddr; SCAN_LIMIT]> = SmallVec::new();
    let mut seen: Option<HashSet<IpAddr>> = None;
    for hit in hits {
        let ip = match hit {
            Hit::Address { ip, .. } => *ip,
            Hit::Cname(target) => return AddressPlan::Cname(target),
        };
        if ip.is_ipv4() != want_v4 {
            continue;
        }
        let new = match &mut seen {
            Some(seen) => seen.insert(ip),
            None if ips.len() < SCAN_LIMIT => !ips.contains(&ip),
            None => {
                let set = seen.insert(ips.iter().copied().collect());
                set.insert(ip)
            }
        };
        if new {
            ips.push(ip);
        }
    }
    AddressPlan::Addresses(ips)
}

/// The answer to SRV: one record per distinct (target, port), weight 100/N over the N
/// address entries matched (CoreDNS's arithmetic), and the targets' addresses as glue.
#[derive(Default)]
pub(crate) struct SrvPlan<'v> {
    /// Every record's weight.
    pub weight: u16,
    /// The distinct targets, in the order first met.
    pub targets: SmallVec<[Target<'v>; 8]>,
    /// The records: (index into `targets`, port), in order.
    pub records: SmallVec<[(usize, u16); 8]>,
    /// The glue: (index into `targets`, address), distinct, in order.
    pub glue: SmallVec<[(usize, IpAddr); 8]>,
}

/// Decides SRV from a name's hits. `zone_len` is the zone's length in wire format:
/// a target whose name would be longer than a name may be is skipped (it cannot be
/// written). Entries without a port (a service without ports) and pods give no SRV
/// record; an empty plan is NODATA.
pub(crate) fn srv<'v>(hits: &[Hit<'v>], zone_len: usize) -> SrvPlan<'v> {
    let entries = hits
        .iter()
        .filter(|hit| matches!(hit, Hit::Address { .. }))
        .count();
    let mut plan = SrvPlan {
        weight: srv_weight(entries),
        ..SrvPlan::default()
    };
    for hit in hits {
        let Hit::Address {
            ip,
            port: Some(port),
            target,
        } = hit
        else {
            continue;
        };
        let Some(labels) = target_labels(*target) else {
            continue;
        };
        let length: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + zone_len;
        if length > MAX_NAME_LEN {
            continue;
        }
        let index = match plan.targets.iter().position(|t| same_target(*t, *target)) {
            Some(index) => index,
            None => {
                plan.targets.push(*target);
                plan.targets.len() - 1
            }
        };
        if !plan.records.contains(&(index, *port)) {
            plan.records.push((index, *port));
        }
        if !plan.glue.contains(&(index, *ip)) {
            plan.glue.push((index, *ip));
        }
    }
    plan
}

/// The SRV weight of each of `n` entries (CoreDNS's float arithmetic, for identical
/// numbers).
pub(crate) fn srv_weight(n: usize) -> u16 {
    let total = 100.0 * n.max(1) as f64;
    let weight = (100.0 / total * 100.0).floor();
    (weight as u16).max(1)
}

/// The labels of a target's name below the zone, leftmost first: `<svc>.<ns>.svc` or
/// `<endpoint>.<svc>.<ns>.svc`; `None` for pods, which SRV answers never name.
pub(crate) fn target_labels<'v>(target: Target<'v>) -> Option<SmallVec<[&'v [u8]; 4]>> {
    fn service(entry: &ServiceEntry) -> [&[u8]; 2] {
        [entry.name.as_bytes(), entry.namespace.as_bytes()]
    }
    match target {
        Target::Service(entry) => {
            let [name, namespace] = service(entry);
            Some(SmallVec::from_slice(&[name, namespace, b"svc"]))
        }
        Target::Endpoint(entry, label) => {
            let [name, namespace] = service(entry);
            Some(SmallVec::from_slice(&[
                label.as_bytes(),
                name,
                namespace,
                b"svc",
            ]))
        }
        Target::Pod => None,
    }
}

/// Whether two targets are the same name (labels compared as DNS compares them: an
/// entry is one service, so only endpoint labels need comparing).
fn same_target(a: Target<'_>, b: Target<'_>) -> bool {
    match (a, b) {
        (Target::Service(x), Target::Service(y)) => std::ptr::eq(x, y),
        (Target::Endpoint(x, l), Target::Endpoint(y, m)) => {
            std::ptr::eq(x, y) && l.eq_ignore_ascii_case(m)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_weights_match_coredns() {
        assert_eq!(srv_weight(1), 100);
        assert_eq!(srv_weight(2), 50);
        assert_eq!(srv_weight(3), 33);
        assert_eq!(srv_weight(6), 16);
        assert_eq!(srv_weight(1000), 1);
    }

    #[test]
    fn soa_timers_and_ttl_cap() {
        let plan = soa(42, 5);
        assert_eq!(plan.ttl, 5);
        assert_eq!(plan.fields, [42, 7200, 1800, 86400, 5]);
        assert_eq!(soa(1, 3600).ttl, 300);
    }

    #[test]
    fn addresses_are_distinct_per_family_in_order() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let hit = |s: &str| Hit::Address {
            ip: ip(s),
            port: None,
            target: Target::Pod,
        };
        // More than SCAN_LIMIT addresses, with repeats on both sides of the switch.
        let mut hits: Vec<Hit<'_>> = (0..40)
            .map(|i| hit(&format!("10.0.0.{}", i % 20)))
            .collect();
        hits.push(hit("fd00::1"));
        let AddressPlan::Addresses(v4) = addresses(&hits, true) else {
            panic!("addresses expected");
        };
        let expected: Vec<IpAddr> = (0..20).map(|i| ip(&format!("10.0.0.{i}"))).collect();
        assert_eq!(v4.to_vec(), expected);
        let AddressPlan::Addresses(v6) = addresses(&hits, false) else {
            panic!("addresses expected");
        };
        assert_eq!(v6.to_vec(), vec![ip("fd00::1")]);
    }
}
