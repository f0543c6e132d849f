//! Tests of `setup` and of the `/health` handler.

use std::time::Duration;

use clusterdns_api::ConfigError;

use crate::setup;
use clusterdns_api::testing::{directive, setup_ctx};

fn setup_err(text: &str) -> ConfigError {
    match setup(&directive(text), &mut setup_ctx()) {
        Err(err) => err,
        Ok(_) => panic!("{text:?} must be rejected"),
    }
}

#[test]
fn default_route_answers_ok_without_lameduck() {
    let mut ctx = setup_ctx();
    assert!(setup(&directive("health"), &mut ctx).unwrap().is_none());
    assert_eq!(ctx.lameduck, None);
    assert_eq!(ctx.http_routes.len(), 1);
    let route = &ctx.http_routes[0];
    assert_eq!((route.addr.as_str(), route.path), (":8080", "/health"));
    let reply = (route.handler)();
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));
    assert!(reply.content_type.starts_with("text/plain"));
}

#[test]
fn address_and_lameduck() {
    let mut ctx = setup_ctx();
    setup(
        &directive("health localhost:8091 {\n  lameduck 5s\n}"),
        &mut ctx,
    )
    .unwrap();
    assert_eq!(ctx.http_routes[0].addr, "localhost:8091");
    assert_eq!(ctx.lameduck, Some(Duration::from_secs(5)));

    let mut ctx = setup_ctx();
    setup(&directive("health [::1]:0"), &mut ctx).unwrap();
    assert_eq!(ctx.http_routes[0].addr, "[::1]:0");
}

#[test]
fn requests_are_measured() {
    let mut ctx = setup_ctx();
    setup(&directive("health 127.0.0.1:0"), &mut ctx).unwrap();
    let count = || {
        let text = clusterdns_api::metrics::encode_text();
        text.lines()
            .find_map(|l| l.strip_prefix("coredns_health_request_duration_seconds_count "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    let before = count();
    (ctx.http_routes[0].handler)();
    assert!(count() > before);
    let text = clusterdns_api::metrics::encode_text();
    assert!(
        text.contains("coredns_health_request_failures_total 0"),
        "{text}"
    );
    assert!(text.contains("coredns_health_request_duration_seconds_bucket{le=\"0.00025\"}"));
    assert!(text.contains("coredns_health_request_duration_seconds_bucket{le=\"2.5\"}"));
}

#[test]
fn errors_name_their_position() {
    let cases = [
        (
            "health 8080",
            "Corefile:1:8: health: expected a listen address",
        ),
        (
            "health :8080 :8081",
            "Corefile:1:14: health: wrong argument count",
        ),
        (
            "health {\n  lameduck\n}",
            "Corefile:2:3: lameduck: wrong argument count",
        ),
        (
            "health {\n  lameduck 5\n}",
            "Corefile:2:12: expected a duration",
        ),
        (
            "health {\n  lameduck 1s 2s\n}",
            "Corefile:2:15: lameduck: wrong argument count",
        ),
        (
            "health {\n  ready\n}",
            "Corefile:2:3: health: unknown property \"ready\"",
        ),
    ];
    for (text, expected) in cases {
        let err = setup_err(text).to_string();
        assert!(err.starts_with(expected), "{text:?}: {err}");
    }
}
