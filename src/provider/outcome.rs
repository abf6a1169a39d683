//! The one table that turns a provider's error code into what tierpace does (DOMAIN.md §3).
//!
//! Codes are strings because they come from three places: Meta's numeric error codes (which
//! Gupshup passes through in its failure callbacks), Gupshup's own codes and messages, and HTTP
//! statuses, written `http_<status>` so that they never collide with a Meta code (368 is one).
//! The webhook handlers classify failed-status codes with the same [`classify`], so a code means
//! the same thing whether it came back from the send or an hour later in a callback.
//!
//! The class of a code and its action live here and nowhere else; what the action does to the
//! contact, the sender and the campaign is applied by `dispatch/react/`, with the retry
//! delays from the `[retries]` policy settings.
use std::fmt;

use super::ProviderKind;

/// What a failure means, independent of the provider that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// Throughput / API rate limit (HTTP 429, 130429, 4, 80007, "Too Many Requests").
    Throttled,
    /// Pair rate: too many messages to the same customer (131056).
    PairRate,
    /// Number in maintenance or throughput upgrade (131057).
    Maintenance,
    /// The customer's marketing cap across businesses (131049).
    MarketingCap,
    /// Spam rate limit: too many blocks or spam reports (131048).
    SpamBrake,
    /// The customer stopped marketing or opted out (131050, Gupshup 1012).
    OptedOut,
    /// Not on WhatsApp or not a valid destination (131026, Gupshup 1002, "Invalid Destination").
    Undeliverable,
    /// Template name, parameters or format wrong: a campaign config error.
    TemplateInvalid,
    /// Template paused or disabled for quality.
    TemplatePaused,
    /// Payment, locked account, empty wallet, provider-side rate limiting of the account.
    AccountProblem,
    /// Wrong or expired API key / access token.
    Auth,
    /// The provider was unreachable or answered 5xx on every attempt; nothing went out.
    Unavailable,
    /// A code not in the table: not retried automatically, counted by code.
    Unknown,
}

impl FailureClass {
    /// What the dispatcher does about a failure of this class.
    pub fn action(self) -> FailureAction {
        match self {
            FailureClass::Throttled | FailureClass::Unavailable => FailureAction::SlowDown,
            // "retry that customer later (4^n s), continue others"; "retry after minutes"
            FailureClass::PairRate | FailureClass::Maintenance => FailureAction::RetryContact,
            // "not before 24 h; count as deferred"
            FailureClass::MarketingCap => FailureAction::Defer,
            FailureClass::SpamBrake => FailureAction::BrakeSender,
            FailureClass::OptedOut => FailureAction::OptOut,
            FailureClass::Undeliverable => FailureAction::MarkInvalid,
            FailureClass::TemplateInvalid => FailureAction::PauseCampaign,
            FailureClass::TemplatePaused => FailureAction::PauseTemplate,
            FailureClass::AccountProblem | FailureClass::Auth => FailureAction::PauseSender,
            FailureClass::Unknown => FailureAction::None,
        }
    }

