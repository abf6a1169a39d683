//! Who may do what on the HTTP listener: bearer tokens for the admin API and the shared secrets
//! of the webhooks (DESIGN.md §2.7: secrets never appear in logs, metrics or responses).
//!
//! Every change through `/api/v1` needs an admin token; reads need a read or admin token only
//! when a read token is configured. Comparisons are constant time: both sides are hashed with
//! SHA-256 first, so neither the content nor the length of a token leaks through timing.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::error_body;
use super::HttpConfig;

/// A secret string (token, app secret). `Debug` never shows it.
/// Tokens and webhook secrets are the crate-wide secret type (redacted in Debug and logs).
pub use crate::secret::Secret;

/// Constant-time equality of a configured secret and what a request gave.
pub fn secret_matches(expected: &str, given: &str) -> bool {
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(given.as_bytes());
    !expected.is_empty() && bool::from(a.ct_eq(&b))
}

/// What a request wants to do on the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Change,
}

/// A refused request: answered 401 with a JSON error saying why (never echoing the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthorized(pub &'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            error_body("unauthorized", self.0),
        )
            .into_response()
    }
}

/// Allow the request or say why not.
pub fn authorize(
    config: &HttpConfig,
    headers: &HeaderMap,
    access: Access,
) -> Result<(), Unauthorized> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let matches_any = |tokens: &[Secret]| {
        given.is_some_and(|g| tokens.iter().any(|t| secret_matches(t.expose(), g)))
    };
    let allowed = match access {
        Access::Change => matches_any(&config.admin_tokens),
        Access::Read => {
            config.read_tokens.is_empty()
                || matches_any(&config.read_tokens)
                || matches_any(&config.admin_tokens)
        }
    };
    if allowed {
        return Ok(());
    }
    let message = match (access, given, config.admin_tokens.is_empty()) {
        (Access::Change, _, true) => "no admin token is configured: changes are disabled",
        (_, None, _) => "missing bearer token (Authorization: Bearer <token>)",
        _ => "wrong token",
    };
    tracing::warn!(?access, "admin API request refused: {message}");
    Err(Unauthorized(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal_and_configured() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cret", "s3cre"));
        assert!(!secret_matches("s3cret", "s3cret "));
        assert!(!secret_matches("", ""));
    }

    #[test]
    fn secret_debug_hides_the_value() {
        assert!(!format!("{:?}", Secret::new("hunter2")).contains("hunter2"));
    }
}
