//! Day budgets: how many new unique customers a sender or a campaign may start today, by pacing
//! mode, and how a budget is paid out evenly over the open seconds left (DESIGN.md §3).
//!
//! **Grow** (the default, for marketing). The tier rises 24 h after the trailing-7-day uniques
//! cross `limit x upgrade_share` (DOMAIN.md §1), so the earlier the threshold is crossed, the
//! earlier the next tier starts. The largest budget the limit allows for a day is the allowance,
//! `limit x safety_share - reserve` (one open day fits in one 24 h window), so grow mode budgets
//! the whole allowance of the current limit every day (a sender's `group_share` of it when senders
//! share a limit group). The pacer pays what the threshold still needs first, over
//! `pacing.cross_within` of open time from the moment the tier allows it (the crossing ramp, in
//! `pacer/grow.rs`), then spreads the rest over the rest of the open day: those customers are
//! reached and count toward the next threshold. When the limit rises mid-day the budget rises with it. At
//! the unlimited tier only throughput counts. See docs/pacer.md for a worked example.
//!
//! **Steady**: the campaign's `daily_max`, spread the same way (without one it budgets like grow).
//! **Asap** (utility, authentication): no day budget and no spreading; headroom and throughput
//! only, and `daily_max` if set.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a campaign is paced (campaign file `pacing.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacingMode {
    /// Spread the sender's whole allowance over the open hours; grows the tier fastest.
    #[default]
    Grow,
    /// Spread a fixed `daily_max` over the open hours.
    Steady,
    /// As fast as headroom and throughput allow.
    Asap,
}

/// A day budget: a number of new unique customers, or no limit from the tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayBudget {
    Unlimited,
    Up(u64),
}

impl DayBudget {
    /// What is left after `used`.
    pub fn left(self, used: u64) -> DayBudget {
        match self {
            DayBudget::Unlimited => DayBudget::Unlimited,
            DayBudget::Up(n) => DayBudget::Up(n.saturating_sub(used)),
        }
    }

    /// The smaller of two budgets.
    pub fn min(self, other: DayBudget) -> DayBudget {
        match (self, other) {
            (DayBudget::Unlimited, b) | (b, DayBudget::Unlimited) => b,
            (DayBudget::Up(a), DayBudget::Up(b)) => DayBudget::Up(a.min(b)),
        }
    }

    pub fn from_option(n: Option<u64>) -> DayBudget {
        n.map_or(DayBudget::Unlimited, DayBudget::Up)
    }
}

/// The most unique customers the tier lets us hold in one rolling 24 h window:
/// `floor(limit x safety_share) - reserve` (DESIGN.md §2, guarantee 1). `None` for unlimited.
pub fn allowance(limit: Option<u64>, safety_share: f64, reserve: u64) -> Option<u64> {
    limit.map(|limit| {
        // Float to int casts saturate; a share is validated into (0, 1].
        let scaled = (limit as f64 * safety_share).floor() as u64;
        scaled.min(limit).saturating_sub(reserve)
    })
}

/// The grow-mode day budget of a sender: its `group_share` (in (0, 1]) of the allowance of its
/// limit group's current limit (module docs). Senders sharing a limit share one budget.
pub fn grow_budget(allowance: Option<u64>, group_share: f64) -> DayBudget {
    let share = if group_share.is_finite() {
        group_share.clamp(0.0, 1.0)
    } else {
        1.0
    };
    // Float to int casts saturate.
    DayBudget::from_option(allowance.map(|a| (a as f64 * share).floor() as u64))
}

/// Where a sender stands on the tier ladder, for status and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum GrowthPhase {
    /// Needs `needed` more unique customers in the trailing 7 days to cross the threshold.
    Climbing { needed: u64 },
    /// The threshold was crossed; the next limit starts at `at` (when the ledger knows it).
    UpgradePending { at: Option<DateTime<Utc>> },
    /// Unlimited, or a limit with no next step.
    Top,
}

/// The phase from the ledger's numbers.
pub fn phase(
    limit: Option<u64>,
    unique_7d: u64,
    upgrade_threshold: Option<u64>,
    upgrade_at: Option<DateTime<Utc>>,
) -> GrowthPhase {
    match (limit, upgrade_threshold) {
        (None, _) | (_, None) => GrowthPhase::Top,
        _ if upgrade_at.is_some() => GrowthPhase::UpgradePending { at: upgrade_at },
        (Some(_), Some(threshold)) if unique_7d >= threshold => {
            GrowthPhase::UpgradePending { at: None }
        }
        (Some(_), Some(threshold)) => GrowthPhase::Climbing {
            needed: threshold - unique_7d,
        },
    }
}

/// Pays a day budget out evenly over the open time, tick by tick, in arrears.
///
/// A tick accrues, for the open time elapsed since the previous one,
/// `(left - held back - carried) x elapsed / open_left_before`, where `open_left_before` is the
/// open time that was left at the previous tick and `carried` what was accrued but is not yet a
/// whole send ([`Carry`]). What accrues shrinks what is left in the same proportion as the elapsed
/// time shrinks the open time, so `(left - held back - carried) / open_left` stays exactly
/// constant while nothing caps the sends: the payout follows a straight line over the open day,
/// whatever the tick lengths, and no tick gets more than one send over its even share. When the
/// headroom caps a tick, the unsent part stays in `left` and is re-spread over the rest of the
/// day. A factor below one (a brake, the warm-up) pays that share of what accrues and holds the
/// rest back for the day ([`Spread::hold_back`]), so half pace all day sends half the budget,
/// evenly, rather than the whole budget late in the day.
///
/// One `Spread` per budget: the sender's grow budget (shared by its grow campaigns, each with its
/// own [`Carry`]) and each steady campaign's `daily_max`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    held_back: f64,
}

