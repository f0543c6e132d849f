//! Helpers for the unit tests: a setup context, a temporary directory (shared from
//! `clusterdns_api::testing`) and a query runner (directives are read with
//! `clusterdns_api::testing::directive`).

use std::path::PathBuf;
use std::sync::Arc;

use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::testing::NextStub;
use clusterdns_api::{Plugin, Readiness, Response, SetupCtx};

pub use clusterdns_api::testing::directive;

/// A setup context for a block serving `zones`, with the Corefile in `/corefile-dir`.
pub fn setup_ctx(zones: &[&str]) -> SetupCtx {
    SetupCtx::new(
        zones.iter().map(|z| Name::from_ascii(z).unwrap()).collect(),
        53,
        PathBuf::from("/corefile-dir"),
        Readiness::new(),
    )
}

pub use clusterdns_api::testing::TempDir;

/// Runs `plugin` (followed by a `next` that answers REFUSED) on a query for
/// `name`/`qtype`.
pub async fn ask(plugin: &Arc<dyn Plugin>, name: &str, qtype: RecordType) -> Response {
    clusterdns_api::testing::ask(plugin.clone(), NextStub::refusing(), name, qtype)
        .await
        .unwrap()
}
