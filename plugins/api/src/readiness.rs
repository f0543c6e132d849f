//! Process-wide readiness, as `/ready` reports it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use crate::Plugin;

/// The plugins whose readiness `/ready` reports, and whether the process is shutting
/// down (lameduck: still answering, but no longer ready).
///
/// The server replaces the plugin list whenever it builds a chain (at start and on
/// reload), so `/ready` always reflects the chains in service.
#[derive(Default)]
pub struct Readiness {
    plugins: RwLock<Vec<Arc<dyn Plugin>>>,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("plugins", &self.plugins.read().len())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl Readiness {
    /// A fresh state: no plugins, not shutting down.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces the plugins to watch.
    pub fn set_plugins(&self, plugins: Vec<Arc<dyn Plugin>>) {
        *self.plugins.write() = plugins;
    }

    /// Names of the plugins that are not ready, sorted and without repeats.
    pub fn not_ready(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .plugins
            .read()
            .iter()
            .filter(|p| !p.ready())
            .map(|p| p.name())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Marks the process as shutting down: `/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether SIGTERM has been received.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
