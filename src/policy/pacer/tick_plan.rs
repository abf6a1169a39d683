//! What the pacer decides for one tick: a grant per campaign ([`TickPlan`]), or why nothing may
//! go ([`IdleReason`]), for the sender and for each campaign held.
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::view::CampaignView;

/// Why nothing (or, per campaign, nothing for that campaign) goes this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum IdleReason {
    /// No campaign has contacts left.
    NothingToDo,
    /// Outside business hours.
    Closed,
    /// A brake pauses it.
    Braked,
    /// Today's budget (grow allowance or `daily_max`) is spent.
    BudgetSpent,
    /// The tier's 24 h limit is reached; a slot frees up at `until` if known.
    LimitReached { until: Option<DateTime<Utc>> },
}

impl IdleReason {
    /// How far a campaign got before it was stopped; the sender reports the furthest.
    pub(super) fn rank(self) -> u8 {
        match self {
            IdleReason::NothingToDo => 0,
            IdleReason::Closed => 1,
            IdleReason::Braked => 2,
            IdleReason::BudgetSpent => 3,
            IdleReason::LimitReached { .. } => 4,
        }
    }
}

/// The pacer's decision for one tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TickPlan {
    /// Sends each campaign may start now (= its `admit` budget of new uniques); only campaigns
    /// with a grant above zero, in the order of `campaigns`.
    pub grants: Vec<(String, u32)>,
    /// Why nothing goes, when `grants` is empty and something stops it (`None` when the pace
    /// simply has no whole send due yet, or the throughput cap is full: try next tick).
    pub reason_idle: Option<IdleReason>,
    /// Campaigns with contacts left that get nothing, and why (for their `waiting_*` states).
    pub held: Vec<(String, IdleReason)>,
}

impl TickPlan {
    /// The total granted this tick.
    pub fn total(&self) -> u64 {
        self.grants.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Why the sender is idle: nothing to do, or the furthest any campaign got before it was held.
/// `None` when some campaign is only waiting for its pace or the throughput cap.
pub(super) fn idle_reason(
    campaigns: &[CampaignView],
    held: &[(String, IdleReason)],
) -> Option<IdleReason> {
    let waiting = campaigns.iter().filter(|c| c.remaining > 0).count();
    if waiting == 0 {
        return Some(IdleReason::NothingToDo);
    }
    if held.len() < waiting {
        return None;
    }
    held.iter().map(|(_, r)| *r).max_by_key(|r| r.rank())
}
