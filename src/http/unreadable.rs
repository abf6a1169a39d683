//! Callbacks tierpace could not read, kept where operators look (issue 11 §2).
//!
//! A provider callback the parsers cannot turn into events is answered 200 (a retry would fail
//! the same way), so the provider forgets it. If it carried an opt-out, that opt-out is lost: a
//! consent failure. So an unreadable body is never just a log line: it is counted by source and
//! reason in `tierpace_webhook_unreadable_total`, and this log keeps the counts since start and
//! in the last hour for `tierpace status` and `GET /api/v1/webhooks`.
//!
//! Pure: the time of each drop and of each summary is an argument.
use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Why a callback body was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreadableReason {
    /// Not JSON, or a known shape without the fields it needs.
    Malformed,
    /// Well-formed, but of a type or field tierpace does not read.
    Unsupported,
}

impl UnreadableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unsupported => "unsupported",
        }
    }
}

/// Drops of one source and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableCount {
    /// `gupshup` or `meta`: the route the callback came in on.
    pub source: String,
    pub reason: UnreadableReason,
    pub last_hour: u64,
    pub since_start: u64,
}

/// What `GET /api/v1/webhooks` answers and `tierpace status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookHealth {
    /// Callbacks dropped as unreadable in the last hour, every source and reason.
    pub unreadable_last_hour: u64,
    /// Callbacks dropped as unreadable since the daemon started.
    pub unreadable_since_start: u64,
    pub last_unreadable_at: Option<DateTime<Utc>>,
    pub by_reason: Vec<UnreadableCount>,
    /// Trust warnings, e.g. `http.insecure_open_webhooks` is on (issue #22).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// At most this many drops are remembered with their time (a flood is still counted in full
/// since start; the last-hour figure then saturates at this).
const MAX_RECENT: usize = 10_000;

/// The log of dropped callbacks of this process.
#[derive(Debug, Default)]
pub struct UnreadableLog {
    since_start: BTreeMap<(String, UnreadableReason), u64>,
    recent: VecDeque<(DateTime<Utc>, String, UnreadableReason)>,
    last_at: Option<DateTime<Utc>>,
}

impl UnreadableLog {
    pub fn record(&mut self, source: &str, reason: UnreadableReason, at: DateTime<Utc>) {
        *self
            .since_start
            .entry((source.to_string(), reason))
            .or_default() += 1;
        if self.recent.len() == MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((at, source.to_string(), reason));
        self.last_at = Some(self.last_at.map_or(at, |t| t.max(at)));
    }

    /// The counts at `now`; forgets drops older than an hour.
    pub fn summary(&mut self, now: DateTime<Utc>) -> WebhookHealth {
        let cutoff = now - Duration::hours(1);
        while self.recent.front().is_some_and(|(t, ..)| *t <= cutoff) {
            self.recent.pop_front();
        }
        let by_reason: Vec<UnreadableCount> = self
            .since_start
            .iter()
            .map(|((source, reason), n)| UnreadableCount {
                source: source.clone(),
                reason: *reason,
                last_hour: self
                    .recent
                    .iter()
                    .filter(|(_, s, r)| s == source && r == reason)
                    .count() as u64,
                since_start: *n,
            })
            .collect();
        WebhookHealth {
            unreadable_last_hour: self.recent.len() as u64,
            unreadable_since_start: self.since_start.values().sum(),
            last_unreadable_at: self.last_at,
            by_reason,
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
            .single()
            .expect("valid")
            + Duration::minutes(minute)
    }

    #[test]
    fn drops_are_counted_by_source_and_reason_since_start_and_in_the_last_hour() {
        let mut log = UnreadableLog::default();
        log.record("gupshup", UnreadableReason::Malformed, at(0));
        log.record("gupshup", UnreadableReason::Malformed, at(50));
        log.record("meta", UnreadableReason::Unsupported, at(55));
        let h = log.summary(at(70));
        assert_eq!((h.unreadable_last_hour, h.unreadable_since_start), (2, 3));
        assert_eq!(h.last_unreadable_at, Some(at(55)));
        let gupshup = &h.by_reason[0];
        assert_eq!(
            (
                gupshup.source.as_str(),
                gupshup.reason,
                gupshup.last_hour,
                gupshup.since_start
            ),
            ("gupshup", UnreadableReason::Malformed, 1, 2)
        );
        let later = log.summary(at(200));
        assert_eq!(
            (later.unreadable_last_hour, later.unreadable_since_start),
            (0, 3)
        );
    }

    #[test]
    fn a_quiet_daemon_reports_nothing_dropped() {
        assert_eq!(
            UnreadableLog::default().summary(at(0)),
            WebhookHealth::default()
        );
    }
}
