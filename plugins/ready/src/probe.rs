//! The `/ready` handler's state: which readiness to report, and the until-ready latch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use clusterdns_api::{HttpReply, Readiness};

/// How `/ready` watches the plugins after they were all ready once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Once every plugin was ready, report ready until shutdown (the default). A
    /// plugin that loses its data source later (an API server outage, say) keeps
    /// answering from what it has; taking every replica out of the Service for it
    /// would turn a partial outage into a full one.
    UntilReady,
    /// Ask the plugins on every request.
    Continuously,
}

/// Answers `/ready` requests.
#[derive(Debug)]
pub(crate) struct ReadyProbe {
    readiness: Arc<Readiness>,
    monitor: Monitor,
    /// Set the first time every plugin was ready, in `UntilReady` mode.
    latched: AtomicBool,
    /// The not-ready plugins last logged (empty: ready). A kubelet probes every few
    /// seconds, so the state is logged when it changes, not on every probe.
    logged: Mutex<Vec<&'static str>>,
}

impl ReadyProbe {
    pub fn new(readiness: Arc<Readiness>, monitor: Monitor) -> Self {
        Self {
            readiness,
            monitor,
            latched: AtomicBool::new(false),
            logged: Mutex::new(Vec::new()),
        }
    }

    /// 200 `OK` when ready; 503 with the not-ready plugins, one per line, when not; and
    /// 503 `shutting down` once shutdown began, whatever the mode.
    pub fn reply(&self) -> HttpReply {
        if self.readiness.is_shutting_down() {
            return HttpReply::text(503, "shutting down");
        }
        if self.latched.load(Ordering::Acquire) {
            return ok();
        }
        let not_ready = self.readiness.not_ready();
        self.log_change(&not_ready);
        if not_ready.is_empty() {
            if self.monitor == Monitor::UntilReady {
                self.latched.store(true, Ordering::Release);
            }
            return ok();
        }
        HttpReply::text(503, not_ready.join("\n"))
    }

    /// Logs the not-ready plugins when they differ from the last answer's; whether it
    /// logged.
    fn log_change(&self, not_ready: &[&'static str]) -> bool {
        let mut logged = self.logged.lock();
        if logged.as_slice() == not_ready {
            return false;
        }
        if not_ready.is_empty() {
            tracing::info!("ready: every plugin is ready");
        } else {
            tracing::info!(plugins = ?not_ready, "ready: plugins not ready");
        }
        *logged = not_ready.to_vec();
        true
    }
}

fn ok() -> HttpReply {
    HttpReply::text(200, "OK")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use clusterdns_api::{BoxFuture, Ctx, Next, Plugin, PluginError, Response};

    use super::*;

    /// A plugin whose readiness the test sets.
    struct Flaky {
        name: &'static str,
        ready: AtomicBool,
    }

    impl Flaky {
        fn new(name: &'static str, ready: bool) -> Arc<Self> {
            Arc::new(Self {
                name,
                ready: AtomicBool::new(ready),
            })
        }

        fn set(&self, ready: bool) {
            self.ready.store(ready, Ordering::SeqCst);
        }
    }

    impl Plugin for Flaky {
        fn name(&self) -> &'static str {
            self.name
        }

        fn serve<'a>(
            &'a self,
            ctx: &'a mut Ctx,
            next: Next<'a>,
        ) -> BoxFuture<'a, Result<Response, PluginError>> {
            next.run(ctx)
        }

        fn ready(&self) -> bool {
            self.ready.load(Ordering::SeqCst)
        }
    }

    fn world(monitor: Monitor) -> (Arc<Readiness>, Arc<Flaky>, Arc<Flaky>, ReadyProbe) {
        let readiness = Readiness::new();
        let kubernetes = Flaky::new("kubernetes", false);
        let hosts = Flaky::new("hosts", false);
        readiness.set_plugins(vec![
            kubernetes.clone(),
            hosts.clone(),
            Flaky::new("whoami", true),
        ]);
        let probe = ReadyProbe::new(readiness.clone(), monitor);
        (readiness, kubernetes, hosts, probe)
    }

    fn status(probe: &ReadyProbe) -> (u16, String) {
        let reply = probe.reply();
        (reply.status, reply.body)
    }

    #[test]
    fn lists_not_ready_plugins_one_per_line() {
        let (_, kubernetes, hosts, probe) = world(Monitor::UntilReady);
        assert_eq!(status(&probe), (503, "hosts\nkubernetes".to_owned()));
        hosts.set(true);
        assert_eq!(status(&probe), (503, "kubernetes".to_owned()));
        kubernetes.set(true);
        assert_eq!(status(&probe), (200, "OK".to_owned()));
    }

    #[test]
    fn until_ready_latches_but_not_through_shutdown() {
        let (readiness, kubernetes, hosts, probe) = world(Monitor::UntilReady);
        kubernetes.set(true);
        hosts.set(true);
        assert_eq!(status(&probe).0, 200);
        kubernetes.set(false);
        assert_eq!(status(&probe), (200, "OK".to_owned()));
        readiness.begin_shutdown();
        assert_eq!(status(&probe), (503, "shutting down".to_owned()));
    }

    #[test]
    fn continuously_reports_every_change() {
        let (readiness, kubernetes, hosts, probe) = world(Monitor::Continuously);
        kubernetes.set(true);
        hosts.set(true);
        assert_eq!(status(&probe).0, 200);
        kubernetes.set(false);
        assert_eq!(status(&probe), (503, "kubernetes".to_owned()));
        kubernetes.set(true);
        assert_eq!(status(&probe).0, 200);
        readiness.begin_shutdown();
        assert_eq!(status(&probe), (503, "shutting down".to_owned()));
    }

    #[test]
    fn a_state_is_logged_once_not_on_every_probe() {
        let (_, kubernetes, hosts, probe) = world(Monitor::Continuously);
        assert!(probe.log_change(&["hosts", "kubernetes"]));
        assert!(!probe.log_change(&["hosts", "kubernetes"]));
        hosts.set(true);
        kubernetes.set(true);
        assert!(probe.log_change(&[]), "the transition to ready is logged");
        assert!(!probe.log_change(&[]));
        for _ in 0..3 {
            assert_eq!(status(&probe).0, 200);
        }
        kubernetes.set(false);
        assert_eq!(status(&probe).0, 503);
        assert!(
            !probe.log_change(&["kubernetes"]),
            "the probe itself logged the change"
        );
    }

    #[test]
    fn no_plugins_is_ready() {
        let probe = ReadyProbe::new(Readiness::new(), Monitor::Continuously);
        assert_eq!(status(&probe), (200, "OK".to_owned()));
    }
}
