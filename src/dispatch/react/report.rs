//! What the provider's word on a sender's tier and quality does (DOMAIN.md §1, §3): a tier or
//! quality callback, or the answer of a tier poll.
//!
//! A callback is judged by the pure policy inside the ledger's compare-and-set
//! ([`crate::policy::tier_report`]): a raise is held until confirmed, a lowering applies at
//! once, an older report than the group's latest changes nothing. A poll's answer is reconciled
//! with the model ([`crate::policy::tier_reconcile`]). Either way the sender's brakes follow
//! ([`brake_on_report`]): flagged and downgraded numbers are braked, quality brakes track the
//! rating.
use chrono::{DateTime, Utc};

use super::{worst, GroupedSender, Reactor};
use crate::http::EventOutcome;
use crate::ledger::{LedgerError, LedgerStats};
use crate::policy::brake::{Brake, BrakeState, QualityRating};
use crate::policy::tier::{Quality, Tier};
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_reconcile::{reconcile, Reconcile};
use crate::policy::tier_report::{is_stale, ReportedChange, TierReport, Verdict};
use crate::policy::tier_state::TierState;

/// What a tier callback's names mean: UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED, ONBOARDING, or
/// anything else naming a tier (Meta's CAPABILITY_UPDATE) as "the limit is now".
pub fn reported_change(
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

/// Sets or lifts the brake an applied report calls for; true when the brakes changed. A flag
/// or a downgrade brakes the sender until the provider says otherwise; a quality rating sets
/// the quality brakes (an unknown quality changes nothing).
pub fn brake_on_report(b: &mut BrakeState, change: ReportedChange, now: DateTime<Utc>) -> bool {
    match change {
        ReportedChange::Flagged => b.set(Brake::Flagged, now),
        ReportedChange::Unflagged => b.lift(&Brake::Flagged),
        ReportedChange::Downgrade { .. } => b.set(Brake::Downgraded, now),
        ReportedChange::Upgrade { .. } => b.lift(&Brake::Downgraded),
        ReportedChange::Quality(q) => QualityRating::try_from(q).is_ok_and(|r| b.quality(r, now)),
        _ => false,
    }
}

/// The verdict the ledger's judgement came to, read from the group's state before and after.
fn verdict_after(
    before: &LedgerStats,
    after: &TierState,
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

impl Reactor {
    /// A tier or quality callback about `senders`, dated `at` by the provider: judged per
    /// group, and the brakes of each sender it applied to follow it.
    pub async fn tier_report(
        &self,
        senders: &[GroupedSender],
        change: ReportedChange,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, LedgerError> {
        let report = TierReport { change, at };
        let mut outcome = EventOutcome::Applied;
        for GroupedSender { controls: h, group } in senders {
            let before = self.ledger.stats(group, now).await?;
            let state = self
                .ledger
                .apply_tier_event(group, now, TierEvent::Reported(report))
                .await?;
            match verdict_after(&before, &state, report, now) {
                Verdict::Stale => {
                    tracing::warn!(sender = %h.id, group = %group, change = ?change, "tier callback older than the group's latest: nothing changed");
                    outcome = worst(outcome, EventOutcome::Stale);
                    continue;
                }
                Verdict::Held(raise) => {
                    tracing::warn!(sender = %h.id, group = %group, reported = %raise.to, tier = %state.tier,
                        "tier raise reported by a callback: held until the provider's API or an operator confirms it");
                    outcome = worst(outcome, EventOutcome::Held);
                    continue;
                }
                Verdict::Applied => {
                    tracing::info!(sender = %h.id, group = %group, change = ?change, tier = %state.tier, "tier callback applied")
                }
            }
            if self
                .change_brakes(h, |b| brake_on_report(b, change, now))
                .await
            {
                tracing::warn!(sender = %h.id, change = ?change, "tier or quality callback: brakes updated");
            }
        }
        Ok(outcome)
    }

    /// What a tier poll of `sender` answered: its tier when it differs from the model's, its
    /// quality (and the quality brakes). Ledger counts are left alone. True when the group's
    /// tier changed (the sender's dispatcher should look again now).
    pub async fn polled(
        &self,
        sender: &GroupedSender,
        tier: Option<Tier>,
        quality: Option<Quality>,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let GroupedSender { controls: h, group } = sender;
        let stats = self.ledger.stats(group, now).await?;
        let r = reconcile(stats.tier, tier);
        let tier_set = r.set_tier();
        if let Some(tier) = tier_set {
            self.ledger
                .apply_tier_event(group, now, TierEvent::ProviderTier { tier })
                .await?;
            match r {
                Reconcile::ProviderLower { model, provider } => {
                    tracing::warn!(sender = %h.id, group = %group, %model, %provider,
                        "provider reports a lower limit than the model: it takes effect now")
                }
                _ => {
                    tracing::info!(sender = %h.id, group = %group, model = %stats.tier, provider = %tier,
                    "provider reports a higher limit: accepted")
                }
            }
            self.metrics
                .group_tier_reconciles
                .get_or_create(&crate::http::metrics::ReconcileLabels {
                    group: group.0.clone(),
                    result: r.as_str().into(),
                })
                .inc();
        }
        if let Some(q) = quality.filter(|q| *q != stats.quality && *q != Quality::Unknown) {
            self.ledger
                .apply_tier_event(group, now, TierEvent::Quality(q))
                .await?;
            let change = ReportedChange::Quality(q);
            if self
                .change_brakes(h, |b| brake_on_report(b, change, now))
                .await
            {
                tracing::warn!(sender = %h.id, quality = q.name(), "quality from the provider's poll: brakes updated");
            }
        }
        Ok(tier_set.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_796_000_000, 0).unwrap()
    }

    #[test]
    fn tier_event_names_mean_a_direction_a_flag_or_the_limit_now() {
        assert_eq!(
            reported_change("upgrade", None, Some("TIER_10K")),
            Some(ReportedChange::Upgrade {
                to: "TIER_10K".parse().ok()
            })
        );
        assert_eq!(
            reported_change("FLAGGED", None, None),
            Some(ReportedChange::Flagged)
        );
        assert!(matches!(
            reported_change("CAPABILITY_UPDATE", Some("TIER_1K"), None),
            Some(ReportedChange::Limit { .. })
        ));
        assert_eq!(reported_change("CAPABILITY_UPDATE", None, None), None);
    }

    #[test]
    fn a_flag_brakes_the_sender_until_unflagged_and_a_downgrade_until_an_upgrade() {
        let mut b = BrakeState::default();
        assert!(brake_on_report(&mut b, ReportedChange::Flagged, now()));
        assert!(brake_on_report(
            &mut b,
            ReportedChange::Downgrade { to: None },
            now()
        ));
        assert_eq!(b.active().len(), 2);
        assert!(brake_on_report(&mut b, ReportedChange::Unflagged, now()));
        assert!(brake_on_report(
            &mut b,
            ReportedChange::Upgrade { to: None },
            now()
        ));
        assert!(b.active().is_empty());
    }

    #[test]
    fn quality_sets_the_quality_brakes_and_unknown_quality_changes_nothing() {
        let mut b = BrakeState::default();
        assert!(!brake_on_report(
            &mut b,
            ReportedChange::Quality(Quality::Unknown),
            now()
        ));
        assert!(brake_on_report(
            &mut b,
            ReportedChange::Quality(Quality::Low),
            now()
        ));
        assert_eq!(b.active()[0].0, Brake::QualityLow);
        assert!(!brake_on_report(&mut b, ReportedChange::Onboarding, now()));
    }
}
