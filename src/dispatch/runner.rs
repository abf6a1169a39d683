//! One campaign run as its dispatcher holds it: the audience reader, the read window, the lease,
//! and the figures the pacer and `tierpace status` need.
use chrono::{DateTime, Utc};

use super::progress::{ProgressStore, RunId, RunMeta};
use super::schedule::{RunState, RunStatus};
use super::window::Window;
use crate::campaign::audience::{AudiencePosition, AudienceReader, AudienceRow, RowSkip};
use crate::campaign::file::Campaign;
use crate::contact::ContactHasher;
use crate::policy::calendar::Calendar;

/// A campaign as the scheduler hands it to its sender's dispatcher.
#[derive(Debug, Clone)]
pub struct LiveCampaign {
    pub campaign: Campaign,
    pub calendar_name: String,
    pub calendar: Calendar,
    pub run: RunId,
    /// Valid contacts found when the audience was scanned at load (for progress totals).
    pub valid_contacts: u64,
    /// Data rows of the audience: each ends with exactly one state (sent, failed, skipped...),
    /// so the run is complete when that many are settled.
    pub total_rows: u64,
    /// Order of arrival, for "then age" in sharing.
    pub age_rank: u64,
}

/// A row as read from the audience: sendable, or skipped with a reason.
pub type ReadItem = Result<AudienceRow, RowSkip>;

/// Encodes a reader position as the opaque cursor string the progress store keeps.
pub fn encode_position(p: &AudiencePosition) -> String {
    format!("{}:{}", p.rows, p.byte)
}

pub fn decode_position(s: &str) -> Option<AudiencePosition> {
    let (rows, byte) = s.split_once(':')?;
    Some(AudiencePosition {
        rows: rows.parse().ok()?,
        byte: byte.parse().ok()?,
    })
}

/// The dispatcher's working state for one run.
pub struct Runner {
    pub live: LiveCampaign,
    /// Opened when the lease is first held; `None` while another instance works on the run.
    pub reader: Option<AudienceReader>,
    pub window: Window<ReadItem>,
    pub exhausted: bool,
    pub fence: Option<u64>,
    pub lease_until: Option<DateTime<Utc>>,
    pub held_by: Option<String>,
    pub limit_until: Option<DateTime<Utc>>,
    /// Why the pacer held this campaign back on the last tick.
    pub hold: Option<crate::policy::pacer::IdleReason>,
    pub saved_cursor: String,
    pub status: RunStatus,
    pub meta: RunMeta,
    /// When `meta` was last read from the store.
    pub meta_at: Option<DateTime<Utc>>,
    pub paused: bool,
    /// Why the provider paused the campaign (`None`: an operator did, or not paused).
    pub pause_reason: Option<String>,
    pub cancelled: bool,
    /// Sends started today (local day of the campaign's calendar) and that day's start.
    pub sent_today: u64,
    pub day_start: Option<DateTime<Utc>>,
    /// Sends of this campaign's template so far in this process (warm-up).
    pub template_sends: u64,
    /// A reading error that stops this run (the file vanished or changed under us).
    pub read_error: Option<String>,
    /// Sends started in the last minute, for the rate shown in status.
    pub recent_sends: std::collections::VecDeque<DateTime<Utc>>,
}

impl Runner {
    pub fn new(live: LiveCampaign) -> Self {
        Self {
            live,
            reader: None,
            window: Window::new(encode_position(&AudiencePosition::default())),
            exhausted: false,
            fence: None,
            lease_until: None,
            held_by: None,
            limit_until: None,
            hold: None,
            saved_cursor: String::new(),
            status: RunStatus {
                state: RunState::Scheduled,
                why: "loaded".into(),
                until: None,
            },
            meta: RunMeta::default(),
            meta_at: None,
            paused: false,
            pause_reason: None,
            cancelled: false,
            sent_today: 0,
            day_start: None,
            template_sends: 0,
            read_error: None,
            recent_sends: Default::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.live.campaign.id
    }

    /// Rows not yet settled, from the scan at load and the run's counters.
    pub fn remaining(&self) -> u64 {
        let settled = self.meta.settled().max(0) as u64;
        self.live.total_rows.saturating_sub(settled).max(
            // Never report 0 while rows are still waiting in the window.
            self.window.unsettled_count() as u64,
        )
    }

    /// Sends per second over the last minute.
    pub fn rate(&mut self, now: DateTime<Utc>) -> f64 {
        let cutoff = now - chrono::Duration::seconds(60);
        while self.recent_sends.front().is_some_and(|t| *t < cutoff) {
            self.recent_sends.pop_front();
        }
        self.recent_sends.len() as f64 / 60.0
    }
}

/// Opens the audience and seeks to the saved cursor (blocking IO off the runtime).
pub(super) async fn open_reader(r: &mut Runner, hasher: &ContactHasher) {
    let spec = r.live.campaign.audience.clone();
    let params = r.live.campaign.template.params.clone();
    let hasher = hasher.clone();
    let cursor = r.meta.cursor.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let mut reader =
            AudienceReader::open(&spec, &params, &hasher).map_err(|e| e.to_string())?;
        if let Some(pos) = cursor.as_deref().and_then(decode_position) {
            reader.seek(&pos).map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(reader)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    match opened {
        Ok(reader) => {
            let start = encode_position(&reader.position());
            r.window = super::window::Window::new(start.clone());
            r.saved_cursor = start;
            r.exhausted = false;
            r.reader = Some(reader);
        }
        Err(e) => {
            tracing::error!(campaign = %r.id(), error = %e, "audience cannot be read: run paused");
            r.read_error = Some(e);
        }
    }
}

/// Tops the window up to `n` unsettled rows.
pub(super) async fn fill_window(r: &mut Runner, n: usize) {
    let need = n.saturating_sub(r.window.unsettled_count());
    if need == 0 || r.exhausted {
        return;
    }
    let Some(mut reader) = r.reader.take() else {
        return;
    };
    let (reader, rows, exhausted) = tokio::task::spawn_blocking(move || {
        let mut rows: Vec<(String, String, ReadItem)> = Vec::with_capacity(need);
        let mut exhausted = false;
        while rows.len() < need {
            let before = encode_position(&reader.position());
            match reader.next() {
                Some(item) => rows.push((before, encode_position(&reader.position()), item)),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        (reader, rows, exhausted)
    })
    .await
    .unwrap_or_else(|_| unreachable_reader());
    let mut reader = reader;
    if let Some(err) = reader.take_error() {
        r.read_error = Some(err.to_string());
    }
    for (before, after, item) in rows {
        r.window.push(before, after, item);
    }
    r.exhausted = exhausted;
    r.reader = Some(reader);
}

fn unreachable_reader() -> (AudienceReader, Vec<(String, String, ReadItem)>, bool) {
    // spawn_blocking only fails if the closure panicked; the reader never panics on input
    // (fuzzed), so this is a bug worth stopping for.
    panic!("audience reader task panicked")
}

pub(super) async fn save_cursor(r: &mut Runner, progress: &dyn ProgressStore, fence: u64) {
    let cursor = r.window.compact().to_string();
    if cursor != r.saved_cursor {
        match progress.set_cursor(&r.live.run, fence, &cursor).await {
            Ok(()) => r.saved_cursor = cursor,
            Err(e) => {
                tracing::warn!(campaign = %r.id(), error = %e, "cursor not saved; will retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_as_cursors() {
        let p = AudiencePosition {
            rows: 12,
            byte: 3456,
        };
        assert_eq!(decode_position(&encode_position(&p)), Some(p));
        assert_eq!(decode_position("garbage"), None);
    }
}
