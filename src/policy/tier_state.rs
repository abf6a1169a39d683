//! The tier state machine (DOMAIN.md §1): where a limit group stands on the ladder, a pending
//! upgrade ("if the 500th conversation is started at 15:00, the limit rises at 15:00 the next
//! day"), and the low-quality countdown that lowers the limit.
//!
//! Pure: every function takes the policy and the time and returns a new state. The ledger stores
//! the state as is and calls [`TierState::settle`] on read, so a pending upgrade or a downgrade
//! whose time has come applies by itself without a writer.
//!
//! Decisions where the sources are silent (also in docs/ledger.md):
//! - A crossing is noted by the first `admit` at which the lookback's unique count is at or above
//!   the threshold (the crossing conversation's time is that admit's `now`).
//! - `Flagged`, or a quality below the policy's minimum, cancels a pending upgrade and blocks new
//!   ones; `Unknown` quality blocks nothing.
//! - `Onboarding` (number connected, display name approved) moves a group on the first rung to
//!   the second; it never lowers a tier.
//! - A provider callback's tier change comes as [`TierEvent::Reported`] and is judged by
//!   [`super::tier_report`]: a raise is only held until the provider's API or an operator
//!   confirms it (issue #22), and a report older than the last one changes nothing.
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::profile::Policy;
use super::tier::{Quality, Tier};
use super::tier_report::{ReportedRaise, TierReport};

/// An upgrade earned but not yet in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpgrade {
    pub to: Tier,
    /// When the conversation that reached the threshold was started.
    pub crossed_at: DateTime<Utc>,
    /// `crossed_at + upgrade_delay`: the new limit holds from this instant.
    pub effective_at: DateTime<Utc>,
}

/// One limit group's standing on the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierState {
    pub tier: Tier,
    pub quality: Quality,
    /// The provider flagged the number (quality trouble): no upgrades until unflagged.
    pub flagged: bool,
    pub pending_upgrade: Option<PendingUpgrade>,
    /// Start of the current run of low quality (moves on by `downgrade_after_low` at each
    /// downgrade, so a further run lowers the limit again).
    pub low_quality_since: Option<DateTime<Utc>>,
    /// A raise a provider callback reported, held until the provider's API (the tier poll) or an
    /// operator confirms it: a callback never raises a limit on its own (issue #22).
    #[serde(default)]
    pub reported_raise: Option<ReportedRaise>,
    /// Time of the latest tier callback (tier event, flag, capability update) taken into account:
    /// an older one is a replay and changes nothing.
    #[serde(default)]
    pub tier_reported_at: Option<DateTime<Utc>>,
    /// Time of the latest quality callback taken into account (same rule as `tier_reported_at`).
    #[serde(default)]
    pub quality_reported_at: Option<DateTime<Utc>>,
}

/// Something that changes a group's tier state besides sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierEvent {
    /// The provider reports the current tier (Gupshup `currentTier`, Meta `current_limit`).
    ProviderTier {
        tier: Tier,
    },
    /// The provider upgraded the number; `to` if it says where, else the next rung.
    Upgrade {
        to: Option<Tier>,
    },
    /// The provider downgraded the number; `to` if it says where, else the previous rung.
    Downgrade {
        to: Option<Tier>,
    },
    Flagged,
    Unflagged,
    /// Number connected and display name approved: the first rung moves to the second.
    Onboarding,
    Quality(Quality),
    /// An operator sets the tier by hand (admin API, CLI).
    OperatorSet(Tier),
    /// A provider callback reported a change, at the callback's time: judged by
    /// [`super::tier_report::judge`] (raises held, replays refused, lowerings at once).
    Reported(TierReport),
    /// An operator confirms the held reported raise (`tierpace tier confirm GROUP`).
    ConfirmReported,
}

impl TierState {
    /// A group nobody has recorded anything for yet.
    pub fn initial(tier: Tier) -> Self {
        Self {
            tier,
            quality: Quality::Unknown,
            flagged: false,
            pending_upgrade: None,
            low_quality_since: None,
            reported_raise: None,
            tier_reported_at: None,
            quality_reported_at: None,
        }
    }