    /// The stable snake_case name used in logs, metric labels and contact states.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Throttled => "throttled",
            FailureClass::PairRate => "pair_rate",
            FailureClass::Maintenance => "maintenance",
            FailureClass::MarketingCap => "marketing_cap",
            FailureClass::SpamBrake => "spam_brake",
            FailureClass::OptedOut => "opted_out",
            FailureClass::Undeliverable => "undeliverable",
            FailureClass::TemplateInvalid => "template_invalid",
            FailureClass::TemplatePaused => "template_paused",
            FailureClass::AccountProblem => "account_problem",
            FailureClass::Auth => "auth",
            FailureClass::Unavailable => "unavailable",
            FailureClass::Unknown => "unknown",
        }
    }

    /// Whether the same contact may be sent again later by an automatic retry
    /// (`tierpace retry --failed` re-queues exactly these).
    pub fn is_retryable(self) -> bool {
        matches!(
            self.action(),
            FailureAction::SlowDown | FailureAction::RetryContact | FailureAction::Defer
        )
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What tierpace does about a failure (the "action" column of DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Lower the sender's rate and retry this contact later with backoff.
    SlowDown,
    /// Retry this contact later on its class's backoff ladder (`[retries]`); go on with others.
    RetryContact,
    /// Do not retry this contact before `[retries] marketing_cap`; count it as deferred.
    Defer,
    /// Pause marketing on the sender and alert (spam brake).
    BrakeSender,
    /// Pause the sender and alert: its account or credentials need an operator.
    PauseSender,
    /// Pause the campaign: its template reference or parameters are wrong.
    PauseCampaign,
    /// Pause every campaign that uses this template.
    PauseTemplate,
    /// Add the contact to the global opt-outs; never retry.
    OptOut,
    /// Mark the contact invalid; never retry.
    MarkInvalid,
    /// No automatic action; count by code.
    None,
}

/// Why one message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    /// The provider's code as [`classify`] reads it (`"131048"`, `"1002"`, `"http_429"`, ...).
    pub code: String,
    /// A human-readable reason from the provider; never contains a secret.
    pub detail: String,
    /// False when the request never reached WhatsApp, so the ledger slot may be released.
    pub reached_whatsapp: bool,
}

impl Failure {
    /// A failure reported synchronously by the provider's send API: the message never left it.
    pub fn rejected(
        kind: ProviderKind,
        code: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let code = code.into();
        Self {
            class: classify(kind, &code),
            code,
            detail: detail.into(),
            reached_whatsapp: false,
        }
    }

    /// A failure reported later by webhook (a `failed` status for an accepted message): the
    /// message was handed to WhatsApp, so its conversation stays counted.
    pub fn reported(
        kind: ProviderKind,
        code: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            reached_whatsapp: true,
            ..Self::rejected(kind, code, detail)
        }
    }

    pub fn action(&self) -> FailureAction {
        self.class.action()
    }

    /// The HTTP status the provider answered with, when that is what the code says.
    pub fn http_status(&self) -> Option<u16> {
        http_status(&self.code)
    }
}

/// Which codes a table row applies to.
#[derive(Clone, Copy)]
enum Scope {
    /// WhatsApp's codes: Meta reports them, Gupshup passes them through in callbacks.
    WhatsApp,
    /// Gupshup's own codes and error messages.
    Gupshup,
    /// HTTP statuses (`http_<status>`) from any provider.
    Http,
}

