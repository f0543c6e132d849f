//! Tests of `setup` and of the `/metrics` handler.

use clusterdns_api::ConfigError;

use crate::{CONTENT_TYPE, setup};
use clusterdns_api::testing::{directive, setup_ctx};

fn setup_err(text: &str) -> ConfigError {
    match setup(&directive(text), &mut setup_ctx()) {
        Err(err) => err,
        Ok(_) => panic!("{text:?} must be rejected"),
    }
}

#[test]
fn default_route_serves_openmetrics_and_enables_query_metrics() {
    let mut ctx = setup_ctx();
    assert!(!ctx.metrics);
    assert!(setup(&directive("prometheus"), &mut ctx).unwrap().is_none());
    assert!(ctx.metrics);
    assert_eq!(ctx.http_routes.len(), 1);
    let route = &ctx.http_routes[0];
    assert_eq!(
        (route.addr.as_str(), route.path),
        ("localhost:9153", "/metrics")
    );
    let reply = (route.handler)();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, CONTENT_TYPE);
    assert!(reply.body.ends_with("# EOF\n"), "{}", reply.body);
}

#[test]
fn build_info_is_registered_once() {
    for _ in 0..2 {
        setup(&directive("prometheus :9153"), &mut setup_ctx()).unwrap();
    }
    let text = clusterdns_api::metrics::encode_text();
    let expected = format!(
        "coredns_build_info{{version=\"{}\",revision=\"{}\",goversion=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        option_env!("CLUSTERDNS_REVISION").unwrap_or("unknown"),
        crate::build_info::toolchain(),
    );
    assert_eq!(text.matches(&expected).count(), 1, "{text}");
    assert_eq!(text.matches("# TYPE coredns_build_info gauge").count(), 1);
    assert!(crate::build_info::toolchain().starts_with("rust"));
}

#[test]
fn address_is_kept() {
    let mut ctx = setup_ctx();
    setup(&directive("prometheus 0.0.0.0:9253"), &mut ctx).unwrap();
    assert_eq!(ctx.http_routes[0].addr, "0.0.0.0:9253");
}

#[test]
fn errors_name_their_position() {
    let cases = [
        (
            "prometheus 9153",
            "Corefile:1:12: prometheus: expected a listen address",
        ),
        (
            "prometheus :1 :2",
            "Corefile:1:15: prometheus: wrong argument count",
        ),
        (
            "prometheus {\n  path /m\n}",
            "Corefile:2:3: prometheus: takes no block",
        ),
    ];
    for (text, expected) in cases {
        let err = setup_err(text).to_string();
        assert!(err.starts_with(expected), "{text:?}: {err}");
    }
}
