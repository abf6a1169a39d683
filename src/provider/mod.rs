//! Providers: who carries a template message to WhatsApp.
//!
//! A [`Provider`] takes one [`TemplateMessage`] and returns one [`SendOutcome`]. Each provider
//! speaks its own wire format (Gupshup: DOMAIN.md §4, Meta Cloud API: §5, dry run: none) and maps
//! its errors through the one classification table in [`outcome`] (DOMAIN.md §3), so the
//! dispatcher reacts to a [`FailureClass`], never to a provider's raw code.
//!
//! The outcome has three shapes because the ledger needs three answers:
//! - `Accepted`: the provider took it; the conversation counts.
//! - `Failed`: it definitely did not go out (or WhatsApp rejected it); when
//!   `reached_whatsapp` is false the ledger slot may be released.
//! - `Unknown`: it may have gone out (timeout after the request was written). It is never resent
//!   (DESIGN.md §2, guarantee 4: "never twice" beats "always delivered").
//!
//! Retries of transient errors (HTTP 429, 5xx, connection errors before the request was sent)
//! happen inside `send`, bounded by `max_attempts`, with the backoff in [`retry`].
use std::fmt;

use crate::contact::E164;

pub mod components;
pub mod dryrun;
pub mod golive;
pub mod gupshup;
pub mod meta;
pub mod outcome;
pub mod retry;
pub mod template_catalog;
pub mod template_preflight;
pub mod tier_source;

mod http;

pub use components::{Button, Param, ParamValue};
pub use dryrun::DryRunProvider;
pub use gupshup::{GupshupConfig, GupshupProvider};
pub use http::http_client;
pub use meta::{MetaConfig, MetaProvider};
pub use outcome::{classify, Failure, FailureAction, FailureClass};
pub use retry::Backoff;

/// Which provider a sender uses (the `provider` key of a sender in the daemon config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Gupshup,
    Meta,
    #[serde(rename = "dryrun")]
    DryRun,
}

impl ProviderKind {
    /// The stable lowercase name used in config, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Gupshup => "gupshup",
            ProviderKind::Meta => "meta",
            ProviderKind::DryRun => "dryrun",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sends template messages for one sender.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;

    /// Sends one template message. Never panics; retries transient errors inside, bounded by the
    /// provider's `max_attempts`, so the caller gets one final answer per message.
    async fn send(&self, msg: &TemplateMessage) -> SendOutcome;
}

/// One template message to one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateMessage {
    pub to: E164,
    pub template: TemplateRef,
    /// Body parameters, in template order ({{1}}, {{2}}, ...) or named.
    pub params: Vec<Param>,
    /// The header media of a media template.
    pub media: Option<Media>,
    /// The parameters of a text header (at most one in Meta's templates).
    pub header_params: Vec<Param>,
    /// Button parameters, by the button's index in the template.
    pub buttons: Vec<Button>,
}

/// Which template to send. Gupshup names templates by `id` (its UUID); Meta by `name` and
/// `language`. A campaign may fill all three so it can move between providers; a provider whose
/// field is missing answers `Failed(TemplateInvalid)` without calling out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateRef {
    /// Gupshup template UUID.
    pub id: Option<String>,
    /// Meta template name.
    pub name: Option<String>,
    /// Meta language code, e.g. `pt_BR`.
    pub language: Option<String>,
}

/// The header media of a media template, by public link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub link: String,
    /// Shown to the customer for documents.
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Document,
}

impl MediaKind {
    /// The type name both Gupshup and Meta use on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
        }
    }
}

/// The final answer for one message (see the module doc for what each shape means to the ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted the message (not yet delivered); `message_id` matches webhooks.
    /// `wa_id` is the WhatsApp id the provider resolved the number to, when it says (Meta's
    /// `contacts[0].wa_id`; it can differ from the number sent, e.g. Mexico's `52` vs `521`):
    /// inbound messages and opt-outs come from that id.
    Accepted {
        message_id: String,
        wa_id: Option<String>,
    },
    /// Definitely not sent, or rejected by WhatsApp.
    Failed(Failure),
    /// It may have gone out: never resend it.
    Unknown { detail: String },
}

impl SendOutcome {
    pub fn is_accepted(&self) -> bool {
        matches!(self, SendOutcome::Accepted { .. })
    }
}

/// The last four digits of a number: all that logs may show of a contact at info level.
pub(crate) fn last4(number: &E164) -> &str {
    let s = number.as_str();
    // E164 holds ASCII digits only, so any byte index is a char boundary.
    &s[s.len().saturating_sub(4)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_kind_reads_the_config_names() {
        #[derive(serde::Deserialize)]
        struct Sender {
            provider: ProviderKind,
        }
        for (name, kind) in [
            ("gupshup", ProviderKind::Gupshup),
            ("meta", ProviderKind::Meta),
            ("dryrun", ProviderKind::DryRun),
        ] {
            let s: Sender = toml::from_str(&format!("provider = \"{name}\"")).unwrap();
            assert_eq!(s.provider, kind);
            assert_eq!(kind.as_str(), name);
        }
        assert!(toml::from_str::<Sender>("provider = \"twilio\"").is_err());
    }

    #[test]
    fn last4_shows_only_the_tail() {
        assert_eq!(
            last4(&E164::from_validated_digits("5585988881234".into())),
            "1234"
        );
        assert_eq!(last4(&E164::from_validated_digits("12".into())), "12");
    }
}