impl Spread {
    /// What accrues at the full even pace for `elapsed_secs` of open time out of the
    /// `open_left_before` seconds that were left at the previous tick, given `carried` accrued but
    /// unsent fractions. Infinite for an unlimited budget.
    pub fn accrue(
        &self,
        left: DayBudget,
        carried: f64,
        open_left_before: f64,
        elapsed_secs: f64,
    ) -> f64 {
        let left = match left {
            DayBudget::Unlimited => return f64::INFINITY,
            DayBudget::Up(left) => left as f64,
        };
        let part = if open_left_before <= 0.0 {
            1.0
        } else {
            (elapsed_secs / open_left_before).clamp(0.0, 1.0)
        };
        // Carried fractions are inside `left` (they were not sent) and so is what was held back:
        // spreading them again would pay ahead of the even line late in the day.
        (left - self.held_back - carried).max(0.0) * part
    }

    /// Drops `amount` of accrued pace for the rest of the day (what a factor below one held back).
    pub fn hold_back(&mut self, amount: f64) {
        self.held_back += amount.max(0.0);
    }
}

/// What one campaign has accrued of a pace but not yet sent: a fraction of a send.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Carry(f64);

/// What a [`Carry`] makes due this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    /// Whole sends due now.
    pub whole: u64,
    /// The fraction carried to the next tick once this one is settled.
    rest: f64,
}

impl Carry {
    /// The fraction carried now.
    pub fn get(self) -> f64 {
        self.0
    }

    /// What is due when `accrued` is added to what is carried. Does not change the carry: call
    /// [`Carry::settle`] once the tick is decided.
    pub fn pay(self, accrued: f64) -> Due {
        let exact = accrued.max(0.0) + self.0;
        if !exact.is_finite() {
            return Due {
                whole: u64::MAX,
                rest: 0.0,
            };
        }
        // A hair of tolerance so that float rounding (0.1 x 10 = 0.9999...) does not hold back a
        // send that is due exactly.
        let whole = (exact + 1e-9).floor();
        Due {
            // Saturating cast; a budget never comes near 2^64.
            whole: whole as u64,
            rest: (exact - whole).clamp(0.0, 1.0),
        }
    }

    /// Keeps the fraction of `due` for the next tick. Whole sends that were due but not granted
    /// (a hard cap) are not carried: they stay in the budget and are re-spread.
    pub fn settle(&mut self, due: Due) {
        self.0 = due.rest;
    }

    /// As [`Carry::settle`], but whole sends that were due and not granted stay due, up to
    /// `keep`: campaigns sharing a hard cap take turns instead of each losing its turn.
    pub fn settle_keeping(&mut self, due: Due, granted: u64, keep: u64) {
        let kept = due.whole.saturating_sub(granted).min(keep);
        self.0 = due.rest + kept as f64;
    }

    /// Forgets the fraction (the campaign stopped pacing; the fraction goes back to the budget).
    pub fn clear(&mut self) {
        self.0 = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_applies_the_safety_share_then_the_reserve() {
        assert_eq!(allowance(Some(1000), 0.95, 0), Some(950));
        assert_eq!(allowance(Some(1000), 0.95, 50), Some(900));
        assert_eq!(allowance(Some(250), 0.95, 300), Some(0));
        assert_eq!(allowance(None, 0.95, 50), None);
    }

    #[test]
    fn phase_follows_the_threshold() {
        assert_eq!(
            phase(Some(1000), 120, Some(500), None),
            GrowthPhase::Climbing { needed: 380 }
        );
        assert_eq!(
            phase(Some(1000), 500, Some(500), None),
            GrowthPhase::UpgradePending { at: None }
        );
        assert_eq!(phase(None, 0, None, None), GrowthPhase::Top);
    }

    /// One budget, one campaign, one tick a second over `secs` open seconds at `factor`:
    /// what was paid at the half and at the end.
    fn pay_a_day(budget: u64, secs: u32, factor: f64) -> (u64, u64) {
        let mut spread = Spread::default();
        let mut carry = Carry::default();
        let mut left = budget;
        let mut at_half = 0;
        for before in (1..=secs).rev() {
            let accrued = spread.accrue(DayBudget::Up(left), carry.get(), f64::from(before), 1.0);
            spread.hold_back(accrued * (1.0 - factor));
            let due = carry.pay(accrued * factor);
            carry.settle(due);
            left -= due.whole.min(left);
            if before == secs / 2 + 1 {
                at_half = budget - left;
            }
        }
        (at_half, budget - left)
    }

    #[test]
    fn a_spread_pays_linearly_and_ends_with_the_rest() {
        let (half, all) = pay_a_day(950, 36_000, 1.0);
        assert_eq!(all, 950);
        assert!((474..=475).contains(&half), "{half}");
    }

    #[test]
    fn half_pace_all_day_pays_half_the_budget_evenly() {
        let (half, all) = pay_a_day(1000, 36_000, 0.5);
        assert!((499..=500).contains(&all), "paid {all}");
        assert!((249..=250).contains(&half), "{half}");
    }

    #[test]
    fn an_unlimited_budget_accrues_without_end() {
        let spread = Spread::default();
        assert!(spread
            .accrue(DayBudget::Unlimited, 0.0, 100.0, 1.0)
            .is_infinite());
        assert_eq!(Carry::default().pay(f64::INFINITY).whole, u64::MAX);
    }
}
