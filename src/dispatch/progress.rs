//! Per-contact progress of each campaign run, and the lease that gives one daemon instance the
//! right to work on a run.
//!
//! Progress comes from per-contact state, never from a campaign flag (DESIGN.md §7: listmonk
//! marked campaigns finished early). Each contact of a run moves through
//! `in_flight -> sent -> delivered -> read`, or ends `failed:<code>`, `skipped:<reason>`,
//! `invalid` (undeliverable: never retried) or `unknown` (in flight when its daemon died: it may
//! have gone out, so it is never resent). A failure the provider says is temporary leaves the
//! contact `retrying` (pair rate, maintenance, throughput) or `deferred` (marketing cap) with a
//! not-before time; the run's `retry_at` is the earliest of them, and when it comes the holder
//! re-reads the audience and sends those that are due (see `dispatch/react/failure.rs`).
//! Claims are fenced by the lease: when a lease moves to another instance the fence goes up and
//! the old holder's claims are refused, so two replicas never send the same contact.
//!
//! Two backends with one contract: [`super::progress_redis::RedisProgress`] (one Lua script per
//! batch, keys hash-tagged per run) and [`super::progress_memory::MemoryProgress`].
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::policy::retry_policy::Ladder;

/// One run of one campaign: a new template or audience file, or a new cron firing, is a new run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub String);

impl RunId {
    pub fn new(campaign: &str, run_key: &str) -> Self {
        Self(format!("{campaign}:{run_key}"))
    }

    pub fn campaign(&self) -> &str {
        self.0.split(':').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What happened to one contact of a run. `line` is the audience row it came from, so that a
/// second row with the same number is told apart from the same row read again after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactState {
    InFlight {
        line: u64,
    },
    Unknown {
        line: u64,
    },
    Sent {
        line: u64,
        message_id: String,
    },
    Delivered {
        line: u64,
        message_id: String,
    },
    Read {
        line: u64,
        message_id: String,
    },
    Failed {
        line: u64,
        code: String,
    },
    Skipped {
        line: u64,
        reason: String,
    },
    /// A temporary failure: sent again by itself from `not_before`; `attempt` retries so far.
    Retrying {
        line: u64,
        code: String,
        not_before: DateTime<Utc>,
        attempt: u32,
    },
    /// The customer's marketing cap (131049): sent again by itself from `not_before`.
    Deferred {
        line: u64,
        code: String,
        not_before: DateTime<Utc>,
    },
    /// Not a WhatsApp user or not a valid destination: never retried.
    Invalid {
        line: u64,
        code: String,
    },
}

impl ContactState {
    pub fn line(&self) -> u64 {
        match self {
            Self::InFlight { line }
            | Self::Unknown { line }
            | Self::Sent { line, .. }
            | Self::Delivered { line, .. }
            | Self::Read { line, .. }
            | Self::Failed { line, .. }
            | Self::Skipped { line, .. }
            | Self::Retrying { line, .. }
            | Self::Deferred { line, .. }
            | Self::Invalid { line, .. } => *line,
        }
    }

