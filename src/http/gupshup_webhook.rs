//! `POST /webhooks/gupshup`: Gupshup's v2 callbacks (DOMAIN.md §4) turned into [`ProviderEvent`]s;
//! v3 callbacks (Meta's envelope) on the same route go to [`super::gupshup_v3`].
//!
//! Every callback is `{"app","timestamp","version":2,"type",...,"payload":{...}}`. Gupshup does not
//! sign callbacks, so the route demands a shared secret in the path
//! (`/webhooks/gupshup/{secret}`) or in the `X-Tierpace-Webhook-Secret` header; without a
//! configured secret it refuses everything (issue #22, SECURITY.md). Gupshup retries
//! until it gets a 2xx within 10 s: the handler answers fast and the sink is idempotent.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::auth::secret_matches;
use super::event::{DeliveryStatus, ProviderEvent, ReceivedEvent, WebhookError, WebhookSource};
use super::source::Refusal;
use super::webhook_json::{self, millis, seconds};
use super::HttpState;
use crate::campaign::phone::digits_of;

/// The header that may carry the Gupshup webhook secret (the alternative to the path segment).
pub const SECRET_HEADER: &str = "x-tierpace-webhook-secret";

/// Parse one Gupshup callback body of either version: v3 (Meta's envelope, see
/// [`super::gupshup_v3`]) or v2 ([`parse_gupshup`]).
pub fn parse_gupshup_callback(body: &[u8]) -> Result<Vec<ReceivedEvent>, WebhookError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if super::gupshup_v3::is_v3(&root) {
        super::gupshup_v3::parse_gupshup_v3(body)
    } else {
        parse_gupshup(body)
    }
}

/// Parse one Gupshup v2 callback body. Unknown types give [`WebhookError::Unsupported`],
/// bodies that are not JSON or lack the fields of their type give [`WebhookError::Malformed`].
pub fn parse_gupshup(body: &[u8]) -> Result<Vec<ReceivedEvent>, WebhookError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let kind = str_at(&root, &["type"]).ok_or_else(|| malformed("no `type`"))?;
    let payload = root
        .get("payload")
        .filter(|p| p.is_object())
        .ok_or_else(|| malformed("no `payload` object"))?;
    let source = WebhookSource::Gupshup {
        app: str_at(&root, &["app"]).map(str::to_string),
    };
    let callback_time = root.get("timestamp").and_then(millis);
    let event = match kind {
        "message-event" => message_event(payload, callback_time)?,
        "message" => inbound(payload, callback_time)?,
        "user-event" => user_event(payload)?,
        "account-event" => account_event(payload)?,
        "template-event" => template_event(payload)?,
        other => return Err(WebhookError::Unsupported(format!("gupshup {other}"))),
    };
    Ok(vec![ReceivedEvent {
        source,
        event,
        at: callback_time,
    }])
}

/// `message-event`: a delivery report. `id` is ours until `enqueued`; from `sent` on `id` is
/// WhatsApp's and `gsId` is Gupshup's messageId (the one our send got back), so `gsId` wins.
fn message_event(
    payload: &Value,
    callback_time: Option<DateTime<Utc>>,
) -> Result<ProviderEvent, WebhookError> {
    // An empty id matches nothing: treat it as absent.
    let id = str_at(payload, &["id"])
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let gs_id = str_at(payload, &["gsId"])
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let (provider_message_id, alt_id) = match (gs_id, id) {
        (Some(gs), id) => (gs, id),
        (None, Some(id)) => (id, None),
        (None, None) => return Err(malformed("message-event without `gsId` or `id`")),
    };
    let inner = payload.get("payload");
    let status = match str_at(payload, &["type"]) {
        Some("enqueued") => DeliveryStatus::Enqueued,
        Some("sent") => DeliveryStatus::Sent,
        Some("delivered") => DeliveryStatus::Delivered,
        Some("read") => DeliveryStatus::Read,
        Some("deleted") => DeliveryStatus::Deleted,
        Some("failed") => DeliveryStatus::Failed {
            code: inner
                .and_then(|p| p.get("code"))
                .and_then(webhook_json::error_code),
            reason: inner
                .and_then(|p| str_at(p, &["reason"]))
                .map(str::to_string),
        },
        Some(other) => {
            return Err(WebhookError::Unsupported(format!(
                "gupshup message-event {other}"
            )))
        }
        None => return Err(malformed("message-event without `payload.type`")),
    };
    // `payload.payload.ts` (seconds) is when WhatsApp saw it; the callback's own timestamp is later.
    let at = inner
        .and_then(|p| p.get("ts"))
        .and_then(seconds)
        .or(callback_time);
    Ok(ProviderEvent::MessageStatus {
        provider_message_id,
        alt_id,
        status,
        at,
    })
}

