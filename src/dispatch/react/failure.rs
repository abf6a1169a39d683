//! What a provider's failure does (DOMAIN.md §3).
//!
//! A failure reaches tierpace two ways: in the send API's answer (`dispatch/send.rs`) or later in
//! a `failed` status callback (`daemon/sink.rs`, through [`super::delivery`]). Both classify the
//! code with [`crate::provider::classify`] and hand the [`Failure`] here: [`decide`] says what it
//! means for the contact, the sender and the campaign (pure, tested below), and
//! [`Reactor::react`] carries it out.
//!
//! | class | contact | sender | campaign |
//! |---|---|---|---|
//! | throttled (429, 130429, 4, 80007), unavailable (5xx) | `retrying` on `[retries] throttled` | rate halved (AIMD) | |
//! | pair rate (131056) | `retrying` after 4 s, 16 s, 64 s ... then `failed` | | |
//! | maintenance (131057) | `retrying` after 5 min, 10 min ... then `failed` | | |
//! | marketing cap (131049) | `deferred` 24 h, then sent again | | |
//! | spam (131048) | `failed` | spam brake (marketing) | |
//! | opted out (131050, 1012) | `failed`, opt-out stored | | |
//! | undeliverable (131026, 1002) | `invalid`: never retried; later campaigns skip it (`undeliverable` in the consent store) | | |
//! | template invalid / paused | back to pending | | paused |
//! | account / auth (401, 131042, 131031, 368, 1003, 4001, Invalid App Details) | back to pending | `account` brake: paused | |
//! | unknown | `failed` with its code, counted | | |
//!
//! "Back to pending" is for failures that are the sender's or the campaign's problem, not the
//! contact's: the contact was not reached, so it is not used up; when the operator lifts the
//! brake or resumes the campaign it is sent.
use chrono::{DateTime, Utc};

use super::{ContactRef, Reactor, SenderControls};
use crate::campaign::consent::OptOutSource;
use crate::dispatch::progress::{
    field_contact, record_outcome, ContactState, Control, ProgressError, Write,
};
use crate::policy::brake::Brake;
use crate::policy::retry_policy::RetrySettings;
use crate::provider::{Failure, FailureAction, FailureClass};

/// What becomes of the contact whose send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Ends failed with the code (`retry --failed` may bring it back).
    Failed { code: String },
    /// Not reachable on WhatsApp: never retried.
    Invalid { code: String },
    /// Sent again by itself from `not_before`; `attempt` retries so far (this one included).
    Retry {
        code: String,
        not_before: DateTime<Utc>,
        attempt: u32,
    },
    /// The customer's marketing cap: sent again by itself from `not_before`.
    Defer {
        code: String,
        not_before: DateTime<Utc>,
    },
    /// Not the contact's problem: back to pending, sent when the sender or campaign goes on.
    Pending,
}

/// What the failure does to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderEffect {
    None,
    /// Throughput error: lower the sender's rate.
    SlowDown,
    /// One more spam-rate failure: enough of them brake marketing.
    SpamFailure,
    /// Pause the sender until an operator lifts the brake.
    Pause(String),
}

/// The whole decision for one failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub fate: Fate,
    pub sender: SenderEffect,
    pub pause_campaign: bool,
    pub opt_out: bool,
    /// A code not in DOMAIN.md §3: counted by code so someone looks at it.
    pub unknown_code: bool,
}

/// Decides what `failure` does, for a contact already retried `attempt` times.
pub fn decide(
    failure: &Failure,
    attempt: u32,
    now: DateTime<Utc>,
    retries: &RetrySettings,
) -> Reaction {
    let code = failure.code.clone();
    let failed = || Fate::Failed { code: code.clone() };
    let retry = |ladder: &crate::policy::retry_policy::Ladder| match ladder.next(attempt, now) {
        Some(not_before) => Fate::Retry {
            code: code.clone(),
            not_before,
            attempt: attempt + 1,
        },
        None => failed(),
    };
    let mut r = Reaction {
        fate: failed(),
        sender: SenderEffect::None,
        pause_campaign: false,
        opt_out: false,
        unknown_code: false,
    };
    match failure.action() {
        FailureAction::SlowDown => {
            r.fate = retry(&retries.throttled);
            if failure.class == FailureClass::Throttled {
                r.sender = SenderEffect::SlowDown;
            }
        }
        FailureAction::RetryContact => {
            r.fate = retry(if failure.class == FailureClass::Maintenance {
                &retries.maintenance
            } else {
                &retries.pair_rate
            });
        }
        FailureAction::Defer => {
            r.fate = Fate::Defer {
                code: code.clone(),
                not_before: retries.deferred_until(now),
            };
        }
        FailureAction::BrakeSender => r.sender = SenderEffect::SpamFailure,
        FailureAction::PauseSender => {
            r.fate = Fate::Pending;
            // The provider's own words first, then its code: "Authentication Failed (http_401)".
            let detail = failure.detail.trim();
            r.sender = SenderEffect::Pause(if detail.is_empty() || detail == failure.code {
                failure.code.clone()
            } else {
                format!("{detail} ({})", failure.code)
            });
        }
        FailureAction::PauseCampaign | FailureAction::PauseTemplate => {
            r.fate = Fate::Pending;
            r.pause_campaign = true;
        }
        FailureAction::OptOut => r.opt_out = true,
        FailureAction::MarkInvalid => r.fate = Fate::Invalid { code: code.clone() },
        FailureAction::None => r.unknown_code = true,
    }
    r
}

