//! The plugin's wire path (see `clusterdns_api::wire`): A, AAAA and SRV questions for
//! service and endpoint names, and their NODATA and NXDOMAIN, answered from the index
//! straight into the packet.
//!
//! These are nearly all the queries a cluster sends. The names are found with the
//! same lookup as the ordinary path (`answer.rs`), so both agree on what exists; only
//! the writing differs: records go into the buffer as they are found, owner names are
//! compression pointers into the question (which echoes the client's case for free),
//! and nothing is allocated for an answer of up to a few dozen records. Anything else
//! (PTR, TXT, ExternalName CNAMEs, `ns.dns`, fall-through, answers too large for the
//! client) takes the ordinary path.

use std::net::IpAddr;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::wire::{AnswerWriter, Section, Wire, WireName, WireQuery, write_name};
use hashbrown::HashSet;
use rand::seq::SliceRandom;
use smallvec::SmallVec;

use crate::answer::{Hit, Hits, NameError, Query, Settings, Target, WRITER, srv_weight};
use crate::config::is_reverse_zone;
use crate::index::{Index, ServiceEntry};
use crate::query::Base;

/// Above this many addresses, duplicates are found with a hash set instead of a scan.
const SCAN_LIMIT: usize = 16;

/// One of the plugin's zones, for matching on the wire path.
struct WireZone {
    name: WireName,
    /// Index into `Settings::zones`.
    index: usize,
    reverse: bool,
}

/// The plugin's zones in wire format, for matching question names without decoding
/// them.
pub struct WireZones {
    /// Most labels first, so the first match is the longest.
    zones: Vec<WireZone>,
}

impl WireZones {
    /// The zones of `settings`.
    pub fn new(settings: &Settings) -> Self {
        let mut zones: Vec<WireZone> = settings
            .zones
            .iter()
            .enumerate()
            .map(|(index, zone)| WireZone {
                name: WireName::new(zone),
                index,
                reverse: is_reverse_zone(zone),
            })
            .collect();
        zones.sort_by_key(|zone| std::cmp::Reverse(zone.name.label_count()));
        Self { zones }
    }

    /// The longest zone `query`'s name is in, and the index of the zone's first label
    /// in the question.
    fn find(&self, query: &WireQuery<'_>) -> Option<(&WireZone, usize)> {
        self.zones
            .iter()
            .find_map(|zone| Some((zone, zone.name.start_in(query)?)))
    }
}

/// Answers `query` if it is one the wire path serves; see the module docs.
pub fn answer(
    settings: &Settings,
    zones: &WireZones,
    index: &Index,
    startup_over: bool,
    query: &WireQuery<'_>,
    buf: &mut Vec<u8>,
) -> Wire {
    let qtype = query.qtype();
    if !matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::SRV) {
        return Wire::Slow;
    }
    let Some((matched, zone_start)) = zones.find(query) else {
        return Wire::Slow;
    };
    let synced = index.synced();
    if matched.reverse || (!synced && !startup_over) {
        return Wire::Slow;
    }
    // Only a zone of fewer than two labels (the root, `arpa`) can hold reverse names.
    let reverse = matched.name.label_count() < 2 && is_reverse_name(query);
    let view = index.read();
    let lookup = Query {
        settings,
        view: &view,
        zone: &settings.zones[matched.index],
        zone_labels: matched.name.label_count(),
        // Only the ordinary path writes names from this; here the question is pointed at.
        zone_case: Name::root(),
    };
    let zone = Zone {
        start: zone_start,
        ttl: settings.ttl,
        serial: index.serial(),
    };
    let hits = Base::from_lower((0..zone_start).map(|i| query.label(i)))
        .ok_or(NameError)
        .and_then(|base| lookup.lookup_base(&base, reverse));
    let outcome = match hits {
        Err(NameError) => {
            if !settings.fallthrough.is_off() {
                return Wire::Slow;
            }
            let rcode = if synced {
                ResponseCode::NXDomain
            } else {
                ResponseCode::ServFail
            };
            negative(query, &zone, rcode, buf)
        }
        Ok(Hits::NsDns) => return Wire::Slow,
        Ok(Hits::Empty) => negative(query, &zone, ResponseCode::NoError, buf),
        Ok(Hits::Entries(hits)) => match qtype {
            RecordType::SRV => srv(query, &zone, &hits, buf),
            _ => addresses(query, &zone, qtype == RecordType::A, &hits, buf),
        },
    };
    match outcome {
        Some(rcode) => Wire::Answered {
            rcode,
            writer: WRITER,
        },
        None => Wire::Slow,
    }
}

/// Whether the question name is under `in-addr.arpa` or `ip6.arpa` (as
/// `config::is_reverse_zone` tells of a zone).
fn is_reverse_name(query: &WireQuery<'_>) -> bool {
    let n = query.label_count();
    n >= 2 && query.label(n - 1) == b"arpa" && matches!(query.label(n - 2), b"in-addr" | b"ip6")
}

/// What answers need to know of the matched zone.
struct Zone {
    /// Index of the zone's first label in the question.
    start: usize,
    ttl: u32,
    serial: u32,
}

