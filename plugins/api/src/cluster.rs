//! The cluster directory: what plugins that run *before* `kubernetes` read from its index.
//!
//! Plugins never import each other, and the chain order is CoreDNS's: `autopath` and
//! `k8s_external` come before `kubernetes`, yet both answer from the cluster index
//! (the namespace of a client pod, a Service's external addresses). So the index is
//! reached through this small trait, and a late-bound [`ClusterHandle`] in
//! [`SetupCtx`](crate::SetupCtx): a plugin that needs the cluster keeps a clone of the
//! handle and [`ClusterHandle::require`]s it at setup; `kubernetes`, built later in the
//! same block, [`provide`](ClusterHandle::provide)s itself; the plugin reads it at serve
//! time. A block that requires the cluster and has no `kubernetes` is a Corefile error,
//! reported at the requiring directive (see [`ClusterHandle::unmet`]). A plugin that
//! only does better with the cluster (`dns64`) keeps a clone without requiring it, and
//! finds [`ClusterHandle::get`] `None` in a block without `kubernetes`.
//!
//! The trait is as small as its users: nothing here hands out the index itself, only
//! the answers to their questions, computed under the index's own read lock.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use hickory_proto::rr::Name;
use parking_lot::Mutex;

use crate::Token;
use crate::wire::WireQuery;

/// One address a Service is reachable at from outside the cluster: an entry of
/// `spec.externalIPs`, or of `status.loadBalancer.ingress` (its IP, else its hostname).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExternalAddr {
    /// An IP address.
    Ip(IpAddr),
    /// A host name (a cloud load balancer's, for instance): answered as a CNAME.
    Host(Name),
}

/// A service port as SRV answers need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port's name; empty for an unnamed port.
    pub name: String,
    /// `tcp`, `udp` or `sctp`, lower case.
    pub protocol: String,
    /// The port number.
    pub port: u16,
}

/// One ready endpoint of a headless service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEndpoint {
    /// Its address.
    pub ip: IpAddr,
    /// Its DNS label (hostname, pod name or dashed address, as the cluster zone names it).
    pub label: String,
    /// The ports of its EndpointSlice.
    pub ports: Vec<ServicePort>,
}

/// What a Service offers outside the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalService {
    /// Whether it is headless (`clusterIP: None`).
    pub headless: bool,
    /// Its external IPs, then its load balancer ingress, in the object's order.
    pub external: Vec<ExternalAddr>,
    /// Its ports, in spec order.
    pub ports: Vec<ServicePort>,
    /// Its ready endpoints (filled for headless services only).
    pub endpoints: Vec<ServiceEndpoint>,
}

