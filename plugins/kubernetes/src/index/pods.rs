//! The pod map: pod address → the namespace of the pod that has it, all that
//! `pods verified` and `autopath` need to know of a pod.
//!
//! A large cluster has far more pods than services, so a pod costs only its address
//! and six bytes here: the namespace as a 16-bit number (names interned once) and 32
//! bits of a hash of the pod's name, which tell two pods apart when they share an
//! address (`hostNetwork` pods share their node's) and let an update or delete of one
//! pod forget its addresses without touching another's. No pod name, no per-pod
//! allocation: an IPv4 pod is one 10-byte slot of a hash table, stored as bytes
//! (alignment 1, so no padding) with hashbrown's control byte beside it; at 150,000
//! pods that is under 16 bytes a pod beyond its address, empty slots included (see
//! the test `a_pod_costs_under_sixteen_bytes_beyond_its_address_at_150000` and
//! `benches/pod-map.sh` for the resident size). A pod of a namespace numbered past
//! 16 bits (more than 65,536 namespaces seen between two lists) keeps its full number
//! in the small map of shared addresses instead.
//!
//! What a pod had is not remembered, so a pod forgets its addresses by the change
//! that carries them: a pod that stops running, or whose delete is watched, comes
//! with them (see [`crate::object::SlimPod::live`]). An address a pod loses while it
//! keeps running (Kubernetes does not change a running pod's addresses) is forgotten
//! at the next list, which replaces the whole map.

use std::hash::{BuildHasher, Hash, Hasher};
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

/// An owner as a slot of the address maps stores it: byte arrays, so that a slot has
/// alignment 1 and no padding (10 bytes with an IPv4 address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Packed {
    namespace: [u8; 2],
    pod: [u8; 4],
}

impl Packed {
    /// `owner` packed; `None` when its namespace number needs more than 16 bits.
    fn new(owner: Owner) -> Option<Self> {
        Some(Self {
            namespace: u16::try_from(owner.namespace).ok()?.to_ne_bytes(),
            pod: owner.pod.to_ne_bytes(),
        })
    }

    fn owner(self) -> Owner {
        Owner {
            namespace: u32::from(u16::from_ne_bytes(self.namespace)),
            pod: u32::from_ne_bytes(self.pod),
        }
    }
}

/// An IPv4 address as a key of alignment 1, hashed as one `u32` (an array would hash
/// its length too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct V4([u8; 4]);

impl Hash for V4 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(u32::from_ne_bytes(self.0));
    }
}

/// The map; see the module docs.
#[derive(Default)]
pub(crate) struct PodMap {
    v4: HashMap<V4, Packed>,
    v6: HashMap<[u8; 16], Packed>,
    /// Addresses more than one live pod has, and the few owners that do not pack.
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
        let packed = match ip {
            IpAddr::V4(v4) => self.v4.get(&V4(v4.octets())),
            IpAddr::V6(v6) => self.v6.get(&v6.octets()),
        };
        packed.map(|p| p.owner())
    }

    /// Stores `owner` as the one owner of `ip`; `false` (and nothing stored) when it
    /// does not pack.
    fn set_single(&mut self, ip: IpAddr, owner: Owner) -> bool {
        let Some(packed) = Packed::new(owner) else {
            return false;
        };
        match ip {
            IpAddr::V4(v4) => self.v4.insert(V4(v4.octets()), packed),
            IpAddr::V6(v6) => self.v6.insert(v6.octets(), packed),
        };
        true
    }

    fn clear_single(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.v4.remove(&V4(v4.octets())),
            IpAddr::V6(v6) => self.v6.remove(&v6.octets()),
        };
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
                self.clear_single(ip);
                self.shared.insert(ip, SmallVec::from_slice(&[have, owner]));
                true
            }
            None => {
                if !self.set_single(ip, owner) {
                    self.shared.insert(ip, SmallVec::from_slice(&[owner]));
                }
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
            let last = match owners.as_slice() {
                [] => None,
                [last] => Some(*last),
                _ => return true,
            };
            if last.is_none_or(|last| self.set_single(ip, last)) {
                self.shared.remove(&ip);
            }
            return true;
        }
        if self.single(ip) == Some(owner) {
            self.clear_single(ip);
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
    fn a_slot_is_ten_bytes_for_an_ipv4_address() {
        assert_eq!(std::mem::size_of::<(V4, Packed)>(), 10);
        assert_eq!(std::mem::align_of::<(V4, Packed)>(), 1);
        assert_eq!(std::mem::size_of::<([u8; 16], Packed)>(), 22);
    }

    /// The table's whole allocation (slots, control bytes, empty slots) for 150,000
    /// IPv4 pods in 150 namespaces, added one by one as a list adds them.
    #[test]
    fn a_pod_costs_under_sixteen_bytes_beyond_its_address_at_150000() {
        const PODS: usize = 150_000;
        let mut map = PodMap::default();
        let namespaces: Vec<Arc<str>> = (0..150).map(|i| Arc::from(format!("ns-{i}"))).collect();
        for i in 0..PODS {
            let owner = map.owner(&namespaces[i % 150], &format!("pod-{i}"));
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
            assert!(map.add(ip, owner));
        }
        assert_eq!(map.len(), PODS);
        assert!(map.shared.is_empty());
        let bytes = map.v4.allocation_size();
        let per_pod = bytes as f64 / PODS as f64;
        let beyond_address = per_pod - 4.0;
        println!(
            "{PODS} pods: {bytes} bytes of table, {per_pod:.1} bytes a pod, {beyond_address:.1} beyond its address"
        );
        assert!(beyond_address <= 16.0, "{beyond_address:.1} bytes a pod");
        // Every pod is still found, in its namespace.
        for i in (0..PODS).step_by(997) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
            assert_eq!(
                map.namespace_of(ip).map(|n| n.to_string()),
                Some(format!("ns-{}", i % 150))
            );
        }
    }

    /// Namespaces numbered past 16 bits do not pack: their pods are kept whole in the
    /// shared map, found, shared and forgotten like the others.
    #[test]
    fn namespaces_past_sixteen_bits_are_kept_whole() {
        let mut map = PodMap::default();
        for i in 0..=u32::from(u16::MAX) {
            map.owner(&Arc::from(format!("ns-{i}")), "p");
        }
        let late: Arc<str> = Arc::from("late");
        let early: Arc<str> = Arc::from("ns-7");
        let wide = map.owner(&late, "web");
        let narrow = map.owner(&early, "agent");
        assert!(Packed::new(wide).is_none());
        assert!(map.add(ip("10.0.0.9"), wide));
        assert!(!map.add(ip("10.0.0.9"), wide));
        assert_eq!(map.namespace_of(ip("10.0.0.9")).map(|n| &**n), Some("late"));
        assert!(map.add(ip("10.0.0.9"), narrow));
        assert!(map.remove(ip("10.0.0.9"), narrow));
        assert!(map.has(ip("10.0.0.9"), wide));
        assert!(map.namespace_has("late", ip("10.0.0.9")));
        assert!(map.remove(ip("10.0.0.9"), wide));
        assert_eq!(map.len(), 0);
        assert!(map.shared.is_empty());
        // A narrow owner left alone on a shared address goes back to its slot.
        assert!(map.add(ip("fd00::1"), narrow));
        assert!(map.add(ip("fd00::1"), wide));
        assert!(map.remove(ip("fd00::1"), wide));
        assert!(map.shared.is_empty());
        assert_eq!(map.v6.len(), 1);
        assert!(map.has(ip("fd00::1"), narrow));
    }
}
