//! Slim objects: the part of each Kubernetes object that DNS needs, nothing more.
//!
//! Sources convert what they read (manifest documents and API watch events)
//! into these on ingest, so managed fields, annotations, status and the rest never
//! stay in memory. Names are kept as Kubernetes writes them (DNS-1123 labels, lower
//! case); addresses are parsed once.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use clusterdns_api::cluster::ExternalAddr;
use hickory_proto::rr::Name;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use smallvec::SmallVec;
use smol_str::SmolStr;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The annotation the EndpointSlice controller sets to the time of the change that
/// triggered the slice's last update (the DNS programming latency SLI starts there).
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Target pod names this long or longer are not used as endpoint names (CoreDNS).
const MAX_TARGET_NAME: usize = 64;

/// The kinds of object the cluster zone is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `v1/Service`.
    Service,
    /// `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice,
    /// `v1/Namespace`.
    Namespace,
    /// `v1/Pod` (only with `pods verified`).
    Pod,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 4] = [
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Namespace,
        Kind::Pod,
    ];

    /// The `kind` label value of `coredns_kubernetes_objects`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::EndpointSlice => "endpointslice",
            Kind::Namespace => "namespace",
            Kind::Pod => "pod",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of kinds: what one feed of a source provides, and so what a
/// [`Change::Snapshot`](crate::source::Change::Snapshot) of that feed replaces.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct KindSet(u8);

impl KindSet {
    /// No kind.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The set of `kinds`.
    pub fn of(kinds: &[Kind]) -> Self {
        Self(kinds.iter().fold(0, |bits, kind| bits | kind.bit()))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The set with `kind` added.
    #[must_use]
    pub fn with(self, kind: Kind) -> Self {
        Self(self.0 | kind.bit())
    }

    /// The kinds in the set.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |k| self.contains(*k))
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Which object: kind, namespace (empty for namespaces) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The object's kind.
    pub kind: Kind,
    /// Its namespace; empty for cluster-scoped objects (namespaces).
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One slim object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// A Service.
    Service(SlimService),
    /// An EndpointSlice.
    EndpointSlice(SlimSlice),
    /// A Namespace.
    Namespace(SlimNamespace),
    /// A Pod.
    Pod(SlimPod),
}

impl Object {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        let (kind, namespace, name) = match self {
            Object::Service(s) => (Kind::Service, s.namespace.clone(), s.name.clone()),
            Object::EndpointSlice(s) => (Kind::EndpointSlice, s.namespace.clone(), s.name.clone()),
            Object::Namespace(n) => (Kind::Namespace, Arc::from(""), n.name.clone()),
            Object::Pod(p) => (Kind::Pod, p.namespace.clone(), p.name.clone()),
        };
        ObjectKey {
            kind,
            namespace,
            name,
        }
    }

    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Namespace(_) => Kind::Namespace,
            Object::Pod(_) => Kind::Pod,
        }
    }
}

/// A service port. Names and protocols are [`SmolStr`]s, kept inline up to 23 bytes
/// (every protocol, nearly every port name): no allocation for each port of each
/// Service and slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// The port's name; empty for an unnamed port.
    pub name: SmolStr,
    /// `tcp`, `udp` or `sctp`, lower case (SRV names use it that way).
    pub protocol: SmolStr,
    /// The port number.
    pub port: u16,
}

/// What kind of service, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A service with cluster IPs (ClusterIP, NodePort, LoadBalancer).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: DNS answers with the endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME to the name; `None` when the external name is not a
    /// host name (an IP literal, or garbage), which CoreDNS does not serve.
    ExternalName(Option<Name>),
}

/// A Service, slim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimService {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
    /// Cluster IPs, headless, or external name.
    pub kind: ServiceKind,
    /// Ports in spec order.
    pub ports: Vec<Port>,
    /// Whether the service has a selector (the `service_kind` label of the programming
    /// latency metric tells headless services with one apart).
    pub has_selector: bool,
    /// `spec.externalIPs`, then `status.loadBalancer.ingress` (IP, else hostname), as
    /// `k8s_external` answers them; empty for nearly every service.
    pub external: Vec<ExternalAddr>,
}

