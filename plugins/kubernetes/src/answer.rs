//! Record synthesis: a query and the index → an answer, as CoreDNS's kubernetes
//! plugin writes it (`handler.go`, `kubernetes.go`, `plugin/backend_lookup.go`).
//!
//! [`ZoneLookup::lookup_base`] decides what a name stands for (and so NXDOMAIN against
//! NODATA) for both request paths; which records A, AAAA and SRV give is decided in
//! `plan.rs`, which this module and `wire.rs` turn into records each in its own way.
//!
//! Everything here is synchronous and runs under the index's read lock, so cluster
//! answers complete on the first poll of the chain future. The one exception, a CNAME
//! to a name outside the zone, is returned as [`Outcome::Chase`] and finished by the
//! plugin through the rest of the chain, after the lock is released.

use std::net::IpAddr;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::zone::{is_reverse_zone, longest_match};
use clusterdns_api::{Ctx, Fallthrough, Response};
use hashbrown::HashSet;
use smallvec::{SmallVec, smallvec};

use crate::config::PodMode;
use crate::index::{Index, ServiceEntry, View};
use crate::name::{NameRequest, RelativeName, ServiceRequest, parse, port_matches};
use crate::object::ServiceKind;
use crate::plan::{self, AddressPlan};

/// The schema version of the Kubernetes DNS specification implemented.
pub const SCHEMA_VERSION: &str = "1.1.0";
/// The fixed TTL of the `dns-version` record.
pub const SCHEMA_TTL: u32 = 28800;
/// The directive name, as the writer of answers.
pub const WRITER: &str = "kubernetes";
/// CNAMEs followed inside the zone before giving up (CoreDNS: 8).
const MAX_CNAME_CHAIN: usize = 8;

/// What the answer logic needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// All zones, lower case.
    pub zones: Vec<Name>,
    /// PTR targets are written in this zone.
    pub primary: Name,
    /// TTL of every record except `dns-version`.
    pub ttl: u32,
    /// Pod records.
    pub pods: PodMode,
    /// `namespaces`: the only namespaces exposed; empty exposes all.
    pub namespaces: Vec<String>,
    /// Whether `namespaces` or `namespace_labels` restricts namespaces (PTR answers
    /// then skip services of namespaces not exposed).
    pub filters_namespaces: bool,
    /// `ignore empty_service`.
    pub ignore_empty_service: bool,
    /// `fallthrough`.
    pub fallthrough: Fallthrough,
    /// The server's own addresses: NS answers name the services they are endpoints of.
    pub local_ips: Vec<IpAddr>,
}

/// What the plugin does with a query.
pub enum Outcome {
    /// Send this.
    Answer(Response),
    /// Hand the query to the next plugin.
    Next,
    /// Send `response`, after appending what the rest of the chain answers for
    /// `target` (a CNAME target outside the zone) with the query's type.
    Chase {
        /// The answer so far, ending with the CNAME to `target`.
        response: Response,
        /// The name to resolve.
        target: Name,
    },
}

/// The name does not exist (NXDOMAIN, unless fallthrough or unsynced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameError;

/// Records found for a query; empty answers mean NODATA.
#[derive(Default)]
struct Found {
    answers: Vec<Record>,
    additionals: Vec<Record>,
    /// A CNAME target outside the zone, to resolve through the rest of the chain.
    chase: Option<Name>,
}

/// What a forward name stands for.
// The entries stay inline on purpose: boxing them would bring back the allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Hits<'v> {
    /// The name exists and holds nothing (apex, `svc`, `pod`, a namespace).
    Empty,
    /// `ns.dns.<zone>`.
    NsDns,
    /// Matched entries (which may be none: a service without cluster IPs).
    Entries(HitList<'v>),
}

/// The entries a name matched: inline up to a few, so that answering a service name
/// (one cluster IP, or a handful of endpoints) allocates nothing.
pub(crate) type HitList<'v> = SmallVec<[Hit<'v>; 4]>;

/// One matched entry, as CoreDNS's `msg.Service`.
pub(crate) enum Hit<'v> {
    /// An address, with the port of the matched port (`None`: no port, so no SRV) and
    /// whose name SRV answers point at.
    Address {
        ip: IpAddr,
        port: Option<u16>,
        target: Target<'v>,
    },
    /// An ExternalName.
    Cname(&'v Name),
}

