//! The pod map: pod address → the namespace of the pod that has it, all that
//! `pods verified` and `autopath` need to know of a pod.
//!
//! A large cluster has far more pods than services, so a pod costs only its address
//! and eight bytes here: the namespace as a number (names interned once) and 32 bits
//! of a hash of the pod's name, which tell two pods apart when they share an address
//! (`hostNetwork` pods share their node's) and let an update or delete of one pod
//! forget its addresses without touching another's. No pod name, no per-pod
//! allocation: an IPv4 pod is one 12-byte slot of a hash table (see
//! `benches/pod-map.sh` for the resident size at 150,000 pods).
//!
//! What a pod had is not remembered, so a pod forgets its addresses by the change
//! that carries them: a pod that stops running, or whose delete is watched, comes
//! with them (see [`crate::object::SlimPod::live`]). An address a pod loses while it
//! keeps running (Kubernetes does not change a running pod's addresses) is forgotten
//! at the next list, which replaces the whole map.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

/// A pod, as the map tells pods apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    namespace: u32,
    pod: u32,
}

/// The map; see the module docs.
#[derive(Default)]
pub(crate) struct PodMap {
    v4: HashMap<u32, Owner>,
    v6: HashMap<[u8; 16], Owner>,
    /// Addresses more than one live pod has.
    shared: HashMap<IpAddr, SmallVec<[Owner; 2]>>,
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

/// A hash of a pod's name that is the same in every process (fixed keys).
fn name_hash(name: &str) -> u32 {
    // Truncated on purpose: 32 bits tell pods of one address and namespace apart.
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(name) as u32
}

impl PodMap {
    /// The owner for pod `name` in `namespace`, interning the namespace.
    pub(crate) fn owner(&mut self, namespace: &Arc<str>, name: &str) -> Owner {
        let id = match self.ids.get(&**namespace) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                self.names.push(namespace.clone());
                self.ids.insert(namespace.clone(), id);
                id
            }
        };
        Owner {
            namespace: id,
            pod: name_hash(name),
        }
    }

    /// The owner for pod `name` in `namespace`, if the namespace is known.
    pub(crate) fn find_owner(&self, namespace: &str, name: &str) -> Option<Owner> {
        Some(Owner {
            namespace: *self.ids.get(namespace)?,
            pod: name_hash(name),
        })
    }

    fn single(&self, ip: IpAddr) -> Option<Owner> {
        match ip {
            IpAddr::V4(v4) => self.v4.get(&u32::from(v4)).copied(),
            IpAddr::V6(v6) => self.v6.get(&v6.octets()).copied(),
        }
    }

    fn set_single(&mut self, ip: IpAddr, owner: Option<Owner>) {
        match (ip, owner) {
            (IpAddr::V4(v4), Some(owner)) => {
                self.v4.insert(u32::from(v4), owner);
            }
            (IpAddr::V4(v4), None) => {
                self.v4.remove(&u32::from(v4));
            }
            (IpAddr::V6(v6), Some(owner)) => {
                self.v6.insert(v6.octets(), owner);
            }
            (IpAddr::V6(v6), None) => {
                self.v6.remove(&v6.octets());
            }
        }
    }

    /// Notes that `owner` has `ip`; whether that changed the map.
    pub(crate) fn add(&mut self, ip: IpAddr, owner: Owner) -> bool {
        if let Some(owners) = self.shared.get_mut(&ip) {
            if owners.contains(&owner) {
                return false;
            }
            owners.push(owner);
            return true;
        }
        match self.single(ip) {
            Some(have) if have == owner => false,
            Some(have) => {
                self.set_single(ip, None);
                self.shared.insert(ip, SmallVec::from_slice(&[have, owner]));
                true
            }
            None => {
                self.set_single(ip, Some(owner));
                true
            }
        }
    }

    /// Forgets that `owner` has `ip`; whether that changed the map.
    pub(crate) fn remove(&mut self, ip: IpAddr, owner: Owner) -> bool {
        if let Some(owners) = self.shared.get_mut(&ip) {
            let Some(at) = owners.iter().position(|o| *o == owner) else {
                return false;
            };
            owners.remove(at);
            if owners.len() == 1 {
                let last = owners[0];
                self.shared.remove(&ip);
                self.set_single(ip, Some(last));
            }
            return true;
        }
        if self.single(ip) == Some(owner) {
            self.set_single(ip, None);
            return true;
        }
        false
    }

    /// Whether `owner` has `ip`.
    pub(crate) fn has(&self, ip: IpAddr, owner: Owner) -> bool {
        match self.shared.get(&ip) {
            Some(owners) => owners.contains(&owner),
            None => self.single(ip) == Some(owner),
        }
    }

    /// The namespace of a pod with `ip` (the first one noted, when several share it).
    pub(crate) fn namespace_of(&self, ip: IpAddr) -> Option<&Arc<str>> {
        let owner = match self.shared.get(&ip) {
            Some(owners) => owners.first().copied(),
            None => self.single(ip),
        }?;
        self.names.get(owner.namespace as usize)
    }

    /// Whether a pod in `namespace` has `ip`.
    pub(crate) fn namespace_has(&self, namespace: &str, ip: IpAddr) -> bool {
        let Some(id) = self.ids.get(namespace).copied() else {
            return false;
        };
        match self.shared.get(&ip) {
            Some(owners) => owners.iter().any(|o| o.namespace == id),
            None => self.single(ip).is_some_and(|o| o.namespace == id),
        }
    }

    /// How many (address, pod) pairs the map holds.
    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.shared.values().map(SmallVec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn pods_sharing_an_address_are_told_apart() {
        let mut map = PodMap::default();
        let shop: Arc<str> = Arc::from("shop");
        let kube: Arc<str> = Arc::from("kube-system");
        let web = map.owner(&shop, "web-0");
        let agent = map.owner(&kube, "node-agent");
        assert!(map.add(ip("10.0.0.5"), web));
        assert!(!map.add(ip("10.0.0.5"), web), "already there");
        assert!(map.add(ip("10.0.0.5"), agent));
        assert_eq!(map.len(), 2);
        assert!(map.namespace_has("shop", ip("10.0.0.5")));
        assert!(map.namespace_has("kube-system", ip("10.0.0.5")));
        assert_eq!(map.namespace_of(ip("10.0.0.5")).map(|n| &**n), Some("shop"));
        assert!(map.remove(ip("10.0.0.5"), web));
        assert!(!map.remove(ip("10.0.0.5"), web));
        assert_eq!(
            map.namespace_of(ip("10.0.0.5")).map(|n| &**n),
            Some("kube-system")
        );
        assert!(!map.namespace_has("shop", ip("10.0.0.5")));
        assert!(map.remove(ip("10.0.0.5"), agent));
        assert_eq!(map.len(), 0);
        assert_eq!(map.namespace_of(ip("10.0.0.5")), None);
    }

    #[test]
    fn another_pod_does_not_remove_an_address() {
        let mut map = PodMap::default();
        let shop: Arc<str> = Arc::from("shop");
        let old = map.owner(&shop, "old");
        let new = map.owner(&shop, "new");
        map.add(ip("fd00::7"), new);
        assert!(!map.remove(ip("fd00::7"), old));
        assert!(map.has(ip("fd00::7"), new));
        assert_eq!(map.find_owner("shop", "new"), Some(new));
        assert_eq!(map.find_owner("elsewhere", "new"), None);
        assert!(!map.namespace_has("elsewhere", ip("fd00::7")));
    }

    #[test]
    fn a_pod_costs_twelve_bytes_of_table_for_an_ipv4_address() {
        assert_eq!(std::mem::size_of::<(u32, Owner)>(), 12);
        assert_eq!(std::mem::size_of::<([u8; 16], Owner)>(), 24);
    }
}
