//! `deploy/overlays/node-local`: clusterdns as NodeLocal DNSCache, in transparent mode
//! (the directory itself) and link-local-only mode (`link-local/`). The transparent
//! mode's files are read directly; both modes are also rendered by `kubectl kustomize`
//! (an ignored test: it needs kubectl). What is checked: the Corefile is NodeLocal
//! DNSCache's template, which the binary fills in at start exactly into
//! `deploy/examples/nodelocaldns.Corefile` and accepts; the DaemonSet's arguments are a
//! command line the binary takes and name the addresses the Corefile binds; the
//! DaemonSet runs on the host network with only NET_ADMIN beside NET_BIND_SERVICE and
//! updates with a surge; `kube-dns-upstream` selects the cluster DNS pods.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::serde::Deserialize;
use serde_json::Value;

use crate::support::binary;

/// kube-dns-upstream's cluster IP in the example Corefile.
const UPSTREAM_SERVICE_IP: &str = "10.96.0.11";

fn overlay_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/overlays/node-local")
}

fn parse_yaml(text: &str, what: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{what}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects/ files as listed by their kustomization, with its namespace.
fn read_objects() -> Vec<Value> {
    let dir = overlay_dir().join("objects");
    let kustomization = parse_yaml(
        &std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap(),
        "kustomization",
    )
    .remove(0);
    let mut objects = Vec::new();
    for file in kustomization["resources"].as_array().unwrap() {
        let path = dir.join(file.as_str().unwrap());
        objects.extend(parse_yaml(
            &std::fs::read_to_string(&path).unwrap(),
            &path.display().to_string(),
        ));
    }
    for object in &mut objects {
        object["metadata"]["namespace"] = kustomization["namespace"].clone();
    }
    objects
}

fn kubectl_kustomize(dir: &Path) -> Vec<Value> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    parse_yaml(&String::from_utf8_lossy(&output.stdout), "kubectl output")
}

fn get<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(objects: &[Value]) -> &Value {
    &get(objects, "DaemonSet", "node-local-dns")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    container(objects)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// The value after `flag` in the container's arguments.
fn arg(objects: &[Value], flag: &str) -> String {
    let args = args(objects);
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} in {args:?}"));
    args[at + 1].clone()
}

