//! The manifests of `deploy/` (a kustomize base and its overlays) and the `Dockerfile`.
//!
//! Every kustomization is rendered twice when kubectl is installed: by a small renderer
//! here that reads the YAML files directly (the subset of kustomize that `deploy/`
//! uses), so the checks run without kubectl, and by `kubectl kustomize`, which must give
//! the same objects. Each object must deserialize into its k8s-openapi type and
//! serialize back unchanged (k8s-openapi ignores unknown fields, so a misspelt field
//! would otherwise pass). Then: the Corefile passes `clusterdns --check`, Service
//! `kube-dns` is CoreDNS's, the probes and ports are those of the Corefile's plugins, and
//! RBAC grants exactly what the *kubernetes* plugin watches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::serde::Deserialize;
use k8s_openapi::serde::de::DeserializeOwned;
use k8s_openapi::serde::ser::Serialize;
use serde_json::Value;

use crate::support::binary;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// The overlays, by directory name.
const OVERLAYS: [&str; 3] = ["cluster-ip", "pods-verified", "autoscaler"];

// ---------------------------------------------------------------------------------
// Rendering

/// Reads every YAML document of `path` (empty documents skipped).
fn read_yaml(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_yaml(&text, &path.display().to_string())
}

fn parse_yaml(text: &str, what: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{what}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// Kinds without a namespace, of those `deploy/` uses.
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "ClusterRole" | "ClusterRoleBinding" | "Namespace" | "PriorityClass"
    )
}

/// Renders the kustomization in `dir` from its files: `resources` (files and
/// directories holding a kustomization), `namespace`, and `patches`, either inline
/// JSON 6902 patches (`add`, `replace`, `remove`) with a `target`, or `path` to a
/// strategic-merge patch made of maps only. Anything else is refused, so that this
/// renderer never silently differs from kustomize.
fn render_files(dir: &Path) -> Vec<Value> {
    let path = dir.join("kustomization.yaml");
    let docs = read_yaml(&path);
    assert_eq!(docs.len(), 1, "{}: one document", path.display());
    let kustomization = docs[0].as_object().expect("a map");
    for key in kustomization.keys() {
        assert!(
            ["apiVersion", "kind", "namespace", "resources", "patches"].contains(&key.as_str()),
            "{}: `{key}` is not supported by this test's renderer",
            path.display()
        );
    }
    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_array().expect("resources") {
        let target = dir.join(resource.as_str().expect("a path"));
        if target.is_dir() {
            objects.extend(render_files(&target));
        } else {
            objects.extend(read_yaml(&target));
        }
    }
    if let Some(namespace) = kustomization.get("namespace") {
        for object in &mut objects {
            if !cluster_scoped(object["kind"].as_str().expect("kind")) {
                object["metadata"]["namespace"] = namespace.clone();
            }
        }
    }
    for patch in kustomization
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(file) = patch.get("path") {
            let file = dir.join(file.as_str().expect("a path"));
            for merge in read_yaml(&file) {
                apply_merge_patch(&mut objects, &merge, &file);
            }
        } else {
            let target = &patch["target"];
            let ops = parse_yaml(
                patch["patch"].as_str().expect("an inline patch"),
                &format!("{}: patch", path.display()),
            );
            let ops = ops.first().and_then(Value::as_array).expect("a list");
            let mut matched = 0;
            for object in objects.iter_mut().filter(|o| matches_target(o, target)) {
                matched += 1;
                for op in ops {
                    apply_json_patch(object, op);
                }
            }
            assert_eq!(matched, 1, "{}: patch target {target}", path.display());
        }
    }
    objects
}

fn matches_target(object: &Value, target: &Value) -> bool {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let field = |key: &str| target.get(key).and_then(Value::as_str);
    field("kind").is_none_or(|k| k == object["kind"])
        && field("name").is_none_or(|n| n == object["metadata"]["name"])
        && field("group").is_none_or(|g| g == group)
        && field("version").is_none_or(|v| v == version)
}

fn apply_merge_patch(objects: &mut [Value], patch: &Value, file: &Path) {
    let object = objects
        .iter_mut()
        .find(|o| o["kind"] == patch["kind"] && o["metadata"]["name"] == patch["metadata"]["name"])
        .unwrap_or_else(|| panic!("{}: no object to patch", file.display()));
    merge(object, patch, file);
}

