//! `GET|POST /webhooks/meta`: Meta Cloud API webhooks (DOMAIN.md §5) and their signature.
//!
//! The GET is Meta's subscription handshake: echo `hub.challenge` when `hub.verify_token` is ours.
//! Every POST is signed: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`,
//! checked in constant time before the body is even parsed; an unsigned or badly signed POST
//! gets 401 (an attacker must not be able to opt people in or move our tier).
//! Bodies are `{"object":"whatsapp_business_account","entry":[{"id":WABA,"changes":[{"field","value"}]}]}`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;

use super::auth::secret_matches;
use super::event::{DeliveryStatus, ProviderEvent, ReceivedEvent, WebhookError, WebhookSource};
use super::webhook_json::{self, seconds};
use super::HttpState;
use crate::campaign::phone::digits_of;

/// The header Meta signs its POSTs with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `app_secret`.
/// The comparison is constant time (`Mac::verify_slice` uses `subtle`); a missing header,
/// another algorithm or bad hex is simply `false`.
pub fn verify_meta_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The signature Meta would send for `body`: `sha256=<hex>`. Tests and tools use it.
pub fn meta_signature(app_secret: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(app_secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Parse one Meta webhook body into events. Fields tierpace does not act on are skipped; a body
/// with none it acts on is [`WebhookError::Unsupported`].
pub fn parse_meta(body: &[u8]) -> Result<Vec<ReceivedEvent>, WebhookError> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| WebhookError::Malformed("no `entry` array".into()))?;
    let mut out = Vec::new();
    let mut fields_seen = Vec::new();
    for entry in entries {
        let waba_id = entry.get("id").and_then(text);
        // `entry[].time` (seconds) dates account-level changes that carry no time of their own.
        let entry_time = entry.get("time").and_then(seconds);
        for change in entry
            .get("changes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("");
            let value = change.get("value").unwrap_or(&Value::Null);
            fields_seen.push(field.to_string());
            let source = WebhookSource::Meta {
                waba_id: waba_id.clone(),
                phone_number_id: value.pointer("/metadata/phone_number_id").and_then(text),
                display_phone_number: value
                    .pointer("/metadata/display_phone_number")
                    .or_else(|| value.get("display_phone_number"))
                    .and_then(text),
            };
            let events = match field {
                "messages" => messages(value)?,
                "phone_number_quality_update" => quality_update(value)?,
                "business_capability_update" => capability_update(value),
                "message_template_status_update" => template_update(value)?,
                "user_preferences" => user_preferences(value)?,
                _ => Vec::new(),
            };
            out.extend(events.into_iter().map(|event| {
                let at = match &event {
                    ProviderEvent::Inbound { at, .. } | ProviderEvent::MessageStatus { at, .. } => {
                        at.or(entry_time)
                    }
                    _ => entry_time,
                };
                ReceivedEvent {
                    source: source.clone(),
                    event,
                    at,
                }
            }));
        }
    }
    if out.is_empty() {
        return Err(WebhookError::Unsupported(format!(
            "meta fields [{}] carry nothing tierpace acts on",
            fields_seen.join(",")
        )));
    }
    Ok(out)
}

/// `field:"messages"`: `statuses[]` for our sends and `messages[]` from customers.
fn messages(value: &Value) -> Result<Vec<ProviderEvent>, WebhookError> {
    let mut out = Vec::new();
    for status in value
        .get("statuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = status
            .get("id")
            .and_then(text)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WebhookError::Malformed("status without `id`".into()))?;
        let first_error = status.pointer("/errors/0");
        let status_kind = match status.get("status").and_then(Value::as_str) {
            Some("sent") => DeliveryStatus::Sent,
            Some("delivered") => DeliveryStatus::Delivered,
            Some("read") => DeliveryStatus::Read,
            Some("deleted") => DeliveryStatus::Deleted,
            Some("failed") => DeliveryStatus::Failed {
                code: first_error
                    .and_then(|e| e.get("code"))
                    .and_then(webhook_json::error_code),
                reason: first_error
                    .and_then(|e| {
                        e.pointer("/error_data/details")
                            .or_else(|| e.get("message"))
                            .or_else(|| e.get("title"))
                    })
                    .and_then(text),
            },
            // Other statuses (e.g. "warning", "played") say nothing about delivery progress.
            _ => continue,
        };
        out.push(ProviderEvent::MessageStatus {
            provider_message_id: id,
            // Gupshup's v3 callbacks (Meta's envelope) add `gs_id`: Gupshup's messageId, the
            // one our send got back, while `id` is WhatsApp's.
            alt_id: status
                .get("gs_id")
                .and_then(text)
                .filter(|id| !id.is_empty()),
            status: status_kind,
            at: status.get("timestamp").and_then(seconds),
        });
    }
    for message in value
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let from = message
            .get("from")
            .and_then(text)
            .map(|f| digits_of(&f))
            .filter(|f| !f.is_empty())
            .ok_or_else(|| WebhookError::Malformed("message without `from`".into()))?;
        let text_said = message
            .pointer("/text/body")
            .or_else(|| message.pointer("/button/text"))
            .or_else(|| message.pointer("/interactive/button_reply/title"))
            .or_else(|| message.pointer("/interactive/list_reply/title"))
            .and_then(text);
        out.push(ProviderEvent::Inbound {
            from,
            text: text_said,
            at: message.get("timestamp").and_then(seconds),
        });
    }
    Ok(out)
}