/// Whose name an SRV record points at.
#[derive(Clone, Copy)]
pub(crate) enum Target<'v> {
    /// `<svc>.<ns>.svc.<zone>`.
    Service(&'v ServiceEntry),
    /// `<endpoint>.<svc>.<ns>.svc.<zone>`.
    Endpoint(&'v ServiceEntry, &'v str),
    /// A pod record: no SRV.
    Pod,
}

/// One query in one zone.
pub(crate) struct ZoneLookup<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) view: &'a View,
    /// The matched zone, lower case.
    pub(crate) zone: &'a Name,
    pub(crate) zone_labels: usize,
    /// The zone as the client wrote it.
    pub(crate) zone_case: Name,
}

/// Decides the answer to `ctx`. Never waits.
pub fn decide(settings: &Settings, index: &Index, ctx: &Ctx, startup_over: bool) -> Outcome {
    let qname = ctx.qname();
    let Some(zone) = longest_match(qname, &settings.zones) else {
        return Outcome::Next;
    };
    let qtype = ctx.qtype();
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return Outcome::Answer(Response::new(ctx, WRITER, ResponseCode::Refused));
    }
    let synced = index.synced();
    if !synced && !startup_over {
        // CoreDNS does not serve at all before the first sync or startup_timeout.
        return Outcome::Answer(Response::new(ctx, WRITER, ResponseCode::ServFail));
    }
    let zone_labels = zone.iter().count();
    let view = index.read();
    let query = ZoneLookup {
        settings,
        view: &view,
        zone,
        zone_labels,
        zone_case: qname.trim_to(zone_labels),
    };
    let found = match qtype {
        RecordType::A | RecordType::AAAA => query.address(qname, qtype, &[]),
        RecordType::SRV => query.srv(qname),
        RecordType::CNAME => query.cname(qname),
        RecordType::TXT => query.txt(qname),
        RecordType::PTR => query.ptr(qname),
        RecordType::SOA if query.is_apex(qname) => Ok(Found {
            answers: vec![query.soa(index.serial())],
            ..Found::default()
        }),
        // CoreDNS does not look whether a non-apex name exists for SOA: NODATA.
        RecordType::SOA => Ok(Found::default()),
        RecordType::NS if query.is_apex(qname) => Ok(query.ns(qname)),
        // Any other type: does the name exist (NODATA) or not (NXDOMAIN)?
        _ => query.lookup(qname).map(|_| Found::default()),
    };
    match found {
        Err(NameError) => {
            if settings.fallthrough.through(qname) {
                return Outcome::Next;
            }
            let rcode = if synced {
                ResponseCode::NXDomain
            } else {
                ResponseCode::ServFail
            };
            Outcome::Answer(negative(ctx, rcode, query.soa(index.serial())))
        }
        Ok(found) if found.answers.is_empty() => Outcome::Answer(negative(
            ctx,
            ResponseCode::NoError,
            query.soa(index.serial()),
        )),
        Ok(found) => {
            let mut response =
                Response::authoritative(ctx, WRITER, ResponseCode::NoError, found.answers);
            response.message.additionals = found.additionals;
            match found.chase {
                Some(target) => Outcome::Chase { response, target },
                None => Outcome::Answer(response),
            }
        }
    }
}

/// NXDOMAIN, NODATA or SERVFAIL, authoritative, with the zone's SOA.
fn negative(ctx: &Ctx, rcode: ResponseCode, soa: Record) -> Response {
    let mut response = Response::authoritative(ctx, WRITER, rcode, Vec::new());
    response.message.authorities.push(soa);
    response
}

/// `label.label...` + `zone` as a name; `None` if too long to be one.
fn join(labels: &[&str], zone: &Name) -> Option<Name> {
    let mut name = Name::from_labels(labels.iter().map(|l| l.as_bytes())).ok()?;
    name.set_fqdn(false);
    name.append_domain(zone).ok()
}

/// The address a full reverse name stands for.
fn reverse_address(name: &Name) -> Option<IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

/// The address of a pod label: `1-2-3-4` or `fd00-10--a`.
fn pod_address(label: &str) -> Option<IpAddr> {
    let text = if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".")
    } else {
        label.replace('-', ":")
    };
    text.parse().ok()
}

