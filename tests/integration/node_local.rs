//! Node-local mode end to end: clusterdns as NodeLocal DNSCache on a "node", setting up its
//! own interface and nftables rules, in front of a cluster DNS server, asked by a "pod".
//!
//! Three network namespaces, made by the test and removed when it ends:
//!
//! ```text
//!   pod 10.244.99.2 ── veth ── 10.244.99.1  node ── veth ── 198.51.100.2  cluster
//!   resolv.conf:                nodelocaldns: 169.254.20.10    10.96.0.11: clusterdns (manifests)
//!   nameserver 10.96.0.10                     10.96.0.10       198.51.100.3: upstream (hosts)
//!                               kube-proxy's DNAT 10.96.0.10 -> 10.96.0.11
//! ```
//!
//! The node runs the real binary with node-cache's arguments (transparent mode:
//! `-localip 169.254.20.10,10.96.0.10`) on `deploy/overlays/node-local`'s Corefile
//! template, unchanged; it fills in kube-dns-upstream's address (10.96.0.11) from the
//! environment and the node's resolv.conf (the upstream) as node-cache does. The node
//! also has kube-proxy's DNAT of the kube-dns Service IP to the cluster server, so that a
//! query the node cache's NOTRACK rules did not catch would go to the cluster server, and
//! conntrack is active in the node's namespace.
//!
//! Checked, in order: the pod resolves cluster names, PTR and external names through
//! both local addresses; conntrack holds no entry for those flows (but does for the
//! cache's own TCP connection to the cluster server); a second node cache replaces the
//! first while the pod sends a steady stream of queries, and every one is answered; the
//! interface and rules the first left stay for the second; deleted by hand, they are
//! re-created within the sync interval; with the cluster server stopped, cached names
//! keep answering (stale, with a 30 s TTL) once expired; on exit the interface and rules
//! are removed. A second test runs the link-local-only mode with the iptables backend.
//!
//! Needs root (network namespaces), `ip`, `nft`, `conntrack` and `dig`; CI runs it as root.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use serde_json::Value;

use crate::support::{binary, query};

const LINK_LOCAL_IP: &str = "169.254.20.10";
const KUBE_DNS_IP: &str = "10.96.0.10";
const UPSTREAM_SERVICE_IP: &str = "10.96.0.11";
const NODE_POD_LINK_IP: &str = "10.244.99.1";
const POD_IP: &str = "10.244.99.2";
const NODE_CLUSTER_LINK_IP: &str = "198.51.100.1";
const CLUSTER_LINK_IP: &str = "198.51.100.2";
const EXTERNAL_UPSTREAM_IP: &str = "198.51.100.3";
/// `shop/web` in deploy/demo/cluster.yaml.
const WEB_IP: &str = "10.96.12.5";
const EXTERNAL_IP: &str = "192.0.2.7";
/// The sync interval the node caches run with.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Slack for anything that should happen within a second or two on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(10);

fn require_prerequisites() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        == Some("0");
    assert!(root, "needs root (network namespaces, nftables)");
    for (tool, probe) in [
        ("ip", "-V"),
        ("nft", "--version"),
        ("conntrack", "--version"),
        ("dig", "-v"),
    ] {
        let works = Command::new(tool)
            .arg(probe)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            works,
            "needs `{tool}` (apt-get install iproute2 nftables conntrack bind9-dnsutils)"
        );
    }
}

/// Runs `program ARGS`; stdout, or an error with its stderr.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn ip(args: &str) {
    run("ip", &args.split_whitespace().collect::<Vec<_>>()).unwrap();
}

/// The namespaces, processes and files of one run, removed when dropped (the logs are
/// printed when the test fails).
struct Lab {
    node: String,
    pod: String,
    cluster: String,
    processes: Vec<(String, Child, PathBuf)>,
    /// Processes the test stopped (their exit is no failure).
    stopped: Vec<String>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, _, log) in &self.processes {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                eprintln!("----- {name} log -----\n{text}");
            }
        }
        for (_, child, _) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        for namespace in [&self.node, &self.pod, &self.cluster] {
            if let Ok(pids) = run("ip", &["netns", "pids", namespace]) {
                for pid in pids.split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = run("ip", &["netns", "del", namespace]);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(namespace));
        }
        let _ = std::fs::remove_dir(Path::new("/etc/netns"));
    }
}

