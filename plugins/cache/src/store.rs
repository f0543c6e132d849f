//! The bounded, sharded entry store, and the cache key.
//!
//! Like CoreDNS's `plugin/pkg/cache`, a store is 256 shards, each a map behind its own
//! lock with a fixed number of slots (`capacity / 256`, at least 4), so the store
//! never holds more than `256 × slots` entries whatever the query mix. A lock is held
//! only to look up, insert or remove one entry (never across an `.await`), and
//! entries are `Arc`s, so a hit copies a pointer out and builds its answer unlocked.
//!
//! When a shard is full, an entry is evicted to make room: CoreDNS takes a random one;
//! we look at three random slots and evict the one that expires first, which costs the
//! same and tends to keep the long-lived entries.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::rr::{DNSClass, Name, RecordType};
use parking_lot::Mutex;

use crate::config::SHARDS;
use crate::item::Item;

/// How many random slots are compared when choosing an entry to evict.
const EVICTION_SAMPLES: usize = 3;

/// What an entry is stored under: a hash of the lower-cased question name, the type,
/// the class and the DO and CD bits of the query (CVE-2024-0874: an answer fetched
/// with CD=1 must never be served to a CD=0 client). The hash is seeded per process,
/// so collisions cannot be chosen from outside; each entry also keeps its question,
/// which a hit compares, so a collision is a miss, never a wrong answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub u64);

/// Builds [`Key`]s. One per cache instance.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyHasher {
    state: foldhash::fast::RandomState,
}

impl KeyHasher {
    /// The key of a question. No allocation: the name is lower-cased into a buffer on
    /// the stack (a name is at most 255 bytes on the wire).
    pub fn key(
        &self,
        qname: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Key {
        let mut buf = [0u8; 256];
        let mut len = 0;
        for label in qname.iter() {
            let end = len + 1 + label.len();
            if end > buf.len() {
                break;
            }
            // A label is at most 63 bytes.
            buf[len] = u8::try_from(label.len()).unwrap_or(u8::MAX);
            buf[len + 1..end].copy_from_slice(label);
            buf[len + 1..end].make_ascii_lowercase();
            len = end;
        }
        let mut hasher = self.state.build_hasher();
        hasher.write(&buf[..len]);
        hasher.write_u16(u16::from(qtype));
        hasher.write_u16(u16::from(qclass));
        hasher.write_u8(u8::from(dnssec_ok) | (u8::from(checking_disabled) << 1));
        Key(hasher.finish())
    }
}

impl KeyHasher {
    /// [`key`](Self::key) of a question name given in lower-case wire format (as the
    /// wire path has it); hashes the same bytes, so both paths find the same entries.
    pub fn key_wire(
        &self,
        lower_name: &[u8],
        qtype: RecordType,
        qclass: DNSClass,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Key {
        // `key` hashes the labels without the root label's zero byte.
        let labels = lower_name.strip_suffix(&[0]).unwrap_or(lower_name);
        let mut hasher = self.state.build_hasher();
        hasher.write(labels);
        hasher.write_u16(u16::from(qtype));
        hasher.write_u16(u16::from(qclass));
        hasher.write_u8(u8::from(dnssec_ok) | (u8::from(checking_disabled) << 1));
        Key(hasher.finish())
    }
}

/// One slot of a shard.
struct Slot {
    key: Key,
    item: Arc<Item>,
}

/// A map with a fixed number of slots: entries live in a vector (so a random one can
/// be picked in O(1)), indexed by key.
struct Shard {
    slots: Vec<Slot>,
    index: HashMap<Key, usize, foldhash::fast::FixedState>,
    /// xorshift state for choosing eviction candidates.
    rng: u64,
}

impl Shard {
    fn new(seed: u64) -> Self {
        Self {
            slots: Vec::new(),
            index: HashMap::default(),
            rng: seed | 1,
        }
    }

