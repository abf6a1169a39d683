//! Per campaign: the pace it keeps between ticks ([`CampaignPace`]), and each tick whether it
//! may send (open, not braked, budget left) and how its pace is computed ([`Pace`]). The
//! campaigns that may send are the tick's [`Candidate`]s; the others are held with the reason.
use std::collections::HashMap;

use super::settings::PacerSettings;
use super::tick_plan::IdleReason;
use super::view::CampaignView;
use crate::policy::brake::BrakeState;
use crate::policy::growth::{Carry, DayBudget, Due, PacingMode, Spread};
use crate::policy::rate::Gcra;

/// Per-campaign state kept between ticks.
#[derive(Debug, Clone, Default)]
pub(super) struct CampaignPace {
    /// Accrued pace not yet a whole send.
    pub(super) carry: Carry,
    /// The spread of a steady campaign's `daily_max` (grow campaigns share the sender's).
    pub(super) spread: Spread,
    pub(super) granted_today: u64,
    /// The warm-up's rate cap: `warmup_share x max_mps` in any one-second interval.
    pub(super) warmup: Option<Gcra>,
}

/// How a campaign's pace is computed this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    /// A share of the sender's grow budget.
    Grow,
    /// Its own `daily_max`.
    Steady,
    /// `max_mps` per second (asap, and grow at the unlimited tier).
    Rate,
}

/// A campaign that may send this tick, and how much.
pub(super) struct Candidate {
    pub(super) index: usize,
    pub(super) pace: Pace,
    /// What brakes leave of the pace, in [0, 1]: a share of the budget.
    pub(super) factor: f64,
    /// The warm-up's cap on the rate, in sends a second (a new template); not a budget cut.
    pub(super) warmup_rate: Option<u32>,
    /// Remaining contacts, `daily_max` left and (grow) the grow budget left.
    pub(super) cap: u64,
    /// What a steady campaign spreads: its `daily_max` left.
    pub(super) daily_left: DayBudget,
    pub(super) due: Option<Due>,
    /// `min(due, cap)`: what it asks of the shared caps.
    pub(super) want: u64,
}

/// Sorts the campaigns with contacts left into those that may send this tick and those held
/// (closed, braked, budget spent). A held campaign's carried fraction goes back to its budget.
pub(super) fn candidates(
    settings: &PacerSettings,
    paces: &mut HashMap<String, CampaignPace>,
    brakes: &BrakeState,
    campaigns: &[CampaignView],
    pool_left: DayBudget,
    max_mps: u32,
) -> (Vec<Candidate>, Vec<(String, IdleReason)>) {
    let mut held = Vec::new();
    let mut candidates = Vec::new();
    for (index, campaign) in campaigns.iter().enumerate() {
        if campaign.remaining == 0 {
            continue;
        }
        let factor = brakes.factor(campaign.marketing);
        let warmup_rate = warmup_rate(settings, campaign, max_mps);
        let pace = paces.entry(campaign.id.clone()).or_default();
        let daily_left = DayBudget::from_option(campaign.daily_max)
            .left(campaign.sent_today.max(pace.granted_today));
        let kind = match (campaign.mode, campaign.daily_max, pool_left) {
            (PacingMode::Asap, _, _) => Pace::Rate,
            (PacingMode::Steady, Some(_), _) => Pace::Steady,
            (_, _, DayBudget::Unlimited) => Pace::Rate,
            _ => Pace::Grow,
        };
        let mut cap = DayBudget::Up(campaign.remaining).min(daily_left);
        if kind == Pace::Grow {
            cap = cap.min(pool_left);
        }
        let reason = if !campaign.open_now {
            Some(IdleReason::Closed)
        } else if factor <= 0.0 {
            Some(IdleReason::Braked)
        } else if cap == DayBudget::Up(0) {
            Some(IdleReason::BudgetSpent)
        } else {
            None
        };
        if let Some(reason) = reason {
            pace.carry.clear();
            held.push((campaign.id.clone(), reason));
            continue;
        }
        candidates.push(Candidate {
            index,
            pace: kind,
            factor,
            warmup_rate,
            // `cap` is at most `remaining`, so it is never unlimited here.
            cap: match cap {
                DayBudget::Up(n) => n,
                DayBudget::Unlimited => campaign.remaining,
            },
            daily_left,
            due: None,
            want: 0,
        });
    }
    (candidates, held)
}

/// A new template's rate cap, in sends a second: `warmup_share x max_mps` for its first
/// `warmup_sends` sends (DESIGN.md §3: the warm-up slows the rate, never the day's budget).
fn warmup_rate(settings: &PacerSettings, campaign: &CampaignView, max_mps: u32) -> Option<u32> {
    // A share of 1 switches the warm-up off (README).
    let warming = settings.warmup_share < 1.0;
    (warming && campaign.template_sends < settings.warmup_sends).then(|| {
        // Float to int casts saturate; at least one a second.
        ((settings.warmup_share * f64::from(max_mps)).floor() as u32).max(1)
    })
}
