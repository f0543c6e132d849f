//! Test hooks that act on requests rather than on stored state: injected
//! failures (`fail_next`, and sustained [`Fault`]s per kind and verb), the
//! "down" switch (connections refused) and the log of received requests.
//!
//! They sit in an HTTP middleware in front of every Kubernetes API route;
//! the `/_test/` admin routes are exempt so scripts can always steer the server.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::kind::Kind;

/// Which requests a [`Fault`] hits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verb {
    /// Lists and watches.
    #[default]
    Any,
    /// Lists (and gets) only.
    List,
    /// Watches only.
    Watch,
}

/// A sustained failure: every matching API request is delayed by `delay`, then
/// answered with `code` (and a `Retry-After` header if set), until the fault is
/// cleared. `code` 0 only delays (a slow API server).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    /// The HTTP status to answer with; 0 to answer normally after the delay.
    pub code: u16,
    /// The kind it hits; `None` for every kind.
    pub kind: Option<Kind>,
    /// The requests it hits.
    pub verb: Verb,
    /// Seconds sent in `Retry-After`.
    pub retry_after: Option<u32>,
    /// How long to wait before answering.
    pub delay: Duration,
}

/// One received API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// Its path and query.
    pub path_and_query: String,
}

/// Pending injected failures and the request log.
pub(crate) struct Hooks {
    fail: Mutex<Option<(u32, u16)>>,
    faults: Mutex<Vec<Fault>>,
    down: watch::Sender<bool>,
    requests: Mutex<VecDeque<Received>>,
    request_capacity: usize,
}

impl Hooks {
    pub fn new(request_capacity: usize) -> Self {
        Hooks {
            fail: Mutex::new(None),
            faults: Mutex::new(Vec::new()),
            down: watch::Sender::new(false),
            requests: Mutex::new(VecDeque::new()),
            request_capacity,
        }
    }

    /// Adds a sustained fault (checked in the order added; the first match wins).
    pub fn add_fault(&self, fault: Fault) {
        let mut faults = self.faults.lock();
        if faults.len() < 64 {
            faults.push(fault);
        }
    }

    /// Removes every sustained fault.
    pub fn clear_faults(&self) {
        self.faults.lock().clear();
    }

    /// The fault a request for `kind` (if the path names one) hits, if any.
    pub fn fault_for(&self, kind: Option<Kind>, watch: bool) -> Option<Fault> {
        self.faults
            .lock()
            .iter()
            .find(|f| {
                f.kind.is_none_or(|k| Some(k) == kind)
                    && match f.verb {
                        Verb::Any => true,
                        Verb::List => !watch,
                        Verb::Watch => watch,
                    }
            })
            .cloned()
    }

    /// Takes the server down (connections refused) or brings it back up.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }

    /// Follows the down switch.
    pub fn down(&self) -> watch::Receiver<bool> {
        self.down.subscribe()
    }

    /// Makes the next `n` requests fail with `code`.
    pub fn fail_next(&self, n: u32, code: u16) {
        *self.fail.lock() = (n > 0).then_some((n, code));
    }

    /// Consumes one injected failure, if any is pending.
    pub fn take_failure(&self) -> Option<u16> {
        let mut fail = self.fail.lock();
        let (n, code) = (*fail)?;
        *fail = (n > 1).then_some((n - 1, code));
        Some(code)
    }

    pub fn record(&self, path_and_query: String) {
        if self.request_capacity == 0 {
            return;
        }
        let mut requests = self.requests.lock();
        if requests.len() >= self.request_capacity {
            requests.pop_front();
        }
        requests.push_back(Received {
            at: Instant::now(),
            path_and_query,
        });
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .iter()
            .map(|r| r.path_and_query.clone())
            .collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.requests.lock().iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.requests.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_down() {
        let hooks = Hooks::new(2);
        hooks.fail_next(2, 503);
        assert_eq!(hooks.take_failure(), Some(503));
        assert_eq!(hooks.take_failure(), Some(503));
        assert_eq!(hooks.take_failure(), None);
        hooks.record("a".into());
        hooks.record("b".into());
        hooks.record("c".into());
        assert_eq!(hooks.requests(), ["b", "c"]);
    }

    #[test]
    fn faults_match_kind_and_verb() {
        let hooks = Hooks::new(0);
        hooks.add_fault(Fault {
            code: 403,
            kind: Some(Kind::Pod),
            verb: Verb::List,
            ..Fault::default()
        });
        hooks.add_fault(Fault {
            code: 500,
            verb: Verb::Watch,
            ..Fault::default()
        });
        assert_eq!(hooks.fault_for(Some(Kind::Pod), false).unwrap().code, 403);
        assert_eq!(hooks.fault_for(Some(Kind::Pod), true).unwrap().code, 500);
        assert!(hooks.fault_for(Some(Kind::Service), false).is_none());
        assert_eq!(hooks.fault_for(None, true).unwrap().code, 500);
        hooks.clear_faults();
        assert!(hooks.fault_for(Some(Kind::Pod), false).is_none());
    }
}
