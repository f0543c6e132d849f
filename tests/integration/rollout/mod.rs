//! The rollout lab: how many queries a pod loses while the DNS Deployment rolls, scales
//! down, reloads, hangs, dies or restarts in place.
//!
//! A cluster in network namespaces (`lab`): the Service VIP 10.96.0.10 programmed as
//! kube-proxy's nftables mode does (DNAT with `numgen random mod N` over the ready
//! replicas, conntrack on), replicas of the real binary with deploy/'s Corefile (the
//! cluster from a manifest instead of the API; a shorter lameduck to keep the test
//! short), an endpoint controller that probes `/ready` with deploy/'s readiness probe
//! settings (`controller`), and a counting client in a pod namespace (`client`).
//!
//! Every scenario prints lost/sent per transport and when the losses happened. Graceful
//! scenarios with conntrack cleanup must lose nothing but answers in flight at the flush
//! (counted apart); the others are bounded loosely, so that the test cannot flake, and
//! their figures are what the test is for.
//!
//! `ROLLOUT_QPS` sets the rate of new-socket UDP queries (default 500; the reused socket
//! sends a fifth of it, TCP 20/s), `ROLLOUT_LAMEDUCK` the lameduck (default 2s),
//! `ROLLOUT_BINARY` the replicas' binary (default: this build's), `ROLLOUT_DRAIN_LIMIT` the replicas' `--drain-limit` (default 8s), `ROLLOUT_DRAIN_QUIET`
//! their `--drain-quiet` (default 1s; `0s`: no drain, exit right after lameduck),
//! `ROLLOUT_SETTLE` how long the rolling updates keep counting after the old replicas
//! exit (default 3s; 30s sees every query a stale conntrack entry still sends them);
//! `benches/rollout.sh` runs the lab at higher rates.

mod client;
mod controller;
mod lab;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{Client, Counts, Rates};
use controller::{Controller, Probe};
use lab::{Network, Replica};

/// The scenarios share the machine's two cores: one at a time.
static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Why the lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!("not root (euid {euid})"));
    }
    for tool in ["ip", "nft", "conntrack", "sysctl"] {
        if lab::run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            return Some(format!("no `{tool}` on PATH"));
        }
    }
    None
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rates() -> Rates {
    let qps = env_number("ROLLOUT_QPS", 500).max(5);
    Rates {
        udp_new: qps,
        udp_reused: qps / 5,
        tcp: 20,
    }
}

/// The replicas' `--drain-limit`: shorter than the default (45s) to keep the test
/// short.
fn drain_limit() -> String {
    std::env::var("ROLLOUT_DRAIN_LIMIT").unwrap_or_else(|_| "8s".into())
}

/// Parses the lab's `30s` / `500ms` knobs.
fn seconds(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .map(Duration::from_secs_f64)
}

/// How long a replica may take to exit after SIGTERM: its drain limit and a margin
/// for a loaded machine.
fn exit_deadline() -> Duration {
    seconds(&drain_limit()).unwrap_or(Duration::from_secs(20)) + Duration::from_secs(40)
}

/// How long the client keeps counting after the old replicas have exited:
/// `ROLLOUT_SETTLE` (default 3s). Queries that stale conntrack entries still pin to an
/// exited replica are lost from then on, until the entries expire (up to conntrack's
/// UDP timeout, 30 s, after the last one), so a measurement of drain settings sets it
/// to 30s.
fn settle_after_exit() -> Duration {
    std::env::var("ROLLOUT_SETTLE")
        .ok()
        .and_then(|v| seconds(&v))
        .unwrap_or(Duration::from_secs(3))
}

