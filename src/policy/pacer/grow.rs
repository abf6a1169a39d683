//! Grow mode's pace: the sender's grow budget, spread over the open day and shared by its grow
//! campaigns ([`GrowPool`]), paid at least at the crossing ramp's rate while the sender climbs
//! toward its next tier (DESIGN.md §3, issue #14).
use std::collections::HashMap;
use std::time::Duration as StdDuration;

use super::candidate::{CampaignPace, Candidate, Pace};
use super::view::{claim, CampaignView, SenderView};
use crate::policy::growth::{self, DayBudget, Spread};
use crate::policy::share::{share, Claim};

/// Grow mode's crossing ramp: while the sender climbs toward its next tier, the grow budget
/// pays what the threshold needs over `cross_within` of open time from the moment the tier
/// allows it, like a spread with that deadline: sends the throughput cap held back are paid
/// later in the ramp, not lost.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ramp {
    /// The limit and threshold the ramp was set for: a new limit starts a new ramp.
    limit: Option<u64>,
    threshold: Option<u64>,
    /// This sender's share of what the threshold needed when the ramp started.
    target: f64,
    /// The sender's grants today when the ramp started.
    granted_before: u64,
    /// Open seconds left today when the ramp should be done (0: at the close).
    ends_at_open_left: f64,
}

/// The sender's grow budget between ticks: its spread over the open day and, while climbing,
/// the crossing ramp in force. A new local day starts a new one.
#[derive(Debug, Clone, Default)]
pub(super) struct GrowPool {
    /// The spread of the sender's grow budget, shared by its grow campaigns.
    spread: Spread,
    /// The crossing ramp in force, while climbing.
    ramp: Option<Ramp>,
}

impl GrowPool {
    /// The grow budget's pace for this tick, split among the grow campaigns by priority, then
    /// weight, then age (in millionths of a send, so a slow pace is split too), each campaign
    /// taking its factor of its split and carrying its own fraction. While climbing, the pace is
    /// at least the crossing ramp's (`ramp`, per open second); what it pays ahead of the even
    /// line leaves the rest of the budget to be spread over the rest of the open day.
    pub(super) fn pace(
        &mut self,
        paces: &mut HashMap<String, CampaignPace>,
        candidates: &mut [Candidate],
        campaigns: &[CampaignView],
        (sender, pool_left, granted_today): (&SenderView, DayBudget, u64),
        (open_before, open_elapsed): (f64, f64),
        cross_within: StdDuration,
    ) {
        const MICRO: f64 = 1e6;
        let grow: Vec<usize> = (0..candidates.len())
            .filter(|&k| candidates[k].pace == Pace::Grow)
            .collect();
        if grow.is_empty() {
            return;
        }
        let carry_of = |k: usize| {
            paces
                .get(&campaigns[candidates[k].index].id)
                .map_or(0.0, |p| p.carry.get())
        };
        let carried: f64 = grow.iter().map(|&k| carry_of(k)).sum();
        let even = self
            .spread
            .accrue(pool_left, carried, open_before, open_elapsed);
        let ramp = self.ramp_accrual(
            (sender, granted_today, cross_within),
            carried,
            open_before,
            open_elapsed,
        );
        let accrued = ramp.map_or(even, |ramp| even.max(ramp));
        let claims: Vec<Claim> = grow
            .iter()
            .map(|&k| {
                let candidate = &candidates[k];
                // Float to int casts saturate.
                let want = (candidate.cap as f64 * MICRO) as u64;
                claim(&campaigns[candidate.index], want)
            })
            .collect();
        let split = share((accrued * MICRO) as u64, &claims);
        for (&k, micro) in grow.iter().zip(split) {
            let candidate = &mut candidates[k];
            let part = micro as f64 / MICRO;
            self.spread.hold_back(part * (1.0 - candidate.factor));
            let pace = paces
                .entry(campaigns[candidate.index].id.clone())
                .or_default();
            candidate.due = Some(pace.carry.pay(part * candidate.factor));
        }
    }

    /// What the crossing ramp pays for `elapsed` open seconds, while the sender climbs: this
    /// sender's share of what the threshold needed when the climb toward this limit was first
    /// seen today (a new limit or a new day starts a new ramp), less what it granted since, spread
    /// over what is left of `cross_within` (all of it once that has passed). `None` once
    /// crossed, or at the top of the ladder. The throughput cap still bounds every second.
    fn ramp_accrual(
        &mut self,
        (sender, granted_today, cross_within): (&SenderView, u64, StdDuration),
        carried: f64,
        open_before: f64,
        elapsed: f64,
    ) -> Option<f64> {
        let growth::GrowthPhase::Climbing { needed } = sender.growth_phase() else {
            self.ramp = None;
            return None;
        };
        let same = self
            .ramp
            .is_some_and(|r| r.limit == sender.limit && r.threshold == sender.upgrade_threshold);
        if !same {
            self.ramp = Some(Ramp {
                limit: sender.limit,
                threshold: sender.upgrade_threshold,
                target: needed as f64 * sender.group_share.clamp(0.0, 1.0),
                granted_before: granted_today,
                ends_at_open_left: (open_before - cross_within.as_secs_f64()).max(0.0),
            });
        }
        let ramp = self.ramp?;
        let granted = granted_today.saturating_sub(ramp.granted_before) as f64;
        let left = (ramp.target - granted - carried).max(0.0);
        let span = open_before - ramp.ends_at_open_left;
        let part = if span <= 0.0 {
            1.0
        } else {
            (elapsed / span).clamp(0.0, 1.0)
        };
        Some(left * part)
    }
}