    /// The one-letter kind the Lua scripts order states by.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InFlight { .. } => "f",
            Self::Unknown { .. } => "u",
            Self::Sent { .. } => "s",
            Self::Delivered { .. } => "d",
            Self::Read { .. } => "r",
            Self::Failed { .. } => "x",
            Self::Skipped { .. } => "k",
            Self::Retrying { .. } => "w",
            Self::Deferred { .. } => "e",
            Self::Invalid { .. } => "i",
        }
    }

    /// When a retrying or deferred contact may be sent again.
    pub fn not_before(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Retrying { not_before, .. } | Self::Deferred { not_before, .. } => {
                Some(*not_before)
            }
            _ => None,
        }
    }

    /// Wire form: `KIND|LINE[|EXTRA]`; `|` never appears in message ids, codes or reasons we
    /// write (they are sanitised in [`clean`]).
    pub fn encode(&self) -> String {
        let k = self.kind();
        match self {
            Self::InFlight { line } | Self::Unknown { line } => format!("{k}|{line}"),
            Self::Sent { line, message_id }
            | Self::Delivered { line, message_id }
            | Self::Read { line, message_id } => format!("{k}|{line}|{}", clean(message_id)),
            Self::Failed { line, code } => format!("{k}|{line}|{}", clean(code)),
            Self::Skipped { line, reason } => format!("{k}|{line}|{}", clean(reason)),
            Self::Invalid { line, code } => format!("{k}|{line}|{}", clean(code)),
            Self::Retrying {
                line,
                code,
                not_before,
                attempt,
            } => format!(
                "{k}|{line}|{}|{}|{attempt}",
                clean(code),
                not_before.timestamp_millis()
            ),
            Self::Deferred {
                line,
                code,
                not_before,
            } => format!(
                "{k}|{line}|{}|{}",
                clean(code),
                not_before.timestamp_millis()
            ),
        }
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.splitn(3, '|');
        let kind = parts.next()?;
        let line: u64 = parts.next()?.parse().ok()?;
        let extra = parts.next().unwrap_or("").to_string();
        Some(match kind {
            "f" => Self::InFlight { line },
            "u" => Self::Unknown { line },
            "s" => Self::Sent {
                line,
                message_id: extra,
            },
            "d" => Self::Delivered {
                line,
                message_id: extra,
            },
            "r" => Self::Read {
                line,
                message_id: extra,
            },
            "x" => Self::Failed { line, code: extra },
            "k" => Self::Skipped {
                line,
                reason: extra,
            },
            "i" => Self::Invalid { line, code: extra },
            "w" | "e" => {
                let mut p = extra.split('|');
                let code = p.next()?.to_string();
                let ms: i64 = p.next()?.parse().ok()?;
                let not_before = DateTime::<Utc>::from_timestamp_millis(ms)?;
                if kind == "w" {
                    Self::Retrying {
                        line,
                        code,
                        not_before,
                        attempt: p.next()?.parse().ok()?,
                    }
                } else {
                    Self::Deferred {
                        line,
                        code,
                        not_before,
                    }
                }
            }
            _ => return None,
        })
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c == '|' || c.is_control() { '_' } else { c })
        .take(128)
        .collect()
}

/// The progress store's field for a contact: its key in hex. [`skipped_row_field`] names rows
/// without a valid number; [`field_contact`] reads a field back. The one place that spells them.
pub fn contact_field(key: crate::contact::ContactKey) -> String {
    key.to_hex()
}

/// The progress store's field for an audience row skipped before it had a contact key
/// (`L<line>`: no valid number, a missing parameter, ...).
pub fn skipped_row_field(line: u64) -> String {
    format!("L{line}")
}

/// The contact a field names, or `None` for a skipped row's field.
pub fn field_contact(field: &str) -> Option<crate::contact::ContactKey> {
    crate::contact::ContactKey::from_hex(field)
}

/// A new state to write for one contact field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// [`contact_field`] or [`skipped_row_field`].
    pub field: String,
    pub state: ContactState,
}

/// The lease on a run, as the caller sees it after asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStatus {
    Held { fence: u64, until: DateTime<Utc> },
    HeldByOther { owner: String, until: DateTime<Utc> },
}

/// Operator controls on a campaign (all its runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    pub paused: bool,
    pub cancelled: bool,
    /// Paused because its audience file was edited under the run (issue 16 §3): kept so status
    /// says so after a restart and on every replica; `resume` clears it.
    pub audience_changed: bool,
    /// Why the provider paused it (a template error, with the provider's message); `None`
    /// when an operator paused it.
    pub pause_reason: Option<String>,
    /// When an operator last paused, resumed or cancelled it: a provider event dated before
    /// this (a replayed template pause) changes nothing (issue #22).
    pub operator_at: Option<DateTime<Utc>>,
}