/// DOMAIN.md §3, row by row. Gupshup messages are matched case-insensitively.
const TABLE: &[(Scope, &str, FailureClass)] = &[
    // HTTP 429, 130429, 4, 80007: throughput / API rate
    (Scope::Http, "http_429", FailureClass::Throttled),
    (Scope::WhatsApp, "130429", FailureClass::Throttled),
    (Scope::WhatsApp, "4", FailureClass::Throttled),
    (Scope::WhatsApp, "80007", FailureClass::Throttled),
    (Scope::Gupshup, "Too Many Requests", FailureClass::Throttled),
    // 131056: pair rate
    (Scope::WhatsApp, "131056", FailureClass::PairRate),
    // 131057: maintenance / throughput upgrade
    (Scope::WhatsApp, "131057", FailureClass::Maintenance),
    // 131049: marketing per-user cap
    (Scope::WhatsApp, "131049", FailureClass::MarketingCap),
    // 131048: spam rate limit
    (Scope::WhatsApp, "131048", FailureClass::SpamBrake),
    // 131050, Gupshup 1012: opted out
    (Scope::WhatsApp, "131050", FailureClass::OptedOut),
    (Scope::Gupshup, "1012", FailureClass::OptedOut),
    // 131026, Gupshup 1002: undeliverable
    (Scope::WhatsApp, "131026", FailureClass::Undeliverable),
    (Scope::Gupshup, "1002", FailureClass::Undeliverable),
    (
        Scope::Gupshup,
        "Invalid Destination",
        FailureClass::Undeliverable,
    ),
    // 131008 (required parameter missing), 132000 (parameter count), 132001 (template does not
    // exist in this language), 132005 (hydrated text too long), 132007 (format character policy),
    // 132012 (parameter format), Gupshup 1005, 4003: the template and the campaign file disagree,
    // so every contact would fail the same way (Cloud API error codes reference).
    (Scope::WhatsApp, "131008", FailureClass::TemplateInvalid),
    (Scope::WhatsApp, "132000", FailureClass::TemplateInvalid),
    (Scope::WhatsApp, "132001", FailureClass::TemplateInvalid),
    (Scope::WhatsApp, "132005", FailureClass::TemplateInvalid),
    (Scope::WhatsApp, "132007", FailureClass::TemplateInvalid),
    (Scope::WhatsApp, "132012", FailureClass::TemplateInvalid),
    (Scope::Gupshup, "1005", FailureClass::TemplateInvalid),
    (Scope::Gupshup, "4003", FailureClass::TemplateInvalid),
    // 132015, 132016, Gupshup 1004, 4005: template paused / disabled
    (Scope::WhatsApp, "132015", FailureClass::TemplatePaused),
    (Scope::WhatsApp, "132016", FailureClass::TemplatePaused),
    (Scope::Gupshup, "1004", FailureClass::TemplatePaused),
    (Scope::Gupshup, "4005", FailureClass::TemplatePaused),
    // 131042, 131031, 368, Gupshup 1003, 4001: payment, account locked, wallet, rate-limited
    (Scope::WhatsApp, "131042", FailureClass::AccountProblem),
    (Scope::WhatsApp, "131031", FailureClass::AccountProblem),
    (Scope::WhatsApp, "368", FailureClass::AccountProblem),
    (Scope::Gupshup, "1003", FailureClass::AccountProblem),
    (Scope::Gupshup, "4001", FailureClass::AccountProblem),
    // Not in DOMAIN.md §3, but they need an operator just the same: bad credentials.
    (Scope::WhatsApp, "190", FailureClass::Auth),
    (Scope::WhatsApp, "0", FailureClass::Auth),
    (Scope::Http, "http_401", FailureClass::Auth),
    (Scope::Http, "http_403", FailureClass::Auth),
    (Scope::Gupshup, "Authentication Failed", FailureClass::Auth),
    // A wrong `src.name` (app name): the sender's config, not the contact (field file
    // gupshup-invalid-app-details).
    (Scope::Gupshup, "Invalid App Details", FailureClass::Auth),
];

/// Classifies a provider's error code (see the module doc for the code forms).
///
/// `Gupshup` reads its own codes and messages and WhatsApp's codes (it passes them through);
/// `Meta` reads WhatsApp's codes; every provider reads `http_<status>`, where any other 5xx is
/// [`FailureClass::Unavailable`]. Anything else is [`FailureClass::Unknown`].
pub fn classify(kind: ProviderKind, code: &str) -> FailureClass {
    let code = code.trim();
    let applies = |scope: Scope| match scope {
        Scope::Http => true,
        Scope::WhatsApp => true,
        Scope::Gupshup => matches!(kind, ProviderKind::Gupshup | ProviderKind::DryRun),
    };
    let found = TABLE
        .iter()
        .find(|(scope, c, _)| applies(*scope) && c.eq_ignore_ascii_case(code));
    if let Some((_, _, class)) = found {
        return *class;
    }
    match http_status(code) {
        Some(500..=599) => FailureClass::Unavailable,
        _ => FailureClass::Unknown,
    }
}

/// The code string for an HTTP status, as [`classify`] reads it; [`http_status`] reads it back.
/// A string, not a variant: the code is a metric label and a campaign's failure count key, where
/// `http_429` stands beside WhatsApp's `131048` and Gupshup's messages.
pub fn http_code(status: u16) -> String {
    format!("http_{status}")
}