/// The replicas' binary: this build's, or `ROLLOUT_BINARY` (a release build, for the
/// benchmark's rates).
fn replica_binary() -> PathBuf {
    std::env::var_os("ROLLOUT_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::support::binary().to_path_buf())
}

/// The replicas' `--drain-quiet` (default 1s, shorter than the binary's 10s to keep
/// the test short; `0s` turns drain off).
fn drain_quiet() -> String {
    std::env::var("ROLLOUT_DRAIN_QUIET").unwrap_or_else(|_| "1s".into())
}

fn lameduck() -> String {
    std::env::var("ROLLOUT_LAMEDUCK").unwrap_or_else(|_| "2s".into())
}

/// The readiness probe of deploy/base/deployment.yaml, with the kubelet's defaults for
/// what it leaves out.
pub fn shipped_readiness_probe() -> Probe {
    let text = include_str!("../../../deploy/base/deployment.yaml");
    let deployment: serde_json::Value = serde_norway::from_str(text).unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let probe = &container["readinessProbe"];
    assert!(probe.is_object(), "deploy/ has a readiness probe");
    let seconds = |key: &str, default: u64| probe[key].as_u64().unwrap_or(default);
    Probe {
        period: Duration::from_secs(seconds("periodSeconds", 10)),
        timeout: Duration::from_secs(seconds("timeoutSeconds", 1)),
        failure_threshold: u32::try_from(seconds("failureThreshold", 3)).unwrap(),
    }
}

/// deploy/'s grace period leaves the server time to drain: the default `--drain-limit`
/// (counted from SIGTERM), the ConfigMap's lameduck on top of it as a spare, and 10 s
/// for the exit, before the kubelet's SIGKILL.
#[test]
fn shipped_grace_period_outlasts_the_drain_limit() {
    let text = include_str!("../../../deploy/base/deployment.yaml");
    let deployment: serde_json::Value = serde_norway::from_str(text).unwrap();
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("deploy/ sets terminationGracePeriodSeconds");
    let configmap = include_str!("../../../deploy/base/configmap.yaml");
    let lameduck = configmap
        .lines()
        .find_map(|l| l.trim().strip_prefix("lameduck "))
        .and_then(|d| seconds(d.trim()))
        .expect("deploy/'s Corefile has a lameduck");
    let drain = clusterdns::server::DrainOptions::default();
    let needed = drain.limit + lameduck + Duration::from_secs(10);
    assert!(
        needed <= Duration::from_secs(grace),
        "grace {grace}s < drain limit {:?} + lameduck {lameduck:?} + 10s",
        drain.limit
    );
}

/// deploy/'s Corefile, adapted: the cluster from `cluster.yaml`, no upstream (the lab
/// has none), the lab's lameduck, and reload every 2 s.
fn corefile() -> String {
    let configmap = include_str!("../../../deploy/base/configmap.yaml");
    let (_, body) = configmap.split_once("Corefile: |\n").unwrap();
    let mut text = String::new();
    let mut in_forward = false;
    for line in body.lines() {
        let line = line.strip_prefix("    ").unwrap_or(line);
        let trimmed = line.trim();
        if trimmed.starts_with("forward ") {
            in_forward = !trimmed.ends_with('}') && trimmed.ends_with('{');
            continue;
        }
        if in_forward {
            in_forward = trimmed != "}";
            continue;
        }
        let line = match trimmed {
            t if t.starts_with("lameduck ") => format!("       lameduck {}", lameduck()),
            "reload" => "    reload 2s 1s".to_owned(),
            _ => line.to_owned(),
        };
        text.push_str(&line);
        text.push('\n');
        if trimmed.starts_with("kubernetes ") {
            text.push_str("       manifests cluster.yaml\n");
        }
    }
    for expected in [
        "lameduck ",
        "manifests ",
        "reload 2s",
        "ready",
        "prometheus :9153",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.contains("forward"), "{text}");
    text
}

/// One scenario's cluster: the network, the replicas, the controller, the client.
struct Scene {
    name: &'static str,
    net: Arc<Network>,
    dir: tempfile::TempDir,
    replicas: Vec<Replica>,
    controller: Controller,
    client: Option<Client>,
    started: Instant,
    probe: Probe,
}

impl Scene {
    /// `slots` running and in the Service, then the client starts.
    fn new(name: &'static str, cleanup: bool, slots: &[u8]) -> Self {
        let net = Arc::new(Network::new().unwrap_or_else(|e| panic!("the lab's network: {e}")));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Corefile"), corefile()).unwrap();
        std::fs::write(
            dir.path().join("cluster.yaml"),
            include_str!("../../../deploy/demo/cluster.yaml"),
        )
        .unwrap();
        let started = Instant::now();
        let probe = shipped_readiness_probe();
        let controller = Controller::start(net.clone(), probe, cleanup, started);
        let mut scene = Self {
            name,
            net,
            dir,
            replicas: Vec::new(),
            controller,
            client: None,
            started,
            probe,
        };
        for slot in slots {
            scene.start(*slot);
        }
        scene
            .controller
            .wait_for(slots, Duration::from_secs(20) + probe.period * 2);
        scene.client = Some(Client::start(&scene.net.pod, rates(), scene.started));
        scene.controller.note("client started");
        scene.pause(Duration::from_secs(1));
        scene
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new pod in `slot`, probed by the controller.
    fn start(&mut self, slot: u8) {
        let namespace = self
            .net
            .add_slot(slot)
            .unwrap_or_else(|e| panic!("slot {slot}: {e}"));
        let log = self.path(&format!("replica-{slot}-{}.log", self.replicas.len()));
        self.replicas.push(Replica::start(
            slot,
            &namespace,
            &self.path("Corefile"),
            log,
        ));
        self.controller.add(slot);
        self.controller.note(format!("replica {slot} started"));
    }

    /// The running process of `slot` (the newest).
    fn replica(&self, slot: u8) -> &Replica {
        self.replicas
            .iter()
            .rev()
            .find(|r| r.slot == slot)
            .unwrap_or_else(|| panic!("no replica in slot {slot}"))
    }

    /// Deletes the pod in `slot`: out of the Service, then SIGTERM.
    fn delete(&mut self, slot: u8) {
        self.controller.terminate(slot);
        self.replica(slot).signal(libc::SIGTERM);
        self.controller.note(format!("replica {slot} SIGTERM"));
    }

    fn pause(&self, time: Duration) {
        std::thread::sleep(time);
    }

    /// Waits until every replica told to stop has exited, successfully, noting each
    /// exit when it happens.
    fn wait_exits(&mut self, slots: &[u8], deadline: Duration) {
        let start = Instant::now();
        let mut running: Vec<(u8, usize)> = slots
            .iter()
            .map(|slot| {
                let index = self.replicas.iter().position(|r| r.slot == *slot).unwrap();
                (*slot, index)
            })
            .collect();
        while !running.is_empty() {
            running.retain(|(slot, index)| match self.replicas[*index].exited() {
                Some(status) => {
                    assert!(status.success(), "replica {slot}: {status}");
                    self.controller.note(format!("replica {slot} exited"));
                    false
                }
                None => true,
            });
            assert!(
                start.elapsed() < deadline,
                "replicas {running:?} still running after {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the client (after `settle`) and prints the report.
    fn finish(mut self, settle: Duration) -> Report {
        self.pause(settle);
        let counts = self.client.take().unwrap().finish();
        let events = self.controller.events();
        let report = Report {
            name: self.name,
            counts,
            events,
        };
        report.print();
        report
    }
}

/// What a scenario measured.
struct Report {
    name: &'static str,
    counts: Counts,
    events: Vec<(f64, String)>,
}

impl Report {
    fn print(&self) {
        let rates = rates();
        println!(
            "== {} (udp-new {}/s, udp-reused {}/s, tcp {}/s)",
            self.name, rates.udp_new, rates.udp_reused, rates.tcp
        );
        for (at, what) in &self.events {
            println!("   {at:6.2}s  {what}");
        }
        println!("   udp-new:    {}", self.counts.udp_new.describe());
        println!("   udp-reused: {}", self.counts.udp_reused.describe());
        println!("   tcp:        {}", self.counts.tcp.describe());
    }

    /// When the event containing `what` first happened.
    fn when(&self, what: &str) -> Option<f64> {
        self.events
            .iter()
            .find(|(_, e)| e.contains(what))
            .map(|(at, _)| *at)
    }

    fn assert_nothing_lost_but_in_flight(&self) {
        let c = &self.counts;
        for (transport, tally) in [
            ("udp-new", &c.udp_new),
            ("udp-reused", &c.udp_reused),
            ("tcp", &c.tcp),
        ] {
            assert!(tally.sent > 0, "{}: {transport} sent nothing", self.name);
            assert_eq!(
                tally.lost_otherwise(),
                0,
                "{}: {transport} lost {}",
                self.name,
                tally.describe()
            );
        }
    }

    fn total_lost(&self) -> u64 {
        let c = &self.counts;
        c.udp_new.lost() + c.udp_reused.lost() + c.tcp.lost()
    }

    fn total_sent(&self) -> u64 {
        let c = &self.counts;
        c.udp_new.sent + c.udp_reused.sent + c.tcp.sent
    }
}

fn prerequisites() -> parking_lot::MutexGuard<'static, ()> {
    if let Some(reason) = missing_prerequisite() {
        panic!("the rollout lab cannot run here: {reason}");
    }
    ONE_AT_A_TIME.lock()
}

/// Surge 1: a new replica, ready, then one old one deleted; twice.
fn rolling_update(name: &'static str, cleanup: bool) -> Report {
    let mut scene = Scene::new(name, cleanup, &[1, 2]);
    for (old, new) in [(1, 3), (2, 4)] {
        scene.start(new);
        let mut want = scene.controller.in_service();
        want.push(new);
        scene
            .controller
            .wait_for(&want, Duration::from_secs(10) + scene.probe.period * 2);
        scene.delete(old);
    }
    scene.wait_exits(&[1, 2], exit_deadline());
    // Long enough to see flows still pinned to a replica that has exited.
    scene.finish(settle_after_exit())
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_rolling_update_with_conntrack_cleanup() {
    let _one = prerequisites();
    let report = rolling_update("rolling update, conntrack cleaned", true);
    report.assert_nothing_lost_but_in_flight();
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_rolling_update_without_conntrack_cleanup() {
    let _one = prerequisites();
    let report = rolling_update("rolling update, conntrack NOT cleaned", false);
    // New sockets per query: the old replicas drain until no stale entry sends them
    // anything more. The reused socket stays pinned to a replica that exits (at its
    // drain limit): its losses are the figure, bounded here only loosely.
    let c = &report.counts;
    assert!(c.udp_new.sent > 0 && c.tcp.sent > 0);
    assert_eq!(c.tcp.lost(), 0, "tcp: {}", c.tcp.describe());
    assert!(
        c.udp_new.lost() * 20 <= c.udp_new.sent,
        "udp-new: {}",
        c.udp_new.describe()
    );
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_scale_down() {
    let _one = prerequisites();
    let mut scene = Scene::new("scale down 3 -> 2", true, &[1, 2, 3]);
    scene.delete(3);
    scene.wait_exits(&[3], exit_deadline());
    let report = scene.finish(Duration::from_secs(1));
    report.assert_nothing_lost_but_in_flight();
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_reload_under_load() {
    let _one = prerequisites();
    let scene = Scene::new("Corefile reload under load", true, &[1, 2]);
    let conf = scene.path("Corefile");
    let text = std::fs::read_to_string(&conf).unwrap();
    let changed = text.replace("ttl 30", "ttl 31");
    assert_ne!(text, changed);
    std::fs::write(&conf, changed).unwrap();
    scene.controller.note("Corefile changed");
    let start = Instant::now();
    for slot in [1, 2] {
        let log = scene.replica(slot).log.clone();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("new configuration in service")
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "replica {slot} did not reload"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        scene.controller.note(format!("replica {slot} reloaded"));
    }
    let report = scene.finish(Duration::from_secs(1));
    report.assert_nothing_lost_but_in_flight();
}

/// Stops replica 1 with `signal`; how long it stayed in the Service after.
fn broken_replica(name: &'static str, signal: libc::c_int) -> (Report, f64) {
    let scene = Scene::new(name, true, &[1, 2]);
    scene.replica(1).signal(signal);
    scene.controller.note(format!("replica 1 signal {signal}"));
    let probe = scene.probe;
    scene.controller.wait_for(
        &[2],
        probe.period * (probe.failure_threshold + 1) + probe.timeout + Duration::from_secs(10),
    );
    // The kubelet would restart a dead container and a hung one that stays hung; the
    // figure is the window, so the client only needs to see its end.
    let report = scene.finish(Duration::from_secs(1));
    let window = report.when("service: [2]").unwrap() - report.when("replica 1 signal").unwrap();
    println!(
        "   window: {window:.2}s in the Service after it stopped answering (readiness probe period {:?}, timeout {:?}, failure threshold {})",
        probe.period, probe.timeout, probe.failure_threshold
    );
    (report, window)
}

/// How long a hung replica can stay in the Service with `probe`.
fn worst_case_window(probe: Probe) -> Duration {
    probe.period
        + probe.period.max(probe.timeout) * probe.failure_threshold.saturating_sub(1)
        + probe.timeout
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_hung_replica_leaves_the_service_within_3_seconds() {
    let _one = prerequisites();
    let (report, window) = broken_replica("hung replica (SIGSTOP)", libc::SIGSTOP);
    let probe = shipped_readiness_probe();
    // The design bound: up to a period from the last good probe to the next, then
    // `failure_threshold` probes that time out, back to back when the timeout is not
    // shorter than the period; at most 3 s with deploy/'s settings. The scenario stops
    // the replica right after a good probe (its worst case); the lab's kube-proxy adds
    // about 0.1 s, and the assertion slack for a loaded machine.
    let bound = worst_case_window(probe);
    assert!(
        bound <= Duration::from_secs(3),
        "deploy/'s probes: {probe:?}"
    );
    assert!(window < bound.as_secs_f64() + 1.5, "window {window:.2}s");
    // Only the hung replica's share of the window is lost.
    assert!(
        report.total_lost() * 2 < report.total_sent(),
        "lost too many"
    );
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_killed_replica() {
    let _one = prerequisites();
    let (report, window) = broken_replica("killed replica (SIGKILL)", libc::SIGKILL);
    let probe = shipped_readiness_probe();
    let bound = worst_case_window(probe);
    assert!(window < bound.as_secs_f64() + 1.5, "window {window:.2}s");
    assert!(
        report.total_lost() * 2 < report.total_sent(),
        "lost too many"
    );
}

/// A new process on the same address: it binds the DNS port beside the old one
/// (`SO_REUSEPORT`), then the old one is told to stop; the pod stays in the Service. The
/// probe ports cannot be shared (a probe must reach one process), so the new process
/// serves them on others until the old one is gone.
#[test]
#[ignore = "needs root, nftables, conntrack"]
fn rollout_in_place_restart() {
    let _one = prerequisites();
    let mut scene = Scene::new("in-place restart (SO_REUSEPORT)", true, &[1, 2]);
    scene.controller.pin(1, true);
    let conf = scene.path("Corefile-next");
    let text = std::fs::read_to_string(scene.path("Corefile"))
        .unwrap()
        .replace("    health {", "    health :8082 {")
        .replace("    ready\n", "    ready :8182\n")
        .replace("prometheus :9153", "prometheus :9154");
    std::fs::write(&conf, text).unwrap();
    let namespace = scene.net.slot_namespace(1);
    let log = scene.path("replica-1-next.log");
    let next = Replica::start(1, &namespace, &conf, log);
    scene
        .controller
        .note("replica 1' started on the same address");
    wait_http_ready(&scene.net, "10.244.1.2:8182", Duration::from_secs(20));
    scene.controller.note("replica 1' ready");
    scene.replica(1).signal(libc::SIGTERM);
    scene.controller.note("replica 1 SIGTERM");
    scene.wait_exits(&[1], exit_deadline());
    scene.replicas.push(next);
    let report = scene.finish(Duration::from_secs(1));
    report.assert_nothing_lost_but_in_flight();
}

/// Waits for `GET /ready` at `addr` (from the node) to say 200.
fn wait_http_ready(net: &Network, addr: &str, deadline: Duration) {
    let start = Instant::now();
    let url = format!("http://{addr}/ready");
    loop {
        let script = format!(
            "exec 3<>/dev/tcp/{} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3",
            addr.replace(':', "/")
        );
        if let Ok(out) = lab::run("ip", &["netns", "exec", &net.node, "bash", "-c", &script])
            && String::from_utf8_lossy(&out.stdout).contains(" 200")
        {
            return;
        }
        assert!(start.elapsed() < deadline, "{url} not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}
