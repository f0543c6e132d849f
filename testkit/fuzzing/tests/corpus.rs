//! Replays what the fuzz targets have seen: the generated seeds and every input
//! committed under `fuzz/corpus/<target>/` (what a fuzzing run found worth keeping,
//! crashes included once fixed). A failure names the input.

use std::path::{Path, PathBuf};

use clusterdns_api::Protocol;
use clusterdns_fuzzing::{
    api_object, both_paths, cluster, corefile, differential, manifest, packet, same_reply, seeds,
};
use hickory_proto::rr::RecordType;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, data)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

/// Runs `target` on each input, naming the one that fails.
fn replay(target: fn(&[u8]), inputs: impl IntoIterator<Item = (String, Vec<u8>)>) -> usize {
    let mut count = 0;
    for (name, data) in inputs {
        if let Err(panic) = std::panic::catch_unwind(|| target(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("input {name} fails: {message}");
        }
        count += 1;
    }
    count
}

fn named_seeds() -> Vec<(String, Vec<u8>)> {
    seeds::all()
        .into_iter()
        .enumerate()
        .map(|(i, seed)| (format!("seed {i}"), seed))
        .collect()
}

fn named_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    corpus(target)
        .into_iter()
        .map(|(path, data)| (path.display().to_string(), data))
        .collect()
}

#[test]
fn seeds_get_well_formed_replies() {
    assert!(replay(packet, named_seeds()) > 2_000);
}

#[test]
fn seeds_get_the_same_reply_on_both_paths() {
    assert!(replay(differential, named_seeds()) > 2_000);
}

#[test]
fn the_packet_corpus_passes() {
    replay(packet, named_corpus("packet"));
}

#[test]
fn the_differential_corpus_passes() {
    replay(differential, named_corpus("differential"));
}

#[test]
fn corefile_seeds_and_corpus_parse_or_fail_cleanly() {
    let seeds = seeds::corefiles()
        .into_iter()
        .enumerate()
        .map(|(i, text)| (format!("Corefile seed {i}"), text.into_bytes()));
    assert!(replay(corefile, seeds) > 50);
    replay(corefile, named_corpus("corefile"));
}

fn numbered(what: &str, seeds: Vec<Vec<u8>>) -> Vec<(String, Vec<u8>)> {
    seeds
        .into_iter()
        .enumerate()
        .map(|(i, seed)| (format!("{what} seed {i}"), seed))
        .collect()
}

#[test]
fn manifest_seeds_and_corpus_load_or_fail_cleanly() {
    assert!(replay(manifest, numbered("manifest", seeds::manifests())) > 30);
    replay(manifest, named_corpus("manifest"));
}

#[test]
fn api_object_seeds_and_corpus_convert_or_fail_cleanly() {
    assert!(replay(api_object, numbered("API object", seeds::api_objects())) > 30);
    replay(api_object, named_corpus("api_object"));
}

#[test]
fn odd_cluster_seeds_and_corpus_get_well_formed_replies() {
    assert!(replay(cluster, numbered("cluster", seeds::clusters())) > 50);
    replay(cluster, named_corpus("cluster"));
}

/// The cluster target builds what its seeds say: the 10,000 ports, the names at the
/// limits and the shared IP reach the manifest.
#[test]
fn odd_cluster_seeds_make_odd_clusters() {
    let seeds = seeds::clusters();
    let manifests: Vec<String> = seeds[..5]
        .iter()
        .map(|seed| clusterdns_fuzzing::cluster::manifest_of(seed).0)
        .collect();
    assert!(
        manifests[0].matches("\"10.96.0.1\"").count() >= 3,
        "{}",
        manifests[0]
    );
    assert!(manifests[1].contains("\"p9999\""), "10,000 ports");
    let long = "a".repeat(63);
    assert!(manifests[3].contains(&format!("\"{long}\"")));
    let long_253 = format!(
        "{}.{}.{}.{}",
        "n".repeat(63),
        "n".repeat(63),
        "n".repeat(63),
        "n".repeat(61)
    );
    assert!(
        manifests[3].contains(&format!("\"{long_253}\"")),
        "a 253-character name"
    );
    assert!(
        manifests[4].matches("10.1.").count() >= 1_000,
        "1,000 endpoints"
    );
}

/// An EndpointSlice whose trigger-time annotation has a huge year, from a watch event
/// and from a manifest: the RFC 3339 parser once overflowed on it.
#[test]
fn a_huge_year_in_the_trigger_time_is_ignored() {
    let slice = r#"{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}, "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "99999999999999-01-01T00:00:00Z"}}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.1.5"]}]}"#;
    replay(
        api_object,
        [("huge year".to_owned(), slice.as_bytes().to_vec())],
    );
    replay(
        manifest,
        [("huge year".to_owned(), slice.as_bytes().to_vec())],
    );
}

/// The differential target compares two different pieces of code: a SRV answer's glue
/// record points at the question's name on the ordinary path and at the SRV target on
/// the wire path, so their bytes differ while they say the same.
#[test]
fn the_two_paths_are_different_code() {
    let query = seeds::query(
        "kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
        None,
        251,
    );
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let (wire, ordinary) = both_paths(&query, protocol);
        let (wire, ordinary) = (wire.expect("a wire reply"), ordinary.expect("a reply"));
        assert_ne!(wire, ordinary, "the wire path was not taken");
        assert_eq!(same_reply(&wire, &ordinary), Ok(()));
    }
}
