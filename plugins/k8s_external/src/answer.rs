//! The answers (CoreDNS's `ServeDNS`, `serveApex`, `serveSubApex` and `msg_to_dns.go`).

use std::collections::HashSet;
use std::net::IpAddr;

use clusterdns_api::cluster::ExternalAddr;
use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::{ClusterDirectory, Ctx, Next, PluginError, Response};

use crate::config::Config;
use crate::lookup::{Found, Target, ip_of, lookup};

const SOA_REFRESH: i32 = 7200;
const SOA_RETRY: i32 = 1800;
const SOA_EXPIRE: i32 = 86400;

/// `labels` (leftmost first) then `zone`.
fn join(labels: &[&str], zone: &Name) -> Option<Name> {
    let mut name = Name::from_labels(labels.iter().map(|l| l.as_bytes())).ok()?;
    name.set_fqdn(false);
    name.append_domain(zone).ok()
}

/// `<label>.<apex>.<zone>`.
fn under_apex(label: &str, config: &Config, zone: &Name) -> Option<Name> {
    let apex_zone = config.apex.clone().append_domain(zone).ok()?;
    join(&[label], &apex_zone)
}

fn soa(config: &Config, directory: &dyn ClusterDirectory, zone: &Name) -> Option<Record> {
    let mname = under_apex("ns1", config, zone)?;
    let rname = under_apex("hostmaster", config, zone)?;
    let soa = SOA::new(
        mname,
        rname,
        directory.serial(),
        SOA_REFRESH,
        SOA_RETRY,
        SOA_EXPIRE,
        config.ttl,
    );
    Some(Record::from_rdata(
        zone.clone(),
        config.ttl,
        RData::SOA(soa),
    ))
}

fn address_record(owner: Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner, ttl, data)
}

fn wants(qtype: RecordType, ip: IpAddr) -> bool {
    matches!(
        (qtype, ip),
        (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_))
    )
}

/// Answers a query for `qname` (lower case) under `zone`.
pub(crate) async fn serve(
    config: &Config,
    directory: &dyn ClusterDirectory,
    qname: &Name,
    zone: &Name,
    ctx: &mut Ctx,
    next: Next<'_>,
) -> Result<Response, PluginError> {
    let mut response = Response::new(ctx, crate::NAME, ResponseCode::NoError);
    response.message.metadata.authoritative = true;
    let soa_record = soa(config, directory, zone);
    let qtype = ctx.qtype();
    for z in &config.zones {
        if qname == z {
            serve_apex(config, directory, zone, qtype, &mut response, soa_record);
            return Ok(response);
        }
        if let Ok(apex_zone) = config.apex.clone().append_domain(z)
            && apex_zone.zone_of(qname)
        {
            serve_sub_apex(
                config,
                directory,
                zone,
                qname,
                qtype,
                ctx.qname(),
                &mut response,
                soa_record,
            );
            return Ok(response);
        }
    }
    let targets = match lookup(directory, qname, zone, config.headless) {
        Found::Targets(targets) if qtype != RecordType::PTR => targets,
        Found::Targets(_) | Found::NoData => {
            response.message.authorities.extend(soa_record);
            return Ok(response);
        }
        Found::NxDomain => {
            if config.fallthrough.through(qname) {
                return next.run(ctx).await;
            }
            response.message.metadata.response_code = ResponseCode::NXDomain;
            response.message.authorities.extend(soa_record);
            return Ok(response);
        }
    };
    let owner = ctx.qname().clone();
    match qtype {
        RecordType::A | RecordType::AAAA => {
            addresses(config, &targets, &owner, qtype, ctx, next, &mut response).await;
        }
        RecordType::SRV => srv(config, &targets, zone, &owner, ctx, next, &mut response).await,
        _ => {}
    }
    if response.message.answers.is_empty() {
        response.message.authorities.extend(soa_record);
    }
    Ok(response)
}

/// The apex itself: SOA, NS (with the server's own addresses as glue), NODATA else.
fn serve_apex(
    config: &Config,
    directory: &dyn ClusterDirectory,
    zone: &Name,
    qtype: RecordType,
    response: &mut Response,
    soa_record: Option<Record>,
) {
    match qtype {
        RecordType::SOA => response.message.answers.extend(soa_record),
        RecordType::NS => {
            let Some(ns) = under_apex("ns1", config, zone) else {
                return;
            };
            response.message.answers.push(Record::from_rdata(
                zone.clone(),
                config.ttl,
                RData::NS(NS(ns.clone())),
            ));
            for ip in directory.own_external_addresses(config.headless) {
                response
                    .message
                    .additionals
                    .push(address_record(ns.clone(), config.ttl, ip));
            }
        }
        _ => response.message.authorities.extend(soa_record),
    }
}

