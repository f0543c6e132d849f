//! The lab's network: a node namespace that routes between a client pod and the DNS
//! replicas, each replica in a namespace of its own, and the Service VIP 10.96.0.10
//! programmed in the node's nftables as kube-proxy's nftables mode programs it.
//!
//! ```text
//!   pod 10.244.0.2 ── veth ── node (forwarding, nftables DNAT, conntrack) ── veth ── 10.244.N.2 replica N
//!                             10.244.0.1                 10.244.N.1
//! ```
//!
//! Every link is routed (no bridge), so both directions of every query cross the node's
//! conntrack, as between pods on different nodes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The Service VIP.
pub const VIP: &str = "10.96.0.10";
/// The client pod's address.
pub const POD_IP: &str = "10.244.0.2";

/// Runs `program ARGS`; its output, or an error naming the command.
pub fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Runs `program ARGS` inside `namespace`, feeding it `stdin`.
pub fn run_in(namespace: &str, program: &str, args: &[&str], stdin: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, program])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} in {namespace}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Moves the calling thread into `namespace` (sockets it makes from now on belong there).
#[allow(unsafe_code)] // setns(2) has no safe wrapper in the crates we use.
pub fn enter(namespace: &str) -> std::io::Result<()> {
    let handle = File::open(Path::new("/var/run/netns").join(namespace))?;
    // SAFETY: setns only reads the descriptor, which `handle` keeps open; it changes the
    // namespace of this thread alone.
    if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The namespaces and links of one scenario; removed when dropped.
pub struct Network {
    pub node: String,
    pub pod: String,
    suffix: String,
    namespaces: parking_lot::Mutex<Vec<String>>,
}

impl Network {
    /// The node and pod namespaces, the VIP's (empty) service chain, conntrack on.
    pub fn new() -> Result<Self, String> {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        );
        let net = Self {
            node: format!("cdr-node-{suffix}"),
            pod: format!("cdr-pod-{suffix}"),
            suffix,
            namespaces: parking_lot::Mutex::new(Vec::new()),
        };
        for name in [net.node.clone(), net.pod.clone()] {
            run("ip", &["netns", "add", &name])?;
            net.namespaces.lock().push(name);
        }
        let (node, pod) = (net.node.clone(), net.pod.clone());
        net.steps(&[
            format!("-n {node} link set lo up"),
            format!("-n {pod} link set lo up"),
            format!("-n {node} link add pod0 type veth peer name eth0 netns {pod}"),
            format!("-n {node} addr add 10.244.0.1/24 dev pod0"),
            format!("-n {node} link set pod0 up"),
            format!("-n {pod} addr add {POD_IP}/24 dev eth0"),
            format!("-n {pod} link set eth0 up"),
            format!("-n {pod} route add default via 10.244.0.1"),
        ])?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                &node,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        // kube-proxy's nftables mode: the service chain jumps to one endpoint at random
        // (`numgen random mod N`), DNAT keeps the port.
        run_in(
            &node,
            "nft",
            &["-f", "-"],
            &format!(
                "table ip kube-proxy {{
  chain services {{ type nat hook prerouting priority dstnat; policy accept; ip daddr {VIP} jump svc-kube-dns; }}
  chain svc-kube-dns {{ }}
}}
"
            ),
        )?;
        Ok(net)
    }

    fn steps(&self, steps: &[String]) -> Result<(), String> {
        for step in steps {
            run("ip", &step.split_whitespace().collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Creates replica slot `slot`'s namespace (10.244.SLOT.2) and link; its name.
    pub fn add_slot(&self, slot: u8) -> Result<String, String> {
        let name = self.slot_namespace(slot);
        run("ip", &["netns", "add", &name])?;
        self.namespaces.lock().push(name.clone());
        let node = &self.node;
        self.steps(&[
            format!("-n {name} link set lo up"),
            format!("-n {node} link add r{slot} type veth peer name eth0 netns {name}"),
            format!("-n {node} addr add 10.244.{slot}.1/24 dev r{slot}"),
            format!("-n {node} link set r{slot} up"),
            format!("-n {name} addr add {}/24 dev eth0", slot_ip(slot)),
            format!("-n {name} link set eth0 up"),
            format!("-n {name} route add default via 10.244.{slot}.1"),
        ])?;
        Ok(name)
    }

    /// The namespace of replica slot `slot` (made by [`Network::add_slot`]).
    pub fn slot_namespace(&self, slot: u8) -> String {
        format!("cdr-r{slot}-{}", self.suffix)
    }

    /// Programs the service chain with `backends` (kube-proxy rewrites the chain in one
    /// transaction when the ready endpoints change).
    pub fn set_backends(&self, backends: &[u8]) -> Result<(), String> {
        let mut script = String::from("flush chain ip kube-proxy svc-kube-dns\n");
        if !backends.is_empty() {
            let map = backends
                .iter()
                .enumerate()
                .map(|(i, slot)| format!("{i} : {}", slot_ip(*slot)))
                .collect::<Vec<_>>()
                .join(", ");
            script.push_str(&format!(
                "add rule ip kube-proxy svc-kube-dns dnat to numgen random mod {} map {{ {map} }}\n",
                backends.len()
            ));
        }
        run_in(&self.node, "nft", &["-f", "-"], &script)
    }

    /// Deletes the UDP conntrack entries of the VIP whose replies come from `slot`, as
    /// kube-proxy does for a removed endpoint.
    pub fn flush_conntrack(&self, slot: u8) {
        // Exit status 1 means no entry matched: not an error.
        let _ = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.node,
                "conntrack",
                "-D",
                "-p",
                "udp",
                "--orig-dst",
                VIP,
                "--reply-src",
                &slot_ip(slot),
            ],
        );
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for namespace in self.namespaces.lock().iter().rev() {
            if let Ok(output) = run("ip", &["netns", "pids", namespace]) {
                for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            let _ = run("ip", &["netns", "del", namespace]);
        }
    }
}

/// Replica slot `slot`'s address.
pub fn slot_ip(slot: u8) -> String {
    format!("10.244.{slot}.2")
}

/// One clusterdns process.
pub struct Replica {
    pub slot: u8,
    pub child: Child,
    pub log: PathBuf,
}

impl Replica {
    /// Starts the real binary in `namespace` with `corefile`.
    pub fn start(slot: u8, namespace: &str, corefile: &Path, log: PathBuf) -> Self {
        let file = File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(super::replica_binary())
            .arg("-conf")
            .arg(corefile)
            .args(["--drain-limit", &super::drain_limit()])
            .args(["--drain-quiet", &super::drain_quiet()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start replica {slot}: {e}"));
        Self { slot, child, log }
    }

    /// Sends `signal` to the process (`ip netns exec` execs it: same pid).
    #[allow(unsafe_code)] // kill(2) has no safe wrapper in the crates we use.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(pid, signal) };
    }

    /// Whether it has exited (and reaps it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!(
                "----- replica {} ({}) -----\n{text}",
                self.slot,
                self.log.display()
            );
        }
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
