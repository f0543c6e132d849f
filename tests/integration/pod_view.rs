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
//! The cluster is the test API server (testkit/apiserver), listening on the dns
//! namespace's loopback, holding deploy/'s Service `kube-dns` as `kubectl apply -k deploy`
//! creates it, the `kubernetes` Service and a few applications; clusterdns watches it with
//! the real kube client, as in a cluster. The Corefile is deploy/'s (kubeadm's) with two
//! changes: `endpoint` names the test API server (in a pod, the in-cluster configuration
//! does), and `forward` goes to the upstream namespace instead of the node's resolv.conf.
//! The ports are the deployment's (53, health 8080, ready 8181, metrics 9153). The
//! cluster is then changed through the API while the server runs (a service added, an
//! endpoint made not ready, a service deleted) and the pod must see each change; last,
//! the API goes away and the pod keeps getting answers.
//!
//! Needs root (network namespaces), `ip`, `getent`, `dig` and unbound; skipped with a
//! message on stderr without them. CI runs it as root.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clusterdns_test_apiserver::ApiServer;
use clusterdns_test_apiserver::load::parse_documents;
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

/// How long a change in the API may take to reach the pod (a watch event: milliseconds;
/// the rest is slack for a loaded CI machine).
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

    /// A TCP listener on 127.0.0.1 inside `namespace`. A socket belongs to the network
    /// namespace of the thread that made it, so a short-lived thread enters the namespace
    /// and makes it; the test's other threads stay where they are.
    #[allow(unsafe_code)] // setns(2) has no safe wrapper in the crates we use.
    fn listen_in(&self, namespace: &str) -> std::net::TcpListener {
        let path = Path::new("/var/run/netns").join(namespace);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let handle = File::open(&path)?;
                    // SAFETY: setns only reads the descriptor, which `handle` keeps open;
                    // it changes the namespace of this thread alone.
                    if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    std::net::TcpListener::bind("127.0.0.1:0")
                })
                .join()
                .expect("the listener thread does not panic")
        })
        .unwrap_or_else(|e| panic!("cannot listen in {namespace}: {e}"))
    }
}

/// The objects of a manifest text, as the test API server takes them.
fn objects(yaml: &str) -> Vec<Value> {
    parse_documents(yaml).unwrap_or_else(|e| panic!("{e}:\n{yaml}"))
}

/// deploy/'s Service `kube-dns`, which the migration guide applies in place of the old
/// one: its cluster IP must be the one the dns namespace has.
fn deployed_kube_dns_service() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/service.yaml");
    let service = objects(&std::fs::read_to_string(&path).unwrap()).remove(0);
    assert_eq!(
        (
            service["metadata"]["name"].as_str(),
            service["spec"]["clusterIP"].as_str()
        ),
        (Some("kube-dns"), Some(DNS_SERVICE_IP)),
        "{}: the Service this lab stands in for",
        path.display()
    );
    service
}

/// The cluster when the server starts: `default/web` (two ready endpoints), the
/// headless `default/web-headless` (web-0 and web-1), `default/ext` (ExternalName),
/// `default/gone`, and the `kubernetes` and `kube-dns` services.
fn initial_cluster() -> Vec<Value> {
    let mut cluster = objects(
        &[
            namespace("default"),
            namespace("kube-system"),
            cluster_ip("default", "kubernetes", "10.96.0.1", "https", 443),
            slice(
                "default",
                "kubernetes",
                &[("172.18.0.2", None, true)],
                &[("https", 6443, "TCP")],
            ),
            slice(
                "kube-system",
                "kube-dns",
                &[(DNS_POD_IP, None, true)],
                &[
                    ("dns", 53, "UDP"),
                    ("dns-tcp", 53, "TCP"),
                    ("metrics", 9153, "TCP"),
                ],
            ),
            cluster_ip("default", "web", "10.96.100.10", "http", 80),
            slice(
                "default",
                "web",
                &[("10.244.1.5", None, true), ("10.244.2.7", None, true)],
                &[("http", 8080, "TCP")],
            ),
            cluster_ip("default", "web-headless", "None", "http", 80),
            web_headless_slice(true),
            "apiVersion: v1
kind: Service
metadata: {name: ext, namespace: default}
spec: {type: ExternalName, externalName: www.example.test}
"
            .to_owned(),
            cluster_ip("default", "gone", "10.96.100.20", "http", 80),
        ]
        .join("---\n"),
    );
    cluster.push(deployed_kube_dns_service());
    cluster
}

