//! What provider callbacks do to tierpace's state (DOMAIN.md §3-§5). Every effect is idempotent:
//! states only move forward, opt-outs and service windows are sets, tier events carry their
//! target. Returning `Err` makes the webhook answer 503 so the provider retries (Redis down).
use std::sync::Arc;

use super::Shared;
use chrono::{DateTime, Utc};

use crate::campaign::consent::{
    opt_in_any, ConsentChange, ConsentScope, ContactKeys, OptOutSource,
};
use crate::campaign::phone::parse_provider_number;
use crate::config::ProviderChoice;
use crate::contact::{ContactKey, E164};
use crate::dispatch::progress::{ContactState, Control, RunId, Write};
use crate::dispatch::react::{ContactRef, Reactor, SenderControls};
use crate::http::{
    DeliveryStatus, EventOutcome, EventSink, ProviderEvent, SinkError, UnreadableReason,
    WebhookSource,
};
use crate::policy::brake::{Brake, QualityRating};
use crate::policy::tier::{Quality, Tier};
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_report::{is_stale, ReportedChange, TierReport, Verdict};
use crate::provider::{Failure, ProviderKind};

pub struct Sink(pub Arc<Shared>);

/// A customer's number as providers send it (`+55 85 ...`, `5585...`, an old 12-digit WhatsApp
/// id): through the one normaliser, so every spelling of a line is one contact key.
fn customer(raw: &str) -> Option<E164> {
    parse_provider_number(raw)
}

/// The customer a callback is from: their number, its key, and the contact it is an alias of
/// when a send answer said WhatsApp knows that contact under this id (`contacts[].wa_id`).
struct Customer {
    number: E164,
    key: ContactKey,
    aliased: Option<ContactKey>,
}

impl Customer {
    /// Every key the callback's effect applies to: its own, then the aliased contact's.
    fn keys(&self) -> impl Iterator<Item = ContactKey> + '_ {
        std::iter::once(self.key).chain(self.aliased.filter(|a| *a != self.key))
    }
}

impl Sink {
    /// The one place a callback's number becomes contact keys (every opt-out, opt-in and
    /// inbound arm goes through it); `None` when the number is not a number.
    async fn customer_of(&self, raw: &str) -> Result<Option<Customer>, SinkError> {
        let s = &self.0;
        let Some(number) = customer(raw) else {
            return Ok(None);
        };
        let key = s.hasher.key(&number);
        let aliased = s
            .consent
            .aliases_for(std::slice::from_ref(&key))
            .await?
            .into_iter()
            .next()
            .flatten();
        Ok(Some(Customer {
            number,
            key,
            aliased,
        }))
    }

    /// The senders a callback concerns: by Gupshup app name or Meta phone number id; all senders
    /// of that provider when the callback does not say.
    fn senders_of(&self, source: &WebhookSource) -> Vec<super::SenderHandle> {
        let senders = self.0.senders.read().map(|s| s.clone()).unwrap_or_default();
        senders
            .into_values()
            .filter(|h| match source {
                WebhookSource::Gupshup { app } => {
                    h.config.provider == ProviderChoice::Gupshup
                        && app
                            .as_ref()
                            .is_none_or(|a| h.config.app_name.as_deref() == Some(a.as_str()))
                }
                WebhookSource::Meta {
                    phone_number_id, ..
                } => {
                    h.config.provider == ProviderChoice::Meta
                        && phone_number_id
                            .as_ref()
                            .is_none_or(|p| h.config.phone_number_id.as_deref() == Some(p.as_str()))
                }
            })
            .collect()
    }

    async fn message_status(
        &self,
        source: &WebhookSource,
        ids: [Option<&str>; 2],
        status: &DeliveryStatus,
    ) -> Result<(), SinkError> {
        let s = &self.0;
        // A callback can overtake our own record of the send (the provider answers the send
        // and posts `sent`/`delivered` at once): look again for a while before giving up. The
        // webhook has already answered 200 by then (the sink runs on past its timeout).
        let mut found = None;
        let mut wait = std::time::Duration::from_millis(50);
        for _attempt in 0..8 {
            for id in ids.into_iter().flatten() {
                let hit = s.progress.lookup_message(id).await?;
                if let Some(hit) = hit {
                    found = Some((hit, id.to_string()));
                    break;
                }
            }
            if found.is_some() {
                break;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(2));
        }
        let Some(((run, field), message_id)) = found else {
            tracing::debug!(
                status = status.name(),
                "status for a message tierpace did not send (or too old); ignored"
            );
            return Ok(());
        };
        let current = s
            .progress
            .states(&run, std::slice::from_ref(&field))
            .await?;
        let Some(Some(state)) = current.into_iter().next() else {
            return Ok(());
        };
        let line = state.line();
        let new = match status {
            DeliveryStatus::Delivered => ContactState::Delivered { line, message_id },
            DeliveryStatus::Read => ContactState::Read { line, message_id },
            DeliveryStatus::Failed { code, reason } => {
                return self
                    .failed_status(source, &run, &field, line, *code, reason.as_deref())
                    .await;
            }
            // enqueued / sent / deleted: nothing to record beyond `sent`.
            _ => return Ok(()),
        };
        s.progress
            .update(&run, &[Write { field, state: new }])
            .await?;
        Ok(())
    }

