//! The ledger: per limit group, who was reached with a business-initiated conversation and when,
//! and the tier state that follows from it (DOMAIN.md §1).
//!
//! Two backends pass one conformance suite (`tests/ledger_conformance.rs`): [`memory`] (the
//! embedded default and the `plan` simulation) and [`redis`] (production; one Lua script per batch,
//! keys hash-tagged by group so it runs on Redis Cluster). Time always comes from the caller.
//!
//! Interface contract (the dispatcher relies on it):
//! - `admit` decides, for each contact in order and atomically for the whole batch, whether a
//!   template may go now: a contact whose conversation is still open (reached in the last `window`)
//!   or who is inside an open service window is admitted without using headroom; any other contact
//!   is admitted only while the unique count in the rolling window is below the allowance
//!   (`limit x safety_share - reserve`) and the call's `budget` of new uniques is not spent.
//! - `release` undoes an admission whose send never reached WhatsApp.

use chrono::{DateTime, Utc};

/// The name of a limit group (DESIGN.md §1): who shares one messaging limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitGroup(pub String);

impl std::fmt::Display for LimitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the ledger decided for one contact of an `admit` batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitDecision {
    /// Send now; `counted` says whether it opened a new conversation (used headroom).
    Admitted { counted: bool },
    /// The rolling-window limit is reached; a slot frees up at `retry_at` at the earliest.
    LimitReached { retry_at: DateTime<Utc> },
    /// This call's budget of new unique customers is spent; ask again on a later tick.
    OverBudget,
}

/// Errors a caller can act on: the backend is unreachable (send nothing, retry later) or broke.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger backend unreachable: {0}")]
    Unavailable(String),
    #[error("ledger backend error: {0}")]
    Backend(String),
    #[error("ledger state for group {group} is corrupt: {detail}")]
    Corrupt { group: String, detail: String },
}
