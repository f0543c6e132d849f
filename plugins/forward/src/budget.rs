//! A per-upstream rate budget (`upstream_rate`): at most so many queries a second to
//! each upstream, bursts up to one second's worth.
//!
//! Cloud resolvers drop what exceeds their limit (AWS: 1,024 packets/s per network
//! interface), and a node's pods share it: one pod's storm of distinct names would make
//! every pod's external names fail there. Over its budget an upstream is not asked; the
//! query tries the next upstream, and fails (SERVFAIL, at once) when none has budget
//! left, which a stub resolver retries. Such a refusal is not a failure of the upstream:
//! it does not count towards `max_fails`.

use std::time::Instant;

use parking_lot::Mutex;

/// A token bucket of `per_second` tokens a second, holding at most `per_second`.
#[derive(Debug)]
pub(crate) struct RateBudget {
    per_second: u32,
    state: Mutex<(f64, Instant)>,
}

impl RateBudget {
    /// A full bucket.
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new((f64::from(per_second), Instant::now())),
        }
    }

    /// The budget, in queries a second.
    pub(crate) fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes one query from the budget; `false` when it is spent.
    pub(crate) fn try_take(&self) -> bool {
        let mut state = self.state.lock();
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        let rate = f64::from(self.per_second);
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_worth_then_refills() {
        let budget = RateBudget::new(10);
        let taken = (0..50).filter(|_| budget.try_take()).count();
        assert!((10..=11).contains(&taken), "{taken}");
        std::thread::sleep(std::time::Duration::from_millis(250));
        let refilled = (0..50).filter(|_| budget.try_take()).count();
        assert!((2..=4).contains(&refilled), "{refilled}");
    }
}
