//! Gupshup's version 3 callbacks: Meta's own envelope on Gupshup's route (DOMAIN.md §7).
//!
//! A Gupshup app can be set to deliver its callbacks "in Meta's format": `object`,
//! `entry[].changes[].value`, `field`, plus Gupshup's `gs_app_id` (partner-docs.gupshup.io,
//! "Incoming Events (V3)"). They arrive on `POST /webhooks/gupshup` like v2 callbacks, so the same
//! Gupshup secret rules apply and there is no Meta signature to check; the body is read by the
//! Meta parser ([`super::meta_webhook::parse_meta`]) and each event is re-labelled as Gupshup's,
//! so it reaches the Gupshup senders and failure codes are read as Gupshup passes them through.
use serde_json::Value;

use super::event::{ReceivedEvent, WebhookError, WebhookSource};
use super::meta_webhook::parse_meta;

/// Whether a parsed Gupshup callback body is in the v3 (Meta) envelope: an `entry` array and no
/// v2 `payload`.
pub fn is_v3(root: &Value) -> bool {
    root.get("entry").is_some_and(Value::is_array) && root.get("payload").is_none()
}

/// Parse a v3 callback body. `gs_app_id` is Gupshup's app id, not the app name our senders are
/// configured with, so the events name no app: they concern every Gupshup sender (as v2
/// callbacks without `app` do).
pub fn parse_gupshup_v3(body: &[u8]) -> Result<Vec<ReceivedEvent>, WebhookError> {
    let events = parse_meta(body)?;
    Ok(events
        .into_iter()
        .map(|received| ReceivedEvent {
            source: WebhookSource::Gupshup { app: None },
            event: received.event,
            at: received.at,
        })
        .collect())
}