impl Reactor {
    /// Decides and applies the reaction to `failure` for one contact, on every sender it
    /// concerns (the sender that sent it, or all the callback may be about). The sender is
    /// paused before the contact is written, so a pause takes effect at the first answer.
    ///
    /// How often the contact was retried comes from the progress store, where it outlives the
    /// contact's resends: a send answer and a later `failed` callback climb one ladder.
    pub async fn react(
        &self,
        failure: &Failure,
        now: DateTime<Utc>,
        contact: ContactRef<'_>,
        senders: &[SenderControls],
    ) -> Result<Reaction, ProgressError> {
        let attempt = self.progress.attempts(contact.run, contact.field).await?;
        let reaction = decide(failure, attempt, now, &self.retries);
        for s in senders {
            self.apply_to_sender(&reaction.sender, s, now).await;
        }
        self.count(failure, &reaction, senders);
        // An opt-out, or a number WhatsApp cannot reach: every later campaign skips it too.
        let global = if reaction.opt_out {
            Some(OptOutSource::Provider)
        } else if matches!(reaction.fate, Fate::Invalid { .. }) {
            Some(OptOutSource::Undeliverable)
        } else {
            None
        };
        if let (Some(source), Some(key)) = (global, field_contact(contact.field)) {
            self.consent
                .opt_out(key, source, now)
                .await
                .map_err(|e| ProgressError::Unavailable(e.to_string()))?;
        }
        if reaction.pause_campaign {
            let reason = format!("template error {}: {}", failure.code, failure.detail);
            self.pause_campaign(contact.run.campaign(), reason).await?;
        }
        self.write_contact(&reaction.fate, &contact).await?;
        tracing::info!(campaign = contact.run.campaign(), contact = contact.field,
            code = %failure.code, class = failure.class.as_str(), fate = fate_name(&reaction.fate),
            "provider failure acted on");
        Ok(reaction)
    }

    /// Applies the effect; a changed brake is saved.
    async fn apply_to_sender(&self, effect: &SenderEffect, s: &SenderControls, now: DateTime<Utc>) {
        match effect {
            SenderEffect::None => {}
            SenderEffect::SlowDown => {
                let mut rate = s.rate.lock().unwrap_or_else(|e| e.into_inner());
                if rate.throttled(now) {
                    tracing::warn!(sender = %s.id, rate_mps = rate.current(), max_mps = rate.max(),
                        "provider throughput error: send rate lowered");
                }
            }
            SenderEffect::SpamFailure => {
                self.change_brakes(s, |b| {
                    let set = b.observe_failure(now, true);
                    if set {
                        tracing::warn!(sender = %s.id, "spam-related failures rising: marketing braked on this sender");
                    }
                    set
                })
                .await;
            }
            SenderEffect::Pause(reason) => {
                self.change_brakes(s, |b| {
                    let set = !b
                        .active()
                        .iter()
                        .any(|(b, _)| matches!(b, Brake::Account(_)))
                        && b.set(Brake::Account(reason.clone()), now);
                    if set {
                        tracing::error!(sender = %s.id, reason = %reason,
                            "account or credentials refused by the provider: sender paused until an operator lifts the brake");
                    }
                    set
                })
                .await;
            }
        }
    }

    /// Pauses the campaign with the provider's reason, which `status` shows.
    async fn pause_campaign(&self, campaign: &str, reason: String) -> Result<(), ProgressError> {
        let c = self.progress.control(campaign).await?;
        if !c.paused {
            tracing::warn!(campaign, reason = %reason,
                "template error reported by the provider: campaign paused");
            let control = Control {
                paused: true,
                pause_reason: Some(reason),
                ..c
            };
            self.progress.set_control(campaign, control).await?;
        }
        Ok(())
    }

    async fn write_contact(&self, fate: &Fate, c: &ContactRef<'_>) -> Result<(), ProgressError> {
        let line = c.line;
        let state = match fate.clone() {
            Fate::Pending => {
                self.progress
                    .requeue(c.run, &[c.field.to_string()], true)
                    .await?;
                return Ok(());
            }
            Fate::Failed { code } => ContactState::Failed { line, code },
            Fate::Invalid { code } => ContactState::Invalid { line, code },
            Fate::Retry {
                code,
                not_before,
                attempt,
            } => ContactState::Retrying {
                line,
                code,
                not_before,
                attempt,
            },
            Fate::Defer { code, not_before } => ContactState::Deferred {
                line,
                code,
                not_before,
            },
        };
        let write = Write {
            field: c.field.to_string(),
            state,
        };
        record_outcome(self.progress.as_ref(), c.run, &write).await
    }

