//! [`ProgressStore`] in memory, with the same semantics as the Redis scripts (the conformance
//! tests in `tests/progress_conformance.rs` run against both).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::progress::{
    ContactState, Control, LeaseStatus, ProgressError, ProgressStore, RunId, RunMeta, Write,
};

#[derive(Default)]
struct Run {
    states: HashMap<String, ContactState>,
    inflight: HashSet<String>,
    counters: BTreeMap<String, i64>,
    fence: u64,
    owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    cursor: Option<String>,
    rewind: bool,
    retry_at: Option<DateTime<Utc>>,
    /// Retries per contact, kept across its resends (see [`ProgressStore::attempts`]).
    attempts: HashMap<String, u32>,
}

impl Run {
    fn bump(&mut self, name: &str, by: i64) {
        *self.counters.entry(name.to_string()).or_default() += by;
    }
}

#[derive(Default)]
pub struct MemoryProgress {
    runs: Mutex<HashMap<RunId, Run>>,
    controls: Mutex<HashMap<String, Control>>,
    messages: Mutex<HashMap<String, (RunId, String)>>,
}

impl MemoryProgress {
    fn lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        take: bool,
    ) -> Result<LeaseStatus, ProgressError> {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(15));
        Ok(self.with_run(run, |r| {
            if let (Some(o), Some(until)) = (&r.owner, r.lease_until) {
                if o != owner && until > now && !take {
                    return LeaseStatus::HeldByOther {
                        owner: o.clone(),
                        until,
                    };
                }
            }
            if r.owner.as_deref() != Some(owner) {
                r.fence += 1;
                for field in std::mem::take(&mut r.inflight) {
                    if let Some(ContactState::InFlight { line }) = r.states.get(&field).cloned() {
                        r.states.insert(field, ContactState::Unknown { line });
                        r.bump("in_flight", -1);
                        r.bump("unknown", 1);
                    }
                }
            }
            r.owner = Some(owner.to_string());
            r.lease_until = Some(now + ttl);
            LeaseStatus::Held {
                fence: r.fence,
                until: now + ttl,
            }
        }))
    }

    pub fn new() -> Self {
        Self::default()
    }

    fn with_run<T>(&self, run: &RunId, f: impl FnOnce(&mut Run) -> T) -> T {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        f(runs.entry(run.clone()).or_default())
    }
}

fn name_of(kind: &str) -> &'static str {
    match kind {
        "f" => "in_flight",
        "u" => "unknown",
        "s" => "sent",
        "d" => "delivered",
        "r" => "read",
        "x" => "failed",
        "w" => "retrying",
        "e" => "deferred",
        "i" => "invalid",
        _ => "skipped",
    }
}

fn rank(kind: &str) -> Option<u8> {
    match kind {
        "f" => Some(0),
        "u" => Some(1),
        "s" => Some(2),
        "d" => Some(3),
        "r" => Some(4),
        _ => None,
    }
}

/// Where a move goes: a state, or back to pending (`retry` from failed only; `requeue` from
/// any state but read, skipped and invalid).
enum Target<'a> {
    State(&'a ContactState),
    RetryFailed,
    Requeue,
}

/// Applies one forward move exactly as `progress_update.lua` does.
fn apply_move(run: &mut Run, field: &str, new: Target<'_>) -> bool {
    let Some(old) = run.states.get(field).cloned() else {
        return false;
    };
    let from = old.kind();
    let retry_failed = matches!(new, Target::RetryFailed);
    let new = match new {
        Target::State(s) => Some(s),
        Target::RetryFailed if from != "x" => return false,
        Target::Requeue if matches!(from, "r" | "k" | "i") => return false,
        Target::RetryFailed | Target::Requeue => None,
    };
    let ok = match new {
        None => true,
        Some(n) if matches!(n.kind(), "x" | "w" | "e" | "i") => rank(from).is_some() && from != "r",
        Some(n) => match (rank(n.kind()), rank(from)) {
            (Some(to), Some(fr)) => to > fr,
            _ => false,
        },
    };
    if !ok {
        return false;
    }
    if from == "f" {
        run.inflight.remove(field);
    }
    run.bump(name_of(from), -1);
    if let ContactState::Failed { code, .. } = &old {
        run.bump(&format!("failed:{code}"), -1);
    }
    match new {
        None => {
            run.states.remove(field);
            if retry_failed {
                // `retry --failed`: the contact starts its ladders over.
                run.attempts.remove(field);
            }
        }
        Some(n) => {
            if let ContactState::Retrying { attempt, .. } = n {
                run.attempts.insert(field.to_string(), *attempt);
            }
            run.bump(name_of(n.kind()), 1);
            if let ContactState::Failed { code, .. } = n {
                run.bump(&format!("failed:{code}"), 1);
            }
            run.states.insert(field.to_string(), n.clone());
            if let Some(at) = n.not_before() {
                run.retry_at = Some(run.retry_at.map_or(at, |cur| cur.min(at)));
            }
        }
    }
    true
}

#[async_trait]
impl ProgressStore for MemoryProgress {
    async fn acquire_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError> {
        self.lease(run, owner, now, ttl, false)
    }

