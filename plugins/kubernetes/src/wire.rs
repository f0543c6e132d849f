//! The plugin's wire path (see `clusterdns_api::wire`): A, AAAA and SRV questions for
//! service and endpoint names, and their NODATA and NXDOMAIN, answered from the index
//! straight into the packet.
//!
//! These are nearly all the queries a cluster sends. The names are found with the
//! same lookup as the ordinary path (`answer.rs`), and the records decided by the same
//! plans (`plan.rs`), so both agree on what exists and what is answered; only the
//! writing differs: owner names are compression pointers into the question (which
//! echoes the client's case for free), and nothing is allocated for an answer of up to
//! a few dozen records. Anything else
//! (PTR, TXT, ExternalName CNAMEs, `ns.dns`, fall-through, answers too large for the
//! client) takes the ordinary path.

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::wire::{
    AnswerOrder, AnswerWriter, Section, Wire, WireName, WireQuery, write_name,
};
use clusterdns_api::zone::is_reverse_zone;
use rand::seq::SliceRandom;
use smallvec::SmallVec;

use crate::answer::{Hit, Hits, NameError, Settings, WRITER, ZoneLookup};
use crate::index::Index;
use crate::name::RelativeName;
use crate::plan::{self, AddressPlan};

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
        return Wire::Ordinary;
    }
    let Some((matched, zone_start)) = zones.find(query) else {
        return Wire::Ordinary;
    };
    let synced = index.synced();
    if matched.reverse || (!synced && !startup_over) {
        return Wire::Ordinary;
    }
    // Only a zone of fewer than two labels (the root, `arpa`) can hold reverse names.
    let reverse = matched.name.label_count() < 2 && is_reverse_name(query);
    let view = index.read();
    let lookup = ZoneLookup {
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
    let hits = RelativeName::from_lower(query.labels_before(zone_start))
        .ok_or(NameError)
        .and_then(|base| lookup.lookup_base(&base, reverse));
    let outcome = match hits {
        Err(NameError) => {
            if !settings.fallthrough.is_off() {
                return Wire::Ordinary;
            }
            let rcode = if synced {
                ResponseCode::NXDomain
            } else {
                ResponseCode::ServFail
            };
            negative(query, &zone, rcode, buf)
        }
        Ok(Hits::NsDns) => return Wire::Ordinary,
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
        None => Wire::Ordinary,
    }
}

/// Whether `query` (A, AAAA or SRV) names something in the zone with records of its
/// own: the same [`ZoneLookup::lookup_base`] as [`answer`] and the ordinary path, so
/// what exists here is what both paths answer without NXDOMAIN (NODATA included). An
/// ExternalName (a CNAME to another name), a reverse name, a zone not loaded yet and
/// other question types (TXT and PTR have rules of their own) say `false`. Allocates
/// nothing up to the few hits `HitList` keeps inline, as [`answer`]; see
/// `ClusterDirectory::holds_name`.
pub fn holds_name(
    settings: &Settings,
    zones: &WireZones,
    index: &Index,
    query: &WireQuery<'_>,
) -> bool {
    if !matches!(
        query.qtype(),
        RecordType::A | RecordType::AAAA | RecordType::SRV
    ) {
        return false;
    }
    with_hits(settings, zones, index, query, |hits| match hits {
        Err(NameError) => false,
        Ok(Hits::Empty | Hits::NsDns) => true,
        Ok(Hits::Entries(hits)) => !hits.iter().any(|hit| matches!(hit, Hit::Cname(_))),
    })
}

/// Whether an A or AAAA `query` is answered with at least one address of the type
/// asked: the lookup of [`holds_name`], then the plan both paths write addresses from
/// ([`plan::addresses`]), so a name it says yes to gets those records on either path.
/// NODATA, NXDOMAIN, an ExternalName (a CNAME, whatever its target holds), other
/// question types, a name outside the zones and a zone not loaded yet say `false`;
/// see `ClusterDirectory::answers_addresses`.
pub fn answers_addresses(
    settings: &Settings,
    zones: &WireZones,
    index: &Index,
    query: &WireQuery<'_>,
) -> bool {
    let want_v4 = match query.qtype() {
        RecordType::A => true,
        RecordType::AAAA => false,
        _ => return false,
    };
    with_hits(settings, zones, index, query, |hits| match hits {
        Ok(Hits::Entries(hits)) => matches!(
            plan::addresses(&hits, want_v4),
            AddressPlan::Addresses(ips) if !ips.is_empty()
        ),
        Err(NameError) | Ok(Hits::Empty | Hits::NsDns) => false,
    })
}

