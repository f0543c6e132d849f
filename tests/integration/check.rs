//! `clusterdns --check`, `--plugins`, `--version`: the real binary.

use std::process::Command;

use crate::support::binary;

/// The Corefile kubeadm installs, unchanged.
pub const KUBEADM_COREFILE: &str = include_str!("../../deploy/examples/kubeadm.Corefile");

fn check(corefile: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Corefile");
    std::fs::write(&path, corefile).unwrap();
    let output = Command::new(binary())
        .arg("--check")
        .arg("--conf")
        .arg(&path)
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(&*path.to_string_lossy(), "Corefile");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn kubeadm_corefile_names_exactly_the_missing_plugins() {
    let (ok, _, stderr) = check(KUBEADM_COREFILE);
    let mut missing: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.split("plugin ").nth(1)?.split(' ').next())
        .collect();
    missing.sort_unstable();
    let mut expected: Vec<&str> = ["kubernetes", "forward", "cache", "loop", "reload"]
        .into_iter()
        .filter(|name| !clusterdns::registry::compiled_in().any(|c| c == *name))
        .collect();
    expected.sort_unstable();
    assert_eq!(ok, expected.is_empty(), "{stderr}");
    assert_eq!(missing, expected, "{stderr}");
    for line in stderr.lines() {
        assert!(
            line.starts_with("Corefile:"),
            "errors carry their position: {line}"
        );
    }
}

#[test]
fn check_accepts_a_good_corefile_and_reports_every_error_of_a_bad_one() {
    let (ok, stdout, _) = check(".:53 {\n    whoami\n}\n");
    assert!(ok);
    assert_eq!(stdout.trim(), "ok");
    let (ok, _, stderr) = check(".:53 {\n    whoami extra\n    nosuchplugin\n}\n");
    assert!(!ok);
    assert!(
        stderr.contains("Corefile:3:5: unknown directive \"nosuchplugin\""),
        "{stderr}"
    );
    assert!(stderr.contains("Corefile:2:"), "{stderr}");
}

#[test]
fn plugins_and_version() {
    let output = Command::new(binary()).arg("-plugins").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    for name in [
        "dns.whoami",
        "dns.hosts",
        "dns.errors",
        "dns.log",
        "dns.health",
    ] {
        assert!(stdout.contains(name), "{stdout}");
    }
    let output = Command::new(binary()).arg("-version").output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("clusterdns-"));
}

/// Every distribution's Corefile in `deploy/examples/` passes `--check` unchanged.

#[test]
fn the_distributions_corefiles_pass_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("Corefile") {
            continue;
        }
        let output = Command::new(binary())
            .arg("--check")
            .arg("-conf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "ok",
            "{}",
            path.display()
        );
        checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "aks.Corefile",
            "autopath.Corefile",
            "eks.Corefile",
            "helm.Corefile",
            "k3s.Corefile",
            "kops-ipv6.Corefile",
            "kubeadm.Corefile",
            "kubespray.Corefile",
            "nodelocaldns.Corefile",
            "openshift.Corefile"
        ]
    );
}

#[test]
fn plugins_that_read_the_cluster_need_kubernetes_in_their_block() {
    let corefile = ".:53 {\n    k8s_external example.org\n    autopath @kubernetes\n    forward . 192.0.2.53\n}\n";
    let (ok, _, stderr) = check(corefile);
    assert!(!ok);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "Corefile:2:5: plugin k8s_external: needs the kubernetes plugin in the same server block",
            "Corefile:3:5: plugin autopath: needs the kubernetes plugin in the same server block",
        ]
    );
    // The same lines with kubernetes in the block (in any order) are fine.
    let corefile = ".:53 {\n    k8s_external example.org\n    autopath @kubernetes\n    kubernetes cluster.local\n}\n";
    let (ok, stdout, stderr) = check(corefile);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "ok");
}