    async fn take_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError> {
        self.lease(run, owner, now, ttl, true)
    }

    async fn release_lease(&self, run: &RunId, owner: &str) -> Result<(), ProgressError> {
        self.with_run(run, |r| {
            if r.owner.as_deref() == Some(owner) {
                r.owner = None;
                r.lease_until = None;
            }
        });
        Ok(())
    }

    async fn claim(
        &self,
        run: &RunId,
        fence: u64,
        writes: &[Write],
    ) -> Result<Vec<Option<ContactState>>, ProgressError> {
        self.with_run(run, |r| {
            if r.fence != fence {
                return Err(ProgressError::Fenced(run.0.clone()));
            }
            Ok(writes
                .iter()
                .map(|w| {
                    if let Some(existing) = r.states.get(&w.field) {
                        return Some(existing.clone());
                    }
                    r.states.insert(w.field.clone(), w.state.clone());
                    match &w.state {
                        ContactState::InFlight { .. } => {
                            r.inflight.insert(w.field.clone());
                            r.bump("in_flight", 1);
                        }
                        ContactState::Skipped { reason, .. } => {
                            r.bump(&format!("skipped:{reason}"), 1)
                        }
                        other => r.bump(name_of(other.kind()), 1),
                    }
                    None
                })
                .collect())
        })
    }

    async fn states(
        &self,
        run: &RunId,
        fields: &[String],
    ) -> Result<Vec<Option<ContactState>>, ProgressError> {
        Ok(self.with_run(run, |r| {
            fields.iter().map(|f| r.states.get(f).cloned()).collect()
        }))
    }

    async fn update(&self, run: &RunId, writes: &[Write]) -> Result<u64, ProgressError> {
        Ok(self.with_run(run, |r| {
            writes
                .iter()
                .filter(|w| apply_move(r, &w.field, Target::State(&w.state)))
                .count() as u64
        }))
    }

    async fn set_cursor(&self, run: &RunId, fence: u64, cursor: &str) -> Result<(), ProgressError> {
        self.with_run(run, |r| {
            if r.fence != fence {
                return Err(ProgressError::Fenced(run.0.clone()));
            }
            r.cursor = Some(cursor.to_string());
            Ok(())
        })
    }

    async fn meta(&self, run: &RunId) -> Result<RunMeta, ProgressError> {
        Ok(self.with_run(run, |r| RunMeta {
            cursor: r.cursor.clone(),
            counters: r.counters.clone(),
            rewind: r.rewind,
            retry_at: r.retry_at,
        }))
    }

    async fn retry_failed(&self, run: &RunId, retryable: &[String]) -> Result<u64, ProgressError> {
        Ok(self.with_run(run, |r| {
            let fields: Vec<String> = r
                .states
                .iter()
                .filter(|(_, s)| matches!(s, ContactState::Failed { code, .. } if retryable.contains(code)))
                .map(|(f, _)| f.clone())
                .collect();
            let n = fields
                .iter()
                .filter(|f| apply_move(r, f, Target::RetryFailed))
                .count() as u64;
            r.rewind = true;
            n
        }))
    }

    async fn clear_rewind(&self, run: &RunId, fence: u64) -> Result<(), ProgressError> {
        self.with_run(run, |r| {
            if r.fence != fence {
                return Err(ProgressError::Fenced(run.0.clone()));
            }
            r.rewind = false;
            r.cursor = None;
            r.retry_at = None;
            Ok(())
        })
    }

    async fn requeue(
        &self,
        run: &RunId,
        fields: &[String],
        rewind: bool,
    ) -> Result<u64, ProgressError> {
        Ok(self.with_run(run, |r| {
            let n = fields
                .iter()
                .filter(|f| apply_move(r, f, Target::Requeue))
                .count() as u64;
            if rewind && n > 0 {
                r.rewind = true;
            }
            n
        }))
    }

    async fn attempts(&self, run: &RunId, field: &str) -> Result<u32, ProgressError> {
        Ok(self.with_run(run, |r| r.attempts.get(field).copied().unwrap_or(0)))
    }

    async fn note_retry(&self, run: &RunId, at: DateTime<Utc>) -> Result<(), ProgressError> {
        self.with_run(run, |r| {
            r.retry_at = Some(r.retry_at.map_or(at, |cur| cur.min(at)));
        });
        Ok(())
    }

    async fn control(&self, campaign: &str) -> Result<Control, ProgressError> {
        Ok(self
            .controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(campaign)
            .cloned()
            .unwrap_or_default())
    }

    async fn set_control(&self, campaign: &str, control: Control) -> Result<(), ProgressError> {
        self.controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(campaign.to_string(), control);
        Ok(())
    }

    async fn index_message(
        &self,
        message_id: &str,
        run: &RunId,
        field: &str,
    ) -> Result<(), ProgressError> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(message_id.to_string(), (run.clone(), field.to_string()));
        Ok(())
    }

    async fn lookup_message(
        &self,
        message_id: &str,
    ) -> Result<Option<(RunId, String)>, ProgressError> {
        Ok(self
            .messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(message_id)
            .cloned())
    }
}
