//! The order in which a query tries the upstreams.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::seq::SliceRandom;

/// How upstreams are picked, as `policy` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// A fresh random order for every query (the default).
    Random,
    /// Each query starts one upstream further; the rest follow in Corefile order.
    RoundRobin,
    /// Always the Corefile order.
    Sequential,
}

impl Policy {
    /// Reads a policy name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "random" => Some(Self::Random),
            "round_robin" => Some(Self::RoundRobin),
            "sequential" => Some(Self::Sequential),
            _ => None,
        }
    }
}

/// A policy with its state (the round-robin counter).
#[derive(Debug)]
pub(crate) struct Selector {
    policy: Policy,
    robin: AtomicUsize,
}

impl Selector {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            robin: AtomicUsize::new(0),
        }
    }

    /// The indexes of `count` upstreams in the order this query tries them.
    ///
    /// As in CoreDNS, round robin moves the chosen upstream to the front and keeps the
    /// others in Corefile order: the first query starts with the second upstream.
    pub fn order(&self, count: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..count).collect();
        if count < 2 {
            return order;
        }
        match self.policy {
            Policy::Sequential => {}
            Policy::Random => order.shuffle(&mut rand::rng()),
            Policy::RoundRobin => {
                let first = self.robin.fetch_add(1, Ordering::Relaxed).wrapping_add(1) % count;
                order.remove(first);
                order.insert(0, first);
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keeps_the_corefile_order() {
        let selector = Selector::new(Policy::Sequential);
        for _ in 0..3 {
            assert_eq!(selector.order(3), [0, 1, 2]);
        }
    }

    #[test]
    fn round_robin_rotates_the_first_and_keeps_the_rest_in_order() {
        let selector = Selector::new(Policy::RoundRobin);
        assert_eq!(selector.order(3), [1, 0, 2]);
        assert_eq!(selector.order(3), [2, 0, 1]);
        assert_eq!(selector.order(3), [0, 1, 2]);
        assert_eq!(selector.order(3), [1, 0, 2]);
        assert_eq!(selector.order(1), [0]);
    }

    #[test]
    fn random_is_a_permutation_and_varies() {
        let selector = Selector::new(Policy::Random);
        let mut firsts = [0usize; 3];
        for _ in 0..300 {
            let mut order = selector.order(3);
            firsts[order[0]] += 1;
            order.sort_unstable();
            assert_eq!(order, [0, 1, 2]);
        }
        // Each upstream comes first about 100 times; 30 leaves a wide margin.
        assert!(firsts.iter().all(|n| *n > 30), "{firsts:?}");
        assert!(selector.order(0).is_empty());
    }
}
