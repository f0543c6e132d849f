//! One service as queries see it: the Service and its ready endpoints, merged from all
//! of its EndpointSlices, immutable, shared behind an `Arc`.
//!
//! The entry is the only copy of what DNS needs from the Service and the slices: the
//! index keeps no other (see [`super`]), and rebuilds an entry from the one it
//! replaces plus what changed.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::Equivalent;
use smol_str::SmolStr;

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
    /// pod's name, else the dashed address. A [`SmolStr`] keeps labels of up to 23
    /// bytes (every dashed IPv4 address, most host and pod names) inline: a large
    /// cluster has one per endpoint, and one allocation each doubled their cost.
    pub name: SmolStr,
    /// Which of the entry's slices it came from (its ports are that slice's).
    pub slice: u32,
}

/// What one EndpointSlice gives its service: its ports and its ready addresses with
/// their labels (their `slice` is 0 until an entry takes them). Not-ready endpoints
/// are left out: no answer shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SliceContent {
    /// The slice's ports; empty when it declares none.
    pub ports: Vec<Port>,
    /// Its ready addresses, in slice order.
    pub endpoints: Vec<EndpointAddr>,
}

impl SliceContent {
    /// What `slice` gives its service.
    pub(crate) fn of(slice: &SlimSlice, endpoint_pod_names: bool) -> Self {
        let ready = || slice.endpoints.iter().filter(|e| e.ready);
        // Sized exactly: the vector is the one the entry keeps.
        let mut endpoints = Vec::with_capacity(ready().map(|e| e.addresses.len()).sum());
        for endpoint in ready() {
            let label = match (&endpoint.hostname, &endpoint.target_pod) {
                (Some(hostname), _) => Some(hostname),
                (None, Some(pod)) if endpoint_pod_names => Some(pod),
                _ => None,
            };
            for ip in &endpoint.addresses {
                endpoints.push(EndpointAddr {
                    ip: *ip,
                    name: label.cloned().unwrap_or_else(|| dashed_label(*ip)),
                    slice: 0,
                });
            }
        }
        Self {
            ports: slice.ports.clone(),
            endpoints,
        }
    }
}

/// One slice's part of an entry: its name, ports, and where its addresses end in
/// [`ServiceEntry::endpoints`] (they start where the previous slice's end).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SlicePart {
    name: Arc<str>,
    ports: Vec<Port>,
    end: u32,
}

/// A slice's part of an entry, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceRef<'a> {
    /// The slice's ports.
    pub ports: &'a [Port],
    /// Its ready addresses.
    pub endpoints: &'a [EndpointAddr],
}

impl SliceRef<'_> {
    /// Whether the entry holds exactly `content` for this slice.
    pub(crate) fn holds(&self, content: &SliceContent) -> bool {
        self.ports == content.ports.as_slice()
            && self.endpoints.len() == content.endpoints.len()
            && self
                .endpoints
                .iter()
                .zip(&content.endpoints)
                .all(|(a, b)| a.ip == b.ip && a.name == b.name)
    }
}

/// A change to one slice of a service: its new content, or `None` once it is gone.
pub(crate) type SliceChange = Option<SliceContent>;

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
    /// The slices, in name order.
    slices: Vec<SlicePart>,
    /// Indices into `endpoints` sorted by label (ASCII case folded), then index: four
    /// bytes an address, found by binary search.
    by_name: Vec<u32>,
}

impl PartialEq for ServiceEntry {
    /// Equal when nothing differs, slice names included (the entry is the index's
    /// record of them); the derived index is left out.
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.name == other.name
            && self.service == other.service
            && self.endpoints == other.endpoints
            && self.slices == other.slices
    }
}

impl ServiceEntry {
    /// Whether DNS answers from `self` and `other` are the same: slice names, which no
    /// answer shows, are left out.
    pub(crate) fn same_answers(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.name == other.name
            && self.service == other.service
            && self.endpoints == other.endpoints
            && self.slices.len() == other.slices.len()
            && self
                .slices
                .iter()
                .zip(&other.slices)
                .all(|(a, b)| a.ports == b.ports)
    }

