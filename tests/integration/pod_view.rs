//! The cluster DNS as a pod sees it: glibc (`getent`) and `dig` in a network namespace
//! whose `/etc/resolv.conf` is the kubelet's, asking clusterdns (the real binary) at the
//! Service IP 10.96.0.10, which forwards names outside the cluster to unbound.
//!
//! Three network namespaces, made by the test and removed when it ends:
//!
//! ```text
//!   pod 10.244.99.2 ── veth ── 10.244.99.1 + 10.96.0.10 dns ── veth ── 198.51.100.2 upstream
//!   resolv.conf: kubelet's         clusterdns -conf Corefile          unbound: example.test
//! ```
//!
//! The Corefile is deploy/'s (kubeadm's) with two changes: the cluster is read from a
//! manifest file (`manifests cluster.yaml`) instead of the API, and `forward` goes to the
//! upstream namespace instead of the node's resolv.conf. The ports are the deployment's
//! (53, health 8080, ready 8181, metrics 9153). The manifest file is then replaced while
//! the server runs (a service added, an endpoint made not ready, a service deleted), and
//! the pod must see each change.
//!
//! Needs root (network namespaces), `ip`, `getent`, `dig` and unbound; skipped with a
//! message on stderr without them. CI runs it as root.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::binary;

/// The Service IP of kube-dns, on the dns namespace's interface.
const DNS_SERVICE_IP: &str = "10.96.0.10";
/// The dns "pod"'s own address, on the link to the pod.
const DNS_POD_IP: &str = "10.244.99.1";
/// The client pod's address.
const POD_IP: &str = "10.244.99.2";
/// The dns namespace's address on the link to the upstream.
const DNS_UPSTREAM_LINK_IP: &str = "198.51.100.1";
/// The upstream resolver (unbound).
const UPSTREAM_IP: &str = "198.51.100.2";
/// The address unbound answers for `www.example.test`.
const EXTERNAL_IP: &str = "192.0.2.7";

/// The kubelet's resolv.conf for a pod in namespace `default` (dnsPolicy ClusterFirst).
const RESOLV_CONF: &str = "nameserver 10.96.0.10
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5
";

/// How long a change of the manifest file may take to reach the pod (the manifest
/// source looks at the file every second).
const CHANGE_DEADLINE: Duration = Duration::from_secs(10);

/// Why the test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Some(format!(
            "not root (euid {euid}): network namespaces need root"
        ));
    }
    for tool in ["ip", "getent", "dig", "timeout"] {
        if find_in_path(tool).is_none() {
            return Some(format!("no `{tool}` on PATH"));
        }
    }
    if unbound_binary().is_none() {
        return Some("no unbound (apt-get install unbound)".into());
    }
    if Path::new("/var/run/nscd/socket").exists() {
        return Some("nscd is running: glibc lookups would bypass the pod's namespace".into());
    }
    None
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

fn unbound_binary() -> Option<&'static Path> {
    ["/usr/sbin/unbound", "/usr/local/sbin/unbound"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}

/// Runs `ip ARGS`; its output, or an error naming the command.
fn ip(args: &[&str]) -> Result<Output, String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The namespaces, processes and files of one run; all removed when dropped, also when
/// the test fails (and then the server's and unbound's logs are printed).
struct Lab {
    dns: String,
    pod: String,
    upstream: String,
    namespaces: Vec<String>,
    etc_dir: Option<PathBuf>,
    processes: Vec<(&'static str, Child, PathBuf)>,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, _, log) in &self.processes {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                eprintln!("----- {name} log ({}) -----\n{text}", log.display());
            }
        }
        for (_, child, _) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        for namespace in &self.namespaces {
            // Anything still running in our namespaces was started by this test (a
            // lookup that outlived its deadline): end it, by its pid, before removing
            // the namespace.
            if let Ok(output) = ip(&["netns", "pids", namespace]) {
                for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).status();
                }
            }
            if let Err(error) = ip(&["netns", "del", namespace]) {
                eprintln!("cleanup: {error}");
            }
        }
        if let Some(dir) = &self.etc_dir {
            let _ = std::fs::remove_dir_all(dir);
            // /etc/netns itself only if nothing else uses it.
            let _ = std::fs::remove_dir(Path::new("/etc/netns"));
        }
    }
}

