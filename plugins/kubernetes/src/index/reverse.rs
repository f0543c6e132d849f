//! IP → the services that have it, as a cluster IP or as an endpoint address: what PTR
//! answers and the server's own NS names are made from.
//!
//! A large cluster has an item for every endpoint, so items are small: the entry they
//! belong to (an `Arc` shared with the view) and the position of the address in it,
//! 16 bytes in one hash table, with no key stored (the address is read from the entry)
//! and no vector per address. The names are taken from the entry when asked for.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;
use smol_str::SmolStr;

use super::entry::ServiceEntry;

/// A reverse-lookup item: a cluster IP of a service (`endpoint` is `None`), or an
/// endpoint address of a service, with its endpoint label. Made on lookup from the
/// entry (the clones share the entry's strings, nothing is allocated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseRef {
    /// The service's namespace.
    pub namespace: Arc<str>,
    /// The service's name.
    pub service: Arc<str>,
    /// The endpoint label, for endpoint addresses.
    pub endpoint: Option<SmolStr>,
}

/// One address of one entry.
struct Item {
    entry: Arc<ServiceEntry>,
    /// Index into the entry's cluster IPs or endpoints.
    index: u32,
    cluster_ip: bool,
}

impl Item {
    fn ip(&self) -> Option<IpAddr> {
        address(&self.entry, self.index, self.cluster_ip)
    }

    fn reference(&self) -> ReverseRef {
        ReverseRef {
            namespace: self.entry.namespace.clone(),
            service: self.entry.name.clone(),
            endpoint: if self.cluster_ip {
                None
            } else {
                self.entry
                    .endpoints
                    .get(self.index as usize)
                    .map(|e| e.name.clone())
            },
        }
    }
}

/// The reverse index of the view.
#[derive(Default)]
pub(super) struct ReverseIndex {
    table: HashTable<Item>,
    hasher: DefaultHashBuilder,
}

impl ReverseIndex {
    fn hash(&self, ip: Option<IpAddr>) -> u64 {
        self.hasher.hash_one(ip)
    }

    /// Makes room for `additional` more addresses at once, instead of growing (and
    /// leaving the old tables behind) step by step.
    pub(super) fn reserve(&mut self, additional: usize) {
        let hasher = &self.hasher;
        self.table
            .reserve(additional, |item| hasher.hash_one(item.ip()));
    }

    /// How many addresses `entry` adds.
    pub(super) fn count(entry: &ServiceEntry) -> usize {
        entry.cluster_ips().len() + entry.endpoints.len()
    }

    /// Adds every address of `entry`.
    pub(super) fn add(&mut self, entry: &Arc<ServiceEntry>) {
        for (index, cluster_ip) in positions(entry) {
            let item = Item {
                entry: entry.clone(),
                index,
                cluster_ip,
            };
            let hash = self.hash(item.ip());
            let hasher = &self.hasher;
            self.table
                .insert_unique(hash, item, |item| hasher.hash_one(item.ip()));
        }
    }

    /// Removes every address of `entry` (the very entry, not another of the same
    /// service).
    pub(super) fn remove(&mut self, entry: &Arc<ServiceEntry>) {
        for (index, cluster_ip) in positions(entry) {
            let hash = self.hash(address(entry, index, cluster_ip));
            if let Ok(found) = self.table.find_entry(hash, |item| {
                Arc::ptr_eq(&item.entry, entry)
                    && item.index == index
                    && item.cluster_ip == cluster_ip
            }) {
                found.remove();
            }
        }
    }

    /// The items of `ip`, each (namespace, service, endpoint label) once, in a fixed
    /// order: by namespace and service, cluster IPs first, then endpoints in entry
    /// order.
    pub(super) fn get(&self, ip: IpAddr) -> SmallVec<[ReverseRef; 2]> {
        let mut found: SmallVec<[&Item; 2]> = self
            .table
            .iter_hash(self.hash(Some(ip)))
            .filter(|item| item.ip() == Some(ip))
            .collect();
        found.sort_unstable_by(|a, b| {
            (&a.entry.namespace, &a.entry.name, !a.cluster_ip, a.index).cmp(&(
                &b.entry.namespace,
                &b.entry.name,
                !b.cluster_ip,
                b.index,
            ))
        });
        let mut out: SmallVec<[ReverseRef; 2]> = SmallVec::new();
        for item in found {
            let reference = item.reference();
            if !out.contains(&reference) {
                out.push(reference);
            }
        }
        out
    }
}

/// The address at `index` of the entry's cluster IPs or endpoints.
fn address(entry: &ServiceEntry, index: u32, cluster_ip: bool) -> Option<IpAddr> {
    let index = index as usize;
    if cluster_ip {
        entry.cluster_ips().get(index).copied()
    } else {
        entry.endpoints.get(index).map(|e| e.ip)
    }
}

/// The (index, is a cluster IP) of each address of `entry`.
fn positions(entry: &ServiceEntry) -> impl Iterator<Item = (u32, bool)> + use<> {
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let cluster_ips = entry.cluster_ips().len();
    let endpoints = entry.endpoints.len();
    (0..cluster_ips)
        .map(move |i| (index(i), true))
        .chain((0..endpoints).map(move |i| (index(i), false)))
}