    fn count(&self, failure: &Failure, reaction: &Reaction, senders: &[SenderControls]) {
        use crate::http::metrics::{ReactionLabels, UnknownCodeLabels};
        for s in senders {
            self.metrics
                .sender_failure_reactions
                .get_or_create(&ReactionLabels {
                    sender: s.id.clone(),
                    class: failure.class.as_str().to_string(),
                    fate: fate_name(&reaction.fate).to_string(),
                })
                .inc();
            if reaction.unknown_code {
                self.metrics
                    .sender_unknown_failure_codes
                    .get_or_create(&UnknownCodeLabels {
                        sender: s.id.clone(),
                        code: failure.code.chars().take(40).collect(),
                    })
                    .inc();
            }
        }
    }
}

/// The stable name of a fate, for logs and metric labels.
pub fn fate_name(f: &Fate) -> &'static str {
    match f {
        Fate::Failed { .. } => "failed",
        Fate::Invalid { .. } => "invalid",
        Fate::Retry { .. } => "retrying",
        Fate::Defer { .. } => "deferred",
        Fate::Pending => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderKind::{Gupshup, Meta};

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_796_000_000, 0).unwrap()
    }

    fn decide_code(kind: crate::provider::ProviderKind, code: &str, attempt: u32) -> Reaction {
        decide(
            &Failure::rejected(kind, code, "detail"),
            attempt,
            now(),
            &RetrySettings::default(),
        )
    }

    #[test]
    fn pair_rate_retries_the_contact_after_4_then_16_seconds_then_fails() {
        let r = decide_code(Meta, "131056", 0);
        assert_eq!(
            r.fate,
            Fate::Retry {
                code: "131056".into(),
                not_before: now() + chrono::Duration::seconds(4),
                attempt: 1
            }
        );
        assert_eq!(r.sender, SenderEffect::None);
        let r = decide_code(Meta, "131056", 1);
        assert!(
            matches!(r.fate, Fate::Retry { not_before, .. } if not_before == now() + chrono::Duration::seconds(16))
        );
        let r = decide_code(Meta, "131056", 5);
        assert_eq!(
            r.fate,
            Fate::Failed {
                code: "131056".into()
            }
        );
    }

    #[test]
    fn maintenance_retries_after_minutes() {
        let r = decide_code(Meta, "131057", 0);
        assert!(
            matches!(r.fate, Fate::Retry { not_before, .. } if not_before == now() + chrono::Duration::minutes(5))
        );
    }

    #[test]
    fn marketing_cap_defers_24_hours_never_fails() {
        for attempt in [0, 1, 50] {
            let r = decide_code(Meta, "131049", attempt);
            assert_eq!(
                r.fate,
                Fate::Defer {
                    code: "131049".into(),
                    not_before: now() + chrono::Duration::hours(24)
                }
            );
        }
    }

    #[test]
    fn throughput_errors_slow_the_sender_and_retry_the_contact() {
        for code in ["http_429", "130429", "4", "80007"] {
            let r = decide_code(Meta, code, 0);
            assert_eq!(r.sender, SenderEffect::SlowDown, "{code}");
            assert!(matches!(r.fate, Fate::Retry { .. }), "{code}");
        }
    }

    #[test]
    fn account_and_auth_failures_pause_the_sender_and_use_no_contact() {
        for (kind, code) in [
            (Gupshup, "Authentication Failed"),
            (Gupshup, "Invalid App Details"),
            (Gupshup, "1003"),
            (Gupshup, "4001"),
            (Meta, "131042"),
            (Meta, "131031"),
            (Meta, "368"),
            (Meta, "http_401"),
        ] {
            let r = decide_code(kind, code, 0);
            assert_eq!(r.fate, Fate::Pending, "{code}");
            assert!(matches!(r.sender, SenderEffect::Pause(_)), "{code}");
        }
    }

    #[test]
    fn undeliverable_is_invalid_and_opt_out_is_stored() {
        assert_eq!(
            decide_code(Gupshup, "1002", 0).fate,
            Fate::Invalid {
                code: "1002".into()
            }
        );
        assert_eq!(
            decide_code(Meta, "131026", 0).fate,
            Fate::Invalid {
                code: "131026".into()
            }
        );
        let r = decide_code(Gupshup, "1012", 0);
        assert!(r.opt_out);
        assert!(matches!(r.fate, Fate::Failed { .. }));
    }

    #[test]
    fn unknown_codes_fail_by_code_and_are_flagged() {
        let r = decide_code(Meta, "999123", 0);
        assert!(r.unknown_code);
        assert_eq!(
            r.fate,
            Fate::Failed {
                code: "999123".into()
            }
        );
    }

    #[test]
    fn template_errors_pause_the_campaign_and_use_no_contact() {
        let r = decide_code(Meta, "132001", 0);
        assert!(r.pause_campaign);
        assert_eq!(r.fate, Fate::Pending);
    }
}
