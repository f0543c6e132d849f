//! Test hooks that act on requests rather than on stored state: injected
//! failures (`fail_next`) and the log of received requests.
//!
//! Both sit in an HTTP middleware in front of every Kubernetes API route;
//! the `/_test/` admin routes are exempt so scripts can always steer the server.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Pending injected failures and the request log.
pub(crate) struct Hooks {
    fail: Mutex<Option<(u32, u16)>>,
    requests: Mutex<VecDeque<String>>,
    request_capacity: usize,
}

impl Hooks {
    pub fn new(request_capacity: usize) -> Self {
        Hooks {
            fail: Mutex::new(None),
            requests: Mutex::new(VecDeque::new()),
            request_capacity,
        }
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
        requests.push_back(path_and_query);
    }

    pub fn requests(&self) -> Vec<String> {
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
}
