//! What a name under an external zone stands for (CoreDNS's `Kubernetes.External`):
//! `service.namespace`, `endpoint.service.namespace`, `_port._protocol.service.namespace`.

use std::net::IpAddr;

use clusterdns_api::ClusterDirectory;
use clusterdns_api::cluster::{ExternalAddr, ServicePort};
use clusterdns_api::proto::rr::Name;

/// One (address, port) a name stands for, as CoreDNS's `msg.Service`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// An address, or a host name (answered as a CNAME).
    pub host: ExternalAddr,
    /// The port; `None` when the object declares none (no SRV record).
    pub port: Option<u16>,
    /// The labels of the SRV target below the zone: `service.namespace`, or
    /// `endpoint.service.namespace` for an endpoint of a headless service.
    pub owner: Vec<String>,
}

/// The outcome of a lookup: the targets, or none with the rcode to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// These (at least one).
    Targets(Vec<Target>),
    /// Nothing, and the name exists (NODATA).
    NoData,
    /// Nothing, and the name does not exist.
    NxDomain,
}

fn matches(wanted: &str, have: &str) -> bool {
    wanted.is_empty() || wanted.eq_ignore_ascii_case(have)
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// Ports as CoreDNS keeps them: an object without ports has one sentinel port that
/// matches any unnamed query and gives no SRV record.
fn with_sentinel(ports: &[ServicePort]) -> Vec<(String, String, Option<u16>)> {
    if ports.is_empty() {
        return vec![(String::new(), String::new(), None)];
    }
    ports
        .iter()
        .map(|p| (p.name.clone(), p.protocol.clone(), Some(p.port)))
        .collect()
}

/// Looks `qname` (below `zone`, not the apex) up in `directory`.
pub(crate) fn lookup(
    directory: &dyn ClusterDirectory,
    qname: &Name,
    zone: &Name,
    headless: bool,
) -> Found {
    let depth = qname.num_labels().saturating_sub(zone.num_labels()) as usize;
    let labels: Vec<String> = qname
        .iter()
        .take(depth)
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect();
    let Some((namespace, rest)) = labels.split_last() else {
        return Found::NoData;
    };
    if !directory.namespace_exposed(namespace) {
        return Found::NxDomain;
    }
    let Some((service, rest)) = rest.split_last() else {
        return Found::NoData;
    };
    let (endpoint, port, protocol) = match rest {
        [] => ("", "", ""),
        [endpoint] => (strip_underscore(endpoint), "", ""),
        [port, protocol] => ("", strip_underscore(port), strip_underscore(protocol)),
        _ => return Found::NxDomain,
    };
    let Some(svc) = directory.external_service(namespace, service) else {
        return Found::NxDomain;
    };
    let mut targets = Vec::new();
    if headless && svc.external.is_empty() && (svc.headless || !endpoint.is_empty()) {
        for address in &svc.endpoints {
            if !endpoint.is_empty() && !endpoint.eq_ignore_ascii_case(&address.label) {
                continue;
            }
            for (name, proto, number) in with_sentinel(&address.ports) {
                if !(matches(port, &name) && matches(protocol, &proto)) {
                    continue;
                }
                targets.push(Target {
                    host: ExternalAddr::Ip(address.ip),
                    port: number,
                    owner: vec![address.label.clone(), service.clone(), namespace.clone()],
                });
            }
        }
    } else {
        for host in &svc.external {
            for (name, proto, number) in with_sentinel(&svc.ports) {
                if !(matches(port, &name) && matches(protocol, &proto)) {
                    continue;
                }
                targets.push(Target {
                    host: host.clone(),
                    port: number,
                    owner: vec![service.clone(), namespace.clone()],
                });
            }
        }
    }
    if targets.is_empty() {
        Found::NxDomain
    } else {
        Found::Targets(targets)
    }
}

/// The address of an [`ExternalAddr`], if it is one.
pub(crate) fn ip_of(host: &ExternalAddr) -> Option<IpAddr> {
    match host {
        ExternalAddr::Ip(ip) => Some(*ip),
        ExternalAddr::Host(_) => None,
    }
}