/// The run's progress summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunMeta {
    pub cursor: Option<String>,
    /// `in_flight`, `sent`, `delivered`, `read`, `failed`, `failed:<code>`, `unknown`,
    /// `skipped:<reason>`; contacts counted once, in their latest state.
    pub counters: BTreeMap<String, i64>,
    /// Set by `retry --failed` and by contacts sent back to pending: the holder restarts its
    /// audience reader from the top.
    pub rewind: bool,
    /// The earliest not-before time of the run's retrying and deferred contacts: from then the
    /// holder re-reads the audience to send those that are due.
    pub retry_at: Option<DateTime<Utc>>,
}

impl RunMeta {
    pub fn count(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Contacts whose fate is settled or in progress (everything but pending).
    pub fn settled(&self) -> i64 {
        [
            "in_flight",
            "sent",
            "delivered",
            "read",
            "failed",
            "unknown",
            "invalid",
        ]
        .iter()
        .map(|k| self.count(k))
        .sum::<i64>()
            + self.skipped()
    }

    /// Contacts waiting for their retry or deferral time (not settled, not pending).
    pub fn waiting(&self) -> i64 {
        self.count("retrying") + self.count("deferred")
    }

    pub fn skipped(&self) -> i64 {
        self.counters
            .iter()
            .filter(|(k, _)| k.starts_with("skipped:"))
            .map(|(_, v)| *v)
            .sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// The caller's lease was taken over: stop working on this run.
    #[error("lease on run {0} lost (fenced)")]
    Fenced(String),
    #[error("progress store unreachable: {0}")]
    Unavailable(String),
    #[error("progress store error: {0}")]
    Backend(String),
}

/// The store of runs' per-contact states, leases, cursors and controls.
/// How an outcome write is retried while the store blips: 200 ms, 400 ms, 800 ms, 1.6 s (five
/// tries in about 3 s). A write that never lands leaves the contact in flight, which the next
/// lease holder turns into `unknown`: safe (never resent), only less exact.
pub const OUTCOME_WRITE_RETRY: Ladder = Ladder {
    first: Duration::from_millis(200),
    factor: 2,
    attempts: 4,
    cap: Duration::from_secs(2),
};

/// Writes one contact's outcome, retried on [`OUTCOME_WRITE_RETRY`]; the last error when every
/// try failed.
pub async fn record_outcome(
    store: &dyn ProgressStore,
    run: &RunId,
    write: &Write,
) -> Result<(), ProgressError> {
    record_outcomes(store, run, std::slice::from_ref(write)).await
}

/// Writes several contacts' outcomes in one run as one update, retried as
/// [`record_outcome`] is.
pub async fn record_outcomes(
    store: &dyn ProgressStore,
    run: &RunId,
    writes: &[Write],
) -> Result<(), ProgressError> {
    let mut attempt = 0;
    loop {
        match store.update(run, writes).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let Some(wait) = OUTCOME_WRITE_RETRY.delay(attempt) else {
                    return Err(e);
                };
                tracing::warn!(campaign = run.campaign(), error = %e, attempt, "outcome not recorded yet");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[async_trait]
pub trait ProgressStore: Send + Sync + 'static {
    /// Acquires or renews the lease; a new holder turns the old holder's in-flight into unknown.
    async fn acquire_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError>;
    /// Takes the lease even from another owner whose lease has not run out, as a new holder
    /// would (fence bumped, the old owner's in-flight contacts become unknown). Only for the
    /// replica that holds the run's sender lease (`sender_lease`): it took the sender from a
    /// silent replica, whose run leases would otherwise keep the campaign idle until they end.
    async fn take_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError>;
    async fn release_lease(&self, run: &RunId, owner: &str) -> Result<(), ProgressError>;
    /// Writes each state only where the contact has none yet (claims and skips). Returns, per
    /// write, `None` when written or the state already there.
    async fn claim(
        &self,
        run: &RunId,
        fence: u64,
        writes: &[Write],
    ) -> Result<Vec<Option<ContactState>>, ProgressError>;
    /// The current states of some contacts (read only).
    async fn states(
        &self,
        run: &RunId,
        fields: &[String],
    ) -> Result<Vec<Option<ContactState>>, ProgressError>;
    /// Moves contacts forward (sent, delivered, read, failed, unknown); returns moves applied.
    async fn update(&self, run: &RunId, writes: &[Write]) -> Result<u64, ProgressError>;
    async fn set_cursor(&self, run: &RunId, fence: u64, cursor: &str) -> Result<(), ProgressError>;
    async fn meta(&self, run: &RunId) -> Result<RunMeta, ProgressError>;
    /// Clears failures with the given codes (and their retry counts) and asks the holder to
    /// re-read the audience.
    async fn retry_failed(&self, run: &RunId, retryable: &[String]) -> Result<u64, ProgressError>;
    /// Sends contacts back to pending (no state) from any state but read, skipped and invalid:
    /// a try that did not reach them (the sender's account failed) or a retry that is due. With
    /// `rewind` the holder re-reads the audience (in the same write). Returns moves applied.
    async fn requeue(
        &self,
        run: &RunId,
        fields: &[String],
        rewind: bool,
    ) -> Result<u64, ProgressError>;
    /// Retries of one contact so far in this run: written with each `retrying` state and kept
    /// when the contact goes back to pending and is sent again, so a retry reported later by a
    /// callback climbs the same ladder (4 s, 16 s, 64 s ...) instead of starting over. Cleared
    /// by `retry --failed`. 0 for a contact never retried.
    async fn attempts(&self, run: &RunId, field: &str) -> Result<u32, ProgressError>;
    /// Lowers the run's `retry_at` to `at` (a not-due waiting contact seen on a re-read).
    async fn note_retry(&self, run: &RunId, at: DateTime<Utc>) -> Result<(), ProgressError>;
    /// The holder saw the rewind request (or its `retry_at` came) and restarted its reader:
    /// clears the flag, the cursor and `retry_at`.
    async fn clear_rewind(&self, run: &RunId, fence: u64) -> Result<(), ProgressError>;
    async fn control(&self, campaign: &str) -> Result<Control, ProgressError>;
    async fn set_control(&self, campaign: &str, control: Control) -> Result<(), ProgressError>;
    /// Remembers which run and contact a provider message id belongs to (for webhooks).
    async fn index_message(
        &self,
        message_id: &str,
        run: &RunId,
        field: &str,
    ) -> Result<(), ProgressError>;
    async fn lookup_message(
        &self,
        message_id: &str,
    ) -> Result<Option<(RunId, String)>, ProgressError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_wire_form() {
        let states = [
            ContactState::InFlight { line: 7 },
            ContactState::Unknown { line: 8 },
            ContactState::Sent {
                line: 9,
                message_id: "ab-cd".into(),
            },
            ContactState::Delivered {
                line: 9,
                message_id: "ab".into(),
            },
            ContactState::Read {
                line: 9,
                message_id: "ab".into(),
            },
            ContactState::Failed {
                line: 10,
                code: "131026".into(),
            },
            ContactState::Skipped {
                line: 11,
                reason: "no_opt_in".into(),
            },
            ContactState::Invalid {
                line: 12,
                code: "131026".into(),
            },
            ContactState::Retrying {
                line: 13,
                code: "131056".into(),
                not_before: DateTime::<Utc>::from_timestamp_millis(1_796_000_000_123).unwrap(),
                attempt: 2,
            },
            ContactState::Deferred {
                line: 14,
                code: "131049".into(),
                not_before: DateTime::<Utc>::from_timestamp_millis(1_796_000_000_000).unwrap(),
            },
        ];
        for s in states {
            assert_eq!(ContactState::decode(&s.encode()), Some(s));
        }
    }

    #[test]
    fn separators_in_provider_text_cannot_corrupt_a_state() {
        let s = ContactState::Failed {
            line: 1,
            code: "a|b".into(),
        };
        assert_eq!(
            ContactState::decode(&s.encode()),
            Some(ContactState::Failed {
                line: 1,
                code: "a_b".into()
            })
        );
    }
}