impl Lab {
    /// Creates the namespaces and links; `Err` with the reason when namespaces cannot
    /// be created here (the caller skips), panics on later failures.
    fn new() -> Result<Self, String> {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let suffix = format!(
            "{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::SeqCst)
        );
        let mut lab = Self {
            dns: format!("cdns-dns-{suffix}"),
            pod: format!("cdns-pod-{suffix}"),
            upstream: format!("cdns-up-{suffix}"),
            namespaces: Vec::new(),
            etc_dir: None,
            processes: Vec::new(),
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
        };
        // The first namespace tells whether we may create and enter them at all (a
        // container without privileges may refuse either).
        ip(&["netns", "add", &lab.dns])?;
        lab.namespaces.push(lab.dns.clone());
        ip(&["netns", "exec", &lab.dns, "true"])?;
        for name in [lab.pod.clone(), lab.upstream.clone()] {
            ip(&["netns", "add", &name]).unwrap();
            lab.namespaces.push(name);
        }
        let (dns, pod, upstream) = (&lab.dns, &lab.pod, &lab.upstream);
        let steps = [
            // The veth pairs are created with their ends already in place, so nothing is
            // left in the host's namespace if the test dies.
            format!("-n {dns} link add to-pod type veth peer name eth0 netns {pod}"),
            format!("-n {dns} link add to-up type veth peer name eth0 netns {upstream}"),
            format!("-n {dns} link set lo up"),
            format!("-n {pod} link set lo up"),
            format!("-n {upstream} link set lo up"),
            format!("-n {dns} addr add {DNS_POD_IP}/24 dev to-pod"),
            format!("-n {dns} addr add {DNS_SERVICE_IP}/32 dev to-pod"),
            format!("-n {dns} addr add {DNS_UPSTREAM_LINK_IP}/24 dev to-up"),
            format!("-n {dns} link set to-pod up"),
            format!("-n {dns} link set to-up up"),
            format!("-n {pod} addr add {POD_IP}/24 dev eth0"),
            format!("-n {pod} link set eth0 up"),
            format!("-n {pod} route add {DNS_SERVICE_IP}/32 via {DNS_POD_IP}"),
            format!("-n {upstream} addr add {UPSTREAM_IP}/24 dev eth0"),
            format!("-n {upstream} link set eth0 up"),
        ];
        for step in &steps {
            ip(&step.split_whitespace().collect::<Vec<_>>()).unwrap();
        }
        // What the pod's containers see as /etc: `ip netns exec` mounts these files over
        // the host's. nsswitch.conf as in a container image (a desktop's
        // `mdns4_minimal [NOTFOUND=return]` would stop `.local` names before DNS).
        let etc = Path::new("/etc/netns").join(&lab.pod);
        std::fs::create_dir_all(&etc).unwrap();
        lab.etc_dir = Some(etc.clone());
        std::fs::write(etc.join("resolv.conf"), RESOLV_CONF).unwrap();
        if Path::new("/etc/nsswitch.conf").exists() {
            std::fs::write(etc.join("nsswitch.conf"), "hosts: files dns\n").unwrap();
        }
        Ok(lab)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `command` inside `namespace`, its output going to a log file.
    fn spawn(&mut self, name: &'static str, namespace: &str, command: &[&str]) {
        let log = self.path(&format!("{name}.log"));
        let file = File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .args(command)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.processes.push((name, child, log));
    }

    /// Panics (printing the logs) if a process we started has exited.
    fn check_alive(&mut self) {
        for (name, child, _) in &mut self.processes {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited: {status}");
            }
        }
    }

