//! The provider-neutral webhook event: what Gupshup's and Meta's callbacks mean to tierpace.
//!
//! Both providers call us back with delivery statuses, inbound messages, opt-in/opt-out events,
//! tier and quality changes and template reviews (DOMAIN.md §4-§5). The parsers in
//! [`super::gupshup_webhook`] and [`super::meta_webhook`] turn each callback into a list of
//! [`ReceivedEvent`]s; the daemon implements [`EventSink`] and applies them. Providers retry
//! callbacks, so the sink must be idempotent: the same event twice changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a delivery report stands. `Failed` carries the provider's code so the daemon can
/// classify it (DOMAIN.md §3): opt-out, invalid number, template error, spam brake, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DeliveryStatus {
    Enqueued,
    Sent,
    Delivered,
    Read,
    Deleted,
    Failed {
        /// Gupshup's (e.g. `1002`) or WhatsApp's (e.g. `131048`) error code as the provider
        /// wrote it (a JSON number or string), read by [`error_code`]; it is classified as text
        /// (`provider::outcome::classify`), so it stays text.
        code: Option<String>,
        reason: Option<String>,
    },
}

impl DeliveryStatus {
    /// A stable, lowercase name for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryStatus::Enqueued => "enqueued",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Deleted => "deleted",
            DeliveryStatus::Failed { .. } => "failed",
        }
    }
}

/// One thing a provider told us. One callback may hold several (Meta batches them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ProviderEvent {
    /// A delivery report for one of our sends. Match it by `provider_message_id` first, then
    /// by `alt_id` (Gupshup: `gsId` is its own messageId, `id` becomes WhatsApp's id from `sent` on).
    MessageStatus {
        provider_message_id: String,
        alt_id: Option<String>,
        status: DeliveryStatus,
        at: Option<DateTime<Utc>>,
    },
    /// A customer wrote to us: opens that customer's 24 h service window (DOMAIN.md §1).
    /// `from` is the customer's number as the provider gives it (digits, country code first).
    Inbound {
        from: String,
        text: Option<String>,
        at: Option<DateTime<Utc>>,
    },
    /// The customer opted out through the provider (Gupshup `user-event` opted-out): global,
    /// every template.
    OptOut { phone: String },
    /// The customer replied with an opt-out keyword (SAIR, STOP, ...): global, every template.
    /// Added by [`add_keyword_optouts`] after the inbound message, so the opt-out is recorded
    /// with its own channel.
    KeywordOptOut { phone: String },
    /// The customer opted in again through the provider.
    OptIn { phone: String },
    /// The customer stopped marketing templates only: Meta's `user_preferences` field with
    /// `marketing_messages` `stop` (the "Stop promotions" button, DOMAIN.md §7). Utility and
    /// authentication templates still go.
    MarketingOptOut { phone: String },
    /// Meta's `user_preferences` `resume`: lifts a marketing opt-out, never an opt-out of everything.
    MarketingOptIn { phone: String },
    /// The sender's messaging tier moved. `event` is UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED,
    /// ONBOARDING (Gupshup tier-event, Meta phone_number_quality_update) or CAPABILITY_UPDATE
    /// (Meta business_capability_update); tiers are names like TIER_1K, TIER_UNLIMITED.
    Tier {
        event: String,
        current: Option<String>,
        new: Option<String>,
    },
    /// The sender's quality rating: GREEN/YELLOW/RED/UNKNOWN or HIGH/MEDIUM/LOW, uppercased.
    Quality {
        quality: String,
        limit: Option<String>,
    },
    /// A template was reviewed or its status changed; `status` is lowercase
    /// (approved, rejected, paused, disabled, ...). Paused or disabled pauses its campaigns.
    Template {
        id: Option<String>,
        name: Option<String>,
        status: String,
    },
}

impl ProviderEvent {
    /// A stable name for the `type` label of `tierpace_webhook_events_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderEvent::MessageStatus { .. } => "message_status",
            ProviderEvent::Inbound { .. } => "inbound",
            // A keyword reply is an opt-out like any other for the event counter.
            ProviderEvent::OptOut { .. } | ProviderEvent::KeywordOptOut { .. } => "opt_out",
            ProviderEvent::OptIn { .. } => "opt_in",
            ProviderEvent::MarketingOptOut { .. } => "marketing_opt_out",
            ProviderEvent::MarketingOptIn { .. } => "marketing_opt_in",
            ProviderEvent::Tier { .. } => "tier",
            ProviderEvent::Quality { .. } => "quality",
            ProviderEvent::Template { .. } => "template",
        }
    }
}

/// Which provider sent a callback and, when the payload says, which of our senders it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "provider")]
pub enum WebhookSource {
    /// Gupshup names the app (`src.name` of our sends), which identifies the sender.
    Gupshup { app: Option<String> },
    /// Meta names the WhatsApp Business Account (`entry[].id`) and the business number.
    Meta {
        waba_id: Option<String>,
        phone_number_id: Option<String>,
        display_phone_number: Option<String>,
    },
}

impl WebhookSource {
    /// `gupshup` or `meta`, for metric labels.
    pub fn provider(&self) -> &'static str {
        crate::provider::ProviderKind::from(self).as_str()
    }
}

/// The provider whose route a callback came in on.
impl From<&WebhookSource> for crate::provider::ProviderKind {
    fn from(source: &WebhookSource) -> Self {
        match source {
            WebhookSource::Gupshup { .. } => Self::Gupshup,
            WebhookSource::Meta { .. } => Self::Meta,
        }
    }
}

