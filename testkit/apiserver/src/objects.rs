//! Builders for the test objects the DNS server cares about, with the real
//! Kubernetes JSON field names, so tests read as intent rather than as JSON.
//!
//! Every builder returns a plain [`serde_json::Value`] that can be tweaked
//! further before it is handed to [`ApiServer::apply`](crate::ApiServer::apply).

use serde_json::{Map, Value, json};

/// A port: `(name, port, protocol)`, e.g. `("http", 80, "TCP")`. An empty name
/// is left out.
pub type Port<'a> = (&'a str, u16, &'a str);

/// One endpoint of an [`endpoint_slice`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// `addresses`.
    pub addresses: Vec<String>,
    /// `conditions.ready` (also used for `conditions.serving`).
    pub ready: bool,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `targetRef` to a Pod of this name in the slice's namespace.
    pub target_pod: Option<String>,
    /// `nodeName`.
    pub node: Option<String>,
}

impl Endpoint {
    /// A ready endpoint with one address.
    pub fn new(address: &str) -> Self {
        Endpoint {
            addresses: vec![address.to_owned()],
            ready: true,
            ..Endpoint::default()
        }
    }

    /// Marks the endpoint not ready.
    pub fn not_ready(mut self) -> Self {
        self.ready = false;
        self
    }

    /// Sets `hostname`.
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = Some(hostname.to_owned());
        self
    }

    /// Sets `targetRef` to the Pod `pod`.
    pub fn with_target_pod(mut self, pod: &str) -> Self {
        self.target_pod = Some(pod.to_owned());
        self
    }

    /// Sets `nodeName`.
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }
}

fn metadata(namespace: Option<&str>, name: &str) -> Map<String, Value> {
    let mut meta = Map::new();
    meta.insert("name".into(), name.into());
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), ns.into());
    }
    meta
}

fn ports_json(ports: &[Port<'_>], target_port: bool) -> Value {
    ports
        .iter()
        .map(|&(name, port, protocol)| {
            let mut p = Map::new();
            if !name.is_empty() {
                p.insert("name".into(), name.into());
            }
            p.insert("port".into(), port.into());
            p.insert("protocol".into(), protocol.into());
            if target_port {
                p.insert("targetPort".into(), port.into());
            }
            Value::Object(p)
        })
        .collect()
}

fn family(ip: &str) -> &'static str {
    if ip.contains(':') { "IPv6" } else { "IPv4" }
}

/// A `ClusterIP` Service with the given cluster IPs (first is `spec.clusterIP`;
/// two make it dual-stack).
pub fn service(namespace: &str, name: &str, cluster_ips: &[&str], ports: &[Port<'_>]) -> Value {
    let mut spec = Map::new();
    spec.insert("type".into(), "ClusterIP".into());
    if let Some(first) = cluster_ips.first() {
        spec.insert("clusterIP".into(), (*first).into());
        spec.insert("clusterIPs".into(), cluster_ips.into());
        let families: Vec<&str> = cluster_ips.iter().map(|ip| family(ip)).collect();
        spec.insert("ipFamilies".into(), families.into());
        let policy = if cluster_ips.len() > 1 {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        spec.insert("ipFamilyPolicy".into(), policy.into());
    }
    spec.insert("ports".into(), ports_json(ports, true));
    spec.insert("selector".into(), json!({ "app": name }));
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(Some(namespace), name),
        "spec": spec,
    })
}

/// A headless Service (`clusterIP: None`).
pub fn headless_service(namespace: &str, name: &str, ports: &[Port<'_>]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(Some(namespace), name),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "ports": ports_json(ports, true),
            "selector": { "app": name },
        },
    })
}

/// An `ExternalName` Service pointing at `target`.
pub fn external_name_service(namespace: &str, name: &str, target: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(Some(namespace), name),
        "spec": { "type": "ExternalName", "externalName": target },
    })
}

/// An EndpointSlice of `service` (label `kubernetes.io/service-name`) with
/// `addressType` `family` (`"IPv4"` or `"IPv6"`).
pub fn endpoint_slice(
    namespace: &str,
    name: &str,
    service: &str,
    family: &str,
    endpoints: &[Endpoint],
    ports: &[Port<'_>],
) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            let mut ep = Map::new();
            ep.insert("addresses".into(), e.addresses.clone().into());
            ep.insert(
                "conditions".into(),
                json!({ "ready": e.ready, "serving": e.ready, "terminating": false }),
            );
            if let Some(hostname) = &e.hostname {
                ep.insert("hostname".into(), hostname.as_str().into());
            }
            if let Some(pod) = &e.target_pod {
                ep.insert(
                    "targetRef".into(),
                    json!({ "kind": "Pod", "name": pod, "namespace": namespace }),
                );
            }
            if let Some(node) = &e.node {
                ep.insert("nodeName".into(), node.as_str().into());
            }
            Value::Object(ep)
        })
        .collect();
    let mut meta = metadata(Some(namespace), name);
    meta.insert(
        "labels".into(),
        json!({
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        }),
    );
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports_json(ports, false),
    })
}

/// A Namespace with labels (plus `kubernetes.io/metadata.name`, as the real
/// server adds).
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut l = Map::new();
    l.insert("kubernetes.io/metadata.name".into(), name.into());
    for &(k, v) in labels {
        l.insert(k.into(), v.into());
    }
    let mut meta = metadata(None, name);
    meta.insert("labels".into(), Value::Object(l));
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": { "finalizers": ["kubernetes"] },
        "status": { "phase": "Active" },
    })
}

/// A running Pod with IP `ip`.
pub fn pod(namespace: &str, name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(Some(namespace), name),
        "spec": { "containers": [{ "name": "app", "image": "registry.k8s.io/pause:3.10" }] },
        "status": { "phase": "Running", "podIP": ip, "podIPs": [{ "ip": ip }] },
    })
}

/// Adds (or replaces) `metadata.labels` entries on any object.
pub fn with_labels(mut object: Value, labels: &[(&str, &str)]) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let entry = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Some(map) = entry.as_object_mut() {
            for &(k, v) in labels {
                map.insert(k.into(), v.into());
            }
        }
    }
    object
}