/// `phone_number_quality_update`: `event` (UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED, ONBOARDING)
/// and the limit after it: `current_limit` until Meta removed it in February 2026, then
/// `max_daily_conversations_per_business` (DOMAIN.md §7); `old_limit` in some payloads. An
/// upgrade or downgrade that names no limit tierpace can read is dropped rather than guessed:
/// the next poll or capability update says where the limit really is.
fn quality_update(value: &Value) -> Result<Vec<ProviderEvent>, WebhookError> {
    let event = value.get("event").and_then(text).ok_or_else(|| {
        WebhookError::Malformed("phone_number_quality_update without `event`".into())
    })?;
    let event = event.to_ascii_uppercase();
    let new = value
        .get("current_limit")
        .and_then(text)
        .or_else(|| messaging_limit(value));
    if new.is_none() && matches!(event.as_str(), "UPGRADE" | "DOWNGRADE") {
        tracing::info!(
            event,
            "quality update without a limit tierpace can read: tier left as it is"
        );
        return Ok(Vec::new());
    }
    // Meta flags a number when its quality rating drops to Low and unflags it when the rating is
    // back to Medium or High: the quality follows (Medium, the lower bound, until a poll reads
    // the exact rating), so quality brakes and the upgrade rule see it, not only the tier.
    let quality = match event.as_str() {
        "FLAGGED" => Some("LOW"),
        "UNFLAGGED" => Some("MEDIUM"),
        _ => None,
    };
    let mut out = vec![ProviderEvent::Tier {
        event,
        current: value.get("old_limit").and_then(text),
        new,
    }];
    if let Some(quality) = quality {
        out.push(ProviderEvent::Quality {
            quality: quality.to_string(),
            limit: None,
        });
    }
    Ok(out)
}

/// `business_capability_update`: the portfolio's messaging limit since Oct 2025
/// (`max_daily_conversations_per_business`: 250, 2000, 10000, 100000 or -1 for unlimited; a
/// tier name in older payloads) or the older per-phone one.
fn capability_update(value: &Value) -> Vec<ProviderEvent> {
    match messaging_limit(value) {
        Some(limit) => vec![ProviderEvent::Tier {
            event: "CAPABILITY_UPDATE".into(),
            current: None,
            new: Some(limit),
        }],
        None => Vec::new(),
    }
}

/// The messaging limit a Meta payload states, as a tier name (`TIER_2K`, `TIER_UNLIMITED`).
fn messaging_limit(value: &Value) -> Option<String> {
    value
        .get("max_daily_conversations_per_business")
        .or_else(|| value.get("max_daily_conversation_per_phone"))
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64().and_then(tier_name),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(n) => tier_name(n),
                Err(_) => Some(s.clone()),
            },
            _ => None,
        })
}

/// `message_template_status_update`: APPROVED, REJECTED, PAUSED, DISABLED, ... (lowercased).
fn template_update(value: &Value) -> Result<Vec<ProviderEvent>, WebhookError> {
    let status = value
        .get("event")
        .and_then(text)
        .ok_or_else(|| WebhookError::Malformed("template update without `event`".into()))?;
    Ok(vec![ProviderEvent::Template {
        id: value.get("message_template_id").and_then(text),
        name: value.get("message_template_name").and_then(text),
        status: status.to_ascii_lowercase(),
    }])
}