/// One endpoint of a slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimEndpoint {
    /// Its addresses (one, in practice: kept inline, no allocation).
    pub addresses: SmallVec<[IpAddr; 1]>,
    /// The `ready` condition; an absent condition counts as ready.
    pub ready: bool,
    /// `hostname`, set for pods whose hostname and subdomain name the service.
    /// Inline when short, and shared (not copied) by the endpoint label made of it.
    pub hostname: Option<SmolStr>,
    /// The name of the pod behind it (from `targetRef`), if shorter than 64 characters.
    pub target_pod: Option<SmolStr>,
}

/// An EndpointSlice, slim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimSlice {
    /// Namespace.
    pub namespace: Arc<str>,
    /// The slice's own name.
    pub name: Arc<str>,
    /// The service it belongs to (its `kubernetes.io/service-name` label).
    pub service: Arc<str>,
    /// The slice's endpoints with IP addresses (FQDN slices are dropped).
    pub endpoints: Vec<SlimEndpoint>,
    /// The slice's ports; empty when it declares none.
    pub ports: Vec<Port>,
    /// The `endpoints.kubernetes.io/last-change-trigger-time` annotation, in Unix
    /// milliseconds, for the programming latency metric.
    pub trigger_time_ms: Option<i64>,
}

/// A Namespace, slim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimNamespace {
    /// Name.
    pub name: Arc<str>,
}

/// A Pod, slim (`pods verified` only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlimPod {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
    /// Pod IPs (`status.podIPs`, else `status.podIP`).
    pub ips: Vec<IpAddr>,
    /// Whether the pod counts: `false` for one that is terminating, finished or
    /// deleted, whose addresses are to be forgotten.
    pub live: bool,
}

/// Why an object could not be made slim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// A required field is missing or empty.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A port number outside 1..=65535.
    #[error("port {0} is out of range")]
    PortOutOfRange(i32),
    /// A cluster IP that is not an IP address.
    #[error("cluster IP {0:?} is not an IP address")]
    BadClusterIp(String),
    /// One of the above, in a named object.
    #[error("{kind} {namespace}/{name}: {source}")]
    In {
        /// `service`, `endpointslice`...
        kind: &'static str,
        /// The object's namespace.
        namespace: Arc<str>,
        /// The object's name.
        name: Arc<str>,
        /// What is wrong with it.
        source: Box<ConvertError>,
    },
}

impl ConvertError {
    /// This error, in the object `kind` `namespace/name`.
    fn within(self, kind: &'static str, namespace: &Arc<str>, name: &Arc<str>) -> Self {
        ConvertError::In {
            kind,
            namespace: namespace.clone(),
            name: name.clone(),
            source: Box::new(self),
        }
    }
}

fn required(value: Option<&String>, what: &'static str) -> Result<Arc<str>, ConvertError> {
    match value {
        Some(v) if !v.is_empty() => Ok(Arc::from(v.as_str())),
        _ => Err(ConvertError::Missing(what)),
    }
}

fn namespace_of(value: Option<&String>) -> Arc<str> {
    // kubectl leaves out `namespace` for objects of the current namespace only when
    // applying; `kubectl get -o yaml` always writes it. `default` is what apply assumes.
    Arc::from(value.map_or("default", String::as_str))
}

fn port_of(name: Option<&str>, protocol: Option<&str>, port: i32) -> Result<Port, ConvertError> {
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(ConvertError::PortOutOfRange(port))?;
    let protocol = protocol.unwrap_or("TCP");
    Ok(Port {
        name: SmolStr::new(name.unwrap_or("")),
        protocol: if protocol.bytes().any(|b| b.is_ascii_uppercase()) {
            SmolStr::from(protocol.to_ascii_lowercase())
        } else {
            SmolStr::new(protocol)
        },
        port,
    })
}