impl Lab {
    /// The lab, the pod's resolv.conf naming `pod_nameserver`.
    fn new(pod_nameserver: &str) -> Self {
        static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        );
        let lab = Self {
            node: format!("cdns-nl-node-{suffix}"),
            pod: format!("cdns-nl-pod-{suffix}"),
            cluster: format!("cdns-nl-cluster-{suffix}"),
            processes: Vec::new(),
            stopped: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let (node, pod, cluster) = (&lab.node, &lab.pod, &lab.cluster);
        for name in [node, pod, cluster] {
            ip(&format!("netns add {name}"));
            ip(&format!("-n {name} link set lo up"));
        }
        for step in [
            format!("-n {node} link add to-pod type veth peer name eth0 netns {pod}"),
            format!("-n {node} link add to-cluster type veth peer name eth0 netns {cluster}"),
            format!("-n {node} addr add {NODE_POD_LINK_IP}/24 dev to-pod"),
            format!("-n {node} addr add {NODE_CLUSTER_LINK_IP}/24 dev to-cluster"),
            format!("-n {node} link set to-pod up"),
            format!("-n {node} link set to-cluster up"),
            format!("-n {node} route add {UPSTREAM_SERVICE_IP}/32 via {CLUSTER_LINK_IP}"),
            format!("-n {pod} addr add {POD_IP}/24 dev eth0"),
            format!("-n {pod} link set eth0 up"),
            format!("-n {pod} route add default via {NODE_POD_LINK_IP}"),
            format!("-n {cluster} addr add {CLUSTER_LINK_IP}/24 dev eth0"),
            format!("-n {cluster} addr add {EXTERNAL_UPSTREAM_IP}/24 dev eth0"),
            format!("-n {cluster} addr add {UPSTREAM_SERVICE_IP}/32 dev eth0"),
            format!("-n {cluster} link set eth0 up"),
            format!("-n {cluster} route add 10.244.99.0/24 via {NODE_CLUSTER_LINK_IP}"),
        ] {
            ip(&step);
        }
        // The node routes pods' packets that kube-proxy's DNAT sends to the cluster.
        run(
            "ip",
            &[
                "netns",
                "exec",
                node,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )
        .unwrap();
        // What `ip netns exec` mounts over /etc/resolv.conf: the pod's (the kubelet's,
        // transparent mode) and the node's (its upstream resolver).
        let etc = |name: &str, resolv: String| {
            let dir = Path::new("/etc/netns").join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("resolv.conf"), resolv).unwrap();
        };
        etc(
            pod,
            format!(
                "nameserver {pod_nameserver}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
            ),
        );
        etc(node, format!("nameserver {EXTERNAL_UPSTREAM_IP}\n"));
        // kube-proxy's DNAT of the kube-dns Service IP (which also makes the namespace
        // track connections).
        let kube_proxy = format!(
            "table ip kube-proxy-lab {{
                chain prerouting {{
                    type nat hook prerouting priority dstnat; policy accept;
                    ip daddr {KUBE_DNS_IP} udp dport 53 dnat to {UPSTREAM_SERVICE_IP}:53
                    ip daddr {KUBE_DNS_IP} tcp dport 53 dnat to {UPSTREAM_SERVICE_IP}:53
                }}
                chain output {{
                    type nat hook output priority -100; policy accept;
                    ip daddr {KUBE_DNS_IP} udp dport 53 dnat to {UPSTREAM_SERVICE_IP}:53
                    ip daddr {KUBE_DNS_IP} tcp dport 53 dnat to {UPSTREAM_SERVICE_IP}:53
                }}
            }}"
        );
        lab.nft_script(&kube_proxy);
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn nft_script(&self, script: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.node, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft -f: {script}");
    }

    /// `COMMAND` in the node's namespace.
    fn on_node(&self, command: &[&str]) -> Result<String, String> {
        let mut args = vec!["netns", "exec", &self.node];
        args.extend_from_slice(command);
        run("ip", &args)
    }

    /// Starts `command` in `namespace` with `env`, its output going to a log file.
    fn spawn(&mut self, name: &str, namespace: &str, command: &[&str], env: &[(&str, &str)]) {
        let log = self.path(&format!("{name}.log"));
        let file = File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .args(command)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        self.processes.push((name.to_owned(), child, log));
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    fn pid(&self, name: &str) -> u32 {
        self.processes
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, child, _)| child.id())
            .unwrap()
    }

    /// Sends SIGTERM to `name` and waits for it to exit; its exit status.
    fn stop(&mut self, name: &str) -> std::process::ExitStatus {
        let pid = self.pid(name);
        run("kill", &["-TERM", &pid.to_string()]).unwrap();
        let (_, child, _) = self
            .processes
            .iter_mut()
            .find(|(n, _, _)| n == name)
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.stopped.push(name.to_owned());
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "{name} did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a node cache as the DaemonSet does (transparent mode), with the overlay's
    /// template.
    fn start_node_cache(&mut self, name: &str) {
        self.start_node_cache_with(name, &format!("{LINK_LOCAL_IP},{KUBE_DNS_IP}"), &[]);
    }

    /// Starts a node cache answering on `local_ips`, with `extra` arguments.
    fn start_node_cache_with(&mut self, name: &str, local_ips: &str, extra: &[&str]) {
        let conf = self.path(&format!("{name}.Corefile"));
        let base = self.path("Corefile.base").display().to_string();
        let ready = self.path(&format!("{name}.ready"));
        let node = self.node.clone();
        let mut command = vec![
            binary().to_str().unwrap(),
            "-localip",
            local_ips,
            "-conf",
            conf.to_str().unwrap(),
            "-basecorefile",
            &base,
            "-upstreamsvc",
            "kube-dns-upstream",
            "-health-port",
            "8080",
            "-syncinterval",
            "1s",
            "--udp-workers",
            "2",
            "-readyfile",
            ready.to_str().unwrap(),
        ];
        command.extend_from_slice(extra);
        self.spawn(
            name,
            &node,
            &command,
            &[("KUBE_DNS_UPSTREAM_SERVICE_HOST", UPSTREAM_SERVICE_IP)],
        );
        let start = Instant::now();
        // Ready (the readiness probe's file) once it serves with its rules in place.
        while !ready.exists() {
            assert!(
                start.elapsed() < DEADLINE,
                "{name} did not start: {}",
                self.log(name)
            );
            self.check_alive();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_alive(&mut self) {
        for (name, child, _) in &mut self.processes {
            if self.stopped.contains(name) {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited: {status}");
            }
        }
    }

    /// `dig +short` in the pod, with its resolv.conf, or at `server`: the answer's lines.
    fn dig(&self, server: Option<&str>, args: &[&str]) -> Vec<String> {
        let mut short = vec!["+short"];
        short.extend_from_slice(args);
        self.dig_text(server, &short)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty() && !l.starts_with(";;"))
            .collect()
    }

    /// `dig` in the pod: its whole output.
    fn dig_text(&self, server: Option<&str>, args: &[&str]) -> String {
        let mut command = vec![
            "-k", "5", "20", "ip", "netns", "exec", &self.pod, "dig", "+time=2", "+tries=1",
        ];
        let at;
        if let Some(server) = server {
            at = format!("@{server}");
            command.push(&at);
        }
        command.extend_from_slice(args);
        let output: Output = Command::new("timeout").args(&command).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The conntrack table of the node: one line per flow.
    fn conntrack(&self) -> Vec<String> {
        self.on_node(&["conntrack", "-L"])
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn interface_exists(&self) -> bool {
        self.on_node(&["ip", "link", "show", "dev", "nodelocaldns"])
            .is_ok()
    }

    fn table_exists(&self) -> bool {
        self.on_node(&["nft", "list", "table", "inet", "clusterdns-nodelocal"])
            .is_ok()
    }

    fn eventually(&mut self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !check(self) {
            self.check_alive();
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: not within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs `work` on a thread inside `namespace` (a socket belongs to the namespace of the
/// thread that makes it; the test's other threads stay where they are).
#[allow(unsafe_code)] // setns(2) has no safe wrapper in the crates we use.
fn in_namespace<T: Send + 'static>(
    namespace: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = Path::new("/var/run/netns").join(namespace);
    std::thread::spawn(move || {
        let handle = File::open(&path).unwrap();
        // SAFETY: setns only reads the descriptor, which `handle` keeps open; it changes
        // the namespace of this thread alone.
        let entered = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(entered, 0, "setns: {}", std::io::Error::last_os_error());
        work()
    })
}

/// What a steady stream of queries got.
#[derive(Debug, Default)]
struct StreamCount {
    sent: AtomicU64,
    answered: AtomicU64,
    wrong: AtomicU64,
}

/// Asks `shop/web` at `server` every 5 ms, each from a fresh socket (a fresh source port,
/// as a pod's resolver does), waiting up to 2 s for each answer, until `stop`.
fn query_stream(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
    count: Arc<StreamCount>,
) -> impl FnOnce() + Send + 'static {
    move || {
        while !stop.load(Ordering::SeqCst) {
            let request = query("web.shop.svc.cluster.local.", RecordType::A);
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            socket.send_to(&request.to_vec().unwrap(), server).unwrap();
            count.sent.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1500];
            if let Ok(len) = socket.recv(&mut buf) {
                let answer = Message::from_vec(&buf[..len]).unwrap();
                if answer.metadata.id == request.metadata.id
                    && answer.metadata.response_code == ResponseCode::NoError
                    && !answer.answers.is_empty()
                {
                    count.answered.fetch_add(1, Ordering::SeqCst);
                } else {
                    count.wrong.fetch_add(1, Ordering::SeqCst);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The overlay's Corefile template (transparent mode), as the ConfigMap holds it.
fn overlay_template() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/overlays/node-local/objects/configmap.yaml");
    let config: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    config["data"]["Corefile"].as_str().unwrap().to_owned()
}

/// Starts the cluster server (kube-dns-upstream) and the node's upstream resolver.
fn start_cluster(lab: &mut Lab) {
    let cluster = lab.cluster.clone();
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/demo/cluster.yaml");
    std::fs::write(
        lab.path("cluster.Corefile"),
        format!(
            ".:53 {{\n    bind {UPSTREAM_SERVICE_IP}\n    errors\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests {}\n    }}\n}}\n",
            manifests.display()
        ),
    )
    .unwrap();
    std::fs::write(
        lab.path("upstream.Corefile"),
        format!(
            ".:53 {{\n    bind {EXTERNAL_UPSTREAM_IP}\n    hosts {{\n        {EXTERNAL_IP} www.example.test\n    }}\n}}\n"
        ),
    )
    .unwrap();
    for name in ["cluster", "upstream"] {
        let conf = lab.path(&format!("{name}.Corefile"));
        lab.spawn(
            name,
            &cluster,
            &[binary().to_str().unwrap(), "-conf", conf.to_str().unwrap()],
            &[],
        );
    }
}

#[test]
#[ignore = "needs root, nftables, conntrack"]
fn node_local_cache_on_a_node() {
    require_prerequisites();
    let mut lab = Lab::new(KUBE_DNS_IP);
    let (node, pod) = (lab.node.clone(), lab.pod.clone());

    start_cluster(&mut lab);
    std::fs::write(lab.path("Corefile.base"), overlay_template()).unwrap();
    lab.start_node_cache("node-cache-1");
    assert!(lab.interface_exists() && lab.table_exists());
    let addresses = lab
        .on_node(&["ip", "-o", "addr", "show", "dev", "nodelocaldns"])
        .unwrap();
    assert!(
        addresses.contains(&format!("{LINK_LOCAL_IP}/32"))
            && addresses.contains(&format!("{KUBE_DNS_IP}/32")),
        "{addresses}"
    );
    // The template was filled in as node-cache does.
    let written = std::fs::read_to_string(lab.path("node-cache-1.Corefile")).unwrap();
    assert!(
        written.contains(&format!("forward . {UPSTREAM_SERVICE_IP} {{"))
            && written.contains("forward . /etc/resolv.conf")
            && !written.contains("__PILLAR__"),
        "{written}"
    );

    // The pod resolves cluster names, PTR and external names, through its resolv.conf
    // (the kube-dns IP) and through the link-local address.
    lab.eventually("the pod resolves web.shop", |lab| {
        lab.dig(None, &["web.shop.svc.cluster.local", "A"]) == [WEB_IP]
    });
    assert_eq!(
        lab.dig(Some(LINK_LOCAL_IP), &["web.shop.svc.cluster.local", "A"]),
        [WEB_IP]
    );
    assert_eq!(
        lab.dig(None, &["-x", WEB_IP]),
        ["web.shop.svc.cluster.local."]
    );
    assert_eq!(lab.dig(None, &["www.example.test", "A"]), [EXTERNAL_IP]);
    assert_eq!(
        lab.dig(Some(LINK_LOCAL_IP), &["www.example.test", "A"]),
        [EXTERNAL_IP]
    );

    // No conntrack entry for the pod's DNS flows; the node cache's own TCP connection to
    // kube-dns-upstream is tracked (so tracking is on in this namespace). (The `loop`
    // plugin's query to itself at start is tracked: it is sent before the rules are
    // installed, which node-cache, too, does only once the server runs.)
    let flows = lab.conntrack();
    let local_dns: Vec<&String> = flows
        .iter()
        .filter(|l| l.contains(&format!("src={POD_IP} ")))
        .collect();
    assert!(local_dns.is_empty(), "tracked DNS flows: {local_dns:#?}");
    assert!(
        flows
            .iter()
            .any(|l| l.starts_with("tcp") && l.contains(&format!("dst={UPSTREAM_SERVICE_IP} "))),
        "the upstream connection is tracked: {flows:#?}"
    );

    // A second node cache replaces the first while the pod sends a steady stream.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(StreamCount::default());
    let server = SocketAddr::from(([10, 96, 0, 10], 53));
    let stream = in_namespace(&pod, query_stream(server, stop.clone(), count.clone()));
    std::thread::sleep(Duration::from_millis(500));
    lab.start_node_cache("node-cache-2");
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.stop("node-cache-1").success());
    assert!(
        lab.log("node-cache-1").contains("another process serves"),
        "{}",
        lab.log("node-cache-1")
    );
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::SeqCst);
    stream.join().unwrap();
    let (sent, answered, wrong) = (
        count.sent.load(Ordering::SeqCst),
        count.answered.load(Ordering::SeqCst),
        count.wrong.load(Ordering::SeqCst),
    );
    eprintln!("replacement: {sent} queries sent, {answered} answered, {wrong} wrong");
    assert!(sent > 50, "the stream ran: {sent}");
    assert_eq!((answered, wrong), (sent, 0), "not one query lost");
    assert!(
        !lab.path("node-cache-1.ready").exists(),
        "the ready file is removed"
    );
    // The first left the interface and rules to the second.
    assert!(lab.interface_exists() && lab.table_exists());

    // Deleted by hand, the interface and the rules come back within the sync interval.
    lab.on_node(&["nft", "delete", "table", "inet", "clusterdns-nodelocal"])
        .unwrap();
    lab.on_node(&["ip", "link", "del", "nodelocaldns"]).unwrap();
    std::thread::sleep(SYNC_INTERVAL);
    lab.eventually("the interface and rules are re-created", |lab| {
        lab.interface_exists() && lab.table_exists()
    });
    lab.eventually("the pod resolves after the re-creation", |lab| {
        lab.dig(None, &["web.shop.svc.cluster.local", "A"]) == [WEB_IP]
    });
    // Part of them removed: one chain's rules and one address.
    let prerouting = |lab: &Lab| {
        lab.on_node(&[
            "nft",
            "list",
            "chain",
            "inet",
            "clusterdns-nodelocal",
            "prerouting",
        ])
        .unwrap_or_default()
    };
    assert!(prerouting(&lab).contains("notrack"));
    lab.on_node(&[
        "nft",
        "flush",
        "chain",
        "inet",
        "clusterdns-nodelocal",
        "prerouting",
    ])
    .unwrap();
    lab.on_node(&[
        "ip",
        "addr",
        "del",
        &format!("{KUBE_DNS_IP}/32"),
        "dev",
        "nodelocaldns",
    ])
    .unwrap();
    assert!(!prerouting(&lab).contains("notrack"));
    lab.eventually("the rules and the address are restored", |lab| {
        prerouting(lab).contains("notrack")
            && lab
                .on_node(&["ip", "-o", "addr", "show", "dev", "nodelocaldns"])
                .is_ok_and(|a| a.contains(&format!("{KUBE_DNS_IP}/32")))
    });
    // The failure counter is exported on the Corefile's prometheus port, at zero.
    let metrics = in_namespace(&node, || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", 9253)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    })
    .join()
    .unwrap();
    for errortype in ["interface_add", "interface_check", "iptables", "nftables"] {
        assert!(
            metrics.contains(&format!(
                "coredns_nodecache_setup_errors_total{{errortype=\"{errortype}\"}} 0"
            )),
            "{errortype}: {metrics}"
        );
    }

    // The cluster server goes away: a cached name keeps answering after it expired
    // (the cluster's TTL is 5 s), a name never asked fails.
    assert_eq!(
        lab.dig(None, &["kube-dns.kube-system.svc.cluster.local", "A"]),
        [KUBE_DNS_IP]
    );
    lab.stop("cluster");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        lab.dig(None, &["kube-dns.kube-system.svc.cluster.local", "A"]),
        [KUBE_DNS_IP],
        "stale answer"
    );
    // Stale answers carry node-local mode's 30 s TTL (RFC 8767).
    let answer = lab.dig_text(
        None,
        &["+noall", "+answer", "web.shop.svc.cluster.local", "A"],
    );
    let fields: Vec<&str> = answer.split_whitespace().collect();
    assert_eq!(
        fields,
        ["web.shop.svc.cluster.local.", "30", "IN", "A", WEB_IP],
        "stale answer"
    );
    let full = lab.dig_text(None, &["kubernetes.default.svc.cluster.local", "A"]);
    assert!(
        full.contains("status: SERVFAIL"),
        "a name never cached: {full}"
    );

    // On exit, with no successor, the interface and rules are removed.
    assert!(lab.stop("node-cache-2").success());
    assert!(!lab.interface_exists(), "the interface is removed");
    assert!(!lab.table_exists(), "the table is removed");
    assert!(lab.log("node-cache-2").contains("tearing down"));
}

/// node-cache's iptables rules of the node, as `iptables-save` prints them.
fn node_iptables_rules(lab: &Lab) -> Vec<String> {
    lab.on_node(&["iptables-save"])
        .unwrap()
        .lines()
        .filter(|l| l.contains("NodeLocal DNS Cache"))
        .map(str::to_owned)
        .collect()
}

/// Link-local-only mode (the kubelet sends pods to 169.254.20.10) with the iptables
/// backend: the same answers and conntrack bypass, node-cache's rules in iptables,
/// re-created when one is deleted, removed on exit.
#[test]
#[ignore = "needs root, nftables, conntrack"]
fn link_local_only_mode_with_iptables() {
    require_prerequisites();
    let mut lab = Lab::new(LINK_LOCAL_IP);
    start_cluster(&mut lab);
    // The link-local overlay's template: the transparent one binding the link-local
    // address only (tests/integration/node_local_deploy.rs checks that this is the
    // overlays' only difference).
    let template = overlay_template();
    assert!(template.contains("bind 169.254.20.10 10.96.0.10"));
    std::fs::write(
        lab.path("Corefile.base"),
        template.replace("bind 169.254.20.10 10.96.0.10", "bind 169.254.20.10"),
    )
    .unwrap();
    lab.start_node_cache_with("node-cache", LINK_LOCAL_IP, &["-firewall", "iptables"]);
    let rules = node_iptables_rules(&lab);
    assert_eq!(rules.len(), 12, "node-cache's twelve rules: {rules:#?}");
    assert!(!lab.table_exists(), "no nftables table of ours");

    lab.eventually("the pod resolves web.shop", |lab| {
        lab.dig(None, &["web.shop.svc.cluster.local", "A"]) == [WEB_IP]
    });
    assert_eq!(
        lab.dig(None, &["-x", WEB_IP]),
        ["web.shop.svc.cluster.local."]
    );
    assert_eq!(lab.dig(None, &["www.example.test", "A"]), [EXTERNAL_IP]);
    // The kube-dns IP is not the cache's in this mode: kube-proxy's DNAT takes it to the
    // cluster server, tracked.
    assert_eq!(
        lab.dig(Some(KUBE_DNS_IP), &["web.shop.svc.cluster.local", "A"]),
        [WEB_IP]
    );
    let pod_flows: Vec<String> = lab
        .conntrack()
        .into_iter()
        .filter(|l| l.contains(&format!("src={POD_IP} ")))
        .collect();
    assert!(
        pod_flows
            .iter()
            .all(|l| l.contains(&format!("dst={KUBE_DNS_IP} ")))
            && !pod_flows.is_empty(),
        "only the flow to the kube-dns IP is tracked: {pod_flows:#?}"
    );

    // One rule deleted by hand comes back within the sync interval.
    lab.on_node(&[
        "iptables",
        "-t",
        "raw",
        "-D",
        "PREROUTING",
        "-p",
        "udp",
        "-d",
        LINK_LOCAL_IP,
        "--dport",
        "53",
        "-j",
        "NOTRACK",
        "-m",
        "comment",
        "--comment",
        "NodeLocal DNS Cache: skip conntrack",
    ])
    .unwrap();
    assert_eq!(node_iptables_rules(&lab).len(), 11);
    std::thread::sleep(SYNC_INTERVAL);
    lab.eventually("the deleted rule is re-created", |lab| {
        node_iptables_rules(lab).len() == 12
    });

    assert!(lab.stop("node-cache").success());
    assert_eq!(
        node_iptables_rules(&lab),
        Vec::<String>::new(),
        "rules removed"
    );
    assert!(!lab.interface_exists(), "the interface is removed");
}
