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
//!
//! The tier *policy* stays in Rust (`policy/`): before a batch the backend settles the stored tier
//! state at `now`, computes the allowance and the upgrade threshold, and the counting part (memory
//! map or Lua script) admits up to the allowance and stores the pre-computed "crossed" state if the
//! lookback's unique count reaches the threshold. Both backends share that glue below, so they can
//! only differ in how they count.
//!
//! Contacts are stored by the low 64 bits of their [`ContactKey`] (8 bytes a member in Redis):
//! with a keyed hash, two contacts of one group colliding is a 1-in-2^64 event per pair.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::contact::ContactKey;
use crate::policy::profile::{from_millis, to_millis, Policy};
use crate::policy::tier::{Quality, Tier};
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_state::{PendingUpgrade, TierState};

pub mod gate;
pub mod memory;
pub mod redis;

pub use self::gate::{GatedLedger, StoreGate};
pub use self::memory::MemoryLedger;
pub use self::redis::RedisLedger;

/// The name of a limit group (DESIGN.md §1): who shares one messaging limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitGroup(pub String);

impl LimitGroup {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
}

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

/// What a ledger needs to know besides its records; swapped whole on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerSettings {
    pub policy: Policy,
    /// Share of the provider's limit tierpace may use (default 0.95).
    pub safety_share: f64,
    /// Unique customers per window kept free for agents' manual messages (default 0).
    pub reserve: u64,
    /// Where a group with no recorded tier starts; a group not listed starts on the first rung.
    pub initial_tiers: BTreeMap<LimitGroup, Tier>,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        Self {
            policy: Policy::legacy(),
            safety_share: 0.95,
            reserve: 0,
            initial_tiers: BTreeMap::new(),
        }
    }
}

impl LedgerSettings {
    /// The tier state of a group nothing was recorded for.
    pub fn initial_state(&self, group: &LimitGroup) -> TierState {
        let tier = self
            .initial_tiers
            .get(group)
            .copied()
            .unwrap_or_else(|| self.policy.first_rung());
        TierState::initial(tier)
    }

    /// The group's stored state (its initial one when nothing is stored) settled at `now`:
    /// what admission and stats judge by, on every backend.
    pub fn settled(
        &self,
        group: &LimitGroup,
        stored: Option<&TierState>,
        now: DateTime<Utc>,
    ) -> TierState {
        match stored {
            Some(s) => s.settle(&self.policy, now),
            None => self.initial_state(group).settle(&self.policy, now),
        }
    }

    /// The group's state after `event` at `now`, from its stored state (its initial one when
    /// nothing is stored): what every backend writes for a tier event.
    pub fn after_event(
        &self,
        group: &LimitGroup,
        stored: Option<&TierState>,
        now: DateTime<Utc>,
        event: TierEvent,
    ) -> TierState {
        let current = stored.cloned().unwrap_or_else(|| self.initial_state(group));
        current.apply(&self.policy, now, event)
    }

    /// New unique customers per window on `tier`; `None` = unlimited.
    pub fn allowance(&self, tier: Tier) -> Option<u64> {
        self.policy.allowance(tier, self.safety_share, self.reserve)
    }
}

/// A group's figures as in force at the `now` they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerStats {
    pub tier: Tier,
    pub quality: Quality,
    /// The provider's limit; `None` = unlimited.
    pub limit: Option<u64>,
    /// What tierpace may use: `limit x safety_share - reserve`.
    pub allowed: Option<u64>,
    pub unique_24h: u64,
    pub unique_7d: u64,
    /// `allowed - unique_24h`, never negative; `None` = unlimited.
    pub headroom: Option<u64>,
    /// Unique customers in the lookback that earn the next rung; `None` on the top rung.
    pub upgrade_threshold: Option<u64>,
    pub pending_upgrade: Option<PendingUpgrade>,
    /// When the oldest conversation in the window leaves it (a slot frees up); `None` if the
    /// window is empty.
    pub next_slot_at: Option<DateTime<Utc>>,
    /// When the low-quality rule lowers the limit, if it is counting down.
    pub downgrade_at: Option<DateTime<Utc>>,
    pub flagged: bool,
    /// Redis was found to have lost this group's records (restarted empty): no new unique
    /// customer is admitted until this time, one window after the loss was noticed.
    pub recovering_until: Option<DateTime<Utc>>,
    /// A raise a provider callback reported, held until confirmed (issue #22).
    pub reported_raise: Option<crate::policy::tier_state::ReportedRaise>,
    /// Times of the latest tier and quality callbacks taken into account (replays older than
    /// them change nothing).
    pub tier_reported_at: Option<DateTime<Utc>>,
    pub quality_reported_at: Option<DateTime<Utc>>,
}

