//! The fuzz targets of clusterdns, as plain functions: `fuzz/` hands them libFuzzer's
//! inputs, and this crate's tests replay the committed corpus and the generated seeds
//! through them, so that every input that once found a bug stays a test.
//!
//! | target | input | what must hold |
//! |---|---|---|
//! | [`packet`] | a message, asked over UDP and over TCP of the full chain (`rewrite` and `template` rules included) | no panic; a reply has the query's ID and opcode, QR set, fits the UDP size the query allows (over TCP: is whole), parses, and repeats the question |
//! | [`differential`] | a message, asked over UDP and over TCP of the cluster zone (behind a `template` AAAA filter and a `rewrite` rule) | the wire path's reply says what the ordinary path's says, header and records, names' case included (or neither replies) |
//! | [`corefile`] | Corefile text | `--check` (parse, build every plugin) gives `ok` or errors naming the file, never a panic |
//! | [`manifest`] | a manifest file, as YAML and as JSON | the source loads it and serves exactly its services, or an error names the file and the last good content is kept; bounded memory (aliases, nesting, size) |
//! | [`api_object`] | JSON of a watch event or an object, as each watched kind | slim objects have names, are found in the index where they were put and leave with their deletion; refusals say why |
//! | [`cluster`] | a program that writes an odd cluster (duplicate IPs, slices disagreeing with their Service, 10,000 ports, names at and past 63/253 characters) | a fresh server over it gives well-formed replies to every name the cluster has, over UDP and TCP |
//!
//! The servers are built once per process from Corefiles over the demo cluster
//! (`deploy/demo/cluster.yaml`), in-process ([`clusterdns::inline`]).

mod api_object;
mod check;
pub mod cluster;
mod manifest;
pub mod seeds;
mod servers;

use std::net::{Ipv4Addr, SocketAddr};

use clusterdns::server::RequestPath;
use clusterdns_api::Protocol;

pub use api_object::api_object;
pub use check::{check_reply, same_reply};
pub use cluster::cluster;
pub use manifest::manifest;

/// Where the fuzzed queries come from: a pod's address.
pub const SOURCE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(10, 244, 1, 7)), 40_000);

/// A message sent over UDP and over TCP to the full chain (the kubeadm Corefile's query plugins, `hosts` and
/// `whoami`): no panic, and any reply is well-formed.
///
/// # Panics
///
/// When the server panics or its reply breaks a rule of [`check_reply`].
pub fn packet(data: &[u8]) {
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut reply = Vec::with_capacity(1232);
        if servers::full().answer(data, SOURCE, protocol, RequestPath::Any, &mut reply)
            && let Err(problem) = check_reply(data, &reply, protocol)
        {
            panic!(
                "over {}: {problem}\nquery: {data:02x?}\nreply: {reply:02x?}",
                protocol.as_str()
            );
        }
    }
}

/// A message answered twice by the cluster zone, over UDP and over TCP, on the wire path (as the server
/// does) and on the ordinary path only: the replies must say the same ([`same_reply`]:
/// header and records alike; where names point to for compression may differ).
///
/// # Panics
///
/// When they differ.
pub fn differential(data: &[u8]) {
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let (wire, ordinary) = both_paths(data, protocol);
        let verdict = match (&wire, &ordinary) {
            (Some(wire), Some(ordinary)) => same_reply(wire, ordinary),
            (None, None) => Ok(()),
            (Some(_), None) => Err("only the wire path replies".into()),
            (None, Some(_)) => Err("only the ordinary path replies".into()),
        };
        if let Err(problem) = verdict {
            panic!(
                "over {}, the wire path and the ordinary path disagree: {problem}\nquery:    {data:02x?}\nwire:     {wire:02x?}\nordinary: {ordinary:02x?}",
                protocol.as_str()
            );
        }
    }
}

/// The cluster zone's replies to `data` over `protocol`: as the server answers it (the
/// wire path when it can), and on the ordinary path only.
pub fn both_paths(data: &[u8], protocol: Protocol) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let server = servers::cluster();
    let ask = |path| {
        let mut reply = Vec::with_capacity(1232);
        server
            .answer(data, SOURCE, protocol, path, &mut reply)
            .then_some(reply)
    };
    (ask(RequestPath::Any), ask(RequestPath::Ordinary))
}

/// Corefile text (lossily UTF-8) through `--check`: parsed, and every plugin built
/// from its options, or errors that name the file and what was wrong.
///
/// # Panics
///
/// When the parser panics, or an error does not say where.
pub fn corefile(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let conf = servers::empty_dir().join("Corefile");
    if let Err(errors) = clusterdns::check_text(&text, &conf, 53) {
        assert!(!errors.is_empty(), "an error without errors");
        for error in errors {
            assert!(
                !error.file.is_empty() && !error.message.is_empty(),
                "an error that does not say where or what: {error:?}"
            );
        }
    }
}
