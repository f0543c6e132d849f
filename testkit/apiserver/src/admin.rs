//! The `/_test/` admin routes: the test hooks of [`ApiServer`], over HTTP, for
//! shell scripts driving the `test-apiserver` binary.
//!
//! | route | effect |
//! |---|---|
//! | `POST /_test/apply` | create/update objects (JSON or YAML; single, multi-document or `kind: List`) |
//! | `GET /_test/objects/{kind}/{namespace}/{name}` | read one object (`_` as namespace for cluster-scoped) |
//! | `DELETE /_test/objects/{kind}/{namespace}/{name}` | delete one object |
//! | `POST /_test/expire` | compact history: watches get 410 |
//! | `POST /_test/drop_watches` | end all watch streams |
//! | `POST /_test/fail_next?n=&code=` | fail the next `n` API requests with `code` |
//! | `POST /_test/fault?code=&kind=&verb=&retry_after=&delay_ms=` | a sustained fault (see [`crate::Fault`]) |
//! | `DELETE /_test/fault` | clear every sustained fault |
//! | `POST /_test/down`, `POST /_test/up` | refuse connections / accept them again (use the admin listener) |
//! | `GET /_test/requests`, `DELETE /_test/requests` | the request log |
//! | `GET /_test/state` | current resourceVersion and number of open watches |

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::status::ApiError;
use crate::{ApiServer, Fault, Kind, Verb, load};

/// The admin routes, to be nested under `/_test`.
pub(crate) fn router() -> Router<ApiServer> {
    Router::new()
        .route("/apply", post(apply))
        .route(
            "/objects/{kind}/{namespace}/{name}",
            get(get_object).delete(delete_object),
        )
        .route("/expire", post(expire))
        .route("/drop_watches", post(drop_watches))
        .route("/fail_next", post(fail_next))
        .route("/fault", post(add_fault).delete(clear_faults))
        .route("/down", post(go_down))
        .route("/up", post(come_up))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/state", get(state))
}

async fn apply(State(server): State<ApiServer>, body: String) -> Response {
    let result = load::parse_documents(&body).and_then(|objects| {
        let n = objects.len();
        server.try_load_objects(objects).map(|rv| (n, rv))
    });
    match result {
        Ok((applied, rv)) => {
            Json(json!({ "applied": applied, "resourceVersion": rv.to_string() })).into_response()
        }
        Err(e) => ApiError::bad_request(e.to_string()).into_response(),
    }
}

type ObjectPath = Path<(String, String, String)>;

fn resolve(kind: &str, namespace: &str) -> Result<(Kind, String), ApiError> {
    let kind =
        Kind::parse(kind).ok_or_else(|| ApiError::not_found(format!("unknown kind {kind:?}")))?;
    let namespace = if namespace == "_" { "" } else { namespace };
    Ok((kind, namespace.to_owned()))
}

async fn get_object(
    State(server): State<ApiServer>,
    Path((kind, namespace, name)): ObjectPath,
) -> Response {
    let found = resolve(&kind, &namespace).and_then(|(kind, ns)| {
        server
            .get(kind, &ns, &name)
            .ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", kind.plural())))
    });
    match found {
        Ok(object) => Json(object).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_object(
    State(server): State<ApiServer>,
    Path((kind, namespace, name)): ObjectPath,
) -> Response {
    let deleted = resolve(&kind, &namespace).and_then(|(kind, ns)| {
        server
            .delete(kind, &ns, &name)
            .ok_or_else(|| ApiError::not_found(format!("{} \"{name}\" not found", kind.plural())))
    });
    match deleted {
        Ok(rv) => Json(json!({ "resourceVersion": rv.to_string() })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn expire(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.expire();
    Json(json!({ "resourceVersion": server.resource_version().to_string() }))
}

async fn drop_watches(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.drop_watches();
    Json(json!({}))
}

#[derive(Deserialize)]
struct FailNext {
    n: Option<u32>,
    code: Option<u16>,
}

async fn fail_next(State(server): State<ApiServer>, Query(q): Query<FailNext>) -> Response {
    let (n, code) = (q.n.unwrap_or(1), q.code.unwrap_or(500));
    if !(400..=599).contains(&code) {
        return ApiError::bad_request(format!("code {code} is not an HTTP error status"))
            .into_response();
    }
    server.fail_next(n, code);
    Json(json!({ "n": n, "code": code })).into_response()
}

#[derive(Deserialize)]
struct FaultQuery {
    code: Option<u16>,
    kind: Option<String>,
    verb: Option<String>,
    retry_after: Option<u32>,
    delay_ms: Option<u64>,
}

async fn add_fault(State(server): State<ApiServer>, Query(q): Query<FaultQuery>) -> Response {
    let code = q.code.unwrap_or(500);
    if code != 0 && !(400..=599).contains(&code) {
        return ApiError::bad_request(format!("code {code} is not 0 or an HTTP error status"))
            .into_response();
    }
    let kind = match q.kind.as_deref() {
        None | Some("" | "all") => None,
        Some(name) => match Kind::parse(name) {
            Some(kind) => Some(kind),
            None => return ApiError::bad_request(format!("unknown kind {name:?}")).into_response(),
        },
    };
    let verb = match q.verb.as_deref() {
        None | Some("" | "any") => Verb::Any,
        Some("list") => Verb::List,
        Some("watch") => Verb::Watch,
        Some(other) => {
            return ApiError::bad_request(format!("verb {other:?}: expected list, watch or any"))
                .into_response();
        }
    };
    server.add_fault(Fault {
        code,
        kind,
        verb,
        retry_after: q.retry_after,
        delay: Duration::from_millis(q.delay_ms.unwrap_or(0)),
    });
    Json(json!({ "code": code })).into_response()
}

async fn clear_faults(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.clear_faults();
    Json(json!({}))
}

async fn go_down(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.set_down(true);
    Json(json!({ "down": true }))
}

async fn come_up(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.set_down(false);
    Json(json!({ "down": false }))
}

async fn requests(State(server): State<ApiServer>) -> Json<Vec<String>> {
    Json(server.requests())
}

async fn clear_requests(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    server.clear_requests();
    Json(json!({}))
}

async fn state(State(server): State<ApiServer>) -> Json<serde_json::Value> {
    Json(json!({
        "resourceVersion": server.resource_version().to_string(),
        "watches": server.open_watches(),
    }))
}