    /// A `failed` status callback: classified like a send answer and handed to the one place
    /// that decides what a failure does (`dispatch/react.rs`), for every sender it concerns.
    async fn failed_status(
        &self,
        source: &WebhookSource,
        run: &RunId,
        field: &str,
        line: u64,
        code: Option<i64>,
        reason: Option<&str>,
    ) -> Result<(), SinkError> {
        let s = &self.0;
        let code = code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "unknown".into());
        let kind = ProviderKind::from(source);
        let failure = Failure::reported(kind, code, reason.unwrap_or(""));
        let senders: Vec<SenderControls> = self
            .senders_of(source)
            .into_iter()
            .map(|h| SenderControls {
                id: h.id,
                brakes: h.brakes,
                rate: h.rate,
            })
            .collect();
        let retries = s
            .loaded
            .read()
            .map(|l| l.config.retries.clone())
            .unwrap_or_default();
        let reactor = Reactor {
            progress: s.progress.clone(),
            consent: s.consent.clone(),
            metrics: s.metrics.clone(),
            retries,
            pacing: s.pacing.clone(),
        };
        let contact = ContactRef { run, field, line };
        // How often this contact was retried is kept in the progress store: a retry reported
        // by a callback continues its ladder (react.rs reads it).
        reactor
            .react(&failure, s.clock.now(), contact, &senders)
            .await?;
        Ok(())
    }

    /// A tier or quality callback: judged by the pure policy inside the ledger's
    /// compare-and-set ([`crate::policy::tier_report`]): a raise is held until confirmed, a
    /// lowering applies at once, an older report than the group's latest changes nothing.
    async fn tier_report(
        &self,
        source: &WebhookSource,
        change: ReportedChange,
        at: Option<DateTime<Utc>>,
    ) -> Result<EventOutcome, SinkError> {
        let now = self.0.clock.now();
        let report = TierReport { change, at };
        let mut outcome = EventOutcome::Applied;
        for h in self.senders_of(source) {
            let before = self.0.ledger.stats(&h.group, now).await?;
            let state = self
                .0
                .ledger
                .apply_tier_event(&h.group, now, TierEvent::Reported(report))
                .await?;
            let verdict = verdict_after(&before, &state, report, now);
            match verdict {
                Verdict::Stale => {
                    tracing::warn!(sender = %h.id, group = %h.group, change = ?change, "tier callback older than the group's latest: nothing changed");
                    outcome = outcome.max_with(EventOutcome::Stale);
                    continue;
                }
                Verdict::Held(raise) => {
                    tracing::warn!(sender = %h.id, group = %h.group, reported = %raise.to, tier = %state.tier,
                        "tier raise reported by a callback: held until the provider's API or an operator confirms it");
                    outcome = outcome.max_with(EventOutcome::Held);
                    continue;
                }
                Verdict::Applied => {
                    tracing::info!(sender = %h.id, group = %h.group, change = ?change, tier = %state.tier, "tier callback applied")
                }
            }
            let active = {
                let mut b = h.brakes.lock().unwrap_or_else(|e| e.into_inner());
                let changed = match change {
                    ReportedChange::Flagged => b.set(Brake::Flagged, now),
                    ReportedChange::Unflagged => b.lift(&Brake::Flagged),
                    ReportedChange::Downgrade { .. } => b.set(Brake::Downgraded, now),
                    ReportedChange::Upgrade { .. } => b.lift(&Brake::Downgraded),
                    ReportedChange::Quality(q) => {
                        QualityRating::try_from(q).is_ok_and(|r| b.quality(r, now))
                    }
                    _ => false,
                };
                changed.then(|| b.active())
            };
            if let Some(active) = active {
                tracing::warn!(sender = %h.id, change = ?change, "tier or quality callback: brakes updated");
                crate::dispatch::pacing_store::persist_brakes(
                    self.0.pacing.as_ref(),
                    &h.id,
                    &active,
                )
                .await;
            }
        }
        Ok(outcome)
    }
}