    fn random(&mut self, below: usize) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // `below` is a slot count, far below u32::MAX.
        usize::try_from(x % u64::try_from(below).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    fn remove_at(&mut self, position: usize) -> Slot {
        let slot = self.slots.swap_remove(position);
        self.index.remove(&slot.key);
        if let Some(moved) = self.slots.get(position) {
            self.index.insert(moved.key, position);
        }
        slot
    }

    /// Evicts one entry: of a few random ones, the one that expires first.
    fn evict(&mut self) {
        let count = self.slots.len();
        if count == 0 {
            return;
        }
        let mut victim = self.random(count);
        for _ in 1..EVICTION_SAMPLES {
            let candidate = self.random(count);
            if self.slots[candidate].item.expires() < self.slots[victim].item.expires() {
                victim = candidate;
            }
        }
        self.remove_at(victim);
    }
}

/// A bounded store of entries: the success or the denial cache.
pub(crate) struct Store {
    shards: Box<[Mutex<Shard>]>,
    shard_capacity: usize,
    len: AtomicUsize,
}

impl Store {
    /// A store of [`SHARDS`] shards of `shard_capacity` entries each.
    pub fn new(shard_capacity: usize) -> Self {
        let seeds = foldhash::fast::RandomState::default();
        let shards = (0..SHARDS)
            .map(|i| Mutex::new(Shard::new(seeds.hash_one(i))))
            .collect();
        Self {
            shards,
            shard_capacity: shard_capacity.max(1),
            len: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: Key) -> &Mutex<Shard> {
        // The low bits pick the shard, as in CoreDNS; the map inside rehashes.
        let index =
            usize::try_from(key.0 % u64::try_from(self.shards.len()).unwrap_or(1)).unwrap_or(0);
        &self.shards[index]
    }

    /// The entry stored under `key`, if any.
    pub fn get(&self, key: Key) -> Option<Arc<Item>> {
        let shard = self.shard(key).lock();
        let position = *shard.index.get(&key)?;
        shard.slots.get(position).map(|slot| slot.item.clone())
    }

    /// Stores `item` under `key`, replacing what was there. Returns whether another
    /// entry had to be evicted to make room.
    pub fn insert(&self, key: Key, item: Arc<Item>) -> bool {
        let mut shard = self.shard(key).lock();
        if let Some(&position) = shard.index.get(&key) {
            shard.slots[position].item = item;
            return false;
        }
        let mut evicted = false;
        if shard.slots.len() >= self.shard_capacity {
            shard.evict();
            evicted = true;
        } else {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        let position = shard.slots.len();
        shard.slots.push(Slot { key, item });
        shard.index.insert(key, position);
        evicted
    }

    /// Removes the entry under `key`, but only if it is still `item` (a concurrent
    /// query may have replaced it with a fresh one meanwhile).
    pub fn remove_if_same(&self, key: Key, item: &Arc<Item>) {
        let mut shard = self.shard(key).lock();
        if let Some(&position) = shard.index.get(&key)
            && Arc::ptr_eq(&shard.slots[position].item, item)
        {
            shard.remove_at(position);
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes the entry under `key`, whatever it is.
    pub fn remove(&self, key: Key) {
        let mut shard = self.shard(key).lock();
        if let Some(&position) = shard.index.get(&key) {
            shard.remove_at(position);
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// The most entries the store ever holds.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.shard_capacity * self.shards.len()
    }

    /// Counts the entries shard by shard (tests check it against [`Store::len`]).
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.lock();
                assert_eq!(shard.slots.len(), shard.index.len());
                assert!(shard.slots.len() <= self.shard_capacity);
                shard.slots.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::tests::item_for;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn key_folds_case_and_separates_type_class_do_and_cd() {
        let keys = KeyHasher::default();
        let key = |n: &str, t, d, c| keys.key(&name(n), t, DNSClass::IN, d, c);
        let base = key("www.example.org.", RecordType::A, false, false);
        assert_eq!(base, key("WwW.ExAmPlE.oRg.", RecordType::A, false, false));
        assert_ne!(
            base,
            key("www.example.org.", RecordType::AAAA, false, false)
        );
        assert_ne!(base, key("www.example.org.", RecordType::A, true, false));
        assert_ne!(base, key("www.example.org.", RecordType::A, false, true));
        assert_ne!(
            key("www.example.org.", RecordType::A, true, false),
            key("www.example.org.", RecordType::A, false, true)
        );
        assert_ne!(base, key("www.example.net.", RecordType::A, false, false));
        assert_ne!(
            base,
            keys.key(
                &name("www.example.org."),
                RecordType::A,
                DNSClass::CH,
                false,
                false
            )
        );
        // Label boundaries count: "ab.c" is not "a.bc".
        assert_ne!(
            key("ab.c.", RecordType::A, false, false),
            key("a.bc.", RecordType::A, false, false)
        );
    }

    #[test]
    fn insert_get_replace_remove() {
        let store = Store::new(4);
        let keys = KeyHasher::default();
        let k = keys.key(
            &name("a.example."),
            RecordType::A,
            DNSClass::IN,
            false,
            false,
        );
        assert!(store.get(k).is_none());
        let first = item_for("a.example.", 30);
        assert!(!store.insert(k, first.clone()));
        assert!(Arc::ptr_eq(&store.get(k).unwrap(), &first));
        let second = item_for("a.example.", 60);
        assert!(!store.insert(k, second.clone()));
        assert_eq!(store.len(), 1);
        store.remove_if_same(k, &first);
        assert_eq!(store.len(), 1, "a replaced entry is not removed");
        store.remove_if_same(k, &second);
        assert_eq!(store.len(), 0);
        assert!(store.get(k).is_none());
        store.insert(k, first);
        store.remove(k);
        assert_eq!(store.len(), 0);
        assert_eq!(store.count(), 0);
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let store = Store::new(39);
        assert_eq!(store.capacity(), 9984);
        let keys = KeyHasher::default();
        let item = item_for("x.example.", 30);
        let mut evictions = 0;
        for i in 0..100_000 {
            let qname = name(&format!("host-{i}.example."));
            let k = keys.key(&qname, RecordType::A, DNSClass::IN, false, false);
            if store.insert(k, item.clone()) {
                evictions += 1;
            }
            assert!(store.len() <= store.capacity());
        }
        assert_eq!(store.len(), store.count());
        assert!(store.len() <= 9984);
        // Hashing spreads 100,000 names over every shard: the store is full.
        assert_eq!(store.len(), 9984);
        assert_eq!(evictions, 100_000 - 9984);
    }

    #[test]
    fn eviction_prefers_entries_that_expire_first() {
        // One shard of 4 slots, filled with entries of long TTLs and one short one:
        // over many rounds, the short one is evicted more often than chance.
        let mut short_evicted = 0;
        for round in 0..200u64 {
            let mut shard = Shard::new(round * 7919 + 1);
            for (i, ttl) in [3600, 3600, 5, 3600].into_iter().enumerate() {
                shard.slots.push(Slot {
                    key: Key(i as u64),
                    item: item_for("x.example.", ttl),
                });
                shard.index.insert(Key(i as u64), i);
            }
            shard.evict();
            if !shard.index.contains_key(&Key(2)) {
                short_evicted += 1;
            }
            assert_eq!(shard.slots.len(), 3);
            for (position, slot) in shard.slots.iter().enumerate() {
                assert_eq!(shard.index[&slot.key], position);
            }
        }
        // Chance alone would be 25%; three samples make it about 58%.
        assert!(short_evicted > 80, "{short_evicted}");
    }
}