/// `message`: a customer wrote to us (text, quick reply, button, media ...).
fn inbound(payload: &Value, at: Option<DateTime<Utc>>) -> Result<ProviderEvent, WebhookError> {
    let from = str_at(payload, &["sender", "phone"])
        .or_else(|| str_at(payload, &["source"]))
        .map(digits_of)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| malformed("message without `sender.phone` or `source`"))?;
    // Quick replies carry the button's label in `text` (or `title` for list/button replies).
    let text = str_at(payload, &["payload", "text"])
        .or_else(|| str_at(payload, &["payload", "title"]))
        .map(str::to_string);
    Ok(ProviderEvent::Inbound { from, text, at })
}

/// `user-event`: opted-in / opted-out through Gupshup. Other user events are not ours.
fn user_event(payload: &Value) -> Result<ProviderEvent, WebhookError> {
    let phone = str_at(payload, &["phone"])
        .map(digits_of)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| malformed("user-event without `phone`"))?;
    match str_at(payload, &["type"]) {
        Some("opted-out") => Ok(ProviderEvent::OptOut { phone }),
        Some("opted-in") => Ok(ProviderEvent::OptIn { phone }),
        Some(other) => Err(WebhookError::Unsupported(format!(
            "gupshup user-event {other}"
        ))),
        None => Err(malformed("user-event without `type`")),
    }
}

/// `account-event`: `tier-event` moves the ladder; `quality-event` (when Gupshup sends one)
/// carries the number's quality rating.
fn account_event(payload: &Value) -> Result<ProviderEvent, WebhookError> {
    let inner = payload.get("payload").unwrap_or(&Value::Null);
    match str_at(payload, &["type"]) {
        Some("tier-event") => {
            let event = str_at(inner, &["event"])
                .ok_or_else(|| malformed("tier-event without `payload.event`"))?;
            Ok(ProviderEvent::Tier {
                event: event.to_ascii_uppercase(),
                current: str_at(inner, &["currentTier"]).map(str::to_string),
                new: str_at(inner, &["newTier"]).map(str::to_string),
            })
        }
        Some("quality-event") => {
            let quality = str_at(inner, &["quality"])
                .or_else(|| str_at(inner, &["event"]))
                .ok_or_else(|| malformed("quality-event without `payload.quality`"))?;
            Ok(ProviderEvent::Quality {
                quality: quality.to_ascii_uppercase(),
                limit: str_at(inner, &["currentTier"]).map(str::to_string),
            })
        }
        Some(other) => Err(WebhookError::Unsupported(format!(
            "gupshup account-event {other}"
        ))),
        None => Err(malformed("account-event without `payload.type`")),
    }
}

/// `template-event`: the template's review status (`status`, or `type` in older callbacks).
fn template_event(payload: &Value) -> Result<ProviderEvent, WebhookError> {
    const STATUSES: [&str; 4] = ["approved", "rejected", "paused", "disabled"];
    let status = [str_at(payload, &["status"]), str_at(payload, &["type"])]
        .into_iter()
        .flatten()
        .map(str::to_ascii_lowercase)
        .find(|s| STATUSES.contains(&s.as_str()))
        .ok_or_else(|| malformed("template-event without a known `status`"))?;
    Ok(ProviderEvent::Template {
        id: str_at(payload, &["id"]).map(str::to_string),
        name: str_at(payload, &["elementName"])
            .or_else(|| str_at(payload, &["name"]))
            .map(str::to_string),
        status,
    })
}

/// The route without a secret in the path: `POST /webhooks/gupshup`.
pub async fn receive(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let given = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok());
    handle(&state, given, &body).await
}

/// The route with the secret in the path: `POST /webhooks/gupshup/{secret}`.
pub async fn receive_with_secret(
    State(state): State<HttpState>,
    Path(secret): Path<String>,
    body: Bytes,
) -> StatusCode {
    handle(&state, Some(&secret), &body).await
}

/// Closed unless a secret is configured (issue #22): Gupshup does not sign callbacks, so the
/// secret is all that tells Gupshup from anyone else. Only `insecure_open_webhooks` (a
/// development switch, warned about everywhere) opens the route without one.
async fn handle(state: &HttpState, given_secret: Option<&str>, body: &[u8]) -> StatusCode {
    let refusal = match &state.config.gupshup_secret {
        Some(expected) => (!given_secret
            .is_some_and(|given| secret_matches(expected.expose(), given)))
        .then_some(Refusal::BadSecret),
        None => (!state.config.insecure_open_webhooks).then_some(Refusal::NoSecret),
    };
    if let Some(refusal) = refusal {
        tracing::warn!(
            provider = "gupshup",
            reason = refusal.as_str(),
            "webhook rejected: missing or wrong secret (or none configured: set http.gupshup_secret_env)"
        );
        state
            .metrics
            .webhook_event("gupshup", "request", "unauthorized");
        state.metrics.refused("gupshup", refusal);
        return StatusCode::UNAUTHORIZED;
    }
    super::deliver(state, "gupshup", parse_gupshup_callback(body)).await
}

fn malformed(what: &str) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}
