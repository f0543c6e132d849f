//! Tests of `setup`: routes, modes and errors.

use std::sync::Arc;

use clusterdns_api::{ConfigError, HttpRoute, Plugin};

use crate::setup;
use clusterdns_api::testing::{directive, setup_ctx};

/// A plugin that is never ready.
struct Loading;

impl Plugin for Loading {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn serve<'a>(
        &'a self,
        ctx: &'a mut clusterdns_api::Ctx,
        next: clusterdns_api::Next<'a>,
    ) -> clusterdns_api::BoxFuture<'a, Result<clusterdns_api::Response, clusterdns_api::PluginError>>
    {
        next.run(ctx)
    }

    fn ready(&self) -> bool {
        false
    }
}

fn build(text: &str) -> (HttpRoute, Arc<clusterdns_api::Readiness>) {
    let mut ctx = setup_ctx();
    assert!(setup(&directive(text), &mut ctx).unwrap().is_none());
    assert_eq!(ctx.http_routes.len(), 1);
    assert_eq!(ctx.lameduck, None);
    (ctx.http_routes.remove(0), ctx.readiness)
}

fn setup_err(text: &str) -> ConfigError {
    match setup(&directive(text), &mut setup_ctx()) {
        Err(err) => err,
        Ok(_) => panic!("{text:?} must be rejected"),
    }
}

#[test]
fn default_route_reports_the_shared_readiness() {
    let (route, readiness) = build("ready");
    assert_eq!((route.addr.as_str(), route.path), (":8181", "/ready"));
    readiness.set_plugins(vec![Arc::new(Loading)]);
    let reply = (route.handler)();
    assert_eq!((reply.status, reply.body.as_str()), (503, "kubernetes"));
    readiness.set_plugins(Vec::new());
    let reply = (route.handler)();
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));
    // until-ready is the default: the latch holds.
    readiness.set_plugins(vec![Arc::new(Loading)]);
    assert_eq!((route.handler)().status, 200);
    readiness.begin_shutdown();
    let reply = (route.handler)();
    assert_eq!((reply.status, reply.body.as_str()), (503, "shutting down"));
}

#[test]
fn address_and_monitor_mode() {
    let (route, readiness) = build("ready localhost:8091 {\n  monitor continuously\n}");
    assert_eq!(route.addr, "localhost:8091");
    assert_eq!((route.handler)().status, 200);
    readiness.set_plugins(vec![Arc::new(Loading)]);
    assert_eq!((route.handler)().status, 503);

    let (route, readiness) = build("ready {\n  monitor until-ready\n}");
    assert_eq!(route.addr, ":8181");
    assert_eq!((route.handler)().status, 200);
    readiness.set_plugins(vec![Arc::new(Loading)]);
    assert_eq!((route.handler)().status, 200);
}

#[test]
fn errors_name_their_position() {
    let cases = [
        (
            "ready localhost",
            "Corefile:1:7: ready: expected a listen address",
        ),
        ("ready :1 :2", "Corefile:1:10: ready: wrong argument count"),
        (
            "ready {\n  monitor\n}",
            "Corefile:2:3: monitor: wrong argument count",
        ),
        (
            "ready {\n  monitor sometimes\n}",
            "Corefile:2:11: monitor: expected until-ready or continuously",
        ),
        (
            "ready {\n  health\n}",
            "Corefile:2:3: ready: unknown property \"health\"",
        ),
    ];
    for (text, expected) in cases {
        let err = setup_err(text).to_string();
        assert!(err.starts_with(expected), "{text:?}: {err}");
    }
}
