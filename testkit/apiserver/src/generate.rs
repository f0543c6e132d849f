//! A deterministic synthetic cluster, for benchmarks and load tests.
//!
//! The same arguments always give the same objects (names, IPs, order), so
//! benchmark runs are comparable and a benchmark can compute the expected
//! answer for any generated name.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::objects::{self, Endpoint, Port};

/// Services per generated namespace.
pub const SERVICES_PER_NAMESPACE: usize = 100;
/// Endpoints per generated EndpointSlice (the Kubernetes controller's default).
pub const ENDPOINTS_PER_SLICE: usize = 100;

const CLUSTER_IP_BASE: u32 = u32::from_be_bytes([10, 96, 0, 16]);
const CLUSTER_IP_END: u32 = u32::from_be_bytes([10, 111, 255, 255]);
const POD_IP_BASE: u32 = u32::from_be_bytes([10, 244, 0, 0]);
const POD_IP_END: u32 = u32::from_be_bytes([10, 255, 255, 255]);

/// Generates namespaces `ns-0`, `ns-1`, … ([`SERVICES_PER_NAMESPACE`] services
/// each), then for every service `svc-J` (in namespace `ns-{J / 100}`) the
/// Service followed by its EndpointSlices `svc-J-0`, `svc-J-1`, … holding
/// `endpoints_per_service` ready IPv4 endpoints.
///
/// A `headless_fraction` (0.0–1.0) of the services, spread evenly, is headless
/// (their endpoints have hostnames `svc-J-K`); the others get a cluster IP from
/// 10.96.0.0/12. Every service has port `http` 80/TCP, every tenth also `dns`
/// 53/UDP. Endpoint IPs are unique, counting up from 10.244.0.1 and skipping
/// `.0`/`.255`.
///
/// # Panics
///
/// If the address ranges run out: more than about a million ClusterIP services,
/// or more than about 780,000 endpoints in total.
pub fn cluster(
    services: usize,
    endpoints_per_service: usize,
    headless_fraction: f64,
) -> Vec<Value> {
    let fraction = if headless_fraction.is_nan() {
        0.0
    } else {
        headless_fraction.clamp(0.0, 1.0)
    };
    let namespaces = services.div_ceil(SERVICES_PER_NAMESPACE);
    let slices_per_service = endpoints_per_service.div_ceil(ENDPOINTS_PER_SLICE);
    let mut out = Vec::with_capacity(namespaces + services * (1 + slices_per_service));
    for n in 0..namespaces {
        out.push(objects::namespace(&format!("ns-{n}"), &[]));
    }
    let mut next_cluster_ip = CLUSTER_IP_BASE;
    let mut next_pod_ip = POD_IP_BASE;
    for j in 0..services {
        let ns = format!("ns-{}", j / SERVICES_PER_NAMESPACE);
        let name = format!("svc-{j}");
        let ports: &[Port<'_>] = if j % 10 == 0 {
            &[("http", 80, "TCP"), ("dns", 53, "UDP")]
        } else {
            &[("http", 80, "TCP")]
        };
        let headless = ((j + 1) as f64 * fraction).floor() > (j as f64 * fraction).floor();
        if headless {
            out.push(objects::headless_service(&ns, &name, ports));
        } else {
            assert!(
                next_cluster_ip <= CLUSTER_IP_END,
                "generate::cluster: out of cluster IPs"
            );
            let ip = Ipv4Addr::from(next_cluster_ip).to_string();
            next_cluster_ip += 1;
            out.push(objects::service(&ns, &name, &[&ip], ports));
        }
        let endpoints: Vec<Endpoint> = (0..endpoints_per_service)
            .map(|k| {
                let ip = pod_ip(&mut next_pod_ip);
                let pod = format!("{name}-{k}");
                let node = format!("node-{}", (next_pod_ip as usize) % 100);
                let endpoint = Endpoint::new(&ip).with_target_pod(&pod).with_node(&node);
                if headless {
                    endpoint.with_hostname(&pod)
                } else {
                    endpoint
                }
            })
            .collect();
        for (c, chunk) in endpoints.chunks(ENDPOINTS_PER_SLICE).enumerate() {
            out.push(objects::endpoint_slice(
                &ns,
                &format!("{name}-{c}"),
                &name,
                "IPv4",
                chunk,
                ports,
            ));
        }
    }
    out
}