/// `user_preferences`: the customer tapped "Stop promotions" (or undid it). Only the
/// `marketing_messages` category exists today; another category is not a marketing opt-out,
/// so it is skipped rather than guessed at (DOMAIN.md §7).
fn user_preferences(value: &Value) -> Result<Vec<ProviderEvent>, WebhookError> {
    let mut out = Vec::new();
    for pref in value
        .get("user_preferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let phone = pref
            .get("wa_id")
            .and_then(text)
            .map(|f| digits_of(&f))
            .filter(|f| !f.is_empty())
            .ok_or_else(|| WebhookError::Malformed("user_preferences without `wa_id`".into()))?;
        if pref.get("category").and_then(Value::as_str) != Some("marketing_messages") {
            continue;
        }
        match pref.get("value").and_then(Value::as_str) {
            Some("stop") => out.push(ProviderEvent::MarketingOptOut { phone }),
            Some("resume") => out.push(ProviderEvent::MarketingOptIn { phone }),
            _ => {
                return Err(WebhookError::Malformed(
                    "user_preferences `value` is neither stop nor resume".into(),
                ))
            }
        }
    }
    Ok(out)
}

/// A limit as Meta counts it, named like Gupshup's tiers (1000 -> TIER_1K, -1 -> unlimited).
fn tier_name(limit: i64) -> Option<String> {
    Some(match limit {
        -1 => "TIER_UNLIMITED".to_string(),
        n if n < 0 => return None,
        n if n >= 1_000 && n % 1_000 == 0 => format!("TIER_{}K", n / 1_000),
        n => format!("TIER_{n}"),
    })
}

/// Meta writes ids and timestamps as strings, but numbers appear too.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET /webhooks/meta`: the subscription handshake.
pub async fn verify(
    State(state): State<HttpState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let expected = state.config.meta_verify_token.as_ref();
    let mode_ok = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    let token_ok = match (expected, query.get("hub.verify_token")) {
        (Some(expected), Some(given)) => secret_matches(expected.expose(), given),
        _ => false,
    };
    match query.get("hub.challenge") {
        Some(challenge) if mode_ok && token_ok => {
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            tracing::warn!(
                provider = "meta",
                "webhook handshake refused: wrong mode or verify token"
            );
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

/// `POST /webhooks/meta`: check the signature, then hand the events to the sink.
pub async fn receive(
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let signed = match &state.config.meta_app_secret {
        Some(secret) => verify_meta_signature(secret.expose().as_bytes(), &body, header),
        // Without the app secret nothing can be verified: refuse rather than trust anyone.
        None => false,
    };
    if !signed {
        tracing::warn!(
            provider = "meta",
            "webhook rejected: missing or bad X-Hub-Signature-256"
        );
        state
            .metrics
            .webhook_event("meta", "request", "unauthorized");
        state
            .metrics
            .refused("meta", super::source::Refusal::BadSignature);
        return StatusCode::UNAUTHORIZED;
    }
    super::deliver(&state, "meta", parse_meta(&body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    /// Computed independently (Python's hmac module) so a broken HMAC cannot agree with itself.
    const KNOWN: &str = "sha256=d3e4f9da0ce6c71ab3dba55929b8eeeee2455349e534924ead19f98d143e904f";

    #[test]
    fn known_signature_is_accepted() {
        assert!(verify_meta_signature(b"app-secret", BODY, Some(KNOWN)));
        assert_eq!(meta_signature(b"app-secret", BODY), KNOWN);
    }

    #[test]
    fn missing_malformed_or_wrong_signatures_are_refused() {
        assert!(!verify_meta_signature(b"app-secret", BODY, None));
        assert!(!verify_meta_signature(b"app-secret", BODY, Some("")));
        assert!(!verify_meta_signature(
            b"app-secret",
            BODY,
            Some(&KNOWN[7..])
        ));
        assert!(!verify_meta_signature(
            b"app-secret",
            BODY,
            Some("sha1=d3e4f9")
        ));
        assert!(!verify_meta_signature(
            b"app-secret",
            BODY,
            Some("sha256=zz")
        ));
        assert!(!verify_meta_signature(b"other-secret", BODY, Some(KNOWN)));
        assert!(!verify_meta_signature(b"app-secret", b"{}", Some(KNOWN)));
        // A truncated MAC must not pass as a prefix match.
        assert!(!verify_meta_signature(
            b"app-secret",
            BODY,
            Some(&KNOWN[..40])
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_signature_holds_only_for_its_own_body(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            flip in any::<proptest::sample::Index>(),
        ) {
            let sig = meta_signature(&secret, &body);
            prop_assert!(verify_meta_signature(&secret, &body, Some(&sig)));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip.index(tampered.len());
                tampered[i] ^= 0x01;
                prop_assert!(!verify_meta_signature(&secret, &tampered, Some(&sig)));
            }
        }
    }
}