    /// Runs `command` in the pod's namespace, with the pod's /etc files.
    fn in_pod(&self, command: &[&str]) -> Output {
        Command::new("timeout")
            .args(["-k", "5", "30", "ip", "netns", "exec", &self.pod])
            .args(command)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `getent DATABASE KEY` in the pod: its lines split into words, or `Err` with the
    /// exit status (2: not found).
    fn getent(&self, database: &str, key: &str) -> Result<Vec<Vec<String>>, String> {
        let output = self.in_pod(&["getent", database, key]);
        if !output.status.success() {
            return Err(format!("getent {database} {key}: {}", output.status));
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .filter(|words: &Vec<String>| !words.is_empty())
            .collect())
    }

    /// `dig ARGS` in the pod, asking the nameserver of its resolv.conf; stdout.
    fn dig(&self, args: &[&str]) -> String {
        let mut command = vec!["dig", "+time=2", "+tries=2"];
        command.extend_from_slice(args);
        let output = self.in_pod(&command);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The lines of `dig +short ARGS`.
    fn dig_short(&self, args: &[&str]) -> Vec<String> {
        let mut command = vec!["+short"];
        command.extend_from_slice(args);
        self.dig(&command)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty() && !l.starts_with(";;"))
            .collect()
    }

    /// An HTTP GET from the pod's namespace (bash's /dev/tcp): the status line.
    fn http_status(&self, ip: &str, port: u16, path: &str) -> Result<String, String> {
        let script = format!(
            "exec 3<>/dev/tcp/{ip}/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3 && head -n 1 <&3"
        );
        let output = self.in_pod(&["bash", "-c", &script]);
        let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if output.status.success() && !text.is_empty() {
            Ok(text)
        } else {
            Err(format!(
                "GET http://{ip}:{port}{path}: {} {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Retries `check` until it passes or `deadline` has passed (then panics with its
    /// last complaint).
    fn eventually(
        &mut self,
        what: &str,
        deadline: Duration,
        mut check: impl FnMut(&Self) -> Result<(), String>,
    ) {
        let start = Instant::now();
        loop {
            self.check_alive();
            match check(self) {
                Ok(()) => return,
                Err(problem) if start.elapsed() > deadline => {
                    panic!("{what}: not seen within {deadline:?}: {problem}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Replaces the manifest file the way the kubelet updates a ConfigMap volume: a new
    /// file renamed over the old one.
    fn write_cluster(&self, cluster: &Cluster) {
        let tmp = self.path("cluster.yaml.tmp");
        let mut file = File::create(&tmp).unwrap();
        file.write_all(cluster.yaml().as_bytes()).unwrap();
        file.sync_all().unwrap();
        std::fs::rename(&tmp, self.path("cluster.yaml")).unwrap();
    }
}

/// The cluster the manifest file describes, with the three things the test changes.
struct Cluster {
    /// Service default/added exists.
    added: bool,
    /// Endpoint web-1 of the headless service is ready.
    web_1_ready: bool,
    /// Service default/gone exists.
    gone: bool,
}

impl Cluster {
    fn yaml(&self) -> String {
        let mut docs = vec![
            namespace("default"),
            namespace("kube-system"),
            cluster_ip("default", "kubernetes", "10.96.0.1", "https", 443),
            slice(
                "default",
                "kubernetes",
                &[("172.18.0.2", None, true)],
                "https",
                6443,
            ),
            cluster_ip("kube-system", "kube-dns", DNS_SERVICE_IP, "dns", 53),
            slice(
                "kube-system",
                "kube-dns",
                &[(DNS_POD_IP, None, true)],
                "dns",
                53,
            ),
            cluster_ip("default", "web", "10.96.100.10", "http", 80),
            slice(
                "default",
                "web",
                &[("10.244.1.5", None, true), ("10.244.2.7", None, true)],
                "http",
                8080,
            ),
            cluster_ip("default", "web-headless", "None", "http", 80),
            slice(
                "default",
                "web-headless",
                &[
                    ("10.244.1.10", Some("web-0"), true),
                    ("10.244.1.11", Some("web-1"), self.web_1_ready),
                ],
                "http",
                8080,
            ),
            "apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: www.example.test}
"
            .to_owned(),
        ];
        if self.gone {
            docs.push(cluster_ip("default", "gone", "10.96.100.20", "http", 80));
        }
        if self.added {
            docs.push(cluster_ip("default", "added", "10.96.100.30", "http", 80));
        }
        docs.join("---\n")
    }
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

fn cluster_ip(namespace: &str, name: &str, ip: &str, port_name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  clusterIP: {ip}
  clusterIPs: [{ip}]
  ports: [{{name: {port_name}, port: {port}, protocol: TCP}}]
"
    )
}

fn slice(
    namespace: &str,
    service: &str,
    endpoints: &[(&str, Option<&str>, bool)],
    port_name: &str,
    port: u16,
) -> String {
    let mut text = format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-abcde
  namespace: {namespace}
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
ports: [{{name: {port_name}, port: {port}, protocol: TCP}}]
endpoints:
"
    );
    for (address, hostname, ready) in endpoints {
        text.push_str(&format!(
            "- addresses: [{address}]\n  conditions: {{ready: {ready}}}\n"
        ));
        if let Some(hostname) = hostname {
            text.push_str(&format!("  hostname: {hostname}\n"));
        }
    }
    text
}

/// deploy/'s Corefile, reading the cluster from `cluster.yaml` and forwarding to the
/// upstream namespace.
fn corefile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/configmap.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: Value = serde_norway::from_str(&text).unwrap();
    let corefile = config["data"]["Corefile"].as_str().unwrap().to_owned();
    let adapted = corefile
        .replace(
            "forward . /etc/resolv.conf",
            &format!("forward . {UPSTREAM_IP}"),
        )
        .replace(
            "       ttl 30\n",
            "       ttl 30\n       manifests cluster.yaml\n",
        );
    assert!(
        adapted.contains(&format!("forward . {UPSTREAM_IP} {{"))
            && adapted.contains("manifests cluster.yaml"),
        "deploy/base/configmap.yaml's Corefile is no longer kubeadm's; adapt this test:\n{corefile}"
    );
    adapted
}

fn unbound_conf(dir: &Path) -> String {
    format!(
        "server:
    interface: {UPSTREAM_IP}
    port: 53
    access-control: 0.0.0.0/0 allow
    do-daemonize: no
    use-syslog: no
    logfile: \"\"
    chroot: \"\"
    username: \"\"
    directory: \"{dir}\"
    pidfile: \"\"
    num-threads: 1
    do-ip6: no
    module-config: \"iterator\"
    # No Internet here: everything but example.test is NXDOMAIN, at once.
    local-zone: \".\" static
    local-zone: \"example.test.\" static
    local-data: \"www.example.test. A {EXTERNAL_IP}\"
remote-control:
    control-enable: no
",
        dir = dir.display()
    )
}

/// The address and names of the single line of a `getent hosts` answer.
fn one_host(lines: Result<Vec<Vec<String>>, String>) -> Result<(String, Vec<String>), String> {
    let lines = lines?;
    match lines.as_slice() {
        [line] => Ok((line[0].clone(), line[1..].to_vec())),
        other => Err(format!("expected one line, got {other:?}")),
    }
}

/// The distinct addresses of a `getent ahosts` answer.
fn addresses(lines: &[Vec<String>]) -> Vec<String> {
    let mut addresses: Vec<String> = lines.iter().map(|l| l[0].clone()).collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

#[test]
fn a_pod_resolves_through_clusterdns() {
    if let Some(reason) = missing_prerequisite() {
        eprintln!("SKIPPED pod_view: {reason}");
        return;
    }
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(error) => {
            eprintln!("SKIPPED pod_view: cannot create network namespaces: {error}");
            return;
        }
    };

    // The upstream, then the server with the first cluster.
    let unbound = unbound_binary().unwrap();
    let conf = lab.path("unbound.conf");
    std::fs::write(&conf, unbound_conf(lab.dir.path())).unwrap();
    let upstream = lab.upstream.clone();
    lab.spawn(
        "unbound",
        &upstream,
        &[
            &unbound.display().to_string(),
            "-d",
            "-c",
            &conf.display().to_string(),
        ],
    );
    let mut cluster = Cluster {
        added: false,
        web_1_ready: true,
        gone: true,
    };
    lab.write_cluster(&cluster);
    std::fs::write(lab.path("Corefile"), corefile()).unwrap();
    let dns = lab.dns.clone();
    let corefile_path = lab.path("Corefile").display().to_string();
    lab.spawn(
        "clusterdns",
        &dns,
        &[&binary().display().to_string(), "-conf", &corefile_path],
    );

    // Up when the pod gets an answer, ready as the kubelet would probe it.
    lab.eventually(
        "the server answers the pod",
        Duration::from_secs(20),
        |lab| {
            let answer = lab.dig_short(&[
                "+time=1",
                "+tries=1",
                "kubernetes.default.svc.cluster.local",
            ]);
            (answer == ["10.96.0.1"])
                .then_some(())
                .ok_or(format!("{answer:?}"))
        },
    );
    lab.eventually("the upstream answers", Duration::from_secs(10), |lab| {
        let answer = lab.dig_short(&["+time=1", "+tries=1", "www.example.test"]);
        (answer == [EXTERNAL_IP])
            .then_some(())
            .ok_or(format!("{answer:?}"))
    });
    if find_in_path("bash").is_some() {
        for (port, path) in [(8080, "/health"), (8181, "/ready"), (9153, "/metrics")] {
            let status = lab.http_status(DNS_POD_IP, port, path);
            assert!(
                status.as_deref().is_ok_and(|s| s.contains(" 200 ")),
                "{path}: {status:?}"
            );
        }
    } else {
        eprintln!("pod_view: no bash, /health and /ready not probed");
    }

    // glibc, through the search path: `web` is web.default.svc.cluster.local.
    let (address, names) = one_host(lab.getent("hosts", "web")).unwrap();
    assert_eq!(address, "10.96.100.10");
    assert!(
        names.contains(&"web.default.svc.cluster.local".to_owned()),
        "{names:?}"
    );
    let lines = lab.getent("ahosts", "web.default").unwrap();
    assert_eq!(addresses(&lines), ["10.96.100.10"], "{lines:?}");
    assert!(
        lines[0].contains(&"web.default.svc.cluster.local".to_owned()),
        "canonical name: {lines:?}"
    );
    // A headless service's endpoints, by hostname and all together.
    let (address, _) =
        one_host(lab.getent("hosts", "web-0.web-headless.default.svc.cluster.local")).unwrap();
    assert_eq!(address, "10.244.1.10");
    let lines = lab.getent("ahosts", "web-headless").unwrap();
    assert_eq!(addresses(&lines), ["10.244.1.10", "10.244.1.11"]);
    // A pod record (`pods insecure`).
    let (address, _) =
        one_host(lab.getent("hosts", "10-244-99-2.default.pod.cluster.local")).unwrap();
    assert_eq!(address, POD_IP);
    // Outside the cluster: every search domain is NXDOMAIN, then the name itself goes
    // through forward to the upstream.
    let (address, _) = one_host(lab.getent("hosts", "www.example.test")).unwrap();
    assert_eq!(address, EXTERNAL_IP);
    // An ExternalName service: the CNAME, then the upstream's address of its target.
    let (address, names) = one_host(lab.getent("hosts", "ext")).unwrap();
    assert_eq!(address, EXTERNAL_IP);
    assert!(
        names.contains(&"www.example.test".to_owned()),
        "canonical name is the target: {names:?}"
    );
    assert!(
        lab.getent("hosts", "nosuch").is_err(),
        "nosuch is not found"
    );
    let (address, _) = one_host(lab.getent("hosts", "gone")).unwrap();
    assert_eq!(address, "10.96.100.20");

    // dig, which reads the same resolv.conf.
    let answer = lab.dig(&["+search", "+noall", "+answer", "web"]);
    let records: Vec<Vec<&str>> = answer
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| !w.is_empty())
        .collect();
    assert_eq!(
        records,
        [[
            "web.default.svc.cluster.local.",
            "30",
            "IN",
            "A",
            "10.96.100.10"
        ]],
        "{answer}"
    );
    assert_eq!(
        lab.dig_short(&["SRV", "_http._tcp.web.default.svc.cluster.local"]),
        ["0 100 80 web.default.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&["-x", "10.96.100.10"]),
        ["web.default.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&["-x", DNS_SERVICE_IP]),
        ["kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&["-x", "10.244.1.10"]),
        ["web-0.web-headless.default.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&["ext.default.svc.cluster.local"]),
        ["www.example.test.", EXTERNAL_IP]
    );
    let answer = lab.dig(&["+noall", "+comments", "nosuch.default.svc.cluster.local"]);
    assert!(answer.contains("status: NXDOMAIN"), "{answer}");

    // Changes to the cluster while the server runs.
    cluster.added = true;
    lab.write_cluster(&cluster);
    lab.eventually("a new service", CHANGE_DEADLINE, |lab| {
        let host = one_host(lab.getent("hosts", "added"))?;
        (host.0 == "10.96.100.30")
            .then_some(())
            .ok_or(format!("{host:?}"))
    });
    assert_eq!(lab.dig_short(&["+search", "added"]), ["10.96.100.30"]);

    cluster.web_1_ready = false;
    lab.write_cluster(&cluster);
    lab.eventually(
        "an endpoint that is no longer ready",
        CHANGE_DEADLINE,
        |lab| {
            let lines = lab.getent("ahosts", "web-headless")?;
            let found = addresses(&lines);
            (found == ["10.244.1.10"])
                .then_some(())
                .ok_or(format!("{found:?}"))
        },
    );
    assert!(
        lab.getent("hosts", "web-1.web-headless.default.svc.cluster.local")
            .is_err(),
        "web-1 is gone with its readiness"
    );
    assert_eq!(
        lab.dig_short(&["web-headless.default.svc.cluster.local"]),
        ["10.244.1.10"]
    );

    cluster.gone = false;
    lab.write_cluster(&cluster);
    lab.eventually("a deleted service", CHANGE_DEADLINE, |lab| {
        match lab.getent("hosts", "gone") {
            Err(_) => Ok(()),
            Ok(lines) => Err(format!("still {lines:?}")),
        }
    });
    let answer = lab.dig(&["+noall", "+comments", "gone.default.svc.cluster.local"]);
    assert!(answer.contains("status: NXDOMAIN"), "{answer}");
    // The rest is as it was.
    let (address, _) = one_host(lab.getent("hosts", "web")).unwrap();
    assert_eq!(address, "10.96.100.10");
}
