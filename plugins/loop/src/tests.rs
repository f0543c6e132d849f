use std::net::SocketAddr;

use clusterdns_api::proto::op::Query;
use clusterdns_api::testing::{directive, setup_ctx};
use clusterdns_api::{Protocol, Response};

use super::*;

/// Answers NOERROR and counts calls: stands for `forward`.
struct Upstream;

impl Plugin for Upstream {
    fn name(&self) -> &'static str {
        "upstream"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut Ctx,
        _next: Next<'a>,
    ) -> BoxFuture<'a, Result<Response, PluginError>> {
        let response = Response::new(ctx, "upstream", ResponseCode::NoError);
        Box::pin(async move { Ok(response) })
    }
}

fn build() -> (Arc<dyn Plugin>, Name) {
    let looper = Arc::new(Loop::new(Name::root(), probe_name(&Name::root()).unwrap()));
    let probe = looper.probe().clone();
    (looper, probe)
}

async fn ask(plugin: &Arc<dyn Plugin>, name: &Name, qtype: RecordType) -> ResponseCode {
    let mut ctx = Ctx::new(
        Query::query(name.clone(), qtype),
        SocketAddr::from(([127, 0, 0, 1], 5353)),
        Protocol::Udp,
    );
    let upstream: Arc<dyn Plugin> = Arc::new(Upstream);
    let chain = [upstream];
    plugin
        .serve(&mut ctx, Next::new(&chain))
        .await
        .unwrap()
        .rcode()
}

#[tokio::test]
async fn the_probe_seen_three_times_is_a_loop() {
    let (plugin, probe) = build();
    assert!(probe.to_string().ends_with('.'));
    assert_eq!(
        probe.num_labels(),
        2,
        "two random labels under the root zone"
    );
    for _ in 0..2 {
        assert_eq!(
            ask(&plugin, &probe, RecordType::HINFO).await,
            ResponseCode::NoError
        );
    }
    assert!(plugin.ready(), "twice is not yet a loop");
    let upper = Name::from_ascii(probe.to_string().to_uppercase()).unwrap();
    assert_eq!(
        ask(&plugin, &upper, RecordType::HINFO).await,
        ResponseCode::NoError
    );
    assert!(!plugin.ready(), "the third pass is a loop");
    let other = Name::from_ascii("example.org.").unwrap();
    assert_eq!(
        ask(&plugin, &other, RecordType::A).await,
        ResponseCode::ServFail
    );
}

#[tokio::test]
async fn other_queries_pass_through() {
    let (plugin, probe) = build();
    for _ in 0..5 {
        assert_eq!(
            ask(&plugin, &probe, RecordType::A).await,
            ResponseCode::NoError
        );
    }
    assert!(
        plugin.ready(),
        "the probe name with another type is not the probe"
    );
}

#[test]
fn setup_builds_a_plugin_and_takes_no_arguments() {
    assert!(
        setup(&directive("loop"), &mut setup_ctx())
            .unwrap()
            .is_some()
    );
    let err = setup(&directive("loop now"), &mut setup_ctx())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "Corefile:1:6: loop: wrong argument count: expected 0, got 1 (unexpected \"now\")"
    );
}