fn merge(into: &mut Value, patch: &Value, file: &Path) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                match into.get_mut(key) {
                    Some(existing) => merge(existing, value, file),
                    None => {
                        into.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (_, Value::Array(_)) => panic!(
            "{}: lists in strategic-merge patches are not supported by this test's renderer",
            file.display()
        ),
        (into, patch) => *into = patch.clone(),
    }
}

/// One JSON 6902 operation: `add` (`/-` appends), `replace` or `remove`.
fn apply_json_patch(object: &mut Value, op: &Value) {
    let path = op["path"].as_str().expect("path");
    let (parent, last) = path.rsplit_once('/').expect("a JSON pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let parent = object
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} to patch"));
    match (op["op"].as_str().expect("op"), parent) {
        ("add", Value::Array(list)) if last == "-" => list.push(op["value"].clone()),
        ("add" | "replace", Value::Array(list)) => {
            let index: usize = last.parse().expect("an index");
            if op["op"] == "add" {
                list.insert(index, op["value"].clone());
            } else {
                list[index] = op["value"].clone();
            }
        }
        ("add", Value::Object(map)) => {
            map.insert(last, op["value"].clone());
        }
        ("replace", Value::Object(map)) => {
            assert!(map.contains_key(&last), "replace of missing {path}");
            map.insert(last, op["value"].clone());
        }
        ("remove", Value::Object(map)) => {
            assert!(map.remove(&last).is_some(), "remove of missing {path}");
        }
        ("remove", Value::Array(list)) => {
            list.remove(last.parse::<usize>().expect("an index"));
        }
        (other, _) => panic!("op {other} on {path} is not supported by this test's renderer"),
    }
}

/// `kubectl kustomize dir`, parsed.
fn render_kubectl(dir: &Path) -> Vec<Value> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl on PATH (this test is ignored unless asked for)");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    parse_yaml(&text, "kubectl kustomize output")
}

/// The objects of a kustomization keyed by kind, namespace and name.
type Objects = BTreeMap<(String, String, String), Value>;

fn keyed(objects: Vec<Value>) -> Objects {
    let mut keyed = BTreeMap::new();
    for object in objects {
        let key = (
            object["kind"].as_str().expect("kind").to_owned(),
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            object["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned(),
        );
        assert!(keyed.insert(key.clone(), object).is_none(), "{key:?} twice");
    }
    keyed
}

/// Renders `dir` from the files (kubectl is checked against them by
/// [`kubectl_kustomize_renders_what_the_tests_check`]).
fn render(dir: &Path) -> Objects {
    keyed(render_files(dir))
}

fn base() -> Objects {
    render(&deploy_dir())
}

fn overlay(name: &str) -> Objects {
    render(&deploy_dir().join("overlays").join(name))
}

fn get<'a>(objects: &'a Objects, kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|((k, _, n), _)| k == kind && n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

// ---------------------------------------------------------------------------------
// Types

/// Deserializes `value` into `T` and checks that it serializes back unchanged.
fn typed<T: DeserializeOwned + Serialize>(value: &Value) -> T {
    let what = format!("{} {}", value["kind"], value["metadata"]["name"]);
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} does not deserialize: {e}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    let mut differences = Vec::new();
    diff("", value, &back, &mut differences);
    assert!(
        differences.is_empty(),
        "{what}: fields its type does not have (misspelt or misplaced?): {differences:?}"
    );
    typed
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                let sub = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(&sub, x, y, out),
                    (x, _) => out.push(format!(
                        "{sub} {}",
                        if x.is_some() { "dropped" } else { "added" }
                    )),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}/{i}"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!("{path}: {a} became {b}")),
        _ => {}
    }
}