/// A Service as DNS sees it.
pub fn slim_service(service: &Service) -> Result<SlimService, ConvertError> {
    let meta = &service.metadata;
    let name = required(meta.name.as_ref(), "metadata.name")?;
    let namespace = namespace_of(meta.namespace.as_ref());
    let spec = service
        .spec
        .as_ref()
        .ok_or_else(|| ConvertError::Missing("spec").within("service", &namespace, &name))?;
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.as_deref().unwrap_or("");
        ServiceKind::ExternalName(external_target(target))
    } else {
        let ips: Vec<&String> = match &spec.cluster_ips {
            Some(ips) if !ips.is_empty() => ips.iter().collect(),
            _ => spec.cluster_ip.iter().collect(),
        };
        if ips.first().is_some_and(|ip| ip.as_str() == "None") {
            ServiceKind::Headless
        } else {
            let parsed = ips
                .iter()
                .filter(|ip| !ip.is_empty())
                .map(|ip| {
                    ip.parse::<IpAddr>().map_err(|_| {
                        ConvertError::BadClusterIp((*ip).clone())
                            .within("service", &namespace, &name)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            ServiceKind::ClusterIp(parsed)
        }
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .map(|p| port_of(p.name.as_deref(), p.protocol.as_deref(), p.port))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.within("service", &namespace, &name))?;
    Ok(SlimService {
        namespace,
        name,
        kind,
        ports,
        has_selector: spec.selector.as_ref().is_some_and(|s| !s.is_empty()),
        external: external_addresses(service),
    })
}

/// A Service's external addresses, in CoreDNS's order: `spec.externalIPs`, then each
/// load balancer ingress's IP, else its hostname. What is neither an IP address nor a
/// host name is left out.
fn external_addresses(service: &Service) -> Vec<ExternalAddr> {
    let spec_ips = service
        .spec
        .iter()
        .flat_map(|spec| spec.external_ips.iter().flatten())
        .map(String::as_str);
    let ingress = service
        .status
        .iter()
        .flat_map(|status| status.load_balancer.iter())
        .flat_map(|lb| lb.ingress.iter().flatten())
        .filter_map(|ingress| {
            ingress
                .ip
                .as_deref()
                .filter(|ip| !ip.is_empty())
                .or(ingress.hostname.as_deref())
        });
    let mut out: Vec<ExternalAddr> = spec_ips
        .chain(ingress)
        .filter_map(|text| {
            let text = text.trim();
            if let Ok(ip) = text.parse::<IpAddr>() {
                return Some(ExternalAddr::Ip(ip));
            }
            external_target(text).map(ExternalAddr::Host)
        })
        .collect();
    out.shrink_to_fit();
    out
}

/// The CNAME target of an ExternalName, or `None` when it is not a host name.
fn external_target(text: &str) -> Option<Name> {
    let text = text.trim();
    if text.is_empty() || text.parse::<IpAddr>().is_ok() {
        return None;
    }
    let mut name = Name::from_ascii(text).ok()?;
    name.set_fqdn(true);
    (name.num_labels() > 0).then_some(name)
}

/// An EndpointSlice as DNS sees it; `Ok(None)` for slices DNS ignores (no service
/// label, FQDN address type).
pub fn slim_slice(slice: &EndpointSlice) -> Result<Option<SlimSlice>, ConvertError> {
    let meta = &slice.metadata;
    let name = required(meta.name.as_ref(), "metadata.name")?;
    let namespace = namespace_of(meta.namespace.as_ref());
    let Some(service) = meta
        .labels
        .as_ref()
        .and_then(|labels| labels.get(SERVICE_NAME_LABEL))
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    if slice.address_type == "FQDN" {
        return Ok(None);
    }
    let mut endpoints = Vec::with_capacity(slice.endpoints.len());
    for endpoint in &slice.endpoints {
        let addresses: SmallVec<[IpAddr; 1]> = endpoint
            .addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        if addresses.is_empty() {
            continue;
        }
        let target_pod = endpoint
            .target_ref
            .as_ref()
            .filter(|r| r.kind.as_deref().is_none_or(|k| k == "Pod"))
            .and_then(|r| r.name.as_deref())
            .filter(|n| !n.is_empty() && n.len() < MAX_TARGET_NAME)
            .map(SmolStr::new);
        endpoints.push(SlimEndpoint {
            addresses,
            ready: endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true),
            hostname: endpoint
                .hostname
                .as_deref()
                .filter(|h| !h.is_empty())
                .map(|h| SmolStr::from(h.to_ascii_lowercase())),
            target_pod,
        });
    }
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            p.port
                .map(|port| port_of(p.name.as_deref(), p.protocol.as_deref(), port))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.within("endpointslice", &namespace, &name))?;
    let trigger_time_ms = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRIGGER_TIME_ANNOTATION))
        .and_then(|text| {
            let parsed = parse_trigger_time(text);
            if parsed.is_none() {
                crate::metrics::invalid_trigger_time();
            }
            parsed
        });
    Ok(Some(SlimSlice {
        namespace,
        name,
        service: Arc::from(service.as_str()),
        endpoints,
        ports,
        trigger_time_ms,
    }))
}

