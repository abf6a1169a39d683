//! What the daemon's tasks share: the [`Shared`] state (config, stores, senders, campaigns,
//! metrics), the reload [`Trigger`]s that arrive on its one reload channel, and the per-sender
//! [`Brakes`].
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;

use crate::campaign::file::Campaign;
use crate::campaign::metrics::CampaignMetrics;
use crate::campaign::registry::ReloadTrigger;
use crate::clock::Clock;
use crate::config::LoadedConfig;
use crate::contact::ContactHasher;
use crate::dispatch::status::StatusBoard;
use crate::http::Metrics;
use crate::policy::calendar::Calendar;

use super::{stores, tier_poll, SenderHandle};

/// What the daemon shares between its tasks.
pub struct Shared {
    pub loaded: RwLock<LoadedConfig>,
    pub clock: Arc<dyn Clock>,
    pub hasher: ContactHasher,
    pub ledger: Arc<dyn crate::ledger::Ledger>,
    pub consent: Arc<dyn crate::campaign::consent::ConsentStore>,
    pub progress: Arc<dyn crate::dispatch::progress::ProgressStore>,
    /// Brakes, sends per day and template warm-up, shared by replicas and kept across restarts.
    pub pacing: Arc<dyn crate::dispatch::pacing_store::PacingStore>,
    /// Sender leases and the replica register: one replica paces a sender (issue #19).
    pub sender_leases: Arc<dyn crate::dispatch::sender_lease::SenderLeases>,
    /// This replica's id and the latest plan of which replica paces which sender.
    pub ownership: Arc<crate::dispatch::ownership::Ownership>,
    pub pinger: stores::Pinger,
    pub redis_up: std::sync::atomic::AtomicBool,
    /// Closed while Redis evicts or refuses writes (`redis_health`); the ledger checks it.
    pub store_gate: Arc<crate::ledger::StoreGate>,
    /// When the last "Redis refuses" warning was logged (one a minute while it lasts).
    pub store_warned_at: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    pub board: Arc<StatusBoard>,
    pub senders: RwLock<BTreeMap<String, SenderHandle>>,
    pub campaigns: RwLock<Vec<Campaign>>,
    pub calendars: RwLock<BTreeMap<String, Calendar>>,
    pub metrics: Metrics,
    /// The campaign registry's log lines and counters (reloads, invalid files), registered
    /// beside [`Metrics`] (STYLE.md 16: each subsystem registers its own).
    pub campaign_metrics: CampaignMetrics,
    pub reload_tx: mpsc::Sender<Trigger>,
    pub started: std::sync::atomic::AtomicBool,
    /// Webhook bodies dropped as unreadable, for status (issue 11 §2).
    pub unreadable: std::sync::Mutex<crate::http::UnreadableLog>,
    /// What each sender's provider said last about its tier and quality (by sender id).
    pub provider_views: RwLock<BTreeMap<String, tier_poll::ProviderView>>,
    /// The go-live checklist's latest run (issue #21: at start and after every reload); failed
    /// items show in status and `/readyz` warnings, never blocking.
    pub go_live: RwLock<Vec<crate::provider::golive::GoLiveItem>>,
    /// Go-live runs started; a run's items are kept only if no later run started meanwhile.
    pub go_live_runs: std::sync::atomic::AtomicU64,
    /// Template reads for the pre-flight at load and the go-live templates item (issue #18).
    pub templates: Arc<crate::provider::template_preflight::TemplateCatalog>,
    /// Campaigns of the last load that do not run (invalid file, template, audience, calendar)
    /// and running campaigns whose template was not verified.
    pub campaign_problems: RwLock<super::template_gate::CampaignProblems>,
    /// Every valid campaign file of the last load, refused ones included (go-live templates).
    pub loaded_campaigns: RwLock<Vec<Campaign>>,
    /// This daemon's key for `/healthz?nonce=` proofs (the public-URL self-call).
    pub self_proof: crate::http::self_proof::SelfProofKey,
}

impl Shared {
    /// What carries out the provider's answers and callbacks ([`crate::dispatch::react`]),
    /// on these stores, with the retry ladders of the config in force.
    pub fn reactor(&self) -> crate::dispatch::react::Reactor {
        let retries = self
            .loaded
            .read()
            .map(|l| l.config.retries.clone())
            .unwrap_or_default();
        crate::dispatch::react::Reactor {
            progress: self.progress.clone(),
            consent: self.consent.clone(),
            ledger: self.ledger.clone(),
            metrics: self.metrics.clone(),
            retries,
            pacing: self.pacing.clone(),
        }
    }
}

/// Why the daemon re-reads its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChange,
    Cron,
    /// Admin change (pause, resume, brake): no re-read, only wake the dispatchers.
    Wake,
}

/// The registry's triggers (file watcher, SIGHUP) arrive on the daemon's reload channel as they are.
impl From<ReloadTrigger> for Trigger {
    fn from(t: ReloadTrigger) -> Self {
        match t {
            ReloadTrigger::FileChange => Trigger::FileChange,
            ReloadTrigger::Signal => Trigger::Signal,
        }
    }
}

impl Trigger {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "sighup",
            Trigger::FileChange => "file_change",
            Trigger::Cron => "cron",
            Trigger::Wake => "wake",
        }
    }
}

/// Shared brake state per sender (webhooks and admin set brakes; the dispatcher reads them).
pub type Brakes = Arc<Mutex<crate::policy::brake::BrakeState>>;