/// Pods per generated pod namespace.
pub const PODS_PER_NAMESPACE: usize = 1000;
/// Where generated pod IPs start: 100.64.0.0/10, apart from the endpoint addresses.
const STANDALONE_POD_IP_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
const STANDALONE_POD_IP_END: u32 = u32::from_be_bytes([100, 127, 255, 255]);

/// Generates `pods` running pods `pod-I` in namespaces `pods-0`, `pods-1`, …
/// ([`PODS_PER_NAMESPACE`] each, namespaces included), with unique IPv4 addresses
/// counting up from 100.64.0.1 (skipping `.0`/`.255`): what `pods verified` and
/// `autopath` watch, at the scale of a large cluster.
///
/// # Panics
///
/// If the address range runs out (more than about four million pods).
pub fn pods(pods: usize) -> Vec<Value> {
    let namespaces = pods.div_ceil(PODS_PER_NAMESPACE);
    let mut out = Vec::with_capacity(namespaces + pods);
    for n in 0..namespaces {
        out.push(objects::namespace(&format!("pods-{n}"), &[]));
    }
    let mut next = STANDALONE_POD_IP_BASE;
    for i in 0..pods {
        loop {
            assert!(
                next < STANDALONE_POD_IP_END,
                "generate::pods: out of pod IPs"
            );
            next += 1;
            if !matches!(next & 0xff, 0 | 0xff) {
                break;
            }
        }
        let ns = format!("pods-{}", i / PODS_PER_NAMESPACE);
        let ip = Ipv4Addr::from(next).to_string();
        out.push(objects::pod(&ns, &format!("pod-{i}"), &ip));
    }
    out
}

/// The next endpoint IP, skipping addresses ending in `.0` or `.255`.
fn pod_ip(next: &mut u32) -> String {
    loop {
        assert!(*next < POD_IP_END, "generate::cluster: out of pod IPs");
        *next += 1;
        if !matches!(*next & 0xff, 0 | 0xff) {
            return Ipv4Addr::from(*next).to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn pods_are_deterministic_and_unique() {
        let a = pods(2500);
        assert_eq!(a, pods(2500));
        assert_eq!(a.iter().filter(|o| o["kind"] == "Namespace").count(), 3);
        let ips: HashSet<&str> = a
            .iter()
            .filter_map(|o| o["status"]["podIP"].as_str())
            .collect();
        assert_eq!(ips.len(), 2500);
        assert!(ips.contains("100.64.0.1"));
    }

    #[test]
    fn deterministic_and_unique() {
        let a = cluster(250, 3, 0.2);
        assert_eq!(a, cluster(250, 3, 0.2));
        let count = |kind: &str| a.iter().filter(|o| o["kind"] == kind).count();
        assert_eq!(count("Namespace"), 3);
        assert_eq!(count("Service"), 250);
        assert_eq!(count("EndpointSlice"), 250);
        let headless = a
            .iter()
            .filter(|o| o["spec"]["clusterIP"] == "None")
            .count();
        assert_eq!(headless, 50);
        let mut ips = HashSet::new();
        for o in &a {
            if let Some(ip) = o["spec"]["clusterIP"].as_str().filter(|ip| *ip != "None") {
                assert!(ips.insert(ip.to_owned()), "duplicate {ip}");
            }
            for ep in o["endpoints"].as_array().into_iter().flatten() {
                let ip = ep["addresses"][0].as_str().unwrap();
                assert!(ips.insert(ip.to_owned()), "duplicate {ip}");
            }
        }
        assert_eq!(ips.len(), 200 + 750);
    }

    #[test]
    fn large_slices_are_split() {
        let a = cluster(1, 250, 0.0);
        let slices: Vec<_> = a.iter().filter(|o| o["kind"] == "EndpointSlice").collect();
        assert_eq!(slices.len(), 3);
        assert_eq!(slices[2]["endpoints"].as_array().unwrap().len(), 50);
    }
}