/// NXDOMAIN, NODATA or SERVFAIL with the zone's SOA, as `answer::negative` writes it.
fn negative(
    query: &WireQuery<'_>,
    zone: &Zone,
    rcode: ResponseCode,
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let mut writer = AnswerWriter::new(query, rcode, true, buf);
    writer.section(Section::Authority);
    let apex = query.pointer_to(zone.start);
    writer.record(&apex, RecordType::SOA, zone.ttl.min(300), |buf| {
        write_name(buf, &[b"ns", b"dns"], &apex);
        write_name(buf, &[b"hostmaster"], &apex);
        for value in [zone.serial, 7200, 1800, 86400, zone.ttl] {
            buf.extend_from_slice(&value.to_be_bytes());
        }
    });
    writer.finish(query).map(|_| rcode)
}

/// A or AAAA: the distinct addresses of the family asked for, in the order found (or
/// shuffled, under `loadbalance`); NODATA when there are none. ExternalName CNAMEs
/// are left to the ordinary path.
fn addresses(
    query: &WireQuery<'_>,
    zone: &Zone,
    want_v4: bool,
    hits: &[Hit<'_>],
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let mut ips: SmallVec<[IpAddr; SCAN_LIMIT]> = SmallVec::new();
    let mut seen: Option<HashSet<IpAddr>> = None;
    for hit in hits {
        let ip = match hit {
            Hit::Address { ip, .. } => *ip,
            Hit::Cname(_) => return None,
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
    if ips.is_empty() {
        return negative(query, zone, ResponseCode::NoError, buf);
    }
    if query.shuffle {
        ips.shuffle(&mut rand::rng());
    }
    let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
    let owner = query.pointer_to(0);
    for ip in ips {
        writer.address(&owner, zone.ttl, ip);
    }
    writer.finish(query).map(|_| ResponseCode::NoError)
}

/// Whether two SRV targets are the same name (labels compared as DNS compares them).
fn same_target(a: Target<'_>, b: Target<'_>) -> bool {
    match (a, b) {
        (Target::Service(x), Target::Service(y)) => std::ptr::eq(x, y),
        (Target::Endpoint(x, l), Target::Endpoint(y, m)) => {
            std::ptr::eq(x, y) && l.eq_ignore_ascii_case(m)
        }
        _ => false,
    }
}

/// The labels of a target's name below the zone; `None` for pods (no SRV).
fn target_labels<'v>(target: Target<'v>) -> Option<([&'v [u8]; 4], usize)> {
    let labels = |entry: &'v ServiceEntry| -> [&'v [u8]; 2] {
        [entry.name.as_bytes(), entry.namespace.as_bytes()]
    };
    match target {
        Target::Service(entry) => {
            let [name, namespace] = labels(entry);
            Some(([name, namespace, b"svc", b""], 3))
        }
        Target::Endpoint(entry, label) => {
            let [name, namespace] = labels(entry);
            Some(([label.as_bytes(), name, namespace, b"svc"], 4))
        }
        Target::Pod => None,
    }
}

/// SRV, as `answer::Query::srv`: one record per distinct (target, port), weight 100/N
/// over the N entries, the targets' addresses in Additional. Targets are written in
/// full (RFC 2782: no compression in SRV data), the zone in the client's case; glue
/// owners point at them.
fn srv(
    query: &WireQuery<'_>,
    zone: &Zone,
    hits: &[Hit<'_>],
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let entries = hits
        .iter()
        .filter(|hit| matches!(hit, Hit::Address { .. }))
        .count();
    let weight = srv_weight(entries);
    let zone_raw = query.raw_suffix(zone.start);
    let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
    let owner = query.pointer_to(0);
    // (target, where its name was written) and (target, port) / (target, ip) seen.
    let mut written: SmallVec<[(Target<'_>, usize); 8]> = SmallVec::new();
    let mut records: SmallVec<[(usize, u16); 8]> = SmallVec::new();
    let mut glue: SmallVec<[(usize, IpAddr); 8]> = SmallVec::new();
    for hit in hits {
        let Hit::Address {
            ip,
            port: Some(port),
            target,
        } = hit
        else {
            continue;
        };
        let Some((labels, count)) = target_labels(*target) else {
            continue;
        };
        let labels = &labels[..count];
        let length: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + zone_raw.len();
        if length > 255 {
            // Not a name: the ordinary path skips it too.
            continue;
        }
        let known = written
            .iter()
            .find(|(t, _)| same_target(*t, *target))
            .map(|(_, at)| *at);
        let at = match known {
            Some(at) if records.contains(&(at, *port)) => at,
            _ => {
                let rdata = writer.record(&owner, RecordType::SRV, zone.ttl, |buf| {
                    buf.extend_from_slice(&0u16.to_be_bytes());
                    buf.extend_from_slice(&weight.to_be_bytes());
                    buf.extend_from_slice(&port.to_be_bytes());
                    write_name(buf, labels, zone_raw);
                });
                let at = known.unwrap_or(rdata + 6);
                if known.is_none() {
                    written.push((*target, at));
                }
                records.push((at, *port));
                at
            }
        };
        if !glue.contains(&(at, *ip)) {
            glue.push((at, *ip));
        }
    }
    if records.is_empty() {
        return negative(query, zone, ResponseCode::NoError, buf);
    }
    if query.shuffle {
        glue.shuffle(&mut rand::rng());
    }
    writer.section(Section::Additional);
    for (at, ip) in glue {
        writer.address(&clusterdns_api::wire::pointer(at)?, zone.ttl, ip);
    }
    writer.finish(query).map(|_| ResponseCode::NoError)
}
