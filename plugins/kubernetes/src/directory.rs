//! The cluster as the plugins before `kubernetes` see it ([`ClusterDirectory`]):
//! `k8s_external` (a Service's external addresses) and `autopath` (a client pod's
//! namespace and search path). Every answer is read from the same index the zone is
//! answered from, under its read lock, so there is no second watch.

use std::net::IpAddr;
use std::sync::Arc;

use clusterdns_api::ClusterDirectory;
use clusterdns_api::cluster::{ExternalService, ServiceEndpoint, ServicePort};
use clusterdns_api::proto::rr::Name;
use clusterdns_api::wire::WireQuery;
use clusterdns_api::zone::longest_match;

use crate::answer::Settings;
use crate::config::PodMode;
use crate::index::{Index, ServiceEntry};
use crate::object::{Port, ServiceKind};
use crate::wire::{WireZones, answers_addresses, holds_name};

/// The [`ClusterDirectory`] of one `kubernetes` plugin.
pub struct Directory {
    settings: Settings,
    index: Arc<Index>,
    /// The server's own search domains (its `/etc/resolv.conf`), appended to a pod's
    /// search path as the kubelet does.
    host_search: Vec<Name>,
    /// The zones in wire format, for [`ClusterDirectory::holds_name`].
    wire_zones: WireZones,
}

impl Directory {
    /// The directory of `index`, answered as `settings` say, with the host's search
    /// domains `host_search`.
    pub fn new(settings: Settings, index: Arc<Index>, host_search: Vec<Name>) -> Self {
        Self {
            wire_zones: WireZones::new(&settings),
            settings,
            index,
            host_search,
        }
    }
}

fn port(port: &Port) -> ServicePort {
    ServicePort {
        name: port.name.to_string(),
        protocol: port.protocol.to_string(),
        port: port.port,
    }
}

fn headless_endpoints(entry: &ServiceEntry) -> Vec<ServiceEndpoint> {
    entry
        .endpoints
        .iter()
        .map(|address| ServiceEndpoint {
            ip: address.ip,
            label: address.name.to_string(),
            ports: entry.ports_of(address).iter().map(port).collect(),
        })
        .collect()
}

impl ClusterDirectory for Directory {
    fn namespace_exposed(&self, namespace: &str) -> bool {
        (self.settings.namespaces.is_empty()
            || self.settings.namespaces.iter().any(|n| n == namespace))
            && self.index.read().namespace_exists(namespace)
    }

    fn external_service(&self, namespace: &str, name: &str) -> Option<ExternalService> {
        let view = self.index.read();
        let entry = view.service(namespace, name)?;
        let service = entry.service.as_ref()?;
        let headless = matches!(service.kind, ServiceKind::Headless);
        Some(ExternalService {
            headless,
            external: service.external.clone(),
            ports: service.ports.iter().map(port).collect(),
            endpoints: if headless {
                headless_endpoints(entry)
            } else {
                Vec::new()
            },
        })
    }

    fn own_external_addresses(&self, headless: bool) -> Vec<IpAddr> {
        let view = self.index.read();
        let mut out = Vec::new();
        let mut found = false;
        for local in &self.settings.local_ips {
            for item in view.reverse(*local) {
                if item.endpoint.is_none() {
                    continue;
                }
                found = true;
                let Some(entry) = view.service(&item.namespace, &item.service) else {
                    continue;
                };
                let Some(service) = &entry.service else {
                    continue;
                };
                if headless && matches!(service.kind, ServiceKind::Headless) {
                    out.extend(entry.endpoints.iter().map(|a| a.ip));
                } else {
                    out.extend(service.external.iter().filter_map(|a| match a {
                        clusterdns_api::cluster::ExternalAddr::Ip(ip) => Some(*ip),
                        clusterdns_api::cluster::ExternalAddr::Host(_) => None,
                    }));
                }
            }
        }
        if !found {
            out.extend(self.settings.local_ips.iter().copied());
        }
        let mut seen = hashbrown::HashSet::new();
        out.retain(|ip| seen.insert(*ip));
        out
    }

    fn serial(&self) -> u32 {
        self.index.serial()
    }

    fn pod_namespace(&self, ip: IpAddr) -> Option<Arc<str>> {
        if self.settings.pods != PodMode::Verified {
            return None;
        }
        self.index.read().pod_namespace(ip.to_canonical()).cloned()
    }

    fn search_path(&self, qname: &Name, namespace: &str) -> Option<Vec<Name>> {
        let zone = longest_match(qname, &self.settings.zones)?;
        let svc_zone = Name::from_labels([b"svc".as_slice()])
            .ok()?
            .append_domain(zone)
            .ok()?;
        let first = Name::from_labels([namespace.as_bytes()])
            .ok()?
            .append_domain(&svc_zone)
            .ok()?;
        let mut path = Vec::with_capacity(4 + self.host_search.len());
        path.push(first);
        path.push(svc_zone);
        path.push(zone.clone());
        path.extend(self.host_search.iter().cloned());
        path.push(Name::root());
        Some(path)
    }

    fn holds_name(&self, query: &WireQuery<'_>) -> bool {
        holds_name(&self.settings, &self.wire_zones, &self.index, query)
    }

    fn answers_addresses(&self, query: &WireQuery<'_>) -> bool {
        answers_addresses(&self.settings, &self.wire_zones, &self.index, query)
    }
}
