//! What the pacer and the dispatcher ask a calendar, answered in instants (UTC): is it open,
//! when does it next open or close, how many open seconds lie in a range or are left today.
//! Each answer walks the open stretches day by day ([`OpenIntervals`]) and looks at most
//! [`HORIZON_DAYS`] ahead.
use chrono::{DateTime, Duration, Utc};

use super::hours::Calendar;
use super::open_intervals::OpenIntervals;

/// How far ahead `next_open`, `next_close` and `open_intervals` look: two years.
pub const HORIZON_DAYS: i64 = 731;

impl Calendar {
    /// Whether a send may start at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        if self.always_open {
            return true;
        }
        let date = self.local_date(t);
        let mut open = false;
        let before = date.pred_opt().filter(|d| self.crosses_midnight(*d));
        for day in [before, Some(date)].into_iter().flatten() {
            self.for_each_piece(day, |s, e| open |= s <= t && t < e);
        }
        open
    }

    /// The first instant at or after `t` that is open: `t` itself when open, `None` when the
    /// calendar does not open within [`HORIZON_DAYS`].
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return Some(t);
        }
        let hi = horizon_end(t);
        let mut day = self.first_day_reaching(self.local_date(t))?;
        let mut day_start = self.day_start(day);
        let mut best: Option<DateTime<Utc>> = None;
        // Pieces of later days start no earlier than that day's start, so once the best
        // candidate is at or before it, nothing later can beat it.
        while day_start < hi && best.is_none_or(|b| b > day_start) {
            self.for_each_piece(day, |s, e| {
                if e > t {
                    let candidate = s.max(t);
                    best = Some(best.map_or(candidate, |b| b.min(candidate)));
                }
            });
            day = day.succ_opt()?;
            day_start = self.day_start(day);
        }
        best.filter(|b| *b < hi)
    }

    /// The first instant at or after `t` that is closed: the end of the open stretch containing
    /// `t`, or `t` itself when closed. `None` when the calendar stays open for the whole horizon
    /// (always for `always`).
    pub fn next_close(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return None;
        }
        let hi = horizon_end(t);
        match self.open_intervals_between(t, hi).next() {
            Some((s, _)) if s > t => Some(t),
            Some((_, e)) if e >= hi => None,
            Some((_, e)) => Some(e),
            None => Some(t),
        }
    }

    /// The open stretch in force at `t`, or the next one: what `tierpace check` prints as a
    /// campaign's next send window. `None` when nothing opens within [`HORIZON_DAYS`].
    pub fn next_window(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.open_intervals(t).next()
    }

    /// Open seconds in `[a, b)` (0 when `b <= a`), rounded down to whole seconds.
    pub fn open_seconds(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
        if b <= a {
            return 0;
        }
        if self.always_open {
            return (b - a).num_seconds();
        }
        let total = self
            .open_intervals_between(a, b)
            .fold(Duration::zero(), |acc, (s, e)| acc + (e - s));
        total.num_seconds()
    }

    /// The open stretches from `from` on, merged and in order, for [`HORIZON_DAYS`]. The first
    /// one starts at `from` when `from` is open; one still open at the horizon ends there.
    pub fn open_intervals(&self, from: DateTime<Utc>) -> OpenIntervals<'_> {
        self.open_intervals_between(from, horizon_end(from))
    }

    /// The open stretches inside `[from, until)`, merged, in order, clipped to that range.
    pub fn open_intervals_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> OpenIntervals<'_> {
        OpenIntervals::new(self, from, until)
    }

    /// Open seconds from `t` until the end of `t`'s local calendar day: the pacer spreads what
    /// is left of a day's budget over exactly this.
    pub fn open_seconds_left_today(&self, t: DateTime<Utc>) -> i64 {
        let (_, end) = self.local_day_bounds(t);
        self.open_seconds(t, end)
    }

    /// The instants where `t`'s local day starts and the next one starts (23 or 25 hours apart
    /// across DST changes). A midnight that does not exist moves to the first local time after.
    pub fn local_day_bounds(&self, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let date = self.local_date(t);
        let start = self.day_start(date);
        let end = date
            .succ_opt()
            .map_or(DateTime::<Utc>::MAX_UTC, |d| self.day_start(d));
        (start, end)
    }
}

fn horizon_end(t: DateTime<Utc>) -> DateTime<Utc> {
    t.checked_add_signed(Duration::days(HORIZON_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