/// Deserializes every object into the type of its kind; the kinds seen.
fn check_types(objects: &Objects) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for ((kind, _, _), object) in objects {
        let api_version = object["apiVersion"].as_str().expect("apiVersion");
        match (api_version, kind.as_str()) {
            ("v1", "ServiceAccount") => drop(typed::<ServiceAccount>(object)),
            ("v1", "ConfigMap") => drop(typed::<ConfigMap>(object)),
            ("v1", "Service") => drop(typed::<Service>(object)),
            ("apps/v1", "Deployment") => drop(typed::<Deployment>(object)),
            ("policy/v1", "PodDisruptionBudget") => drop(typed::<PodDisruptionBudget>(object)),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => drop(typed::<ClusterRole>(object)),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                drop(typed::<ClusterRoleBinding>(object))
            }
            ("rbac.authorization.k8s.io/v1", "Role") => drop(typed::<Role>(object)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => drop(typed::<RoleBinding>(object)),
            other => panic!("no type checked for {other:?}"),
        }
        kinds.insert(kind.clone());
    }
    kinds
}

/// The tests read the kustomize directories with a renderer of their own; kustomize
/// itself must render exactly the same objects, for the base and every overlay.
#[test]
#[ignore = "needs kubectl with kustomize on PATH"]
fn kubectl_kustomize_renders_what_the_tests_check() {
    let dirs = std::iter::once(deploy_dir()).chain(
        OVERLAYS
            .iter()
            .map(|name| deploy_dir().join("overlays").join(name)),
    );
    for dir in dirs {
        let files = render(&dir);
        let kubectl = keyed(render_kubectl(&dir));
        assert_eq!(
            kubectl.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>(),
            "kubectl kustomize {} renders other objects",
            dir.display()
        );
        for (key, object) in &kubectl {
            assert_eq!(
                object,
                &files[key],
                "kubectl kustomize {} renders {key:?} differently",
                dir.display()
            );
        }
    }
}

#[test]
fn base_objects_are_valid_kubernetes_objects() {
    let objects = base();
    let kinds = check_types(&objects);
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ]
        .map(String::from)
        .into(),
    );
    assert_eq!(objects.len(), 7, "one object of each kind");
    for (kind, namespace, name) in objects.keys() {
        if !cluster_scoped(kind) {
            assert_eq!(namespace, "kube-system", "{kind} {name}");
        }
    }
}

#[test]
fn every_overlay_renders_valid_objects() {
    let base = base();
    for name in OVERLAYS {
        let objects = overlay(name);
        check_types(&objects);
        for key in base.keys() {
            assert!(objects.contains_key(key), "{name} keeps {key:?}");
        }
    }
}

// ---------------------------------------------------------------------------------
// The Corefile

fn corefile(objects: &Objects) -> String {
    let config: ConfigMap = typed(get(objects, "ConfigMap", "coredns"));
    config
        .data
        .and_then(|mut d| d.remove("Corefile"))
        .expect("ConfigMap coredns has the key Corefile")
}