/// Names under `<apex>.<zone>`: `ns1` has the server's own addresses, `<apex>` itself is
/// an empty non-terminal, anything else does not exist.
#[allow(clippy::too_many_arguments)]
fn serve_sub_apex(
    config: &Config,
    directory: &dyn ClusterDirectory,
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
    owner: &Name,
    response: &mut Response,
    soa_record: Option<Record>,
) {
    let below = qname.num_labels().saturating_sub(zone.num_labels());
    let first_is_ns1 = qname.iter().next().is_some_and(|l| l == b"ns1");
    match below {
        1 => response.message.authorities.extend(soa_record),
        2 if first_is_ns1 => {
            for ip in directory.own_external_addresses(config.headless) {
                if wants(qtype, ip) {
                    response
                        .message
                        .answers
                        .push(address_record(owner.clone(), config.ttl, ip));
                }
            }
            if response.message.answers.is_empty() {
                response.message.authorities.extend(soa_record);
            }
        }
        _ => {
            response.message.metadata.response_code = ResponseCode::NXDomain;
            response.message.authorities.extend(soa_record);
        }
    }
}

/// Asks the rest of the chain for `name`/`qtype` (a CNAME target's addresses).
async fn resolve(ctx: &Ctx, next: Next<'_>, name: &Name, qtype: RecordType) -> Option<Response> {
    let mut sub = ctx.clone();
    sub.query.set_name(name.clone());
    sub.query.set_query_type(qtype);
    next.run(&mut sub).await.ok()
}

/// A and AAAA: each address once; a host name as a CNAME followed by what the rest of
/// the chain answers for it.
async fn addresses(
    config: &Config,
    targets: &[Target],
    owner: &Name,
    qtype: RecordType,
    ctx: &Ctx,
    next: Next<'_>,
    response: &mut Response,
) {
    let mut seen: HashSet<&ExternalAddr> = HashSet::new();
    for target in targets {
        if !seen.insert(&target.host) {
            continue;
        }
        match &target.host {
            ExternalAddr::Ip(ip) => {
                if wants(qtype, *ip) {
                    response
                        .message
                        .answers
                        .push(address_record(owner.clone(), config.ttl, *ip));
                }
            }
            ExternalAddr::Host(host) => {
                response.message.answers.push(Record::from_rdata(
                    owner.clone(),
                    config.ttl,
                    RData::CNAME(CNAME(host.clone())),
                ));
                if let Some(reply) = resolve(ctx, next, host, qtype).await {
                    if reply.message.metadata.truncation {
                        response.message.metadata.truncation = true;
                    }
                    response.message.answers.extend(reply.message.answers);
                }
            }
        }
    }
}

/// SRV: one record per (target, port), weights shared equally (CoreDNS's rule for
/// records of one priority), the targets' addresses as additional records.
async fn srv(
    config: &Config,
    targets: &[Target],
    zone: &Name,
    owner: &Name,
    ctx: &Ctx,
    next: Next<'_>,
    response: &mut Response,
) {
    let count = targets.len().max(1) as u64;
    let weight = u16::try_from((100 / count).max(1)).unwrap_or(1);
    let mut records: HashSet<(Name, u16)> = HashSet::new();
    let mut glue: HashSet<(Name, String)> = HashSet::new();
    for target in targets {
        let Some(port) = target.port else {
            continue;
        };
        let srv_target = match &target.host {
            ExternalAddr::Host(host) => host.clone(),
            ExternalAddr::Ip(_) => {
                let labels: Vec<&str> = target.owner.iter().map(String::as_str).collect();
                let Some(name) = join(&labels, zone) else {
                    continue;
                };
                name
            }
        };
        if records.insert((srv_target.clone(), port)) {
            response.message.answers.push(Record::from_rdata(
                owner.clone(),
                config.ttl,
                RData::SRV(SRV::new(0, weight, port, srv_target.clone())),
            ));
        }
        let host_key = match &target.host {
            ExternalAddr::Ip(ip) => ip.to_string(),
            ExternalAddr::Host(host) => host.to_string(),
        };
        if !glue.insert((srv_target.clone(), host_key)) {
            continue;
        }
        match ip_of(&target.host) {
            Some(ip) => response
                .message
                .additionals
                .push(address_record(srv_target, config.ttl, ip)),
            None => {
                for qtype in [RecordType::A, RecordType::AAAA] {
                    if let Some(reply) = resolve(ctx, next, &srv_target, qtype).await {
                        response.message.additionals.extend(reply.message.answers);
                    }
                }
            }
        }
    }
}
