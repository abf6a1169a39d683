//! `/healthz` (the process answers) and `/readyz` (it can do its job: config loaded, Redis
//! reachable, dispatchers running — DESIGN.md §2.5 says an unreachable Redis must show here).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::HttpState;

/// The daemon's answer to "can you work now?". `Err` lists every reason it cannot, for operators.
pub trait Readiness: Send + Sync + 'static {
    fn ready(&self) -> Result<(), Vec<String>>;
}

/// `GET /healthz`: 200 while the process serves HTTP at all.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 `{"ready":true}` or 503 `{"ready":false,"reasons":[...]}`, plus
/// `"warnings":[...]` when the listener trusts more than it should (an open Gupshup webhook).
pub async fn readyz(State(state): State<HttpState>) -> Response {
    let warnings = state.config.trust_warnings();
    let mut body = match state.readiness.ready() {
        Ok(()) => json!({ "ready": true }),
        Err(reasons) => json!({ "ready": false, "reasons": reasons }),
    };
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    let status = if body["ready"] == json!(true) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
