//! Helpers for the unit tests: a setup context, a temporary directory and a query
//! runner (directives are read with `clusterdns_api::testing::directive`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "clusterdns-hosts-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Writes `content` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