/// One event with the source it came from: Meta batches events of several numbers in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    pub source: WebhookSource,
    pub event: ProviderEvent,
    /// When the provider says it happened (the event's own timestamp, else the callback's):
    /// an event older than the state it would change is refused as stale (issue #22).
    pub at: Option<DateTime<Utc>>,
}

/// Why a callback body could not be turned into events. Neither is the provider's fault to
/// retry: the webhook answers 200 and counts it, so a bad body never loops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON, or a known type without the fields it needs.
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    /// Well-formed, but of a type tierpace does not act on (e.g. Gupshup `sandbox-start`).
    #[error("unsupported webhook type: {0}")]
    Unsupported(String),
}

/// The drop counters' reason for a body that could not be read.
impl From<&WebhookError> for super::unreadable::UnreadableReason {
    fn from(error: &WebhookError) -> Self {
        match error {
            WebhookError::Malformed(_) => Self::Malformed,
            WebhookError::Unsupported(_) => Self::Unsupported,
        }
    }
}

/// What an event did, for the webhook's counters (issue #22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Applied (or already applied: events are idempotent).
    Applied,
    /// A tier raise held until the provider's API or an operator confirms it.
    Held,
    /// Older than the state it would change: nothing changed.
    Stale,
}

/// Why the daemon could not apply an event now: one of its stores failed (most often Redis is
/// unreachable). Transient: the webhook answers 503 so the provider retries.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Consent(#[from] crate::campaign::consent::ConsentError),
    #[error(transparent)]
    Progress(#[from] crate::dispatch::progress::ProgressError),
}

/// The daemon's side of the webhooks. It must be idempotent (providers retry) and should return
/// quickly; the webhook waits for it only a bounded time (`HttpConfig::sink_timeout`).
/// An `Err` is a transient failure (e.g. Redis down): the webhook answers 503 so the provider retries.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn handle(
        &self,
        source: WebhookSource,
        event: ProviderEvent,
        at: Option<DateTime<Utc>>,
    ) -> Result<EventOutcome, SinkError>;

    /// A callback body from `source` (`gupshup`, `meta`) could not be read and was dropped:
    /// remember it for status (see [`super::unreadable`]). The default remembers nothing.
    fn unreadable(&self, _source: &'static str, _reason: super::unreadable::UnreadableReason) {}
}

/// Whether an inbound text is an opt-out keyword: trimmed, case- and accent-insensitive, whole
/// message only ("PARAR" opts out, "não quero parar agora" does not), so a chat is never misread.
pub fn is_optout_keyword(text: &str, keywords: &[String]) -> bool {
    let said = fold(text);
    !said.is_empty() && keywords.iter().any(|k| fold(k) == said)
}

/// After each inbound message whose text is an opt-out keyword, add a `KeywordOptOut` for its
/// sender.
/// The inbound event stays: the reply still opens the service window.
pub fn add_keyword_optouts(events: Vec<ReceivedEvent>, keywords: &[String]) -> Vec<ReceivedEvent> {
    let mut out = Vec::with_capacity(events.len());
    for received in events {
        let optout = match &received.event {
            ProviderEvent::Inbound {
                from,
                text: Some(text),
                ..
            } if is_optout_keyword(text, keywords) => Some(ReceivedEvent {
                at: received.at,
                source: received.source.clone(),
                event: ProviderEvent::KeywordOptOut {
                    phone: from.clone(),
                },
            }),
            _ => None,
        };
        out.push(received);
        out.extend(optout);
    }
    out
}

/// Trim, collapse inner whitespace, drop Latin accents and lowercase. Enough for the
/// Portuguese, Spanish and English keywords operators configure (SAIR, DESCADASTRAR, BAJA, ...).
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(strip_accent(c));
        }
    }
    // Trailing punctuation ("Sair." / "STOP!") is part of how people type a keyword.
    out.trim_end_matches(['.', '!', '?', ',', ';']).to_string()
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

/// The default opt-out keywords (DOMAIN.md §4).
pub fn default_optout_keywords() -> Vec<String> {
    ["STOP", "SAIR", "PARAR", "CANCELAR", "DESCADASTRAR"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords() -> Vec<String> {
        default_optout_keywords()
    }

    #[test]
    fn optout_keyword_ignores_case_accents_and_spaces() {
        assert!(is_optout_keyword("  stop ", &keywords()));
        assert!(is_optout_keyword("Sair", &keywords()));
        assert!(is_optout_keyword("PARAR!", &keywords()));
        let accented = vec!["NÃO QUERO".to_string()];
        assert!(is_optout_keyword("nao   quero", &accented));
        assert!(is_optout_keyword("Não Quero", &accented));
    }

    #[test]
    fn optout_keyword_must_be_the_whole_message() {
        assert!(!is_optout_keyword("não vou parar de comprar", &keywords()));
        assert!(!is_optout_keyword("stopped", &keywords()));
        assert!(!is_optout_keyword("", &keywords()));
        assert!(!is_optout_keyword("   ", &keywords()));
    }

    #[test]
    fn keyword_reply_adds_an_optout_and_keeps_the_inbound() {
        let source = WebhookSource::Gupshup { app: None };
        let inbound = |text: &str| ReceivedEvent {
            at: None,
            source: source.clone(),
            event: ProviderEvent::Inbound {
                from: "5585999990000".into(),
                text: Some(text.into()),
                at: None,
            },
        };
        let out = add_keyword_optouts(vec![inbound("Sair"), inbound("olá")], &keywords());
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[1].event,
            ProviderEvent::KeywordOptOut {
                phone: "5585999990000".into()
            }
        );
        assert_eq!(out[2], inbound("olá"));
    }
}