/// `clusterdns --check` on `corefile`, in an empty directory.
fn check(corefile: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Corefile");
    std::fs::write(&path, corefile).unwrap();
    let output = Command::new(binary())
        .arg("--check")
        .arg("-conf")
        .arg(&path)
        .output()
        .unwrap();
    if output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "ok" {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_corefiles_pass_check() {
    let base_corefile = corefile(&base());
    assert_eq!(
        base_corefile,
        crate::check::KUBEADM_COREFILE,
        "the base ships kubeadm's Corefile"
    );
    check(&base_corefile).unwrap_or_else(|e| panic!("deploy/base: {e}"));
    for name in OVERLAYS {
        let overlay_corefile = corefile(&overlay(name));
        check(&overlay_corefile).unwrap_or_else(|e| panic!("overlay {name}: {e}"));
        let expected = if name == "pods-verified" {
            base_corefile.replace("pods insecure", "pods verified")
        } else {
            base_corefile.clone()
        };
        assert_eq!(overlay_corefile, expected, "overlay {name}'s Corefile");
    }
}

/// The ports of the Corefile: `(dns, health, ready, metrics)`.
fn corefile_ports(corefile: &str) -> (u16, u16, u16, u16) {
    let blocks = clusterdns::corefile::parse_str(corefile, "Corefile", Path::new("."))
        .expect("the Corefile parses");
    assert_eq!(blocks.len(), 1, "one server block");
    let block = &blocks[0];
    let port = |addr: &str| -> u16 {
        addr.rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {addr:?}"))
    };
    let keys: BTreeSet<u16> = block.keys.iter().map(|k| port(&k.text)).collect();
    assert_eq!(keys.len(), 1, "one DNS port");
    let plugin_addr = |name: &str, default: &str| -> u16 {
        let directive = block
            .directives
            .iter()
            .find(|d| d.name.text == name)
            .unwrap_or_else(|| panic!("the Corefile has {name}"));
        port(directive.args.first().map_or(default, |a| a.text.as_str()))
    };
    (
        keys.into_iter().next().unwrap(),
        plugin_addr("health", clusterdns_health::DEFAULT_ADDR),
        plugin_addr("ready", clusterdns_ready::DEFAULT_ADDR),
        plugin_addr("prometheus", clusterdns_prometheus::DEFAULT_ADDR),
    )
}

fn container(deployment: &Deployment) -> &Container {
    let containers = &deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
        .containers;
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// A container port by number or by name, with its protocol.
fn resolve_port(container: &Container, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

#[test]
fn probes_and_ports_are_the_corefiles() {
    let objects = base();
    let (dns, health, ready, metrics) = corefile_ports(&corefile(&objects));
    assert_eq!((dns, health, ready, metrics), (53, 8080, 8181, 9153));
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    let container = container(&deployment);

    let probe = |probe: Option<&k8s_openapi::api::core::v1::Probe>, what: &str| {
        let get = probe
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("an HTTP {what} probe"));
        (
            get.path.clone().unwrap_or_default(),
            resolve_port(container, &get.port),
        )
    };
    assert_eq!(
        probe(container.liveness_probe.as_ref(), "liveness"),
        (clusterdns_health::PATH.to_owned(), i32::from(health))
    );
    assert_eq!(
        probe(container.readiness_probe.as_ref(), "readiness"),
        (clusterdns_ready::PATH.to_owned(), i32::from(ready))
    );

    // Every port the Corefile listens on is a container port.
    let ports: BTreeSet<(i32, String)> = container
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.container_port,
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    for expected in [
        (dns, "UDP"),
        (dns, "TCP"),
        (metrics, "TCP"),
        (health, "TCP"),
        (ready, "TCP"),
    ] {
        assert!(
            ports.contains(&(i32::from(expected.0), expected.1.to_owned())),
            "container port {expected:?}"
        );
    }

    // The Service sends DNS and metrics to those ports.
    let service: Service = typed(get(&objects, "Service", "kube-dns"));
    for port in service.spec.and_then(|s| s.ports).expect("ports") {
        let target = resolve_port(container, port.target_port.as_ref().expect("targetPort"));
        let protocol = port.protocol.unwrap_or_else(|| "TCP".into());
        assert!(
            ports.contains(&(target, protocol.clone())),
            "Service port {:?} targets {target}/{protocol}",
            port.name
        );
    }

    // The container reads the ConfigMap's Corefile where its arguments say.
    let args = container.args.clone().unwrap_or_default();
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/etc/coredns")
        .expect("a volume at /etc/coredns");
    let volume = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.volumes.as_ref())
        .and_then(|v| v.iter().find(|v| v.name == mount.name))
        .expect("the mounted volume");
    let config_map = volume.config_map.as_ref().expect("a ConfigMap volume");
    assert_eq!(config_map.name, "coredns");
    let items = config_map.items.clone().unwrap_or_default();
    assert!(
        items.is_empty()
            || items
                .iter()
                .any(|i| i.key == "Corefile" && i.path == "Corefile"),
        "{items:?}"
    );
    assert_eq!(args, ["-conf", "/etc/coredns/Corefile"]);
}

#[test]
fn the_arguments_are_what_the_binary_takes() {
    // The container's arguments, with the mount point replaced by a directory holding
    // the ConfigMap's file, are a command line the binary accepts.
    let objects = base();
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Corefile"), corefile(&objects)).unwrap();
    let args: Vec<String> = container(&deployment)
        .args
        .iter()
        .flatten()
        .map(|a| a.replace("/etc/coredns", &dir.path().display().to_string()))
        .collect();
    let output = Command::new(binary())
        .args(&args)
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------
// Service and Deployment

#[test]
fn the_service_is_kube_dns() {
    let objects = base();
    let service: Service = typed(get(&objects, "Service", "kube-dns"));
    assert_eq!(service.metadata.namespace.as_deref(), Some("kube-system"));
    let labels = service.metadata.labels.clone().unwrap_or_default();
    for (key, value) in [
        ("k8s-app", "kube-dns"),
        ("kubernetes.io/cluster-service", "true"),
        ("kubernetes.io/name", "CoreDNS"),
    ] {
        assert_eq!(
            labels.get(key).map(String::as_str),
            Some(value),
            "label {key}"
        );
    }
    let spec = service.spec.expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    let ports: Vec<(String, i32, String, Option<IntOrString>)> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p.name.unwrap_or_default(),
                p.port,
                p.protocol.unwrap_or_default(),
                p.target_port,
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("dns".into(), 53, "UDP".into(), Some(IntOrString::Int(53))),
            (
                "dns-tcp".into(),
                53,
                "TCP".into(),
                Some(IntOrString::Int(53))
            ),
            (
                "metrics".into(),
                9153,
                "TCP".into(),
                Some(IntOrString::Int(9153))
            ),
        ]
    );

    // It selects the Deployment's pods, as CoreDNS's kube-dns selects CoreDNS's.
    let selector = spec.selector.expect("selector");
    assert_eq!(
        selector,
        BTreeMap::from([("k8s-app".to_owned(), "kube-dns".to_owned())])
    );
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    let pod_labels = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (key, value) in &selector {
        assert_eq!(pod_labels.get(key), Some(value), "pod label {key}");
    }

    // The cluster-ip overlay changes the address and nothing else.
    let moved = overlay("cluster-ip");
    assert_eq!(moved.len(), objects.len());
    for (key, object) in &objects {
        let mut expected = object.clone();
        if key.0 == "Service" {
            expected["spec"]["clusterIP"] = "10.32.0.10".into();
        }
        assert_eq!(moved[key], expected, "{key:?}");
    }
}

#[test]
fn the_deployment_runs_like_coredns() {
    let objects = base();
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    let spec = deployment.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(
        selector.get("k8s-app").map(String::as_str),
        Some("kube-dns")
    );
    let pod = spec.template.spec.as_ref().expect("pod spec");
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    for (key, value) in &selector {
        assert_eq!(pod_labels.get(key), Some(value));
    }
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    assert_eq!(pod.dns_policy.as_deref(), Some("Default"), "never itself");
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .expect("pod anti-affinity");
    let terms = anti
        .preferred_during_scheduling_ignored_during_execution
        .iter()
        .flatten()
        .map(|t| &t.pod_affinity_term)
        .chain(
            anti.required_during_scheduling_ignored_during_execution
                .iter()
                .flatten(),
        );
    assert!(
        terms
            .into_iter()
            .any(|t| t.topology_key == "kubernetes.io/hostname"),
        "replicas spread over nodes"
    );

    // The ServiceAccount exists and is the one the binding names.
    let account = pod
        .service_account_name
        .as_deref()
        .expect("serviceAccountName");
    typed::<ServiceAccount>(get(&objects, "ServiceAccount", account));
    let binding: ClusterRoleBinding =
        typed(get(&objects, "ClusterRoleBinding", "system:clusterdns"));
    let subjects = binding.subjects.unwrap_or_default();
    assert_eq!(subjects.len(), 1);
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", account, Some("kube-system"))
    );

    // Resources as CoreDNS's until measured.
    let container = container(&deployment);
    let resources = container.resources.as_ref().expect("resources");
    let quantity =
        |map: &Option<
            BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >,
         key: &str| map.as_ref().and_then(|m| m.get(key)).map(|q| q.0.clone());
    assert_eq!(
        quantity(&resources.requests, "memory").as_deref(),
        Some("70Mi")
    );
    assert_eq!(
        quantity(&resources.requests, "cpu").as_deref(),
        Some("100m")
    );
    assert_eq!(
        quantity(&resources.limits, "memory").as_deref(),
        Some("170Mi")
    );

    // Locked down: non-root, only NET_BIND_SERVICE, read-only, RuntimeDefault seccomp.
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    let security = container
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(pod_security.run_as_user, Some(65532), "the image's user");
    let seccomp = security
        .seccomp_profile
        .as_ref()
        .or(pod_security.seccomp_profile.as_ref())
        .expect("a seccomp profile");
    assert_eq!(seccomp.type_, "RuntimeDefault");
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.privileged, None);
    let capabilities = security.capabilities.as_ref().expect("capabilities");
    assert_eq!(capabilities.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    assert_eq!(
        capabilities.add.as_deref(),
        Some(&["NET_BIND_SERVICE".to_owned()][..])
    );

    // The disruption budget covers the same pods.
    let budget: PodDisruptionBudget = typed(get(&objects, "PodDisruptionBudget", "clusterdns"));
    let budget = budget.spec.expect("spec");
    assert_eq!(
        budget.selector.and_then(|s| s.match_labels),
        Some(selector.clone())
    );
    assert!(budget.max_unavailable.is_some() || budget.min_available.is_some());
}