/// The ledger interface; see the module doc for the contract.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Decides each contact in order, atomically for the batch (see the module doc).
    async fn admit(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        contacts: &[ContactKey],
        budget: u32,
    ) -> Result<Vec<AdmitDecision>, LedgerError>;

    /// Undoes a counted admission made at `admitted_at` whose send never reached WhatsApp. A
    /// no-op if the contact's conversation was not opened at that instant. The contact's older
    /// conversation (if any) is forgotten too, so the lookback count may drop by one: upgrades
    /// come no earlier, limits hold.
    async fn release(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        admitted_at: DateTime<Utc>,
    ) -> Result<(), LedgerError>;

    /// The customer messaged us at `now`: templates to them are free for the next `window`.
    async fn open_service_window(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError>;

    /// Applies a provider, quality or operator event and returns the state now in force.
    async fn apply_tier_event(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        event: TierEvent,
    ) -> Result<TierState, LedgerError>;

    async fn stats(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
    ) -> Result<LedgerStats, LedgerError>;

    /// Hot reload: new policy / shares / initial tiers take effect for later calls.
    fn update_settings(&self, settings: LedgerSettings);
}

/// A contact as both backends store it: the low 64 bits of its keyed hash.
pub(crate) fn member_of(contact: ContactKey) -> u64 {
    contact.0 as u64
}

/// Everything the counting part of `admit` needs, computed by the pure policy.
#[derive(Debug, Clone)]
pub(crate) struct AdmitPlan {
    pub now_ms: i64,
    pub window_ms: i64,
    pub lookback_ms: i64,
    pub allowed: Option<u64>,
    pub budget: u32,
    /// The stored state settled at `now`.
    pub settled: TierState,
    /// The lookback count that earns the next rung and the state to store when it is reached.
    pub crossing: Option<(u64, TierState)>,
}

impl AdmitPlan {
    pub fn new(
        settings: &LedgerSettings,
        group: &LimitGroup,
        stored: Option<&TierState>,
        now: DateTime<Utc>,
        budget: u32,
    ) -> Self {
        let policy = &settings.policy;
        let settled = settings.settled(group, stored, now);
        Self {
            now_ms: to_millis(now),
            window_ms: policy.window.num_milliseconds(),
            lookback_ms: policy.lookback.num_milliseconds(),
            allowed: settings.allowance(settled.tier),
            budget,
            crossing: settled.upgrade_on_crossing(policy, now),
            settled,
        }
    }
}

/// What the counting part of `admit` reports back.
#[derive(Debug, Clone)]
pub(crate) struct AdmitOutcome {
    pub codes: Vec<Code>,
    /// When the oldest conversation in the window leaves it (or `now + window` if it is empty).
    pub slot_ms: i64,
    pub crossed: bool,
}

/// One contact's result on the wire (the Lua script returns them as one digit each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    Counted,
    Free,
    OverBudget,
    LimitReached,
}

impl Code {
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'1' => Some(Code::Counted),
            b'2' => Some(Code::Free),
            b'3' => Some(Code::OverBudget),
            b'4' => Some(Code::LimitReached),
            _ => None,
        }
    }
}

/// Turns the counting result into decisions: a refused contact may retry when the oldest slot
/// frees up or when a pending upgrade raises the limit, whichever comes first.
pub(crate) fn decisions(plan: &AdmitPlan, outcome: &AdmitOutcome) -> Vec<AdmitDecision> {
    let state = match (&plan.crossing, outcome.crossed) {
        (Some((_, crossed)), true) => crossed,
        _ => &plan.settled,
    };
    let mut retry_ms = outcome.slot_ms;
    if let Some(p) = state.pending_upgrade {
        let eff = to_millis(p.effective_at);
        if eff > plan.now_ms {
            retry_ms = retry_ms.min(eff);
        }
    }
    let retry_at = from_millis(retry_ms);
    outcome
        .codes
        .iter()
        .map(|c| match c {
            Code::Counted => AdmitDecision::Admitted { counted: true },
            Code::Free => AdmitDecision::Admitted { counted: false },
            Code::OverBudget => AdmitDecision::OverBudget,
            Code::LimitReached => AdmitDecision::LimitReached { retry_at },
        })
        .collect()
}

/// Builds the stats both backends report from the settled state and the counts.
pub(crate) fn stats_from(
    settings: &LedgerSettings,
    settled: &TierState,
    unique_24h: u64,
    unique_7d: u64,
    oldest_in_window_ms: Option<i64>,
    recovering_until: Option<DateTime<Utc>>,
) -> LedgerStats {
    let policy = &settings.policy;
    let allowed = settings.allowance(settled.tier);
    LedgerStats {
        tier: settled.tier,
        quality: settled.quality,
        limit: settled.tier.limit(),
        allowed,
        unique_24h,
        unique_7d,
        headroom: allowed.map(|a| a.saturating_sub(unique_24h)),
        upgrade_threshold: policy.upgrade_threshold(settled.tier),
        pending_upgrade: settled.pending_upgrade,
        next_slot_at: oldest_in_window_ms
            .map(|ms| from_millis(ms) + Duration::milliseconds(policy.window.num_milliseconds())),
        downgrade_at: settled.downgrade_at(policy),
        flagged: settled.flagged,
        recovering_until,
        reported_raise: settled.reported_raise,
        tier_reported_at: settled.tier_reported_at,
        quality_reported_at: settled.quality_reported_at,
    }
}
