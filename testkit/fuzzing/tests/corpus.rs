//! Replays what the fuzz targets have seen: the generated seeds and every input
//! committed under `fuzz/corpus/<target>/` (what a fuzzing run found worth keeping,
//! crashes included once fixed). A failure names the input.

use std::path::{Path, PathBuf};

use clusterdns_api::Protocol;
use clusterdns_fuzzing::{both_paths, corefile, differential, packet, same_reply, seeds};
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
