//! The log of one kind's failures, written for an operator: the first failure of an
//! outage is one WARN naming the kind, the URL and what went wrong; while it lasts, a
//! WARN at most every [`SUMMARY_INTERVAL`] counts the failed requests; the first
//! answer after it is one INFO with the outage's length.

use std::time::Duration;

use tokio::time::Instant;

use crate::object::Kind;

/// The shortest time between two summaries of one outage.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(30);

/// What the log says next (returned for the tests; [`Outage`] logs it itself).
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// The first failure of an outage.
    Started,
    /// `failures` more failures since the last line.
    StillFailing { failures: u64 },
    /// The outage is over after `lasted`, with `failures` failed requests in all.
    Recovered { lasted: Duration, failures: u64 },
}

/// One kind's outage, if it has one.
#[derive(Debug)]
pub struct Outage {
    kind: Kind,
    url: String,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    since: Instant,
    failures: u64,
    unreported: u64,
    last_line: Instant,
}

impl Outage {
    /// No outage yet, for `kind` at `url`.
    pub fn new(kind: Kind, url: String) -> Self {
        Self {
            kind,
            url,
            current: None,
        }
    }

    /// Whether the kind is failing.
    #[cfg(test)]
    pub fn failing(&self) -> bool {
        self.current.is_some()
    }

    /// A request failed with `error` at `now`; logs and returns what is due.
    pub fn failed(&mut self, now: Instant, error: &dyn std::fmt::Display) -> Option<Line> {
        let line = match &mut self.current {
            None => {
                self.current = Some(Current {
                    since: now,
                    failures: 1,
                    unreported: 0,
                    last_line: now,
                });
                Line::Started
            }
            Some(current) => {
                current.failures += 1;
                current.unreported += 1;
                if now.saturating_duration_since(current.last_line) < SUMMARY_INTERVAL {
                    return None;
                }
                current.last_line = now;
                Line::StillFailing {
                    failures: std::mem::take(&mut current.unreported),
                }
            }
        };
        match &line {
            Line::Started => tracing::warn!(
                kind = %self.kind,
                url = %self.url,
                %error,
                "kubernetes: API request failed; answering from the last synced state and retrying with backoff"
            ),
            Line::StillFailing { failures } => tracing::warn!(
                kind = %self.kind,
                url = %self.url,
                failures,
                last_error = %error,
                "kubernetes: API requests still failing"
            ),
            Line::Recovered { .. } => {}
        }
        Some(line)
    }

    /// A request was answered at `now`: ends the outage, if there was one (logged).
    pub fn answered(&mut self, now: Instant) -> Option<Line> {
        let current = self.current.take()?;
        let lasted = now.saturating_duration_since(current.since);
        tracing::info!(
            kind = %self.kind,
            url = %self.url,
            outage = ?Duration::from_millis(u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX)),
            failures = current.failures,
            "kubernetes: API answers again"
        );
        Some(Line::Recovered {
            lasted,
            failures: current.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_to_start_a_summary_every_30s_and_one_to_end() {
        let mut outage = Outage::new(Kind::Service, "http://api/api/v1/services".into());
        let start = Instant::now();
        let error = "HTTP 500";
        assert_eq!(outage.failed(start, &error), Some(Line::Started));
        // A failure a second for 29 s: silent.
        for s in 1..30 {
            assert_eq!(outage.failed(start + Duration::from_secs(s), &error), None);
        }
        assert_eq!(
            outage.failed(start + Duration::from_secs(30), &error),
            Some(Line::StillFailing { failures: 30 })
        );
        assert_eq!(outage.failed(start + Duration::from_secs(31), &error), None);
        assert_eq!(
            outage.answered(start + Duration::from_secs(45)),
            Some(Line::Recovered {
                lasted: Duration::from_secs(45),
                failures: 32
            })
        );
        assert_eq!(outage.answered(start + Duration::from_secs(46)), None);
        assert!(!outage.failing());
    }
}