impl ZoneLookup<'_> {
    fn ttl(&self) -> u32 {
        self.settings.ttl
    }

    fn is_apex(&self, qname: &Name) -> bool {
        qname.iter().count() == self.zone_labels
    }

    fn record(&self, owner: &Name, rdata: RData) -> Record {
        Record::from_rdata(owner.clone(), self.ttl(), rdata)
    }

    fn address_record(&self, owner: &Name, ip: IpAddr) -> Record {
        match ip {
            IpAddr::V4(v4) => self.record(owner, RData::A(A(v4))),
            IpAddr::V6(v6) => self.record(owner, RData::AAAA(AAAA(v6))),
        }
    }

    /// The zone's SOA ([`plan::soa`]), written in the client's case.
    fn soa(&self, serial: u32) -> Record {
        let zone = &self.zone_case;
        let mname = join(&["ns", "dns"], zone).unwrap_or_else(|| zone.clone());
        let rname = join(&["hostmaster"], zone).unwrap_or_else(|| zone.clone());
        let plan = plan::soa(serial, self.ttl());
        let [serial, refresh, retry, expire, minimum] = plan.fields;
        Record::from_rdata(
            zone.clone(),
            plan.ttl,
            RData::SOA(SOA::new(
                mname,
                rname,
                serial,
                refresh as i32,
                retry as i32,
                expire as i32,
                minimum,
            )),
        )
    }

    /// Whether `namespace` is exposed: allowed by `namespaces` and existing.
    fn exposed(&self, namespace: &str) -> bool {
        (self.settings.namespaces.is_empty()
            || self.settings.namespaces.iter().any(|n| n == namespace))
            && self.view.namespace_exists(namespace)
    }

    /// What a forward name stands for (CoreDNS `Records`/`findServices`/`findPods`).
    fn lookup(&self, qname: &Name) -> Result<Hits<'_>, NameError> {
        let base = RelativeName::new(qname, self.zone_labels).ok_or(NameError)?;
        self.lookup_base(&base, is_reverse_zone(qname))
    }

    /// [`lookup`](Self::lookup) of the labels below the zone; `reverse` tells whether
    /// the whole name is under `in-addr.arpa` or `ip6.arpa`.
    pub(crate) fn lookup_base(
        &self,
        base: &RelativeName,
        reverse: bool,
    ) -> Result<Hits<'_>, NameError> {
        if base.is(&["ns", "dns"]) {
            return Ok(Hits::NsDns);
        }
        if base.is(&["dns"]) {
            // The parent of `ns.dns`: an empty non-terminal (RFC 8020), not NXDOMAIN.
            return Ok(Hits::Empty);
        }
        match parse(base) {
            NameRequest::Empty => Ok(Hits::Empty),
            NameRequest::Invalid => Err(NameError),
            // Reverse zones hold no service or pod names.
            _ if reverse => Err(NameError),
            NameRequest::Pod {
                namespace,
                name,
                extra,
            } => self.find_pod(namespace, name, extra),
            NameRequest::Service(request) => self.find_services(&request),
        }
    }

    fn find_pod(
        &self,
        namespace: &str,
        name: Option<&str>,
        extra: bool,
    ) -> Result<Hits<'_>, NameError> {
        if self.settings.pods == PodMode::Disabled || !self.exposed(namespace) {
            return Err(NameError);
        }
        let Some(name) = name else {
            return Ok(Hits::Empty);
        };
        if extra {
            return Err(NameError);
        }
        let ip = pod_address(name).ok_or(NameError)?;
        if self.settings.pods == PodMode::Verified && !self.view.pod_has_ip(namespace, ip) {
            return Err(NameError);
        }
        Ok(Hits::Entries(smallvec![Hit::Address {
            ip,
            port: None,
            target: Target::Pod,
        }]))
    }

    fn find_services(&self, request: &ServiceRequest<'_>) -> Result<Hits<'_>, NameError> {
        if !self.exposed(request.namespace) {
            return Err(NameError);
        }
        let Some(service_name) = request.service else {
            return Ok(Hits::Empty);
        };
        if let Some(proto) = request.endpoint.and_then(|label| label.strip_prefix('_')) {
            // `_<proto>.<svc>.<ns>.svc`: no endpoint label starts with `_`, so this is the
            // parent of `_<port>._<proto>.<svc>...`. It exists, empty (RFC 8020: NODATA,
            // not NXDOMAIN), when the service has a port of that protocol.
            let below = ServiceRequest {
                namespace: request.namespace,
                service: request.service,
                protocol: Some(proto),
                ..ServiceRequest::default()
            };
            let has_port = matches!(
                self.find_services(&below),
                Ok(Hits::Entries(hits))
                    if hits.iter().any(|hit| matches!(hit, Hit::Address { port: Some(_), .. }))
            );
            return if has_port {
                Ok(Hits::Empty)
            } else {
                Err(NameError)
            };
        }
        let entry = self
            .view
            .service(request.namespace, service_name)
            .ok_or(NameError)?;
        let service = entry.service.as_ref().ok_or(NameError)?;
        let mut hits = HitList::new();
        match &service.kind {
            ServiceKind::ExternalName(target) => {
                // ExternalName services have no sub-names (no endpoints, no
                // `_port._proto`); an IP literal is no CNAME.
                if request.endpoint.is_some() || request.port.is_some() {
                    return Err(NameError);
                }
                let target = target.as_ref().ok_or(NameError)?;
                hits.push(Hit::Cname(target));
            }
            ServiceKind::ClusterIp(_)
                if self.settings.ignore_empty_service && entry.endpoints.is_empty() =>
            {
                return Err(NameError);
            }
            ServiceKind::Headless => self.endpoint_hits(entry, request, &mut hits),
            ServiceKind::ClusterIp(_) if request.endpoint.is_some() => {
                self.endpoint_hits(entry, request, &mut hits);
            }
            ServiceKind::ClusterIp(ips) => {
                let mut matched = false;
                let mut add = |port: Option<u16>| {
                    matched = true;
                    for ip in ips {
                        hits.push(Hit::Address {
                            ip: *ip,
                            port,
                            target: Target::Service(entry),
                        });
                    }
                };
                if service.ports.is_empty() {
                    if port_matches(request, "", "") {
                        add(None);
                    }
                } else {
                    for port in &service.ports {
                        if port_matches(request, &port.name, &port.protocol) {
                            add(Some(port.port));
                        }
                    }
                }
                if !matched {
                    return Err(NameError);
                }
                return Ok(Hits::Entries(hits));
            }
        }
        if hits.is_empty() {
            return Err(NameError);
        }
        Ok(Hits::Entries(hits))
    }

    /// Every (ready address × matching slice port) of the service, limited to the
    /// requested endpoint label.
    fn endpoint_hits<'v>(
        &self,
        entry: &'v ServiceEntry,
        request: &ServiceRequest<'_>,
        hits: &mut HitList<'v>,
    ) {
        let mut push = |address: &'v crate::index::EndpointAddr| {
            let target = Target::Endpoint(entry, &address.name);
            let ports = entry.ports_of(address);
            if ports.is_empty() {
                if port_matches(request, "", "") {
                    hits.push(Hit::Address {
                        ip: address.ip,
                        port: None,
                        target,
                    });
                }
                return;
            }
            for port in ports {
                if port_matches(request, &port.name, &port.protocol) {
                    hits.push(Hit::Address {
                        ip: address.ip,
                        port: Some(port.port),
                        target,
                    });
                }
            }
        };
        match request.endpoint {
            Some(label) => {
                for index in entry.named(label) {
                    push(&entry.endpoints[index as usize]);
                }
            }
            None => entry.endpoints.iter().for_each(&mut push),
        }
    }

    /// The name SRV and NS answers point at.
    fn target_name(&self, target: Target<'_>) -> Option<Name> {
        match target {
            Target::Service(entry) => {
                join(&[&entry.name, &entry.namespace, "svc"], &self.zone_case)
            }
            Target::Endpoint(entry, label) => join(
                &[label, &entry.name, &entry.namespace, "svc"],
                &self.zone_case,
            ),
            Target::Pod => None,
        }
    }

    /// The server's own names and addresses (CoreDNS `nsAddrs`): the services whose
    /// endpoints include one of the local addresses, else `ns.dns.<zone>` with the local
    /// addresses.
    fn ns_addresses(&self) -> Vec<(Name, IpAddr)> {
        let mut out: Vec<(Name, IpAddr)> = Vec::new();
        let mut found = false;
        for local in &self.settings.local_ips {
            for item in self.view.reverse(*local) {
                if item.endpoint.is_none() {
                    continue;
                }
                found = true;
                let Some(entry) = self.view.service(&item.namespace, &item.service) else {
                    continue;
                };
                match entry.service.as_ref().map(|s| &s.kind) {
                    Some(ServiceKind::ClusterIp(ips)) => {
                        if let Some(name) = self.target_name(Target::Service(entry)) {
                            out.extend(ips.iter().map(|ip| (name.clone(), *ip)));
                        }
                    }
                    Some(ServiceKind::Headless) => {
                        for address in &entry.endpoints {
                            let target = Target::Endpoint(entry, &address.name);
                            if let Some(name) = self.target_name(target) {
                                out.push((name, address.ip));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if !found && let Some(name) = join(&["ns", "dns"], &self.zone_case) {
            out.extend(self.settings.local_ips.iter().map(|ip| (name.clone(), *ip)));
        }
        let mut seen = HashSet::new();
        out.retain(|(name, ip)| seen.insert((name.clone(), *ip)));
        out
    }

    /// A and AAAA (CoreDNS `plugin.A`/`plugin.AAAA`), following ExternalName CNAMEs:
    /// inside the zone here, outside through [`Found::chase`].
    fn address(
        &self,
        qname: &Name,
        qtype: RecordType,
        previous: &[Record],
    ) -> Result<Found, NameError> {
        let want_v4 = qtype == RecordType::A;
        let hits = match self.lookup(qname)? {
            Hits::Empty => return Ok(Found::default()),
            Hits::NsDns => {
                let answers = self
                    .ns_addresses()
                    .into_iter()
                    .filter(|(_, ip)| ip.is_ipv4() == want_v4)
                    .map(|(_, ip)| self.address_record(qname, ip))
                    .collect();
                return Ok(Found {
                    answers,
                    ..Found::default()
                });
            }
            Hits::Entries(hits) => hits,
        };
        match plan::addresses(&hits, want_v4) {
            AddressPlan::Addresses(ips) => Ok(Found {
                answers: ips
                    .into_iter()
                    .map(|ip| self.address_record(qname, ip))
                    .collect(),
                ..Found::default()
            }),
            AddressPlan::Cname(target) => Ok(self.follow_cname(qname, qtype, target, previous)),
        }
    }

    /// An ExternalName's CNAME to `target`, followed inside the zone (at most
    /// [`MAX_CNAME_CHAIN`] links, never in a loop), or left to the rest of the chain
    /// through [`Found::chase`] when `target` is outside it. A chain that ends nowhere
    /// inside the zone gives NODATA.
    fn follow_cname(
        &self,
        qname: &Name,
        qtype: RecordType,
        target: &Name,
        previous: &[Record],
    ) -> Found {
        let mut found = Found::default();
        if target == qname || previous.len() >= MAX_CNAME_CHAIN {
            return found;
        }
        let cname = self.record(qname, RData::CNAME(CNAME(target.clone())));
        if previous.iter().any(|r| r.name == cname.name) {
            return found;
        }
        if self.zone.zone_of(target) {
            let mut chain = previous.to_vec();
            chain.push(cname.clone());
            if let Ok(next) = self.address(target, qtype, &chain)
                && !next.answers.is_empty()
            {
                found.answers.push(cname);
                found.answers.extend(next.answers);
                found.chase = next.chase;
            }
            return found;
        }
        found.answers.push(cname);
        found.chase = Some(target.clone());
        found
    }

    /// SRV (CoreDNS `plugin.SRV`): one record per distinct (target, port), weight
    /// 100/N over the N matched entries, addresses of the targets in Additional.
    fn srv(&self, qname: &Name) -> Result<Found, NameError> {
        let hits = match self.lookup(qname)? {
            Hits::Empty | Hits::NsDns => return Ok(Found::default()),
            Hits::Entries(hits) => hits,
        };
        let zone_len = self.zone_case.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        let plan = plan::srv(&hits, zone_len);
        let names: Vec<Name> = plan
            .targets
            .iter()
            .map(|target| self.target_name(*target))
            .collect::<Option<_>>()
            .unwrap_or_default();
        if names.len() != plan.targets.len() {
            // The plan keeps only targets that can be written.
            return Ok(Found::default());
        }
        let answers = plan
            .records
            .iter()
            .map(|(target, port)| {
                let srv = SRV::new(0, plan.weight, *port, names[*target].clone());
                self.record(qname, RData::SRV(srv))
            })
            .collect();
        let additionals = plan
            .glue
            .iter()
            .map(|(target, ip)| self.address_record(&names[*target], *ip))
            .collect();
        Ok(Found {
            answers,
            additionals,
            chase: None,
        })
    }

    /// CNAME: the ExternalName's target, else NODATA.
    fn cname(&self, qname: &Name) -> Result<Found, NameError> {
        let mut found = Found::default();
        if let Hits::Entries(hits) = self.lookup(qname)?
            && let Some(Hit::Cname(target)) = hits.first()
        {
            found
                .answers
                .push(self.record(qname, RData::CNAME(CNAME((*target).clone()))));
        }
        Ok(found)
    }

    /// TXT: `dns-version.<zone>`; otherwise NODATA for names that exist.
    fn txt(&self, qname: &Name) -> Result<Found, NameError> {
        let base = RelativeName::new(qname, self.zone_labels).ok_or(NameError)?;
        if base.is(&["dns-version"]) {
            let record = Record::from_rdata(
                qname.clone(),
                SCHEMA_TTL,
                RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_owned()])),
            );
            return Ok(Found {
                answers: vec![record],
                ..Found::default()
            });
        }
        match self.lookup(qname)? {
            // CoreDNS answers NXDOMAIN for TXT at ns.dns (it is no service name)...
            Hits::NsDns => Err(NameError),
            // ...and for a service whose lookup matched nothing.
            Hits::Entries(hits) if hits.is_empty() => Err(NameError),
            _ => Ok(Found::default()),
        }
    }

    /// PTR: for a full reverse name, the service owning the address as a cluster IP,
    /// else the endpoint names of every service with that address; other names are
    /// NODATA when they exist.
    fn ptr(&self, qname: &Name) -> Result<Found, NameError> {
        let Some(ip) = reverse_address(qname) else {
            return match self.lookup(qname)? {
                Hits::NsDns => Err(NameError),
                _ => Ok(Found::default()),
            };
        };
        let visible =
            |namespace: &str| !self.settings.filters_namespaces || self.exposed(namespace);
        let items = self.view.reverse(ip);
        let primary = &self.settings.primary;
        let mut targets: Vec<Name> = Vec::new();
        if let Some(item) = items
            .iter()
            .find(|i| i.endpoint.is_none() && visible(&i.namespace))
        {
            targets.extend(join(&[&item.service, &item.namespace, "svc"], primary));
        } else {
            for item in items.iter().filter(|i| visible(&i.namespace)) {
                let Some(endpoint) = &item.endpoint else {
                    continue;
                };
                if let Some(name) =
                    join(&[endpoint, &item.service, &item.namespace, "svc"], primary)
                    && !targets.contains(&name)
                {
                    targets.push(name);
                }
            }
        }
        if targets.is_empty() {
            return Err(NameError);
        }
        Ok(Found {
            answers: targets
                .into_iter()
                .map(|t| self.record(qname, RData::PTR(PTR(t))))
                .collect(),
            ..Found::default()
        })
    }

    /// NS at the apex: the server's names, their addresses in Additional.
    fn ns(&self, qname: &Name) -> Found {
        let mut found = Found::default();
        let mut names: Vec<Name> = Vec::new();
        for (name, ip) in self.ns_addresses() {
            found.additionals.push(self.address_record(&name, ip));
            if !names.contains(&name) {
                found
                    .answers
                    .push(self.record(qname, RData::NS(NS(name.clone()))));
                names.push(name);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_labels_are_addresses() {
        assert_eq!(
            pod_address("10-244-1-10"),
            Some("10.244.1.10".parse().unwrap())
        );
        assert_eq!(
            pod_address("fd00-10-244--a"),
            Some("fd00:10:244::a".parse().unwrap())
        );
        assert_eq!(pod_address("blah"), None);
        assert_eq!(pod_address("1-2-3"), None);
    }
}