/// The HTTP status of a code written by [`http_code`] (`"http_429"` -> 429), else `None`.
pub fn http_status(code: &str) -> Option<u16> {
    code.strip_prefix("http_")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureClass::*;
    use ProviderKind::{Gupshup, Meta};

    #[test]
    fn every_row_of_domain_table_3_maps_to_its_class() {
        let rows: &[(&[&str], FailureClass)] = &[
            (&["http_429", "130429", "4", "80007"], Throttled),
            (&["131056"], PairRate),
            (&["131057"], Maintenance),
            (&["131049"], MarketingCap),
            (&["131048"], SpamBrake),
            (&["131050"], OptedOut),
            (&["131026"], Undeliverable),
            (
                &["131008", "132000", "132001", "132005", "132007", "132012"],
                TemplateInvalid,
            ),
            (&["132015", "132016"], TemplatePaused),
            (&["131042", "131031", "368"], AccountProblem),
        ];
        for (codes, class) in rows {
            for code in *codes {
                assert_eq!(classify(Meta, code), *class, "meta {code}");
                // Gupshup passes WhatsApp's codes through in its callbacks.
                assert_eq!(classify(Gupshup, code), *class, "gupshup {code}");
            }
        }
    }

    #[test]
    fn gupshup_codes_and_messages_map_to_their_class() {
        let rows = [
            ("1012", OptedOut),
            ("1002", Undeliverable),
            ("1005", TemplateInvalid),
            ("4003", TemplateInvalid),
            ("1004", TemplatePaused),
            ("4005", TemplatePaused),
            ("1003", AccountProblem),
            ("4001", AccountProblem),
            ("Invalid Destination", Undeliverable),
            ("invalid destination", Undeliverable),
            ("Authentication Failed", Auth),
            ("Invalid App Details", Auth),
            ("Too Many Requests", Throttled),
        ];
        for (code, class) in rows {
            assert_eq!(classify(Gupshup, code), class, "{code}");
        }
    }

    #[test]
    fn gupshup_codes_mean_nothing_to_meta() {
        for code in ["1012", "1002", "4001", "Invalid Destination"] {
            assert_eq!(classify(Meta, code), Unknown, "{code}");
        }
    }

    #[test]
    fn http_statuses_classify_for_every_provider() {
        for kind in [Gupshup, Meta, ProviderKind::DryRun] {
            assert_eq!(classify(kind, &http_code(429)), Throttled);
            assert_eq!(classify(kind, &http_code(401)), Auth);
            assert_eq!(classify(kind, &http_code(500)), Unavailable);
            assert_eq!(classify(kind, &http_code(503)), Unavailable);
            assert_eq!(classify(kind, &http_code(400)), Unknown);
        }
    }

    #[test]
    fn unknown_codes_are_not_retried() {
        for code in ["", "999999", "131000", "http_418", "something else"] {
            let class = classify(Meta, code);
            assert_eq!(class, Unknown, "{code}");
            assert_eq!(class.action(), FailureAction::None);
            assert!(!class.is_retryable());
        }
    }

    #[test]
    fn webhook_failures_reached_whatsapp_and_send_failures_did_not() {
        let late = Failure::reported(Gupshup, "1002", "Number does not exist on WhatsApp");
        assert_eq!(late.class, Undeliverable);
        assert!(late.reached_whatsapp);
        let early = Failure::rejected(Meta, "131048", "Spam rate limit hit");
        assert_eq!(early.class, SpamBrake);
        assert!(!early.reached_whatsapp);
    }

    #[test]
    fn actions_follow_the_domain_table() {
        assert_eq!(Throttled.action(), FailureAction::SlowDown);
        assert_eq!(SpamBrake.action(), FailureAction::BrakeSender);
        assert_eq!(OptedOut.action(), FailureAction::OptOut);
        assert_eq!(Undeliverable.action(), FailureAction::MarkInvalid);
        assert_eq!(TemplateInvalid.action(), FailureAction::PauseCampaign);
        assert_eq!(TemplatePaused.action(), FailureAction::PauseTemplate);
        assert_eq!(AccountProblem.action(), FailureAction::PauseSender);
        assert_eq!(MarketingCap.action(), FailureAction::Defer);
        assert_eq!(PairRate.action(), FailureAction::RetryContact);
        assert_eq!(Maintenance.action(), FailureAction::RetryContact);
        assert!(PairRate.is_retryable());
        assert!(!OptedOut.is_retryable());
        assert!(!Undeliverable.is_retryable());
    }
}
