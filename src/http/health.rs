//! `/healthz` (the process answers) and `/readyz` (it can do its job: config loaded, Redis
//! reachable, dispatchers running — DESIGN.md §2.5 says an unreachable Redis must show here).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::HttpState;

/// The daemon's answer to "can you work now?". `Err` lists every reason it cannot, for operators.
pub trait Readiness: Send + Sync + 'static {
    fn ready(&self) -> Result<(), Vec<String>>;

    /// Problems that do not stop the daemon working, shown beside readiness without changing
    /// it (failed go-live items, issue #21: an operator may go live with a warning).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How a `/readyz` warning about a campaign file that did not load starts; `tierpace status`
/// lists these under its campaigns.
pub const CAMPAIGN_NOT_LOADED: &str = "campaign not loaded: ";

/// `GET /healthz`: 200 `ok` while the process serves HTTP at all. With `?nonce=N` (see
/// [`super::self_proof`]) the answer also carries this daemon's proof for N:
/// `ok tierpace-proof=HEX`.
pub async fn healthz(
    State(state): State<HttpState>,
    Query(query): Query<HashMap<String, String>>,
) -> String {
    match query
        .get("nonce")
        .filter(|n| super::self_proof::valid_nonce(n))
    {
        Some(nonce) => format!(
            "ok {}{}\n",
            super::self_proof::PROOF_PREFIX,
            state.config.self_proof.prove(nonce)
        ),
        None => "ok\n".to_string(),
    }
}

/// `GET /readyz`: 200 `{"ready":true}` or 503 `{"ready":false,"reasons":[...]}`, with
/// `"warnings":[...]` added when there are any (they never change the status code): the
/// listener trusting more than it should (an open Gupshup webhook), failed go-live items.
pub async fn readyz(State(state): State<HttpState>) -> Response {
    let mut warnings = state.config.trust_warnings();
    warnings.extend(state.readiness.warnings());
    let (code, mut body) = match state.readiness.ready() {
        Ok(()) => (StatusCode::OK, json!({ "ready": true })),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "ready": false, "reasons": reasons }),
        ),
    };
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    (code, Json(body)).into_response()
}
