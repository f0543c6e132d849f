//! Helpers for the unit tests: a setup context, a temporary directory (shared from
//! `clusterdns_api::testing`) and a query runner (directives are read with
//! `clusterdns_api::testing::directive`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clusterdns_api::proto::op::{Query, ResponseCode};
use clusterdns_api::proto::rr::{Name, RecordType};
use clusterdns_api::{
    BoxFuture, Ctx, Next, Plugin, PluginError, Protocol, Readiness, Response, SetupCtx,
};

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

/// The plugin after hosts in test chains: answers REFUSED, written by "next".
pub struct NextStub;

impl Plugin for NextStub {
    fn name(&self) -> &'static str {
        "next"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let response = Response::new(ctx, "next", ResponseCode::Refused);
        Box::pin(async move { Ok(response) })
    }
}

/// Runs `plugin` (followed by [`NextStub`]) on a query for `name`/`qtype`.
pub async fn ask(plugin: &Arc<dyn Plugin>, name: &str, qtype: RecordType) -> Response {
    let chain: Vec<Arc<dyn Plugin>> = vec![plugin.clone(), Arc::new(NextStub)];
    let query = Query::query(Name::from_ascii(name).unwrap(), qtype);
    let mut ctx = Ctx::new(
        query,
        SocketAddr::from(([10, 0, 0, 99], 5353)),
        Protocol::Udp,
    );
    Next::new(&chain).run(&mut ctx).await.unwrap()
}
