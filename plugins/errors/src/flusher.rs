//! The background task that prints consolidated summaries on time.
//!
//! Without it, a window would only be closed by the next error, which may never come.
//! The task is started with the first window, from inside a query (so there is a
//! runtime to start it on), sleeps until the earliest open window is due, and ends
//! once the plugin is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::{Consolidator, Level, Sink};

/// What the plugin and its flusher task share.
pub(crate) struct Shared {
    /// The rules and their open windows.
    pub(crate) state: Mutex<Consolidator>,
    /// Where lines go.
    pub(crate) sink: Sink,
    /// Wakes the task: a new, earlier deadline, or the plugin was dropped.
    pub(crate) wake: Notify,
    /// Set when the plugin is dropped: the task ends.
    pub(crate) stopped: AtomicBool,
    /// Whether the task has been started.
    started: AtomicBool,
}

impl Shared {
    pub(crate) fn new(state: Consolidator, sink: Sink) -> Self {
        Self {
            state: Mutex::new(state),
            sink,
            wake: Notify::new(),
            stopped: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }
    }

    /// Sends summary lines to the sink (outside the state lock: a sink may be slow).
    pub(crate) fn emit(&self, lines: Vec<(Level, String)>) {
        for (level, line) in lines {
            (self.sink)(level, &line);
        }
    }
}

/// Starts the flusher task once, if a tokio runtime is running. Outside one (a test
/// calling the plugin from a plain thread), summaries still come with later errors
/// and when the plugin is dropped.
pub(crate) fn ensure_started(shared: &Arc<Shared>) {
    if shared.started.load(Ordering::Acquire) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if shared.started.swap(true, Ordering::AcqRel) {
        return;
    }
    runtime.spawn(run(Arc::clone(shared)));
}

async fn run(shared: Arc<Shared>) {
    loop {
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let deadline = shared.state.lock().next_deadline();
        match deadline {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    () = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
        if shared.stopped.load(Ordering::Acquire) {
            return;
        }
        let due = shared.state.lock().flush(Instant::now());
        shared.emit(due);
    }
}
