//! One campaign run as its dispatcher holds it: the audience reader, the read window, the lease,
//! and the figures the pacer and `tierpace status` need.
use chrono::{DateTime, Utc};

use super::progress::{ProgressStore, RunId, RunMeta};
use super::schedule::{RunState, RunStatus};
use super::window::Window;
use crate::campaign::audience::{
    AudienceError, AudiencePosition, AudienceReader, AudienceRow, RowSkip,
};
use crate::campaign::audience_stamp::AudienceStamp;
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

/// The audience file changed under a run (issue 16 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceChange {
    /// Names the file and says what changed.
    pub reason: String,
    /// The dispatcher stopped the run for it (paused it, cleared its cursor).
    pub acted_on: bool,
}

/// A row as read from the audience: sendable, or skipped with a reason.
pub type ReadItem = Result<AudienceRow, RowSkip>;

/// Encodes a reader position as the opaque cursor string the progress store keeps:
/// `rows:byte:fingerprint` (the fingerprint of the bytes before `byte`, in hex).
pub fn encode_position(p: &AudiencePosition) -> String {
    match p.fingerprint {
        Some(f) => format!("{}:{}:{f:016x}", p.rows, p.byte),
        None => format!("{}:{}", p.rows, p.byte),
    }
}

/// Reads a cursor back; `rows:byte` (saved before fingerprints) still reads, without one.
pub fn decode_position(s: &str) -> Option<AudiencePosition> {
    let mut parts = s.split(':');
    let rows = parts.next()?.parse().ok()?;
    let byte = parts.next()?.parse().ok()?;
    let fingerprint = match parts.next() {
        Some(f) => Some(u64::from_str_radix(f, 16).ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(AudiencePosition {
        rows,
        byte,
        fingerprint,
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
    /// A reading error that stops this run (the file vanished or cannot be read).
    pub read_error: Option<String>,
    /// The audience file as it was when the reader opened it.
    pub stamp: Option<AudienceStamp>,
    /// The audience file changed under the run: why, naming the file. Set when noticed, acted
    /// on by the dispatcher ([`Runner::take_audience_change`]), shown until the operator resumes.
    pub audience_changed: Option<AudienceChange>,
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
            stamp: None,
            audience_changed: None,
            recent_sends: Default::default(),
        }
    }

    pub fn id(&self) -> &str {
        &self.live.campaign.id
    }

    /// Rows not yet settled, from the scan at load and the run's counters.
    pub fn remaining(&self) -> u64 {
        let settled = self.meta.settled().max(0) as u64;
        let unread = u64::from(self.reader.is_some() && !self.exhausted);
        self.live
            .total_rows
            .saturating_sub(settled)
            // Never report 0 while rows are still waiting in the window, or while the file is
            // not read to its end (counters from before an edit of the audience may say more
            // rows are settled than the file now has).
            .max(self.window.unsettled_count() as u64)
            .max(unread)
    }

    /// Notes that the audience changed under the run: the reader and its unsent read-ahead are
    /// dropped at once (nothing more is read from the edited file).
    fn audience_change(&mut self, reason: String) {
        let file = self.live.campaign.audience.file.display().to_string();
        self.reader = None;
        self.exhausted = false;
        self.window = Window::new(self.saved_cursor.clone());
        self.audience_changed = Some(AudienceChange {
            reason: format!("audience {file} changed while its run was going: {reason}"),
            acted_on: false,
        });
    }

    /// The change noticed since the last call, for the dispatcher to act on once.
    pub fn take_audience_change(&mut self) -> Option<String> {
        let c = self.audience_changed.as_mut()?;
        if c.acted_on {
            return None;
        }
        c.acted_on = true;
        Some(c.reason.clone())
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

/// Why an audience could not be opened at the saved cursor.
enum OpenError {
    /// The rows before the cursor are not the ones read before: the file was edited.
    Changed(String),
    Unreadable(String),
}

/// Opens the audience and seeks to the saved cursor (blocking IO off the runtime).
pub(super) async fn open_reader(r: &mut Runner, hasher: &ContactHasher) {
    let spec = r.live.campaign.audience.clone();
    let params = r.live.campaign.template.params.clone();
    let hasher = hasher.clone();
    let cursor = r.meta.cursor.clone();
    let opened = tokio::task::spawn_blocking(move || {
        // The stamp first: a change after it shows up at the next check.
        let stamp = AudienceStamp::of(&spec.file).map_err(|e| {
            OpenError::Unreadable(format!(
                "{}: cannot open audience: {e}",
                spec.file.display()
            ))
        })?;
        let mut reader = AudienceReader::open(&spec, &params, &hasher)
            .map_err(|e| OpenError::Unreadable(e.to_string()))?;
        if let Some(pos) = cursor.as_deref().and_then(decode_position) {
            reader.seek(&pos).map_err(|e| match e {
                AudienceError::Changed { detail, .. } => OpenError::Changed(detail),
                other => OpenError::Unreadable(other.to_string()),
            })?;
        }
        Ok::<_, OpenError>((reader, stamp))
    })
    .await
    .unwrap_or_else(|e| Err(OpenError::Unreadable(e.to_string())));
    match opened {
        Ok((reader, stamp)) => {
            let start = encode_position(&reader.position());
            r.window = super::window::Window::new(start.clone());
            r.saved_cursor = start;
            r.exhausted = false;
            r.reader = Some(reader);
            r.stamp = Some(stamp);
        }
        Err(OpenError::Changed(detail)) => r.audience_change(detail),
        Err(OpenError::Unreadable(e)) => {
            tracing::error!(campaign = %r.id(), error = %e, "audience cannot be read: run paused");
            r.read_error = Some(e);
        }
    }
}

/// Counts the rows of the audience as it is now (after an edit, before the run reads it again),
/// so progress and completion follow the file the run will read.
pub(super) async fn rescan(r: &mut Runner, hasher: &ContactHasher) {
    let spec = r.live.campaign.audience.clone();
    let params = r.live.campaign.template.params.clone();
    let hasher = hasher.clone();
    let scanned = tokio::task::spawn_blocking(move || {
        crate::campaign::audience::scan_audience(&spec, &params, &hasher)
    })
    .await;
    match scanned {
        Ok(Ok(summary)) => {
            r.live.total_rows = summary.rows;
            r.live.valid_contacts = summary.valid;
        }
        Ok(Err(e)) => {
            tracing::error!(campaign = %r.id(), error = %e, "audience cannot be read: run paused");
            r.read_error = Some(e.to_string());
        }
        Err(e) => r.read_error = Some(e.to_string()),
    }
}

/// Whether the audience file is still the one the reader opened; notes the change when not.
/// Cheap (one `stat`): called every tick while the run has a reader.
pub(super) async fn check_audience(r: &mut Runner) {
    let (Some(before), Some(_)) = (r.stamp, r.reader.as_ref()) else {
        return;
    };
    let change = match tokio::fs::metadata(&r.live.campaign.audience.file).await {
        Ok(meta) => AudienceStamp::from_metadata(&meta).change_since(&before),
        Err(e) => Some(format!("it cannot be read any more ({e})")),
    };
    if let Some(reason) = change {
        r.audience_change(reason);
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
    let file = r.live.campaign.audience.file.clone();
    let (reader, rows, exhausted, stamp) = tokio::task::spawn_blocking(move || {
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
        // After the read: rows read while the file was being edited are not trusted.
        let stamp = AudienceStamp::of(&file);
        (reader, rows, exhausted, stamp)
    })
    .await
    .unwrap_or_else(|_| unreachable_reader());
    let change = match (&stamp, &r.stamp) {
        (Ok(now), Some(before)) => now.change_since(before),
        (Ok(_), None) => None,
        (Err(e), _) => Some(format!("it cannot be read any more ({e})")),
    };
    if let Some(reason) = change {
        r.audience_change(reason);
        return;
    }
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

#[allow(clippy::type_complexity)]
fn unreachable_reader() -> (
    AudienceReader,
    Vec<(String, String, ReadItem)>,
    bool,
    std::io::Result<AudienceStamp>,
) {
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
            fingerprint: Some(0xdead_beef_0000_0001),
        };
        assert_eq!(decode_position(&encode_position(&p)), Some(p));
        assert_eq!(decode_position("garbage"), None);
        assert_eq!(decode_position("1:2:xyz"), None);
        // A cursor saved before fingerprints still resumes.
        assert_eq!(
            decode_position("12:3456"),
            Some(AudiencePosition {
                rows: 12,
                byte: 3456,
                fingerprint: None
            })
        );
    }
}
