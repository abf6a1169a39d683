//! The latest snapshot of every sender and campaign, published by the dispatchers each tick and
//! read by the admin API and the metrics exporter (so neither reaches into a dispatcher).
use std::collections::BTreeMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};

use super::schedule::RunStatus;
use crate::ledger::LedgerStats;

#[derive(Debug, Clone)]
pub struct CampaignSnapshot {
    pub id: String,
    pub sender: String,
    pub run: String,
    pub status: RunStatus,
    pub counters: BTreeMap<String, i64>,
    pub valid_contacts: u64,
    /// Audience rows: each ends in exactly one per-contact state, so this is the progress total.
    pub total_rows: u64,
    pub remaining: u64,
    pub rate_per_second: f64,
    pub template: String,
}

impl CampaignSnapshot {
    /// Seconds until every remaining contact is sent at the current rate (`None` when idle).
    pub fn eta_seconds(&self) -> Option<f64> {
        (self.rate_per_second > 0.0).then(|| self.remaining as f64 / self.rate_per_second)
    }
}

#[derive(Debug, Clone)]
pub struct SenderSnapshot {
    pub sender: String,
    pub group: String,
    pub ledger_ok: bool,
    pub stats: Option<LedgerStats>,
    pub brakes: Vec<(crate::policy::brake::Brake, DateTime<Utc>)>,
    /// The send rate cap now (AIMD after throughput errors) and the configured `max_mps`.
    pub rate_limit_mps: u32,
    pub max_mps: u32,
    /// Sends of this sender in flight now, and the most it keeps in flight now (Little's law
    /// within the probed ceiling, issue #15).
    pub sends_in_flight: usize,
    pub in_flight_limit: usize,
    /// This replica's id (issue #19).
    pub replica: String,
    /// The replica that holds the sender's lease, so sends for it (`None`: nobody yet).
    pub sent_by: Option<String>,
    /// Whether this replica holds the sender's lease.
    pub sending_here: bool,
    pub campaigns: Vec<CampaignSnapshot>,
    pub at: DateTime<Utc>,
}

/// Shared board of snapshots.
#[derive(Debug, Default)]
pub struct StatusBoard {
    senders: RwLock<BTreeMap<String, SenderSnapshot>>,
}

impl StatusBoard {
    pub fn publish(&self, snapshot: SenderSnapshot) {
        self.senders
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(snapshot.sender.clone(), snapshot);
    }

    pub fn senders(&self) -> Vec<SenderSnapshot> {
        self.senders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Replaces the ledger figures of every sender of limit group `group`, so an operator's
    /// tier change shows in the next `status` rather than after the dispatcher's next tick.
    pub fn update_group_stats(&self, group: &str, stats: &LedgerStats) {
        let mut senders = self.senders.write().unwrap_or_else(|e| e.into_inner());
        for s in senders.values_mut().filter(|s| s.group == group) {
            s.stats = Some(stats.clone());
        }
    }

    pub fn remove(&self, sender: &str) {
        self.senders
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sender);
    }

    /// Whether every dispatcher published within `max_age` of `now` (its loop is not stuck).
    pub fn ticking(&self, now: DateTime<Utc>, max_age: chrono::Duration) -> bool {
        self.senders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .all(|s| now - s.at <= max_age)
    }

    /// Whether every dispatcher reported within `max_age` of `now` with a reachable ledger.
    pub fn healthy(
        &self,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    ) -> Result<(), Vec<String>> {
        let problems: Vec<String> = self
            .senders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|s| {
                if !s.ledger_ok {
                    Some(format!("sender {}: ledger (Redis) unreachable", s.sender))
                } else if now - s.at > max_age {
                    Some(format!(
                        "sender {}: dispatcher silent since {}",
                        s.sender, s.at
                    ))
                } else {
                    None
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