fn template(objects: &[Value]) -> String {
    get(objects, "ConfigMap", "node-local-dns")["data"]["Corefile"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The template filled in as the binary does at start, with kube-dns-upstream's address.
fn filled_in(objects: &[Value]) -> String {
    let local_ips: Vec<std::net::IpAddr> = arg(objects, "-localip")
        .split(',')
        .map(|ip| ip.parse().unwrap())
        .collect();
    let service = arg(objects, "-upstreamsvc");
    clusterdns_nodelocal::corefile::render(&template(objects), &local_ips, &service, |name| {
        (name == "KUBE_DNS_UPSTREAM_SERVICE_HOST").then(|| UPSTREAM_SERVICE_IP.to_owned())
    })
    .unwrap()
}

/// Runs the container's arguments with `--check`, as the container would start: the
/// ConfigMap's template where it is mounted (`/etc/coredns/Corefile.base`, here a
/// temporary directory), kube-dns-upstream's address in the environment; the binary
/// fills the template in and checks it. Without the address it must refuse clearly.
fn check_with_container_args(objects: &[Value]) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("Corefile.base");
    std::fs::write(&base, template(objects)).unwrap();
    let mut args = args(objects);
    let at = args.iter().position(|a| a == "-conf").unwrap();
    args[at + 1] = dir.path().join("Corefile").display().to_string();
    args.extend(["-basecorefile".to_owned(), base.display().to_string()]);
    let output = Command::new(binary())
        .args(&args)
        .arg("--check")
        .env("KUBE_DNS_UPSTREAM_SERVICE_HOST", UPSTREAM_SERVICE_IP)
        .output()
        .unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "ok",
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = Command::new(binary())
        .args(&args)
        .arg("--check")
        .env_remove("KUBE_DNS_UPSTREAM_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("KUBE_DNS_UPSTREAM_SERVICE_HOST is not set"),
        "{stderr}"
    );
}

/// Every `bind` line of a Corefile, as the set of its addresses.
fn bind_lines(corefile: &str) -> Vec<String> {
    corefile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("bind "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(","))
        .collect()
}

fn check_mode(objects: &[Value], local_ips: &str) {
    assert_eq!(arg(objects, "-localip"), local_ips);
    let corefile = filled_in(objects);
    assert!(!corefile.contains("__PILLAR__"), "{corefile}");
    let binds = bind_lines(&corefile);
    assert_eq!(binds.len(), 4, "{corefile}");
    assert!(binds.iter().all(|b| b == local_ips), "{binds:?}");
    assert!(corefile.contains(&format!("health {}:8080", &local_ips[..13])));
    check_with_container_args(objects);
    check_daemonset(objects);
}

fn check_daemonset(objects: &[Value]) {
    let daemonset = get(objects, "DaemonSet", "node-local-dns");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(pod["dnsPolicy"], "Default");
    assert_eq!(
        daemonset["spec"]["updateStrategy"]["rollingUpdate"],
        serde_json::json!({"maxSurge": 1, "maxUnavailable": 0})
    );
    let security = &container(objects)["securityContext"];
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        security["capabilities"]["add"],
        serde_json::json!(["NET_ADMIN", "NET_BIND_SERVICE"])
    );
    assert_eq!(security["allowPrivilegeEscalation"], false);
    // Threads bounded whatever the node's core count (the memory limit).
    assert_eq!(arg(objects, "--udp-workers"), "2");
    assert_eq!(
        container(objects)["env"],
        serde_json::json!([{"name": "TOKIO_WORKER_THREADS", "value": "2"}])
    );
    assert_eq!(security["readOnlyRootFilesystem"], true);
    // The template is mounted where -basecorefile defaults to, -conf is writable.
    let mounts = container(objects)["volumeMounts"].as_array().unwrap();
    let conf = arg(objects, "-conf");
    assert!(mounts.iter().any(|m| m["mountPath"] == "/etc/coredns"));
    assert!(
        mounts
            .iter()
            .any(|m| conf.starts_with(m["mountPath"].as_str().unwrap())
                && m["readOnly"] != true
                && m["mountPath"] != "/etc/coredns"),
        "{conf} is on a writable volume"
    );
    let config = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config-volume")
        .unwrap();
    assert_eq!(config["configMap"]["name"], "node-local-dns");
    assert_eq!(config["configMap"]["items"][0]["path"], "Corefile.base");
    // Liveness asks the health plugin on the local address; readiness reads the ready
    // file, in the pod's own writable volume (the health port is shared during updates).
    let liveness = &container(objects)["livenessProbe"]["httpGet"];
    assert_eq!(
        (
            liveness["host"].as_str(),
            liveness["path"].as_str(),
            liveness["port"].as_u64()
        ),
        (Some("169.254.20.10"), Some("/health"), Some(8080))
    );
    let ready_file = arg(objects, "-readyfile");
    assert_eq!(
        container(objects)["readinessProbe"]["exec"]["command"],
        serde_json::json!(["/bin/cat", ready_file])
    );
    let run_volume = mounts
        .iter()
        .find(|m| ready_file.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("the ready file is on a mounted volume");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == run_volume["name"])
        .unwrap();
    assert!(
        volume.get("emptyDir").is_some(),
        "the pod's own volume: {volume}"
    );
    // kube-dns-upstream selects the pods of deploy/'s cluster DNS Deployment.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/deployment.yaml");
    let deployment = parse_yaml(&std::fs::read_to_string(&base).unwrap(), "deployment").remove(0);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let upstream = get(objects, "Service", "kube-dns-upstream");
    for (key, value) in upstream["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[key], value, "selector {key}");
    }
    assert!(
        upstream["spec"].get("clusterIP").is_none(),
        "allocated by the cluster"
    );
    for object in objects {
        assert_eq!(object["metadata"]["namespace"], "kube-system");
    }
}

#[test]
fn the_transparent_mode_is_nodelocal_dnscaches_template() {
    let objects = read_objects();
    // Filled in as node-cache does, the ConfigMap is exactly the distribution's Corefile
    // in deploy/examples (which tests/integration/check.rs also checks).
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/nodelocaldns.Corefile");
    assert_eq!(
        filled_in(&objects),
        std::fs::read_to_string(example).unwrap()
    );
    check_mode(&objects, "169.254.20.10,10.96.0.10");
}

#[test]
#[ignore = "needs kubectl with kustomize on PATH"]
fn kubectl_kustomize_renders_both_modes() {
    let transparent = kubectl_kustomize(&overlay_dir());
    let kinds = |objects: &[Value]| {
        let mut kinds: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds(&transparent),
        [
            "ConfigMap/node-local-dns",
            "DaemonSet/node-local-dns",
            "Service/kube-dns-upstream",
            "Service/node-local-dns",
            "ServiceAccount/node-local-dns"
        ]
    );
    // kustomize renders what the files say.
    let mut files = read_objects();
    files.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    let mut rendered = transparent.clone();
    rendered.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    assert_eq!(rendered, files);
    check_mode(&transparent, "169.254.20.10,10.96.0.10");

    let link_local = kubectl_kustomize(&overlay_dir().join("link-local"));
    assert_eq!(kinds(&link_local), kinds(&transparent));
    check_mode(&link_local, "169.254.20.10");
    // Only the addresses differ between the modes.
    assert_eq!(
        filled_in(&link_local).trim_end(),
        filled_in(&transparent)
            .replace("bind 169.254.20.10 10.96.0.10", "bind 169.254.20.10")
            .trim_end()
    );
}
