//! What a sender's dispatcher works with: its stores, provider, pacer, leases and shared
//! controls, handed over by the daemon (`daemon/senders.rs`) and shared with its sends
//! (`send.rs`'s `SendContext`).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::progress::ProgressStore;
use super::status::StatusBoard;
use crate::campaign::consent::ConsentStore;
use crate::clock::Clock;
use crate::contact::ContactHasher;
use crate::ledger::{Ledger, LimitGroup};
use crate::policy::brake::BrakeState;
use crate::policy::pacer::Pacer;
use crate::policy::retry_policy::RetrySettings;
use crate::policy::throughput::AdaptiveRate;
use crate::provider::Provider;

/// Everything a sender's dispatcher works with.
pub struct SenderDeps {
    pub sender_id: String,
    pub group: LimitGroup,
    pub provider: Arc<dyn Provider>,
    pub ledger: Arc<dyn Ledger>,
    pub consent: Arc<dyn ConsentStore>,
    pub progress: Arc<dyn ProgressStore>,
    pub clock: Arc<dyn Clock>,
    pub hasher: ContactHasher,
    /// Unique per dispatcher: campaign and sender leases name it.
    pub owner: String,
    /// Which replica should pace which sender, and this replica's id (issue #19).
    pub ownership: Arc<super::ownership::Ownership>,
    /// Where sender leases are taken.
    pub sender_leases: Arc<dyn super::sender_lease::SenderLeases>,
    pub lease_ttl: Duration,
    pub max_mps: u32,
    /// Its share of its limit group's grow budget, in (0, 1] (`SenderView::group_share`).
    pub group_share: f64,
    pub concurrency: usize,
    pub pacer: Pacer,
    pub tick: Duration,
    pub drain_timeout: Duration,
    pub brakes: Arc<Mutex<BrakeState>>,
    /// Where brakes, sends per day and template warm-up are shared and kept.
    pub pacing: Arc<dyn super::pacing_store::PacingStore>,
    /// The sender's rate under throughput errors (shared with the webhook path).
    pub rate: Arc<Mutex<AdaptiveRate>>,
    /// When temporary failures are retried (`[retries]`).
    pub retries: RetrySettings,
    pub board: Arc<StatusBoard>,
    /// Where sends by outcome and provider latency are counted.
    pub metrics: crate::http::Metrics,
    /// Where audience skips are counted (`tierpace_audience_skips_total`).
    pub campaign_metrics: crate::campaign::CampaignMetrics,
}