/// The cluster, as the plugins before `kubernetes` may ask it. Implemented by the
/// `kubernetes` plugin; every method reads the index once and holds no lock after it
/// returns.
pub trait ClusterDirectory: Send + Sync + 'static {
    /// Whether `namespace` is exposed: allowed by `namespaces` and existing.
    fn namespace_exposed(&self, namespace: &str) -> bool;

    /// Service `name` in `namespace` (lower case), `None` when there is none.
    fn external_service(&self, namespace: &str, name: &str) -> Option<ExternalService>;

    /// The addresses the DNS server itself is reachable at from outside: the external
    /// addresses (with `headless`, the endpoints of a headless service) of the services
    /// whose endpoints are this server, else the server's own addresses. Owners are
    /// named by the caller.
    fn own_external_addresses(&self, headless: bool) -> Vec<IpAddr>;

    /// The SOA serial of the cluster zone (time of the last change).
    fn serial(&self) -> u32;

    /// The namespace of the pod with address `ip`; `None` when no pod has it, or when
    /// pods are not watched (`pods verified` is not set).
    fn pod_namespace(&self, ip: IpAddr) -> Option<Arc<str>>;

    /// The search path of a pod in `namespace` for a query named `qname`, as the
    /// kubelet writes it into the pod's `resolv.conf`: `<namespace>.svc.<zone>`,
    /// `svc.<zone>`, `<zone>`, then the server's own search domains, then the root
    /// (the name as asked). `None` when `qname` is not in the cluster zones.
    fn search_path(&self, qname: &Name, namespace: &str) -> Option<Vec<Name>>;

    /// Whether an A, AAAA or SRV question names something in the cluster zone with
    /// records of its own: its answer is not NXDOMAIN (NODATA counts as existing) and
    /// is no CNAME to another name (an ExternalName service). `false` for other
    /// question types, a name outside the cluster zones, a reverse name, and while the
    /// zone has not been loaded.
    ///
    /// `autopath` asks it on the wire path, so it reads the index as the wire path
    /// does, allocating nothing (a name that matches more than a few entries, a large
    /// headless service, is the exception the lookup itself makes): a name that
    /// exists is its own first search-path element's answer, which `kubernetes` then
    /// writes on the wire path as the walk would have sent it. The default says `false`
    /// (the walk decides, on the ordinary path) for a directory that cannot tell.
    fn holds_name(&self, query: &WireQuery<'_>) -> bool {
        let _ = query;
        false
    }

    /// Whether an A or AAAA question names something in the cluster zone whose answer
    /// holds at least one record of the type asked (a Service's cluster IP of that
    /// family, an endpoint's or pod's address). `false` for NODATA, NXDOMAIN, an
    /// ExternalName (a CNAME, whatever its target holds), other question types, a name
    /// outside the cluster zones, and while the zone has not been loaded.
    ///
    /// `dns64` asks it on the wire path: an AAAA answer that holds AAAA records is left
    /// as it is, so `kubernetes` may write it there. Like [`holds_name`](Self::holds_name)
    /// it reads the index as the wire path does and allocates nothing for a name of a
    /// few entries. The default says `false` (the ordinary path decides) for a
    /// directory that cannot tell.
    fn answers_addresses(&self, query: &WireQuery<'_>) -> bool {
        let _ = query;
        false
    }
}

/// A late-bound [`ClusterDirectory`], shared by the plugins of one server block.
#[derive(Clone, Default)]
pub struct ClusterHandle {
    directory: Arc<OnceLock<Arc<dyn ClusterDirectory>>>,
    /// The directives that need it, to name in the error when nothing provides it.
    required_by: Arc<Mutex<Vec<Token>>>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("provided", &self.directory.get().is_some())
            .field("required_by", &self.required_by.lock().len())
            .finish()
    }
}

impl ClusterHandle {
    /// Notes that the directive named by `directive` cannot work without the cluster.
    pub fn require(&self, directive: &Token) {
        self.required_by.lock().push(directive.clone());
    }

    /// Whether some directive of the block required the cluster, and which.
    pub fn required_by(&self) -> Vec<Token> {
        self.required_by.lock().clone()
    }

    /// Binds the directory (the block's `kubernetes`); a second call changes nothing.
    pub fn provide(&self, directory: Arc<dyn ClusterDirectory>) {
        let _ = self.directory.set(directory);
    }

    /// The directory, once provided.
    pub fn get(&self) -> Option<&Arc<dyn ClusterDirectory>> {
        self.directory.get()
    }

    /// One error per directive that required the cluster, when nothing provided it.
    pub fn unmet(&self) -> Vec<crate::ConfigError> {
        if self.get().is_some() {
            return Vec::new();
        }
        let mut tokens = self.required_by.lock().clone();
        tokens.sort_by_key(|token| (token.file.clone(), token.line, token.column));
        tokens
            .iter()
            .map(|token| {
                token.error(format!(
                    "plugin {}: needs the kubernetes plugin in the same server block",
                    token.text
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_names_each_requiring_directive() {
        let handle = ClusterHandle::default();
        assert!(handle.unmet().is_empty());
        handle.require(&Token::synthetic("k8s_external"));
        let errors = handle.unmet();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().contains("k8s_external"),
            "{}",
            errors[0]
        );
    }
}