// ---------------------------------------------------------------------------------
// RBAC

/// `(group, resource, verb)` of every rule, checking that rules only name resources.
fn grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut grants = BTreeSet::new();
    for rule in rules {
        assert!(rule.non_resource_urls.is_none(), "{rule:?}");
        assert!(rule.resource_names.is_none(), "{rule:?}");
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    grants.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    grants
}

/// List and watch on what the *kubernetes* plugin watches (see its README): Services,
/// Namespaces and EndpointSlices, plus Pods with `pods verified`.
fn watched(pods: bool) -> BTreeSet<(String, String, String)> {
    let mut resources = vec![
        ("", "services"),
        ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"),
    ];
    if pods {
        resources.push(("", "pods"));
    }
    resources
        .into_iter()
        .flat_map(|(group, resource)| {
            ["list", "watch"].map(|verb| (group.to_owned(), resource.to_owned(), verb.to_owned()))
        })
        .collect()
}

#[test]
fn rbac_grants_exactly_what_the_plugin_watches() {
    for (what, objects, pods) in [
        ("base", base(), false),
        ("pods-verified", overlay("pods-verified"), true),
        ("cluster-ip", overlay("cluster-ip"), false),
        ("autoscaler", overlay("autoscaler"), false),
    ] {
        let role: ClusterRole = typed(get(&objects, "ClusterRole", "system:clusterdns"));
        assert!(role.aggregation_rule.is_none());
        assert_eq!(
            grants(role.rules.as_deref().unwrap_or_default()),
            watched(pods),
            "{what}"
        );
        let binding: ClusterRoleBinding =
            typed(get(&objects, "ClusterRoleBinding", "system:clusterdns"));
        assert_eq!(
            (
                binding.role_ref.kind.as_str(),
                binding.role_ref.name.as_str()
            ),
            ("ClusterRole", "system:clusterdns")
        );
        // Nothing else grants the server's account anything.
        for ((kind, _, name), object) in &objects {
            if kind.ends_with("Binding") && name != "system:clusterdns" {
                let subjects = object["subjects"].as_array().cloned().unwrap_or_default();
                assert!(
                    subjects.iter().all(|s| s["name"] != "clusterdns"),
                    "{what}: {kind} {name} binds the server's account"
                );
            }
        }
    }
}

