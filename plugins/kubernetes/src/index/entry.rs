//! One service as queries see it: the Service and its ready endpoints, merged from all
//! of its EndpointSlices, immutable, shared behind an `Arc`.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::Equivalent;

use crate::object::{Port, ServiceKind, SlimService, SlimSlice};

/// A namespaced name: (namespace, name). Hashes like [`NameRef`], so maps keyed by it
/// are looked up with borrowed query labels, without allocating.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The namespace.
    pub namespace: Arc<str>,
    /// The name.
    pub name: Arc<str>,
}

impl Key {
    /// The key of `namespace`/`name`.
    pub fn new(namespace: &Arc<str>, name: &Arc<str>) -> Self {
        Self {
            namespace: namespace.clone(),
            name: name.clone(),
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        NameRef {
            namespace: &self.namespace,
            name: &self.name,
        }
        .hash(state);
    }
}

/// A borrowed [`Key`].
#[derive(Clone, Copy, Debug)]
pub struct NameRef<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The name.
    pub name: &'a str,
}

impl Hash for NameRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.namespace.as_bytes());
        state.write_u8(0xff);
        state.write(self.name.as_bytes());
    }
}

impl Equivalent<Key> for NameRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        *key.namespace == *self.namespace && *key.name == *self.name
    }
}

/// One ready address of a service's endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointAddr {
    /// The address.
    pub ip: IpAddr,
    /// The endpoint's DNS label: its hostname, else (with `endpoint_pod_names`) its
    /// pod's name, else the dashed address.
    pub name: Arc<str>,
    /// Which of the entry's slices it came from (its ports are that slice's).
    pub slice: u32,
}

/// A service and its ready endpoints.
#[derive(Debug)]
pub struct ServiceEntry {
    /// The namespace.
    pub namespace: Arc<str>,
    /// The service name (the slices' `kubernetes.io/service-name`).
    pub name: Arc<str>,
    /// The Service; `None` while only slices are known (they still give PTRs).
    pub service: Option<SlimService>,
    /// Ready addresses, slice by slice (slices in name order).
    pub endpoints: Vec<EndpointAddr>,
    /// The ports of each slice; empty when a slice declares none.
    pub slice_ports: Vec<Vec<Port>>,
    /// (endpoint label in lower case, index into `endpoints`), sorted by label: one
    /// allocation per service instead of a map and a vector per label, found by
    /// binary search.
    by_name: Vec<(Arc<str>, u32)>,
}

impl PartialEq for ServiceEntry {
    /// Equal when DNS answers would be: the derived index is left out.
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.name == other.name
            && self.service == other.service
            && self.endpoints == other.endpoints
            && self.slice_ports == other.slice_ports
    }
}

impl ServiceEntry {
    /// Builds the entry of a service from the Service (if known) and its slices (in
    /// the order given); `None` when there is neither.
    pub fn build<'a>(
        namespace: &Arc<str>,
        name: &Arc<str>,
        service: Option<&SlimService>,
        slices: impl IntoIterator<Item = &'a SlimSlice>,
        endpoint_pod_names: bool,
    ) -> Option<Self> {
        let mut endpoints = Vec::new();
        let mut slice_ports = Vec::new();
        let mut by_name: Vec<(Arc<str>, u32)> = Vec::new();
        let mut any_slice = false;
        for slice in slices {
            any_slice = true;
            let slice_index = u32::try_from(slice_ports.len()).unwrap_or(u32::MAX);
            for endpoint in slice.endpoints.iter().filter(|e| e.ready) {
                for ip in &endpoint.addresses {
                    let label: Arc<str> = match (&endpoint.hostname, &endpoint.target_pod) {
                        (Some(hostname), _) => Arc::from(&**hostname),
                        (None, Some(pod)) if endpoint_pod_names => Arc::from(&**pod),
                        _ => Arc::from(dashed(*ip)),
                    };
                    let index = u32::try_from(endpoints.len()).unwrap_or(u32::MAX);
                    // Kubernetes writes these in lower case: share the label then.
                    let key = if label.bytes().any(|b| b.is_ascii_uppercase()) {
                        Arc::from(label.to_ascii_lowercase())
                    } else {
                        label.clone()
                    };
                    by_name.push((key, index));
                    endpoints.push(EndpointAddr {
                        ip: *ip,
                        name: label,
                        slice: slice_index,
                    });
                }
            }
            slice_ports.push(slice.ports.clone());
        }
        if service.is_none() && !any_slice {
            return None;
        }
        by_name.sort_unstable();
        by_name.shrink_to_fit();
        endpoints.shrink_to_fit();
        Some(Self {
            namespace: namespace.clone(),
            name: name.clone(),
            service: service.cloned(),
            endpoints,
            slice_ports,
            by_name,
        })
    }

    /// Indices of the addresses whose endpoint label is `label` (lower case).
    pub fn named(&self, label: &str) -> impl ExactSizeIterator<Item = u32> + '_ {
        let start = self.by_name.partition_point(|(name, _)| &**name < label);
        let len = self.by_name[start..]
            .iter()
            .take_while(|(name, _)| &**name == label)
            .count();
        self.by_name[start..start + len]
            .iter()
            .map(|(_, index)| *index)
    }

    /// The ports of the slice an address came from.
    pub fn ports_of(&self, address: &EndpointAddr) -> &[Port] {
        self.slice_ports
            .get(address.slice as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// What this entry contributes to reverse lookups: each cluster IP (with no
    /// endpoint label) and each ready endpoint address (with its label).
    pub fn reverse_items(&self) -> impl Iterator<Item = (IpAddr, Option<&Arc<str>>)> {
        let cluster_ips: &[IpAddr] = match self.service.as_ref().map(|s| &s.kind) {
            Some(ServiceKind::ClusterIp(ips)) => ips,
            _ => &[],
        };
        cluster_ips
            .iter()
            .map(|ip| (*ip, None))
            .chain(self.endpoints.iter().map(|e| (e.ip, Some(&e.name))))
    }
}

/// The dashed form of an address used as an endpoint label: `10.1.2.3` →
/// `10-1-2-3`, `fd00::a` → `fd00--a`, and a trailing `-` gets a `0` (`2001:db8::` →
/// `2001-db8--0`), as CoreDNS writes them.
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut text = v6.to_string().replace(':', "-");
            if text.ends_with('-') {
                text.push('0');
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_addresses_like_coredns() {
        assert_eq!(dashed("10.11.12.13".parse().unwrap()), "10-11-12-13");
        assert_eq!(dashed("fd00:10:244::a".parse().unwrap()), "fd00-10-244--a");
        assert_eq!(
            dashed("2001:db8:1111:2222:3333:4444:6666::".parse().unwrap()),
            "2001-db8-1111-2222-3333-4444-6666-0"
        );
        assert_eq!(dashed("2001:db8::".parse().unwrap()), "2001-db8--0");
    }
}
