//! The retry schedule of one kind: client-go's reflector backoff, with the jitter
//! kept inside the cap.
//!
//! The nominal wait after the n-th failure in a row is `initial × 2ⁿ⁻¹`, at most
//! `cap`: 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30... seconds. Each actual wait is drawn
//! uniformly from the upper half of the nominal one, `[nominal / 2, nominal]`: the
//! nominal schedule is an upper bound that is never exceeded (a wait never passes the
//! cap, where a jitter added on top would reach twice the cap), while replicas that
//! failed together still spread their retries, at the cap as well.
//!
//! A failure that comes more than `reset_after` after the one before starts the
//! schedule over, as client-go's backoff manager does after two minutes of health.

use std::time::Duration;

use tokio::time::Instant;

/// The shape of a schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// The nominal wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// How long without a failure restarts the schedule.
    pub reset_after: Duration,
}

impl Schedule {
    /// client-go's reflector: 0.8 s doubling to 30 s, reset after 2 minutes of health.
    pub const CLIENT_GO: Schedule = Schedule {
        initial: Duration::from_millis(800),
        cap: Duration::from_secs(30),
        reset_after: Duration::from_secs(120),
    };

    /// The nominal (longest) wait after `failures` failures in a row (at least 1).
    pub fn nominal(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .map_or(self.cap, |wait| wait.min(self.cap))
    }

    /// The wait after `failures` failures in a row, for a uniform draw `unit` in
    /// `[0, 1]`: within `[nominal / 2, nominal]`, so never above the cap.
    pub fn jittered(&self, failures: u32, unit: f64) -> Duration {
        let nominal = self.nominal(failures);
        nominal.mul_f64(1.0 - 0.5 * unit.clamp(0.0, 1.0))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::CLIENT_GO
    }
}

/// Where one kind is in its schedule.
#[derive(Debug)]
pub struct Backoff {
    schedule: Schedule,
    failures: u32,
    last_failure: Option<Instant>,
}

impl Backoff {
    /// A fresh schedule.
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            failures: 0,
            last_failure: None,
        }
    }

    /// Records a failure at `now`; returns how long to wait before the next try.
    pub fn fail(&mut self, now: Instant) -> Duration {
        let healthy_since = self
            .last_failure
            .is_none_or(|last| now.saturating_duration_since(last) > self.schedule.reset_after);
        if healthy_since {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last_failure = Some(now);
        self.schedule.jittered(self.failures, rand::random::<f64>())
    }

    /// Failures in a row so far (since the last reset).
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_schedule_doubles_from_800ms_to_a_30s_cap() {
        let schedule = Schedule::CLIENT_GO;
        let nominal: Vec<f64> = (1..=9).map(|n| schedule.nominal(n).as_secs_f64()).collect();
        let want = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0];
        for (got, want) in nominal.iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{nominal:?}");
        }
        assert_eq!(schedule.nominal(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_inside_the_nominal_wait_and_the_cap() {
        let schedule = Schedule::CLIENT_GO;
        for failures in 1..=40 {
            let nominal = schedule.nominal(failures);
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0] {
                let wait = schedule.jittered(failures, unit);
                assert!(wait <= nominal && wait <= schedule.cap, "{failures} {unit}");
                assert!(wait >= nominal / 2, "{failures} {unit}");
            }
        }
        // Random draws too: never above the cap, however many failures.
        let mut backoff = Backoff::new(schedule);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(backoff.fail(now) <= Duration::from_secs(30));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_healthy_period_restarts_the_schedule() {
        let mut backoff = Backoff::new(Schedule::CLIENT_GO);
        let start = Instant::now();
        for n in 1..=6 {
            let wait = backoff.fail(start);
            assert!(wait <= Schedule::CLIENT_GO.nominal(n));
        }
        assert_eq!(backoff.failures(), 6);
        // Within two minutes of the last failure: the schedule goes on.
        backoff.fail(start + Duration::from_secs(100));
        assert_eq!(backoff.failures(), 7);
        // More than two minutes without one: it starts over at 0.8 s.
        let wait = backoff.fail(start + Duration::from_secs(100 + 121));
        assert_eq!(backoff.failures(), 1);
        assert!(wait <= Duration::from_millis(800), "{wait:?}");
    }
}