    /// The state as in force at `now`: applies a pending upgrade whose time has come and any
    /// low-quality downgrades due, in time order.
    pub fn settle(&self, policy: &Policy, now: DateTime<Utc>) -> TierState {
        let mut s = self.clone();
        loop {
            let upgrade_at = s
                .pending_upgrade
                .map(|p| p.effective_at)
                .filter(|&t| t <= now);
            let downgrade_at = s.downgrade_at(policy).filter(|&t| t <= now);
            let upgrade_first = match (upgrade_at, downgrade_at) {
                (None, None) => return s,
                (Some(u), Some(d)) => u <= d,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if upgrade_first {
                if let Some(p) = s.pending_upgrade.take() {
                    s.tier = s.tier.max(p.to);
                }
            } else if let Some(d) = downgrade_at {
                s.tier = policy.previous_rung(s.tier);
                s.pending_upgrade = None;
                s.low_quality_since = Some(d);
            }
        }
    }

    /// When the low-quality rule lowers the limit next, if it is counting.
    pub fn downgrade_at(&self, policy: &Policy) -> Option<DateTime<Utc>> {
        let after = policy.downgrade_after_low?;
        if self.tier <= policy.first_rung() {
            return None;
        }
        self.low_quality_since.map(|s| s + after)
    }

    /// Whether a crossing could start an upgrade now: no upgrade pending, not flagged, quality
    /// good enough, and a rung above.
    pub fn can_earn_upgrade(&self, policy: &Policy) -> bool {
        self.pending_upgrade.is_none()
            && !self.flagged
            && self.quality.allows_upgrade(policy.upgrade_min_quality)
            && policy.next_rung(self.tier).is_some()
    }

    /// The unique count the lookback must reach now, and the state to store if it does
    /// (`self` must already be settled at `now`). `None` when no upgrade can be earned.
    pub fn upgrade_on_crossing(
        &self,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Option<(u64, TierState)> {
        if !self.can_earn_upgrade(policy) {
            return None;
        }
        let threshold = policy.upgrade_threshold(self.tier)?;
        let to = policy.next_rung(self.tier)?;
        let mut crossed = self.clone();
        crossed.pending_upgrade = Some(PendingUpgrade {
            to,
            crossed_at: now,
            effective_at: now + policy.upgrade_delay,
        });
        Some((threshold, crossed))
    }

    /// The state after `unique_lookback` customers were counted at `now` (settled first).
    pub fn observe(&self, policy: &Policy, now: DateTime<Utc>, unique_lookback: u64) -> TierState {
        let settled = self.settle(policy, now);
        match settled.upgrade_on_crossing(policy, now) {
            Some((threshold, crossed)) if unique_lookback >= threshold => crossed,
            _ => settled,
        }
    }

    /// The state after `event` at `now` (settled first).
    pub fn apply(&self, policy: &Policy, now: DateTime<Utc>, event: TierEvent) -> TierState {
        let mut s = self.settle(policy, now);
        match event {
            TierEvent::ProviderTier { tier } => {
                s.tier = tier;
                s.pending_upgrade = s.pending_upgrade.filter(|p| p.to > tier);
                // The provider's API confirms a held raise once it reports that limit or more.
                s.reported_raise = s.reported_raise.filter(|r| r.to > tier);
            }
            TierEvent::Upgrade { to } => {
                let to = to.or_else(|| policy.next_rung(s.tier)).unwrap_or(s.tier);
                s.tier = to;
                s.pending_upgrade = s.pending_upgrade.filter(|p| p.to > to);
            }
            TierEvent::Downgrade { to } => {
                s.tier = to.unwrap_or_else(|| policy.previous_rung(s.tier));
                s.pending_upgrade = None;
            }
            TierEvent::OperatorSet(tier) => {
                s.tier = tier;
                s.pending_upgrade = None;
                s.reported_raise = None;
            }
            TierEvent::Reported(report) => {
                return super::tier_report::judge(&s, policy, now, report).state;
            }
            TierEvent::ConfirmReported => {
                if let Some(raise) = s.reported_raise.take() {
                    s.tier = s.tier.max(raise.to);
                    let tier = s.tier;
                    s.pending_upgrade = s.pending_upgrade.filter(|p| p.to > tier);
                }
            }
            TierEvent::Flagged => {
                s.flagged = true;
                s.pending_upgrade = None;
            }
            TierEvent::Unflagged => s.flagged = false,
            TierEvent::Onboarding => {
                if s.tier <= policy.first_rung() {
                    if let Some(next) = policy.next_rung(s.tier) {
                        s.tier = next;
                    }
                }
            }
            TierEvent::Quality(q) => {
                s.quality = q;
                if q == Quality::Low {
                    s.low_quality_since.get_or_insert(now);
                } else {
                    s.low_quality_since = None;
                }
                if !q.allows_upgrade(policy.upgrade_min_quality) {
                    s.pending_upgrade = None;
                }
            }
        }
        s
    }

    /// The time a limit rises next, if an upgrade is pending.
    pub fn upgrade_effective_at(&self) -> Option<DateTime<Utc>> {
        self.pending_upgrade.map(|p| p.effective_at)
    }

    /// Convenience for callers that only need the duration until the pending upgrade.
    pub fn time_to_upgrade(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.upgrade_effective_at().map(|t| t - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, h, m, 0).unwrap()
    }

    #[test]
    fn seed_example_500th_at_15h_gives_10k_from_15h_next_day() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::T1K);
        let s = s.observe(&p, at(2, 14, 59), 499);
        assert_eq!(s.pending_upgrade, None);
        let s = s.observe(&p, at(2, 15, 0), 500);
        let pending = s.pending_upgrade.unwrap();
        assert_eq!(
            (pending.to, pending.crossed_at, pending.effective_at),
            (Tier::T10K, at(2, 15, 0), at(3, 15, 0))
        );
        assert_eq!(s.settle(&p, at(3, 14, 59)).tier, Tier::T1K);
        let day2 = s.settle(&p, at(3, 15, 0));
        assert_eq!((day2.tier, day2.pending_upgrade), (Tier::T10K, None));
    }

