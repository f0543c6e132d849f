//! Helpers for the unit tests: a temporary directory, the fixtures, a plugin built
//! from a directive, a query runner, and records as sorted text.

use std::path::Path;
use std::sync::Arc;

use clusterdns_api::proto::op::ResponseCode;
use clusterdns_api::proto::rr::rdata::A;
use clusterdns_api::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_api::testing::{NextStub, directive};
use clusterdns_api::{Readiness, Response, SetupCtx};

use crate::object::{KindSet, Object};
use crate::source::decode::{Filter, decode};

/// Fixture F0 (kubeadm cluster), F1 (CoreDNS handler tests), F2 (reverse tests).
pub const F0: &str = include_str!("../testdata/f0-kubeadm.yaml");
pub const F1: &str = include_str!("../testdata/f1-handler.yaml");
pub const F2: &str = include_str!("../testdata/f2-reverse.json");

pub use clusterdns_api::testing::TempDir;

/// Every object of a fixture, all kinds kept.
pub fn objects(text: &str) -> Vec<Object> {
    let filter = Filter {
        kinds: KindSet::of(&crate::object::Kind::ALL),
        ..Filter::default()
    };
    let json = text.trim_start().starts_with('[');
    decode(text, json, &filter).unwrap().objects
}

/// A setup context for a `cluster.local` block whose Corefile is in `dir`.
pub fn setup_ctx(dir: &Path) -> SetupCtx {
    SetupCtx::new(
        vec![Name::from_ascii("cluster.local.").unwrap()],
        53,
        dir.to_path_buf(),
        Readiness::new(),
    )
}

/// The plugin built from `text` (a directive) with `files` written next to the
/// Corefile, and the server's own addresses `local_ips`.
pub fn plugin(
    text: &str,
    files: &[(&str, &str)],
    local_ips: &[&str],
) -> (Arc<crate::Kubernetes>, TempDir) {
    let dir = TempDir::new("plugin");
    for (name, content) in files {
        dir.write(name, content);
    }
    let ctx = setup_ctx(dir.path());
    let config = crate::config::Config::parse(&directive(text), &ctx).unwrap();
    let ips = local_ips.iter().map(|ip| ip.parse().unwrap()).collect();
    (Arc::new(crate::build(config, ips)), dir)
}

/// The plugin after kubernetes in test chains: answers `ext.interwebs.test.` (and
/// `tc.interwebs.test.`, truncated) with A 1.2.3.4, everything else REFUSED.
pub fn next_stub() -> NextStub {
    NextStub::new(|ctx| {
        let name = ctx.qname().to_lowercase().to_string();
        if name == "ext.interwebs.test." || name == "tc.interwebs.test." {
            let record = Record::from_rdata(ctx.qname().clone(), 5, RData::A(A::new(1, 2, 3, 4)));
            let mut response = Response::new(ctx, "next", ResponseCode::NoError);
            response.message.answers.push(record);
            response.message.metadata.truncation = name.starts_with("tc.");
            response
        } else {
            Response::new(ctx, "next", ResponseCode::Refused)
        }
    })
}

/// Runs `plugin` (followed by [`next_stub`]) on a query for `name`/`qtype`.
pub async fn ask(plugin: &Arc<crate::Kubernetes>, name: &str, qtype: RecordType) -> Response {
    clusterdns_api::testing::ask(plugin.clone(), next_stub(), name, qtype)
        .await
        .unwrap()
}

/// Records as `owner ttl TYPE rdata`, sorted; SOA serials as `*`.
pub fn lines(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records.iter().map(line).collect();
    out.sort();
    out
}

pub use clusterdns_api::testing::record_line as line;
