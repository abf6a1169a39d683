//! What a provider callback may do to a limit group's tier (issue #22): a callback is evidence,
//! not authority.
//!
//! - **A raise is held.** A callback that would raise the limit (Gupshup `tier-event` UPGRADE,
//!   Meta `phone_number_quality_update` / `business_capability_update` naming a higher limit,
//!   ONBOARDING) is stored as a [`ReportedRaise`] and changes nothing else. It takes effect when
//!   the provider's API reports that limit or more (the tier poll, [`super::tier_reconcile`]) or
//!   an operator confirms it ([`super::tier_event::TierEvent::ConfirmReported`]). Sending over the
//!   real limit is what gets a number suspended, so a forged or mistaken raise must not count.
//! - **A lowering applies at once** (downgrade, flag, a lower limit): being too careful costs
//!   only time. It also withdraws a held raise above the new limit.
//! - **Replays change nothing.** Each report carries the callback's time; a tier report older
//!   than the latest one taken into account (or a quality report older than the latest quality
//!   one) is [`Verdict::Stale`]. A duplicate is idempotent: same time, same result. A report
//!   without a time cannot be ordered: it is judged on its content and moves no clock. A time in
//!   the future counts as `now`, so it cannot shut out the reports that follow.
//!
//! Pure: the ledger applies a [`super::tier_event::TierEvent::Reported`] inside its
//! compare-and-set, which calls [`judge`], so the decision is atomic per group.
use chrono::{DateTime, Utc};

use super::profile::Policy;
use super::tier::{Quality, Tier};
use super::tier_state::{ReportedRaise, TierState};

/// The change a callback reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedChange {
    Upgrade {
        to: Option<Tier>,
    },
    Downgrade {
        to: Option<Tier>,
    },
    /// The limit is now `tier` (Meta capability update, a tier event without a direction).
    Limit {
        tier: Tier,
    },
    Flagged,
    Unflagged,
    Onboarding,
    Quality(Quality),
}

impl ReportedChange {
    /// Makes the change on `s` (settled at `now`) as if the provider's word were final: what
    /// [`judge`] then holds or lets through.
    fn apply_to(self, s: &mut TierState, policy: &Policy, now: DateTime<Utc>) {
        match self {
            ReportedChange::Upgrade { to } => s.upgrade(policy, to),
            ReportedChange::Downgrade { to } => s.downgrade(policy, to),
            ReportedChange::Limit { tier } => s.provider_tier(tier),
            ReportedChange::Flagged => s.flag(),
            ReportedChange::Unflagged => s.unflag(),
            ReportedChange::Onboarding => s.onboard(policy),
            ReportedChange::Quality(q) => s.set_quality(policy, now, q),
        }
    }

    fn is_quality(self) -> bool {
        matches!(self, ReportedChange::Quality(_))
    }

    /// Whether, once applied, it withdraws a held raise to `raise` given the new `tier`.
    fn withdraws(self, raise: Tier, tier: Tier) -> bool {
        match self {
            ReportedChange::Flagged | ReportedChange::Downgrade { .. } => true,
            ReportedChange::Upgrade { to: Some(_) } | ReportedChange::Limit { .. } => tier < raise,
            _ => false,
        }
    }
}

/// A callback's report with its time (`None`: the callback gave none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierReport {
    pub change: ReportedChange,
    pub at: Option<DateTime<Utc>>,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Applied (a lowering, a flag, a quality, or a report that changes no limit).
    Applied,
    /// A raise, held until confirmed.
    Held(ReportedRaise),
    /// Older than the state it would change: nothing changed.
    Stale,
}

impl Verdict {
    /// `applied`, `held`, `stale`: log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Applied => "applied",
            Verdict::Held(_) => "held",
            Verdict::Stale => "stale",
        }
    }
}

/// A verdict and the state to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub verdict: Verdict,
    pub state: TierState,
}

/// Whether a report at `at` is older than the latest one taken into account (`latest`).
pub fn is_stale(
    latest: Option<DateTime<Utc>>,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    matches!((at, latest), (Some(at), Some(latest)) if at.min(now) < latest)
}

/// Judge `report` against `settled` (the group's state settled at `now`).
pub fn judge(
    settled: &TierState,
    policy: &Policy,
    now: DateTime<Utc>,
    report: TierReport,
) -> Judged {
    let quality = report.change.is_quality();
    let latest = if quality {
        settled.quality_reported_at
    } else {
        settled.tier_reported_at
    };
    if is_stale(latest, report.at, now) {
        return Judged {
            verdict: Verdict::Stale,
            state: settled.clone(),
        };
    }
    let at = report.at.map(|t| t.min(now));
    let stamp = |s: &mut TierState| {
        if let Some(at) = at {
            if quality {
                s.quality_reported_at = Some(at);
            } else {
                s.tier_reported_at = Some(at);
            }
        }
    };
    let mut next = settled.settle(policy, now);
    report.change.apply_to(&mut next, policy, now);
    if next.tier > settled.tier {
        let raise = ReportedRaise {
            to: next.tier,
            at: at.unwrap_or(now),
        };
        let mut held = settled.clone();
        held.reported_raise = Some(raise);
        stamp(&mut held);
        return Judged {
            verdict: Verdict::Held(raise),
            state: held,
        };
    }
    if let Some(raise) = next.reported_raise {
        if report.change.withdraws(raise.to, next.tier) {
            next.reported_raise = None;
        }
    }
    stamp(&mut next);
    Judged {
        verdict: Verdict::Applied,
        state: next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
    }

    fn report(change: ReportedChange, h: u32) -> TierReport {
        TierReport {
            change,
            at: Some(at(h)),
        }
    }

    const UNLIMITED: ReportedChange = ReportedChange::Limit {
        tier: Tier::Unlimited,
    };

    #[test]
    fn a_reported_raise_is_held_and_the_limit_stays() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::T1K);
        let j = judge(&s, &p, at(12), report(UNLIMITED, 10));
        assert_eq!(
            j.verdict,
            Verdict::Held(ReportedRaise {
                to: Tier::Unlimited,
                at: at(10)
            })
        );
        assert_eq!(j.state.tier, Tier::T1K);
        let up = ReportedChange::Upgrade { to: None };
        assert_eq!(judge(&s, &p, at(12), report(up, 10)).state.tier, Tier::T1K);
        let onboarding = TierState::initial(Tier::T250);
        let j = judge(
            &onboarding,
            &p,
            at(12),
            report(ReportedChange::Onboarding, 10),
        );
        assert_eq!((j.state.tier, j.verdict.as_str()), (Tier::T250, "held"));
    }

    #[test]
    fn a_future_time_counts_as_now() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::T1K);
        let j = judge(&s, &p, at(12), report(ReportedChange::Flagged, 23));
        assert_eq!(j.state.tier_reported_at, Some(at(12)));
        let next = judge(&j.state, &p, at(13), report(ReportedChange::Unflagged, 13));
        assert_eq!(next.verdict, Verdict::Applied);
    }
}
