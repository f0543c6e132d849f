//! The HTTP surface: Kubernetes API paths, `/version`, the `/_test/` admin
//! routes, and the middleware that records requests and injects failures.
//!
//! Resource paths are parsed by hand rather than with the router because the
//! Kubernetes URL scheme (`/api/v1/namespaces/{ns}/{plural}/{name}` next to
//! `/api/v1/namespaces/{name}`) is awkward to express as routes.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::ApiServer;
use crate::encode::Shape;
use crate::filter::Filter;
use crate::kind::Kind;
use crate::list::{self, Page};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::watch::{self, WatchRequest};
use crate::{admin, encode};

/// The whole application.
pub(crate) fn router(server: ApiServer) -> Router {
    Router::new()
        .route("/version", get(version))
        .nest("/_test", admin::router())
        .fallback(resource)
        .layer(middleware::from_fn_with_state(server.clone(), hooks))
        .with_state(server)
}

/// Only the admin routes (see [`ApiServer::serve_admin`]).
pub(crate) fn admin_router(server: ApiServer) -> Router {
    Router::new()
        .nest("/_test", admin::router())
        .with_state(server)
}

/// Records every API request and answers it with an injected failure when one
/// is pending (`fail_next` first, then sustained faults). Admin routes pass
/// untouched.
async fn hooks(State(server): State<ApiServer>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    if !uri.path().starts_with("/_test/") {
        let pq = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        server.shared.hooks.record(pq.to_owned());
        if let Some(code) = server.shared.hooks.take_failure() {
            return ApiError::new(code, format!("injected failure (HTTP {code})")).into_response();
        }
        let kind = parse_path(uri.path()).map(|t| t.kind);
        let watch = uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        if let Some(fault) = server.shared.hooks.fault_for(kind, watch) {
            if !fault.delay.is_zero() {
                tokio::time::sleep(fault.delay).await;
            }
            if fault.code != 0 {
                let code = fault.code;
                let mut response =
                    ApiError::new(code, format!("injected fault (HTTP {code})")).into_response();
                if let Some(seconds) = fault.retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
                }
                return response;
            }
        }
    }
    next.run(req).await
}

async fn version() -> Response {
    axum::Json(json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }))
    .into_response()
}

async fn resource(
    State(server): State<ApiServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    handle(&server, &method, &uri, &headers).unwrap_or_else(IntoResponse::into_response)
}

/// What a resource path names.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    kind: Kind,
    namespace: Option<String>,
    name: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let (core, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        (true, rest)
    } else if let Some(rest) = path.strip_prefix("/apis/discovery.k8s.io/v1/") {
        (false, rest)
    } else {
        return None;
    };
    let kind = |plural: &str| Kind::from_plural(plural).filter(|k| k.is_core() == core);
    let namespaced = |plural: &str| kind(plural).filter(|k| k.namespaced());
    let target = |kind, namespace: Option<&str>, name: Option<&str>| Target {
        kind,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
    };
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        [plural] => Some(target(kind(plural)?, None, None)),
        ["namespaces", name] if core => Some(target(Kind::Namespace, None, Some(name))),
        ["namespaces", ns, plural] => Some(target(namespaced(plural)?, Some(ns), None)),
        ["namespaces", ns, plural, name] => Some(target(namespaced(plural)?, Some(ns), Some(name))),
        _ => None,
    }
}

fn handle(
    server: &ApiServer,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let target = parse_path(uri.path()).ok_or_else(|| {
        ApiError::not_found(format!(
            "the server could not find the requested resource ({})",
            uri.path()
        ))
    })?;
    if method != Method::GET {
        return Err(ApiError::new(
            405,
            format!("{method} is not supported by the test API server"),
        ));
    }
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let param = |k: &str| query.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let flag = |k: &str| matches!(param(k), Some("true" | "1"));
    let shape = shape_of(headers);
    let store = &server.shared.store;

    if let Some(name) = &target.name {
        let ns = target.namespace.as_deref().unwrap_or("");
        let object = store.get(target.kind, ns, name).ok_or_else(|| {
            ApiError::not_found(format!("{} \"{name}\" not found", target.kind.plural()))
        })?;
        let mut body = Vec::new();
        encode::write_object(&mut body, &object, shape);
        return Ok(json_response(body));
    }

    let bad = |e: crate::Error| ApiError::bad_request(e.to_string());
    let filter = Filter {
        kind: target.kind,
        namespace: target.namespace,
        labels: LabelSelector::parse(param("labelSelector").unwrap_or("")).map_err(bad)?,
        fields: FieldSelector::parse(param("fieldSelector").unwrap_or("")).map_err(bad)?,
    };
    let number = |k: &str| {
        param(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid {k}: {v:?}")))
            })
            .transpose()
    };

    if flag("watch") {
        let timeout = match number("timeoutSeconds")? {
            Some(secs) if secs > 0 => Duration::from_secs(secs),
            _ => server.shared.options.default_watch_timeout,
        };
        let req = WatchRequest {
            filter,
            shape,
            resource_version: number("resourceVersion")?.filter(|&rv| rv > 0),
            send_initial_events: flag("sendInitialEvents"),
            bookmarks: flag("allowWatchBookmarks"),
            timeout,
        };
        return Ok(watch::respond(server, req));
    }

    let page = Page {
        limit: number("limit")?.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        token: param("continue").map(str::to_owned),
    };
    list::respond(store, &filter, shape, &page).map(json_response)
}

/// `Shape::Metadata` when the client asks for `PartialObjectMetadata[List]`.
fn shape_of(headers: &HeaderMap) -> Shape {
    let metadata_only = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("as=PartialObjectMetadata"));
    if metadata_only {
        Shape::Metadata
    } else {
        Shape::Full
    }
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = |p: &str| parse_path(p);
        assert_eq!(t("/api/v1/services").unwrap().kind, Kind::Service);
        assert_eq!(t("/api/v1/namespaces").unwrap().kind, Kind::Namespace);
        let ns = t("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (ns.kind, ns.name.as_deref()),
            (Kind::Namespace, Some("kube-system"))
        );
        let svc = t("/api/v1/namespaces/a/services/b").unwrap();
        assert_eq!(
            (svc.kind, svc.namespace.as_deref(), svc.name.as_deref()),
            (Kind::Service, Some("a"), Some("b"))
        );
        let eps = t("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices").unwrap();
        assert_eq!(
            (eps.kind, eps.namespace.as_deref()),
            (Kind::EndpointSlice, Some("a"))
        );
        assert!(t("/apis/discovery.k8s.io/v1/services").is_none());
        assert!(t("/api/v1/endpointslices").is_none());
        assert!(t("/api/v1/namespaces/a/namespaces").is_none());
        assert!(t("/api/v1/configmaps").is_none());
        assert!(t("/apis").is_none());
    }
}
