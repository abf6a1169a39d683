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
//! - A provider callback's tier change is judged by [`super::tier_report`]: a raise is only held
//!   (as a [`ReportedRaise`]) until the provider's API or an operator confirms it (issue #22),
//!   and a report older than the last one changes nothing.
//!
//! The transitions here apply to a state already settled at the event's time; the events that
//! reach the ledger, and which transition each one makes, are [`super::tier_event`].
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::profile::Policy;
use super::tier::{Quality, Tier};

/// An upgrade earned but not yet in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpgrade {
    pub to: Tier,
    /// When the conversation that reached the threshold was started.
    pub crossed_at: DateTime<Utc>,
    /// `crossed_at + upgrade_delay`: the new limit holds from this instant.
    pub effective_at: DateTime<Utc>,
}

/// A raise a callback reported and nobody confirmed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedRaise {
    /// The limit the callback says the group now has.
    pub to: Tier,
    /// The callback's time (or when it arrived, if it had none).
    pub at: DateTime<Utc>,
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

    /// The provider reports the current tier: it holds, a pending upgrade to it or below is done,
    /// and a held reported raise to it or below is confirmed.
    pub(super) fn provider_tier(&mut self, tier: Tier) {
        self.tier = tier;
        self.pending_upgrade = self.pending_upgrade.filter(|p| p.to > tier);
        // The provider's API confirms a held raise once it reports that limit or more.
        self.reported_raise = self.reported_raise.filter(|r| r.to > tier);
    }

    /// The provider upgraded the number: to `to`, else the next rung.
    pub(super) fn upgrade(&mut self, policy: &Policy, to: Option<Tier>) {
        let to = to
            .or_else(|| policy.next_rung(self.tier))
            .unwrap_or(self.tier);
        self.tier = to;
        self.pending_upgrade = self.pending_upgrade.filter(|p| p.to > to);
    }

    /// The provider downgraded the number: to `to`, else the previous rung.
    pub(super) fn downgrade(&mut self, policy: &Policy, to: Option<Tier>) {
        self.tier = to.unwrap_or_else(|| policy.previous_rung(self.tier));
        self.pending_upgrade = None;
    }

    /// An operator sets the tier by hand: nothing pending or held survives it.
    pub(super) fn operator_set(&mut self, tier: Tier) {
        self.tier = tier;
        self.pending_upgrade = None;
        self.reported_raise = None;
    }

    /// An operator confirms the held reported raise, if there is one.
    pub(super) fn confirm_reported(&mut self) {
        if let Some(raise) = self.reported_raise.take() {
            self.tier = self.tier.max(raise.to);
            let tier = self.tier;
            self.pending_upgrade = self.pending_upgrade.filter(|p| p.to > tier);
        }
    }

    /// The provider flagged the number: no upgrade until unflagged.
    pub(super) fn flag(&mut self) {
        self.flagged = true;
        self.pending_upgrade = None;
    }

    pub(super) fn unflag(&mut self) {
        self.flagged = false;
    }

    /// Number connected and display name approved: the first rung moves to the second.
    pub(super) fn onboard(&mut self, policy: &Policy) {
        if self.tier <= policy.first_rung() {
            if let Some(next) = policy.next_rung(self.tier) {
                self.tier = next;
            }
        }
    }

    /// A new quality rating at `now`: low starts (or continues) the downgrade countdown, and a
    /// quality below the policy's minimum cancels a pending upgrade.
    pub(super) fn set_quality(&mut self, policy: &Policy, now: DateTime<Utc>, q: Quality) {
        self.quality = q;
        if q == Quality::Low {
            self.low_quality_since.get_or_insert(now);
        } else {
            self.low_quality_since = None;
        }
        if !q.allows_upgrade(policy.upgrade_min_quality) {
            self.pending_upgrade = None;
        }
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
    fn unlimited_has_no_threshold() {
        let p = Policy::legacy();
        let s = TierState::initial(Tier::Unlimited);
        assert_eq!(s.upgrade_on_crossing(&p, at(1, 0, 0)), None);
    }
}