/// A Namespace as DNS sees it.
pub fn slim_namespace(namespace: &Namespace) -> Result<SlimNamespace, ConvertError> {
    Ok(SlimNamespace {
        name: required(namespace.metadata.name.as_ref(), "metadata.name")?,
    })
}

/// A Pod as DNS sees it; `Ok(None)` for a pod without an IP. A terminating or
/// finished pod, which CoreDNS does not index, is not [`live`](SlimPod::live): its
/// addresses are to be forgotten.
pub fn slim_pod(pod: &Pod) -> Result<Option<SlimPod>, ConvertError> {
    let meta = &pod.metadata;
    let name = required(meta.name.as_ref(), "metadata.name")?;
    let namespace = namespace_of(meta.namespace.as_ref());
    let Some(status) = &pod.status else {
        return Ok(None);
    };
    let live = meta.deletion_timestamp.is_none()
        && !matches!(
            status.phase.as_deref(),
            Some("Succeeded" | "Failed" | "Unknown")
        );
    let mut ips: Vec<IpAddr> = status
        .pod_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.ip.parse().ok())
        .collect();
    if ips.is_empty() {
        ips.extend(
            status
                .pod_ip
                .as_deref()
                .and_then(|ip| ip.parse::<IpAddr>().ok()),
        );
    }
    if ips.is_empty() {
        return Ok(None);
    }
    ips.shrink_to_fit();
    Ok(Some(SlimPod {
        namespace,
        name,
        ips,
        live,
    }))
}

/// Reads the trigger-time annotation, an RFC 3339 timestamp such as
/// `2024-05-01T10:00:00Z` (fraction and offset optional), as Unix milliseconds. `None`
/// for anything else, a year outside 0000-9999 included: the annotation only feeds a
/// latency metric, so a bad one is counted and ignored, never an error.
pub fn parse_trigger_time(text: &str) -> Option<i64> {
    let timestamp: jiff::Timestamp = text.trim().parse().ok()?;
    Some(timestamp.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trigger_times() {
        assert_eq!(parse_trigger_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_trigger_time("2024-05-01T10:00:00Z"),
            Some(1_714_557_600_000)
        );
        assert_eq!(
            parse_trigger_time("2024-05-01T12:00:00.5+02:00"),
            Some(1_714_557_600_500)
        );
        assert_eq!(parse_trigger_time("yesterday"), None);
        // Years no calendar arithmetic should see: no overflow, just no value.
        assert_eq!(
            parse_trigger_time("9000000000000000000-01-01T00:00:00Z"),
            None
        );
        assert_eq!(parse_trigger_time("99999-01-01T00:00:00Z"), None);
        assert_eq!(parse_trigger_time("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_trigger_time("2024-05-01T10:00:00+99:00"), None);
    }

    #[test]
    fn external_names_must_be_host_names() {
        assert_eq!(
            external_target("www.example.com"),
            Some(Name::from_ascii("www.example.com.").unwrap())
        );
        assert_eq!(external_target("192.0.2.10"), None);
        assert_eq!(external_target("2001:db8::1"), None);
        assert_eq!(external_target(""), None);
    }
}