/// What a tier callback's names mean: UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED, ONBOARDING, or
/// anything else naming a tier (Meta's CAPABILITY_UPDATE) as "the limit is now".
fn reported_change(
    event: &str,
    current: Option<&str>,
    new: Option<&str>,
) -> Option<ReportedChange> {
    let parse = |t: Option<&str>| t.and_then(|t| t.parse::<Tier>().ok());
    Some(match event.to_ascii_uppercase().as_str() {
        "UPGRADE" => ReportedChange::Upgrade { to: parse(new) },
        "DOWNGRADE" => ReportedChange::Downgrade { to: parse(new) },
        "FLAGGED" => ReportedChange::Flagged,
        "UNFLAGGED" => ReportedChange::Unflagged,
        "ONBOARDING" => ReportedChange::Onboarding,
        _ => ReportedChange::Limit {
            tier: parse(new).or(parse(current))?,
        },
    })
}

/// The verdict the ledger's judgement came to, read from the group's state before and after.
fn verdict_after(
    before: &crate::ledger::LedgerStats,
    after: &crate::policy::tier_state::TierState,
    report: TierReport,
    now: DateTime<Utc>,
) -> Verdict {
    let latest = match report.change {
        ReportedChange::Quality(_) => before.quality_reported_at,
        _ => before.tier_reported_at,
    };
    if is_stale(latest, report.at, now) {
        return Verdict::Stale;
    }
    let at = report.at.map_or(now, |t| t.min(now));
    match after.reported_raise {
        Some(raise) if raise.at == at && raise.to > after.tier => Verdict::Held(raise),
        _ => Verdict::Applied,
    }
}

trait Worst {
    fn max_with(self, other: EventOutcome) -> EventOutcome;
}

impl Worst for EventOutcome {
    /// Over several senders: held if any held, else stale if any stale.
    fn max_with(self, other: EventOutcome) -> EventOutcome {
        match (self, other) {
            (EventOutcome::Held, _) | (_, EventOutcome::Held) => EventOutcome::Held,
            (EventOutcome::Stale, _) | (_, EventOutcome::Stale) => EventOutcome::Stale,
            _ => EventOutcome::Applied,
        }
    }
}

fn outcome_of(change: ConsentChange) -> EventOutcome {
    match change {
        ConsentChange::Stale => EventOutcome::Stale,
        _ => EventOutcome::Applied,
    }
}

