//! The events that change a limit group's tier state besides sending, and the transition each
//! one makes (DOMAIN.md §1). The ledger applies them with [`TierState::apply`] inside its
//! compare-and-set, so each is atomic per group.
//!
//! Every event settles the state at its time first ([`TierState::settle`]); the transitions
//! themselves are in [`super::tier_state`]. A provider callback comes as [`TierEvent::Reported`]
//! and is not taken at its word: [`judge`] holds a raise until it is confirmed and refuses a
//! replay ([`super::tier_report`], issue #22).
use chrono::{DateTime, Utc};

use super::profile::Policy;
use super::tier::{Quality, Tier};
use super::tier_report::{judge, TierReport};
use super::tier_state::TierState;

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
    /// [`judge`] (raises held, replays refused, lowerings at once).
    Reported(TierReport),
    /// An operator confirms the held reported raise (`tierpace tier confirm GROUP`).
    ConfirmReported,
}

impl TierState {
    /// The state after `event` at `now` (settled first).
    pub fn apply(&self, policy: &Policy, now: DateTime<Utc>, event: TierEvent) -> TierState {
        let mut s = self.settle(policy, now);
        match event {
            TierEvent::ProviderTier { tier } => s.provider_tier(tier),
            TierEvent::Upgrade { to } => s.upgrade(policy, to),
            TierEvent::Downgrade { to } => s.downgrade(policy, to),
            TierEvent::OperatorSet(tier) => s.operator_set(tier),
            TierEvent::Reported(report) => return judge(&s, policy, now, report).state,
            TierEvent::ConfirmReported => s.confirm_reported(),
            TierEvent::Flagged => s.flag(),
            TierEvent::Unflagged => s.unflag(),
            TierEvent::Onboarding => s.onboard(policy),
            TierEvent::Quality(q) => s.set_quality(policy, now, q),
        }
        s
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
}

/// Reported events: a callback's word is judged ([`super::tier_report`]), not applied as is.
#[cfg(test)]
mod reported_tests {
    use super::*;
    use crate::policy::tier_report::{judge, ReportedChange, Verdict};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

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
    fn a_held_raise_applies_on_operator_or_provider_confirmation_only() {
        let p = Policy::legacy();
        let held = TierState::initial(Tier::T1K).apply(
            &p,
            at(12),
            TierEvent::Reported(report(UNLIMITED, 10)),
        );
        let confirmed = held.apply(&p, at(13), TierEvent::ConfirmReported);
        assert_eq!(
            (confirmed.tier, confirmed.reported_raise),
            (Tier::Unlimited, None)
        );
        let polled_same = held.apply(&p, at(13), TierEvent::ProviderTier { tier: Tier::T1K });
        assert_eq!(polled_same.tier, Tier::T1K);
        assert!(
            polled_same.reported_raise.is_some(),
            "a poll below the report confirms nothing"
        );
        let polled_up = held.apply(
            &p,
            at(13),
            TierEvent::ProviderTier {
                tier: Tier::Unlimited,
            },
        );
        assert_eq!(
            (polled_up.tier, polled_up.reported_raise),
            (Tier::Unlimited, None)
        );
        let nothing = TierState::initial(Tier::T1K).apply(&p, at(13), TierEvent::ConfirmReported);
        assert_eq!(nothing.tier, Tier::T1K);
    }

    #[test]
    fn a_lowering_applies_at_once_and_withdraws_a_higher_held_raise() {
        let p = Policy::legacy();
        let held = TierState::initial(Tier::T10K).apply(
            &p,
            at(12),
            TierEvent::Reported(report(UNLIMITED, 10)),
        );
        let down = ReportedChange::Downgrade {
            to: Some(Tier::T1K),
        };
        let j = judge(&held, &p, at(12), report(down, 11));
        assert_eq!(
            (j.verdict, j.state.tier, j.state.reported_raise),
            (Verdict::Applied, Tier::T1K, None)
        );
        let j = judge(&held, &p, at(12), report(ReportedChange::Flagged, 11));
        assert!(j.state.flagged && j.state.reported_raise.is_none());
    }

    #[test]
    fn an_older_report_changes_nothing_and_a_duplicate_is_idempotent() {
        let p = Policy::legacy();
        let down = ReportedChange::Downgrade {
            to: Some(Tier::T250),
        };
        let s =
            TierState::initial(Tier::T1K).apply(&p, at(12), TierEvent::Reported(report(down, 11)));
        assert_eq!(s.tier, Tier::T250);
        // An upgrade sent before that downgrade arrives late: stale, even as a report.
        let j = judge(&s, &p, at(12), report(UNLIMITED, 9));
        assert_eq!((j.verdict, j.state.clone()), (Verdict::Stale, s.clone()));
        let again = s.apply(&p, at(12), TierEvent::Reported(report(down, 11)));
        assert_eq!(again, s);
        // Quality has its own clock: an old quality report after a newer one is stale.
        let q = s.apply(
            &p,
            at(12),
            TierEvent::Reported(report(ReportedChange::Quality(Quality::Low), 11)),
        );
        let old = judge(
            &q,
            &p,
            at(12),
            report(ReportedChange::Quality(Quality::High), 10),
        );
        assert_eq!(
            (old.verdict, old.state.quality),
            (Verdict::Stale, Quality::Low)
        );
    }

    fn change() -> impl Strategy<Value = ReportedChange> {
        let tier = proptest::sample::select(crate::policy::tier::ALL_TIERS.to_vec());
        prop_oneof![
            tier.clone()
                .prop_map(|t| ReportedChange::Upgrade { to: Some(t) }),
            Just(ReportedChange::Upgrade { to: None }),
            tier.clone()
                .prop_map(|t| ReportedChange::Downgrade { to: Some(t) }),
            tier.prop_map(|t| ReportedChange::Limit { tier: t }),
            Just(ReportedChange::Flagged),
            Just(ReportedChange::Unflagged),
            Just(ReportedChange::Onboarding),
        ]
    }

    proptest! {
        /// Whatever callbacks come, in whatever order, the limit never rises above where it
        /// was without a confirmation, and replaying every report again changes nothing.
        #[test]
        fn callbacks_alone_never_raise_the_limit(
            reports in proptest::collection::vec((change(), 0i64..48, proptest::bool::ANY), 1..20),
        ) {
            let p = Policy::legacy();
            let start = TierState::initial(Tier::T1K);
            let now = at(0) + Duration::hours(48);
            let reports: Vec<TierReport> = reports
                .into_iter()
                .map(|(change, h, timed)| TierReport { change, at: timed.then(|| at(0) + Duration::hours(h)) })
                .collect();
            let mut s = start.clone();
            for r in &reports {
                s = s.apply(&p, now, TierEvent::Reported(*r));
                prop_assert!(s.tier <= start.tier);
            }
            let timed: Vec<_> = reports.iter().filter(|r| r.at.is_some()).collect();
            let settled = s.clone();
            for r in timed {
                let j = judge(&settled, &p, now, *r);
                // A timed replay is stale or leaves the state as it is, except that an
                // idempotent re-application may only lower (never raise) the limit.
                prop_assert!(j.state.tier <= settled.tier);
            }
        }
    }
}