/// The headless service's slice: web-0 ready, web-1 as `web_1_ready` says.
fn web_headless_slice(web_1_ready: bool) -> String {
    slice(
        "default",
        "web-headless",
        &[
            ("10.244.1.10", Some("web-0"), true),
            ("10.244.1.11", Some("web-1"), web_1_ready),
        ],
        &[("http", 8080, "TCP")],
    )
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
    ports: &[(&str, u16, &str)],
) -> String {
    let ports: Vec<String> = ports
        .iter()
        .map(|(name, port, protocol)| {
            format!("{{name: {name}, port: {port}, protocol: {protocol}}}")
        })
        .collect();
    let mut text = format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-abcde
  namespace: {namespace}
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
ports: [{ports}]
endpoints:
",
        ports = ports.join(", ")
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

/// deploy/'s Corefile, watching the API at `api_url` and forwarding to the upstream
/// namespace.
fn corefile(api_url: &str) -> String {
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
            &format!("       ttl 30\n       endpoint {api_url}\n"),
        );
    assert!(
        adapted.contains(&format!("forward . {UPSTREAM_IP} {{"))
            && adapted.contains(&format!("endpoint {api_url}")),
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
#[ignore = "needs root, network namespaces, unbound, dig and getent (.ci/run runs it)"]
fn a_pod_resolves_through_clusterdns() {
    if let Some(reason) = missing_prerequisite() {
        panic!("pod_view cannot run here: {reason}");
    }
    let mut lab = Lab::new().expect("network namespaces for the lab");

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
    // The API server, on the dns namespace's loopback, served by this process.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let api = ApiServer::new();
    api.load_objects(initial_cluster());
    let listener = lab.listen_in(&lab.dns);
    listener.set_nonblocking(true).unwrap();
    let serving = {
        let _entered = runtime.enter();
        api.serve(tokio::net::TcpListener::from_std(listener).unwrap())
    };
    std::fs::write(lab.path("Corefile"), corefile(&serving.url())).unwrap();
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
    // deploy/'s Service, as the migration guide applies it: its ports, by name.
    assert_eq!(
        lab.dig_short(&["SRV", "_dns._udp.kube-dns.kube-system.svc.cluster.local"]),
        ["0 100 53 kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&[
            "SRV",
            "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local"
        ]),
        ["0 100 53 kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        lab.dig_short(&[
            "SRV",
            "_metrics._tcp.kube-dns.kube-system.svc.cluster.local"
        ]),
        ["0 100 9153 kube-dns.kube-system.svc.cluster.local."]
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
    api.load_objects(objects(&cluster_ip(
        "default",
        "added",
        "10.96.100.30",
        "http",
        80,
    )));
    lab.eventually("a new service", CHANGE_DEADLINE, |lab| {
        let host = one_host(lab.getent("hosts", "added"))?;
        (host.0 == "10.96.100.30")
            .then_some(())
            .ok_or(format!("{host:?}"))
    });
    assert_eq!(lab.dig_short(&["+search", "added"]), ["10.96.100.30"]);

    api.load_objects(objects(&web_headless_slice(false)));
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

    assert!(api.delete("Service", "default", "gone").is_some());
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

    // The API goes away (a control-plane upgrade): the last good zone keeps answering,
    // also after the watches have failed and retried for a while.
    runtime.block_on(serving.stop_and_wait());
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(3) {
        lab.check_alive();
        let (address, _) = one_host(lab.getent("hosts", "added")).unwrap();
        assert_eq!(address, "10.96.100.30");
        assert_eq!(lab.dig_short(&["+search", "web-headless"]), ["10.244.1.10"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let answer = lab.dig(&["+noall", "+comments", "gone.default.svc.cluster.local"]);
    assert!(answer.contains("status: NXDOMAIN"), "{answer}");
}