/// Opt-outs from webhooks, each recorded with its channel (issue 11 §2): a keyword reply or a
/// provider opt-out stops everything; Meta's marketing preference stops marketing only.
impl Sink {
    async fn opt_out(
        &self,
        phone: &str,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, SinkError> {
        let s = &self.0;
        let Some(who) = self.customer_of(phone).await? else {
            return Ok(EventOutcome::Applied);
        };
        let mut change = ConsentChange::Unchanged;
        for key in who.keys() {
            change = change.and(s.consent.opt_out(key, source, at).await?);
            tracing::info!(contact = %key, source = source.as_str(),
                scope = source.scope().as_str(), result = ?change, "opt-out recorded");
        }
        Ok(outcome_of(change))
    }

    /// `stop` records a marketing-only opt-out; `resume` lifts it (an opt-out of everything,
    /// e.g. a SAIR reply, stays).
    async fn marketing_preference(
        &self,
        phone: &str,
        stop: bool,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, SinkError> {
        let s = &self.0;
        let Some(who) = self.customer_of(phone).await? else {
            return Ok(EventOutcome::Applied);
        };
        let mut change = ConsentChange::Unchanged;
        for key in who.keys() {
            let done = if stop {
                s.consent
                    .opt_out(key, OptOutSource::MarketingPreference, at)
                    .await
            } else {
                s.consent.lift(key, ConsentScope::Marketing, at).await
            };
            change = change.and(done?);
            tracing::info!(contact = %key, scope = ConsentScope::Marketing.as_str(), stop,
                result = ?change, "marketing preference recorded");
        }
        Ok(outcome_of(change))
    }
}

#[async_trait::async_trait]
impl EventSink for Sink {
    fn unreadable(&self, source: &'static str, reason: UnreadableReason) {
        let now = self.0.clock.now();
        self.0
            .unreadable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(source, reason, now);
    }

    async fn handle(
        &self,
        source: WebhookSource,
        event: ProviderEvent,
        at: Option<DateTime<Utc>>,
    ) -> Result<EventOutcome, SinkError> {
        let s = &self.0;
        let now = s.clock.now();
        // A consent change is dated by the provider's event time (never later than now, so a
        // wrong clock cannot shut out the changes that follow); without one, by its arrival.
        let when = at.map_or(now, |t| t.min(now));
        match &event {
            ProviderEvent::MessageStatus {
                provider_message_id,
                alt_id,
                status,
                ..
            } => {
                self.message_status(
                    &source,
                    [Some(provider_message_id.as_str()), alt_id.as_deref()],
                    status,
                )
                .await?;
                Ok(EventOutcome::Applied)
            }
            ProviderEvent::Inbound { from, .. } => {
                let Some(who) = self.customer_of(from).await? else {
                    return Ok(EventOutcome::Applied);
                };
                for h in self.senders_of(&source) {
                    for key in who.keys() {
                        s.ledger.open_service_window(&h.group, key, now).await?;
                    }
                }
                Ok(EventOutcome::Applied)
            }
            ProviderEvent::OptOut { phone } => {
                self.opt_out(phone, OptOutSource::Provider, when).await
            }
            ProviderEvent::KeywordOptOut { phone } => {
                self.opt_out(phone, OptOutSource::Keyword, when).await
            }
            ProviderEvent::OptIn { phone } => {
                let Some(who) = self.customer_of(phone).await? else {
                    return Ok(EventOutcome::Applied);
                };
                let mut change = opt_in_any(
                    s.consent.as_ref(),
                    ContactKeys::of(&s.hasher, &who.number),
                    when,
                )
                .await?;
                if let Some(contact) = who.aliased.filter(|a| *a != who.key) {
                    change = change.and(s.consent.opt_in(contact, when).await?);
                }
                if change == ConsentChange::Stale {
                    tracing::warn!(contact = %who.key, "opt-in older than the customer's opt-out: nothing changed");
                }
                Ok(outcome_of(change))
            }
            ProviderEvent::MarketingOptOut { phone } => {
                self.marketing_preference(phone, true, when).await
            }
            ProviderEvent::MarketingOptIn { phone } => {
                self.marketing_preference(phone, false, when).await
            }
            ProviderEvent::Tier {
                event,
                current,
                new,
            } => match reported_change(event, current.as_deref(), new.as_deref()) {
                Some(change) => self.tier_report(&source, change, at).await,
                None => {
                    tracing::warn!(event, "tier event without a tier tierpace knows; ignored");
                    Ok(EventOutcome::Applied)
                }
            },
            ProviderEvent::Quality { quality, .. } => {
                let q: Quality = quality.parse().unwrap_or(Quality::Unknown);
                self.tier_report(&source, ReportedChange::Quality(q), at)
                    .await
            }
            ProviderEvent::Template { id, name, status } => {
                if !matches!(status.as_str(), "paused" | "disabled") {
                    return Ok(EventOutcome::Applied);
                }
                let mut stale = false;
                let campaigns = s.campaigns.read().map(|c| c.clone()).unwrap_or_default();
                for c in campaigns {
                    let hit = match &c.template.template {
                        crate::campaign::file::TemplateRef::Id(tid) => {
                            id.as_deref() == Some(tid.as_str())
                        }
                        crate::campaign::file::TemplateRef::Name { name: n, .. } => {
                            name.as_deref() == Some(n.as_str())
                        }
                    };
                    if hit {
                        let ctl = s.progress.control(&c.id).await?;
                        // A pause dated before the operator's last word (a replay, or a late
                        // delivery of an event the operator already answered) changes nothing.
                        if is_stale(ctl.operator_at, at, s.clock.now()) {
                            tracing::warn!(campaign = %c.id, status, "template event older than the operator's last action: ignored");
                            stale = true;
                            continue;
                        }
                        s.progress
                            .set_control(
                                &c.id,
                                Control {
                                    paused: true,
                                    pause_reason: Some(format!(
                                        "the provider reported the template {status}"
                                    )),
                                    ..ctl
                                },
                            )
                            .await?;
                        tracing::warn!(campaign = %c.id, status, "template paused or disabled: campaign paused");
                    }
                }
                Ok(if stale {
                    EventOutcome::Stale
                } else {
                    EventOutcome::Applied
                })
            }
        }
    }
}
