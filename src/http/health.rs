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

/// `GET /readyz`: 200 `{"ready":true}` or 503 `{"ready":false,"reasons":[...]}`.
pub async fn readyz(State(state): State<HttpState>) -> Response {
    match state.readiness.ready() {
        Ok(()) => Json(json!({ "ready": true })).into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reasons": reasons })),
        )
            .into_response(),
    }
}