    #[test]
    fn seven_days_of_low_quality_lower_the_limit_one_rung_each() {
        let p = Policy::legacy();
        let s =
            TierState::initial(Tier::T10K).apply(&p, at(1, 0, 0), TierEvent::Quality(Quality::Low));
        assert_eq!(s.settle(&p, at(7, 23, 59)).tier, Tier::T10K);
        assert_eq!(s.settle(&p, at(8, 0, 0)).tier, Tier::T1K);
        assert_eq!(s.settle(&p, at(15, 0, 0)).tier, Tier::T250);
        assert_eq!(s.settle(&p, at(29, 0, 0)).tier, Tier::T250);
        let healed = s.apply(&p, at(5, 0, 0), TierEvent::Quality(Quality::Medium));
        assert_eq!(healed.settle(&p, at(20, 0, 0)).tier, Tier::T10K);
    }

    #[test]
    fn meta_2025_never_downgrades_for_quality() {
        let p = Policy::meta_2025();
        let s =
            TierState::initial(Tier::T10K).apply(&p, at(1, 0, 0), TierEvent::Quality(Quality::Low));
        assert_eq!(s.settle(&p, at(30, 0, 0)).tier, Tier::T10K);
    }

    #[test]
    fn low_quality_or_flag_cancels_and_blocks_upgrades_but_unknown_does_not() {
        let p = Policy::legacy();
        let crossed = TierState::initial(Tier::T1K).observe(&p, at(2, 15, 0), 500);
        assert!(crossed.pending_upgrade.is_some());
        let low = crossed.apply(&p, at(2, 16, 0), TierEvent::Quality(Quality::Low));
        assert_eq!(low.pending_upgrade, None);
        assert_eq!(low.observe(&p, at(2, 17, 0), 900).pending_upgrade, None);
        let flagged = crossed.apply(&p, at(2, 16, 0), TierEvent::Flagged);
        assert_eq!(flagged.observe(&p, at(2, 17, 0), 900).pending_upgrade, None);
        let unknown = TierState::initial(Tier::T1K).apply(
            &p,
            at(2, 0, 0),
            TierEvent::Quality(Quality::Unknown),
        );
        assert!(unknown
            .observe(&p, at(2, 1, 0), 500)
            .pending_upgrade
            .is_some());
    }

    #[test]
    fn provider_and_operator_events_set_the_tier() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::T250);
        assert_eq!(
            s.apply(&p, at(1, 0, 0), TierEvent::Onboarding).tier,
            Tier::T1K
        );
        assert_eq!(
            s.apply(&p, at(1, 0, 0), TierEvent::Upgrade { to: None })
                .tier,
            Tier::T1K
        );
        let s = TierState::initial(Tier::T10K);
        assert_eq!(
            s.apply(&p, at(1, 0, 0), TierEvent::Onboarding).tier,
            Tier::T10K
        );
        assert_eq!(
            s.apply(&p, at(1, 0, 0), TierEvent::Downgrade { to: None })
                .tier,
            Tier::T1K
        );
        assert_eq!(
            s.apply(
                &p,
                at(1, 0, 0),
                TierEvent::ProviderTier { tier: Tier::T100K }
            )
            .tier,
            Tier::T100K
        );
        assert_eq!(
            s.apply(&p, at(1, 0, 0), TierEvent::OperatorSet(Tier::T250))
                .tier,
            Tier::T250
        );
    }

    #[test]
    fn provider_tier_at_or_above_the_pending_one_settles_it() {
        let p = Policy::legacy();
        let crossed = TierState::initial(Tier::T1K).observe(&p, at(2, 15, 0), 500);
        let s = crossed.apply(
            &p,
            at(2, 20, 0),
            TierEvent::ProviderTier { tier: Tier::T10K },
        );
        assert_eq!((s.tier, s.pending_upgrade), (Tier::T10K, None));
        let s = crossed.apply(
            &p,
            at(2, 20, 0),
            TierEvent::ProviderTier { tier: Tier::T1K },
        );
        assert!(s.pending_upgrade.is_some());
    }

    #[test]
    fn unlimited_has_no_threshold() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::Unlimited);
        assert_eq!(s.upgrade_on_crossing(&p, at(1, 0, 0)), None);
    }
}