    /// The entry that replaces `old`: its Service replaced by `service` when that is
    /// `Some`, and its slices by `changes` (sorted by name, each name once); the other
    /// slices are copied from `old`. `None` when neither a Service nor a slice is left.
    pub(crate) fn rebuild(
        namespace: &Arc<str>,
        name: &Arc<str>,
        old: Option<&ServiceEntry>,
        service: Option<Option<SlimService>>,
        changes: Vec<(Arc<str>, SliceChange)>,
    ) -> Option<Self> {
        let service = match service {
            Some(service) => service,
            None => old.and_then(|o| o.service.clone()),
        };
        let kept_parts: &[SlicePart] = old.map_or(&[], |o| &o.slices);
        let mut slices: Vec<SlicePart> = Vec::with_capacity(kept_parts.len() + changes.len());
        let mut endpoints: Vec<EndpointAddr> = Vec::new();
        // Merge the kept slices and the changed ones, both in name order.
        let mut kept = kept_parts.iter().enumerate().peekable();
        let mut changes = changes.into_iter().peekable();
        loop {
            let take_kept = match (kept.peek(), changes.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((_, part)), Some((changed, _))) => match part.name.cmp(changed) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => {
                        // Replaced (or removed) by the change.
                        kept.next();
                        false
                    }
                },
            };
            if take_kept {
                if let (Some((i, part)), Some(old)) = (kept.next(), old) {
                    let addresses = old.endpoints.get(old.range(i)).unwrap_or(&[]);
                    append(
                        &mut slices,
                        &mut endpoints,
                        part.name.clone(),
                        part.ports.clone(),
                        addresses.to_vec(),
                    );
                }
            } else if let Some((changed, Some(content))) = changes.next() {
                append(
                    &mut slices,
                    &mut endpoints,
                    changed,
                    content.ports,
                    content.endpoints,
                );
            }
        }
        if service.is_none() && slices.is_empty() {
            return None;
        }
        endpoints.shrink_to_fit();
        let mut by_name: Vec<u32> = (0..endpoints.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        by_name.sort_unstable_by(|a, b| {
            let label = |i: &u32| endpoints.get(*i as usize).map_or("", |e| &e.name);
            fold_cmp(label(a), label(b)).then(a.cmp(b))
        });
        Some(Self {
            namespace: namespace.clone(),
            name: name.clone(),
            service,
            endpoints,
            slices,
            by_name,
        })
    }

    /// Where the addresses of slice `index` are in `endpoints`.
    fn range(&self, index: usize) -> std::ops::Range<usize> {
        let end = |i: usize| self.slices.get(i).map_or(0, |s| s.end as usize);
        let start = if index == 0 { 0 } else { end(index - 1) };
        start..end(index).max(start)
    }

    /// The part of the slice named `name`, if the entry has it.
    pub(crate) fn slice(&self, name: &str) -> Option<SliceRef<'_>> {
        let index = self.slices.binary_search_by(|s| (*s.name).cmp(name)).ok()?;
        let part = &self.slices[index];
        Some(SliceRef {
            ports: &part.ports,
            endpoints: self.endpoints.get(self.range(index)).unwrap_or(&[]),
        })
    }

    /// Indices of the addresses whose endpoint label is `label` (lower case).
    pub fn named(&self, label: &str) -> impl ExactSizeIterator<Item = u32> + '_ {
        let label_of = |i: &u32| self.endpoints.get(*i as usize).map_or("", |e| &e.name);
        let start = self
            .by_name
            .partition_point(|i| fold_cmp(label_of(i), label) == Ordering::Less);
        let len = self.by_name[start..]
            .iter()
            .take_while(|i| fold_cmp(label_of(i), label) == Ordering::Equal)
            .count();
        self.by_name[start..start + len].iter().copied()
    }

    /// The ports of the slice an address came from.
    pub fn ports_of(&self, address: &EndpointAddr) -> &[Port] {
        self.slices
            .get(address.slice as usize)
            .map_or(&[], |s| s.ports.as_slice())
    }

    /// The service's cluster IPs (none unless it is a ClusterIP service).
    pub fn cluster_ips(&self) -> &[IpAddr] {
        match self.service.as_ref().map(|s| &s.kind) {
            Some(ServiceKind::ClusterIp(ips)) => ips,
            _ => &[],
        }
    }
}

/// Adds a slice to an entry being built: its part, and its addresses numbered with
/// its index.
fn append(
    slices: &mut Vec<SlicePart>,
    endpoints: &mut Vec<EndpointAddr>,
    name: Arc<str>,
    ports: Vec<Port>,
    mut added: Vec<EndpointAddr>,
) {
    let index = u32::try_from(slices.len()).unwrap_or(u32::MAX);
    for address in &mut added {
        address.slice = index;
    }
    if endpoints.is_empty() {
        // The first slice with addresses: its vector becomes the entry's (most
        // services have one slice).
        *endpoints = added;
    } else {
        endpoints.append(&mut added);
    }
    let end = u32::try_from(endpoints.len()).unwrap_or(u32::MAX);
    slices.push(SlicePart { name, ports, end });
}

/// Compares labels as DNS does (ASCII case folded). Kubernetes writes them in lower
/// case, so this almost never folds anything, but a label is found however it was
/// written.
fn fold_cmp(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// [`dashed`] as a label, written in place for IPv4 (no string is allocated).
fn dashed_label(ip: IpAddr) -> SmolStr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            smol_str::format_smolstr!("{a}-{b}-{c}-{d}")
        }
        IpAddr::V6(_) => SmolStr::from(dashed(ip)),
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
        for ip in [
            "10.11.12.13",
            "255.255.255.255",
            "0.0.0.0",
            "fd00:10:244::a",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(dashed_label(ip), dashed(ip));
        }
    }
}
