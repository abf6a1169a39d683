//! The JSON error body every HTTP refusal shares (`{"error": {"code", "message"}}`): the admin
//! API's errors, an unauthorized request, a webhook refused by its source check. Its own file so
//! the modules that answer with it (admin, auth, source) need not import each other.
use axum::Json;
use serde_json::json;

/// The JSON error body every admin and auth failure uses.
pub fn error_body(code: &str, message: &str) -> Json<serde_json::Value> {
    Json(json!({ "error": { "code": code, "message": message } }))
}