/// Looks `query`'s name up as [`answer`] does, under one read of the index, and
/// hands the hits to `decide`; `false` for a name outside the zones, in a reverse
/// zone, or before the zone is loaded.
fn with_hits(
    settings: &Settings,
    zones: &WireZones,
    index: &Index,
    query: &WireQuery<'_>,
    decide: impl FnOnce(Result<Hits<'_>, NameError>) -> bool,
) -> bool {
    let Some((matched, zone_start)) = zones.find(query) else {
        return false;
    };
    if matched.reverse || !index.synced() {
        return false;
    }
    let reverse = matched.name.label_count() < 2 && is_reverse_name(query);
    let view = index.read();
    let lookup = ZoneLookup {
        settings,
        view: &view,
        zone: &settings.zones[matched.index],
        zone_labels: matched.name.label_count(),
        zone_case: Name::root(),
    };
    let Some(base) = RelativeName::from_lower(query.labels_before(zone_start)) else {
        return false;
    };
    decide(lookup.lookup_base(&base, reverse))
}

/// Whether the question name is under `in-addr.arpa` or `ip6.arpa` (as
/// `clusterdns_api::zone::is_reverse_zone` tells of a name).
fn is_reverse_name(query: &WireQuery<'_>) -> bool {
    let n = query.label_count();
    n >= 2
        && query.label(n - 1) == Some(b"arpa")
        && matches!(query.label(n - 2), Some(b"in-addr" | b"ip6"))
}

/// What answers need to know of the matched zone.
struct Zone {
    /// Index of the zone's first label in the question.
    start: usize,
    ttl: u32,
    serial: u32,
}

/// NXDOMAIN, NODATA or SERVFAIL with the zone's SOA ([`plan::soa`]), as
/// `answer::negative` writes it.
fn negative(
    query: &WireQuery<'_>,
    zone: &Zone,
    rcode: ResponseCode,
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let mut writer = AnswerWriter::new(query, rcode, true, buf);
    writer.section(Section::Authority);
    let apex = query.pointer_to(zone.start);
    let soa = plan::soa(zone.serial, zone.ttl);
    writer.record(&apex, RecordType::SOA, soa.ttl, |buf| {
        write_name(buf, &[b"ns", b"dns"], &apex);
        write_name(buf, &[b"hostmaster"], &apex);
        for value in soa.fields {
            buf.extend_from_slice(&value.to_be_bytes());
        }
    });
    writer.finish(query).map(|_| rcode)
}

/// A or AAAA ([`plan::addresses`]), shuffled when `loadbalance` asked for it; NODATA
/// when there are none. ExternalName CNAMEs are left to the ordinary path.
fn addresses(
    query: &WireQuery<'_>,
    zone: &Zone,
    want_v4: bool,
    hits: &[Hit<'_>],
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let AddressPlan::Addresses(mut ips) = plan::addresses(hits, want_v4) else {
        return None;
    };
    if ips.is_empty() {
        return negative(query, zone, ResponseCode::NoError, buf);
    }
    if query.order() == AnswerOrder::Shuffled {
        ips.shuffle(&mut rand::rng());
    }
    let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
    let owner = query.pointer_to(0);
    for ip in ips {
        writer.address(&owner, zone.ttl, ip);
    }
    writer.finish(query).map(|_| ResponseCode::NoError)
}

/// SRV ([`plan::srv`]). Targets are written in full (RFC 2782: no compression in SRV
/// data), the zone in the client's case; glue owners point at them.
fn srv(
    query: &WireQuery<'_>,
    zone: &Zone,
    hits: &[Hit<'_>],
    buf: &mut Vec<u8>,
) -> Option<ResponseCode> {
    let zone_raw = query.raw_suffix(zone.start);
    let mut plan = plan::srv(hits, zone_raw.len());
    if plan.records.is_empty() {
        return negative(query, zone, ResponseCode::NoError, buf);
    }
    let mut writer = AnswerWriter::new(query, ResponseCode::NoError, true, buf);
    let owner = query.pointer_to(0);
    // Where each target's name was first written, for the glue's owner pointers.
    let mut written: SmallVec<[Option<usize>; 8]> = SmallVec::from_elem(None, plan.targets.len());
    for (target, port) in &plan.records {
        let labels = plan::target_labels(plan.targets[*target])?;
        let rdata = writer.record(&owner, RecordType::SRV, zone.ttl, |buf| {
            buf.extend_from_slice(&0u16.to_be_bytes());
            buf.extend_from_slice(&plan.weight.to_be_bytes());
            buf.extend_from_slice(&port.to_be_bytes());
            write_name(buf, &labels, zone_raw);
        });
        // The target name follows priority, weight and port.
        written[*target].get_or_insert(rdata + 6);
    }
    if query.order() == AnswerOrder::Shuffled {
        plan.glue.shuffle(&mut rand::rng());
    }
    writer.section(Section::Additional);
    for (target, ip) in &plan.glue {
        let at = written.get(*target).copied().flatten()?;
        writer.address(&clusterdns_api::wire::pointer(at)?, zone.ttl, *ip);
    }
    writer.finish(query).map(|_| ResponseCode::NoError)
}
