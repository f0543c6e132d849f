//! The endpoint controller: what the kubelet, the EndpointSlice controller and
//! kube-proxy do together, in one thread in the node's namespace.
//!
//! Every `period` it GETs each replica's `/ready` (with the probe's timeout); a replica
//! enters the Service after one success and leaves it after `failure_threshold` failures
//! in a row, or at once when it is marked terminating (the pod is being deleted). The
//! service chain is rewritten on every change, and, with `cleanup`, the UDP conntrack
//! entries of a removed replica are deleted, as kube-proxy does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::lab::{Network, slot_ip};

/// The readiness probe's settings (from deploy/base/deployment.yaml).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

#[derive(Debug)]
struct Endpoint {
    slot: u8,
    ready: bool,
    failures: u32,
    terminating: bool,
    /// Kept in the Service whatever its probe says (an in-place restart: the pod stays).
    pinned: bool,
}

struct State {
    endpoints: Vec<Endpoint>,
    in_service: Vec<u8>,
    events: Vec<(f64, String)>,
}

/// The running controller.
pub struct Controller {
    state: Arc<Mutex<State>>,
    net: Arc<Network>,
    cleanup: bool,
    started: Instant,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Controller {
    pub fn start(net: Arc<Network>, probe: Probe, cleanup: bool, started: Instant) -> Self {
        let state = Arc::new(Mutex::new(State {
            endpoints: Vec::new(),
            in_service: Vec::new(),
            events: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, net, stop) = (state.clone(), net.clone(), stop.clone());
            std::thread::spawn(move || {
                super::lab::enter(&net.node).expect("enter the node's namespace");
                while !stop.load(Ordering::Relaxed) {
                    let round = Instant::now();
                    let slots: Vec<u8> = state
                        .lock()
                        .endpoints
                        .iter()
                        .filter(|e| !e.terminating)
                        .map(|e| e.slot)
                        .collect();
                    let results: Vec<(u8, bool)> = std::thread::scope(|scope| {
                        let probes: Vec<_> = slots
                            .iter()
                            .map(|slot| {
                                let node = net.node.clone();
                                let slot = *slot;
                                scope.spawn(move || {
                                    super::lab::enter(&node).expect("enter the node");
                                    (slot, ready(slot, probe.timeout))
                                })
                            })
                            .collect();
                        probes.into_iter().filter_map(|p| p.join().ok()).collect()
                    });
                    {
                        let mut state_events = Vec::new();
                        let mut state = state.lock();
                        for (slot, ok) in results {
                            if let Some(e) = state.endpoints.iter_mut().find(|e| e.slot == slot) {
                                if ok {
                                    e.failures = 0;
                                    e.ready = true;
                                } else {
                                    e.failures += 1;
                                    let at = started.elapsed().as_secs_f64();
                                    let what = format!("replica {slot}: probe failed");
                                    state_events.push((at, what));
                                    if e.failures >= probe.failure_threshold {
                                        e.ready = false;
                                    }
                                }
                            }
                        }
                        state.events.extend(state_events);
                        sync(&mut state, &net, cleanup, started);
                    }
                    // The kubelet's ticker: the next probe a period after this one began.
                    let rest = probe.period.saturating_sub(round.elapsed());
                    std::thread::sleep(rest);
                }
            })
        };
        Self {
            state,
            net,
            cleanup,
            started,
            stop,
            thread: Some(thread),
        }
    }

    /// A new pod: probed from now on, in the Service once ready.
    pub fn add(&self, slot: u8) {
        self.state.lock().endpoints.push(Endpoint {
            slot,
            ready: false,
            failures: 0,
            terminating: false,
            pinned: false,
        });
    }

    /// Keeps `slot` in the Service whatever its probes say, or lets them decide again.
    pub fn pin(&self, slot: u8, pinned: bool) {
        let mut state = self.state.lock();
        if let Some(e) = state.endpoints.iter_mut().find(|e| e.slot == slot) {
            e.pinned = pinned;
            e.ready = true;
            e.failures = 0;
        }
        sync(&mut state, &self.net, self.cleanup, self.started);
    }

    /// The pod is being deleted: out of the Service at once.
    pub fn terminate(&self, slot: u8) {
        let mut state = self.state.lock();
        if let Some(e) = state.endpoints.iter_mut().find(|e| e.slot == slot) {
            e.terminating = true;
        }
        sync(&mut state, &self.net, self.cleanup, self.started);
    }

    /// The slots in the Service now.
    pub fn in_service(&self) -> Vec<u8> {
        self.state.lock().in_service.clone()
    }

    /// Waits until exactly `slots` are in the Service.
    pub fn wait_for(&self, slots: &[u8], deadline: Duration) {
        let start = Instant::now();
        loop {
            let mut now = self.in_service();
            now.sort_unstable();
            let mut want = slots.to_vec();
            want.sort_unstable();
            if now == want {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "in service: {now:?}, expected {want:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What happened, with times since the scenario started.
    pub fn events(&self) -> Vec<(f64, String)> {
        self.state.lock().events.clone()
    }

    /// Notes an event of the scenario itself.
    pub fn note(&self, what: impl Into<String>) {
        let at = self.started.elapsed().as_secs_f64();
        self.state.lock().events.push((at, what.into()));
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Rewrites the service chain if the set of serving endpoints changed; flushes the
/// conntrack entries of the ones removed (with `cleanup`).
fn sync(state: &mut State, net: &Network, cleanup: bool, started: Instant) {
    let serving: Vec<u8> = state
        .endpoints
        .iter()
        .filter(|e| !e.terminating && (e.ready || e.pinned))
        .map(|e| e.slot)
        .collect();
    if serving == state.in_service {
        return;
    }
    net.set_backends(&serving)
        .expect("program the service chain");
    let removed: Vec<u8> = state
        .in_service
        .iter()
        .copied()
        .filter(|s| !serving.contains(s))
        .collect();
    if cleanup {
        for slot in &removed {
            net.flush_conntrack(*slot);
        }
    }
    let at = started.elapsed().as_secs_f64();
    state.events.push((
        at,
        format!(
            "service: {serving:?}{}",
            if removed.is_empty() || !cleanup {
                String::new()
            } else {
                format!(" (conntrack of {removed:?} flushed)")
            }
        ),
    ));
    state.in_service = serving;
}

/// GET http://10.244.SLOT.2:8181/ready within `timeout`: whether it said 200.
fn ready(slot: u8, timeout: Duration) -> bool {
    let addr: SocketAddr = format!("{}:8181", slot_ip(slot)).parse().unwrap();
    let deadline = Instant::now() + timeout;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero()
        || stream.set_read_timeout(Some(left)).is_err()
        || stream
            .write_all(b"GET /ready HTTP/1.0\r\nHost: probe\r\n\r\n")
            .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}