#[test]
fn the_autoscaler_overlay_scales_the_deployment() {
    let objects = overlay("autoscaler");
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    assert_eq!(
        deployment.spec.as_ref().and_then(|s| s.replicas),
        None,
        "replicas are left to the autoscaler"
    );
    let autoscaler: Deployment = typed(get(&objects, "Deployment", "clusterdns-autoscaler"));
    let pod = autoscaler
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    let container = &pod.containers[0];
    assert!(
        container
            .image
            .as_deref()
            .unwrap_or_default()
            .starts_with("registry.k8s.io/cpa/cluster-proportional-autoscaler:"),
        "{:?}",
        container.image
    );
    let command = container.command.clone().unwrap_or_default();
    let flag = |name: &str| {
        command
            .iter()
            .find_map(|a| a.strip_prefix(&format!("--{name}=")))
            .unwrap_or_else(|| panic!("--{name}"))
            .to_owned()
    };
    assert_eq!(flag("target"), "deployment/clusterdns");
    assert_eq!(flag("namespace"), "kube-system");
    let params: ConfigMap = typed(get(&objects, "ConfigMap", &flag("configmap")));
    let linear = params
        .data
        .and_then(|d| d.get("linear").cloned())
        .expect("linear parameters");
    let linear: Value = serde_json::from_str(&linear).expect("JSON");
    assert_eq!(linear["coresPerReplica"], 256);
    assert_eq!(linear["nodesPerReplica"], 16);
    assert_eq!(linear["preventSinglePointFailure"], true);
    assert_eq!(linear["min"], 2);

    // Its account may read nodes and scale Deployments in kube-system, nothing more.
    let account = pod
        .service_account_name
        .as_deref()
        .expect("serviceAccountName");
    typed::<ServiceAccount>(get(&objects, "ServiceAccount", account));
    let mut granted = BTreeSet::new();
    for ((kind, _, _), object) in &objects {
        let binds_it = kind.ends_with("Binding")
            && object["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == account);
        if !binds_it {
            continue;
        }
        let role_kind = object["roleRef"]["kind"].as_str().expect("roleRef kind");
        let role_name = object["roleRef"]["name"].as_str().expect("roleRef name");
        let rules = match role_kind {
            "ClusterRole" => typed::<ClusterRole>(get(&objects, role_kind, role_name)).rules,
            _ => typed::<Role>(get(&objects, role_kind, role_name)).rules,
        };
        granted.extend(grants(&rules.unwrap_or_default()));
    }
    let expected: BTreeSet<(String, String, String)> = [
        ("", "nodes", "list"),
        ("", "nodes", "watch"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "update"),
        ("", "configmaps", "get"),
    ]
    .into_iter()
    .map(|(g, r, v)| (g.to_owned(), r.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(granted, expected);
}

// ---------------------------------------------------------------------------------
// The image

/// The Dockerfile's final stage: user, entry point and command, exposed ports.
#[test]
fn the_dockerfile_builds_what_the_deployment_runs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let text = std::fs::read_to_string(&path).expect("a Dockerfile at the repository root");
    // Instructions of the last stage, continuation lines joined, comments dropped.
    let mut instructions: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let last_from = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("FROM");
    let last_stage = &instructions[last_from..];
    let value = |keyword: &str| {
        last_stage
            .iter()
            .rev()
            .find_map(|i| i.strip_prefix(&format!("{keyword} ")))
            .unwrap_or_else(|| panic!("{keyword} in the final stage"))
            .trim()
            .to_owned()
    };
    let objects = base();
    let deployment: Deployment = typed(get(&objects, "Deployment", "clusterdns"));
    let container = container(&deployment);
    let run_as = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.run_as_user)
        .expect("runAsUser");
    assert_eq!(
        value("USER").split(':').next(),
        Some(run_as.to_string().as_str())
    );
    let json_list = |text: String| -> Vec<String> {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: exec form: {e}"))
    };
    assert_eq!(json_list(value("ENTRYPOINT")), ["/clusterdns"]);
    assert_eq!(
        json_list(value("CMD")),
        container.args.clone().unwrap_or_default()
    );
    assert!(container.command.is_none(), "the image's entry point runs");
    let exposed: BTreeSet<String> = value("EXPOSE")
        .split_whitespace()
        .map(|p| {
            if p.contains('/') {
                p.to_owned()
            } else {
                format!("{p}/tcp")
            }
        })
        .collect();
    for port in container.ports.iter().flatten() {
        let expected = format!(
            "{}/{}",
            port.container_port,
            port.protocol.as_deref().unwrap_or("TCP").to_lowercase()
        );
        assert!(exposed.contains(&expected), "EXPOSE {expected}");
    }
    let ignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"))
            .expect("a .dockerignore");
    for entry in ["target", ".git"] {
        assert!(
            ignore
                .lines()
                .any(|l| l.trim().trim_end_matches('/') == entry),
            ".dockerignore leaves out {entry}"
        );
    }
}
