//! Day budgets: how many new unique customers a sender or a campaign may start today, by pacing
//! mode, and how a budget is paid out evenly over the open seconds left (DESIGN.md §3).
//!
//! **Grow** (the default, for marketing). The tier rises 24 h after the trailing-7-day uniques
//! cross `limit x upgrade_share` (DOMAIN.md §1), so the earlier in the day the threshold is
//! crossed, the earlier the next tier starts. The day's budget must be spread evenly over the open
//! seconds (no burst at opening), so the crossing comes at `needed / budget` of the open day, and
//! the largest budget crosses earliest. The largest budget the limit allows for a day is the
//! allowance, `limit x safety_share - reserve`: one open day fits in one 24 h window, and
//! yesterday's sends leave the window at the same pace today's spread wants to send. So grow mode
//! budgets the whole allowance of the current limit every day, before the crossing (to cross as
//! early as the open hours allow) and after it (to use what the limit gives, and more uniques in
//! the 7-day lookback for the next step). When the limit rises mid-day the budget rises with it
//! and what is left is spread over the rest of the day. At the unlimited tier only throughput
//! counts. See docs/pacer.md for a worked example.
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

/// The grow-mode day budget of a sender: the allowance of its current limit (module docs).
pub fn grow_budget(allowance: Option<u64>) -> DayBudget {
    DayBudget::from_option(allowance)
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

/// Pays a day budget out evenly over the open seconds left, tick by tick, keeping the fraction
/// that does not make a whole send for the next tick.
///
/// Each tick is due `left x min(elapsed / open_left, 1)`, where `elapsed` is the time since the
/// previous tick (the next tick is expected to be as far away). Because what is due shrinks with
/// what is left, `left / open_left` stays constant while nothing caps the sends: the payout is
/// linear over the open day, and the last tick of the day takes what remains. When the headroom
/// caps a tick, the unsent part stays in `left` and is spread over the rest of the day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    carry: f64,
}

/// What a [`Spread`] makes due this tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Due {
    /// Whole sends due now.
    pub whole: u64,
    /// The fraction carried to the next tick if this one is paid.
    carry: f64,
}

impl Spread {
    /// What is due now of `left` over `open_left` seconds, `elapsed` seconds after the previous
    /// tick, at `factor` of the even pace (brakes, warm-up). Does not change the carry: call
    /// [`Spread::settle`] with the result once it is known the tick happened.
    pub fn due(&self, left: DayBudget, open_left_secs: i64, elapsed_secs: f64, factor: f64) -> Due {
        let exact = match left {
            DayBudget::Unlimited => f64::INFINITY,
            DayBudget::Up(left) if open_left_secs <= 0 => left as f64,
            DayBudget::Up(left) => {
                let part = (elapsed_secs / open_left_secs as f64).clamp(0.0, 1.0);
                left as f64 * part * factor.clamp(0.0, 1.0)
            }
        };
        Self::split(exact + self.carry)
    }

    /// What is due now at a fixed `per_second` rate (asap, and grow at the unlimited tier).
    pub fn due_at_rate(&self, per_second: f64, elapsed_secs: f64) -> Due {
        Self::split(per_second.max(0.0) * elapsed_secs.max(0.0) + self.carry)
    }

    /// Keeps the fraction of `due` for the next tick.
    pub fn settle(&mut self, due: Due) {
        self.carry = due.carry;
    }

    fn split(exact: f64) -> Due {
        if !exact.is_finite() {
            return Due {
                whole: u64::MAX,
                carry: 0.0,
            };
        }
        let whole = exact.floor();
        Due {
            // Saturating cast; a budget never comes near 2^64.
            whole: whole as u64,
            carry: (exact - whole).clamp(0.0, 1.0),
        }
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

    #[test]
    fn a_spread_pays_linearly_and_ends_with_the_rest() {
        // 950 over 10 open hours, one tick a second.
        let mut spread = Spread::default();
        let mut left = 950u64;
        let mut paid_at_half = 0;
        for open_left in (1..=36_000i64).rev() {
            let due = spread.due(DayBudget::Up(left), open_left, 1.0, 1.0);
            spread.settle(due);
            left -= due.whole.min(left);
            if open_left == 18_000 {
                paid_at_half = 950 - left;
            }
        }
        assert_eq!(left, 0);
        assert!((474..=476).contains(&paid_at_half), "{paid_at_half}");
    }

    #[test]
    fn a_factor_slows_the_spread() {
        let spread = Spread::default();
        let due = spread.due(DayBudget::Up(3600), 3600, 10.0, 0.5);
        assert_eq!(due.whole, 5);
    }
}
