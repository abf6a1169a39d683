//! Business hours: a named calendar of open intervals in a time zone (the operator's "horário
//! padrão", DOMAIN.md §6), answering in instants (UTC) for the pacer and the dispatcher.
//!
//! Guarantee 2 of DESIGN.md (never outside business hours) rests on this file, so its semantics
//! are spelled out here and checked by `tests/calendar_props.rs` against a minute-walking model:
//!
//! * Each local date has a list of open [`Span`]s, in minutes from that date's local midnight. An
//!   interval that crosses midnight (`22:00-02:00`) belongs to the day it starts: its span runs
//!   past 1440. The spans of a date come from, in order of precedence: an exception for that date
//!   (taken literally), a holiday (closed), the weekday's hours minus the breaks.
//! * A local time that does not exist (spring forward) is skipped: a span boundary inside the gap
//!   moves to the first local time after it. A local time that happens twice (fall back) is open
//!   once, during its first occurrence: the repeated stretch is closed on its second pass. So the
//!   real length of an interval is always its wall-clock length minus any skipped time.
//!
//! Everything is computed per local day from the spans, with a handful of time-zone look-ups per
//! interval: no minute scanning, so `open_seconds` over a month costs microseconds. Queries look
//! at most [`HORIZON_DAYS`] ahead; a calendar that stays closed (or open) beyond that is reported
//! as never opening (or never closing).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;

use super::holidays::HolidaySet;

/// How far ahead `next_open`, `next_close` and `open_intervals` look: two years.
pub const HORIZON_DAYS: i64 = 731;

/// Minutes in a wall-clock day.
pub const MINUTES_PER_DAY: u16 = 1440;

/// The name of the built-in 24/7 calendar.
pub const ALWAYS: &str = "always";

/// An open stretch of one local day, in minutes since that day's local midnight.
///
/// `start < end`, `start < 1440` and `end <= 2880`: an end past 1440 is the part of an interval
/// that crosses midnight, which still belongs to the day it started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: u16,
    pub end: u16,
}

/// A business-hours calendar. Cheap to clone; pure (every answer depends only on its arguments).
#[derive(Debug, Clone)]
pub struct Calendar {
    name: String,
    tz: Tz,
    /// Open spans per weekday, breaks already cut out; index 0 is Monday.
    weekly: [Vec<Span>; 7],
    holidays: BTreeSet<NaiveDate>,
    holiday_sets: Vec<HolidaySet>,
    /// One-off days; they override holidays and weekdays.
    exceptions: BTreeMap<NaiveDate, Vec<Span>>,
    /// The built-in `always` calendar: skips all arithmetic.
    always_open: bool,
}

impl Calendar {
    /// Builds a calendar from already validated parts (see `CalendarConfig::build`). Each span
    /// list must be sorted, non-overlapping and made of non-empty spans; the constructor merges
    /// touching spans so the rest of the code can rely on that.
    pub fn from_parts(
        name: impl Into<String>,
        tz: Tz,
        weekly: [Vec<Span>; 7],
        holidays: BTreeSet<NaiveDate>,
        holiday_sets: Vec<HolidaySet>,
        exceptions: BTreeMap<NaiveDate, Vec<Span>>,
    ) -> Calendar {
        Calendar {
            name: name.into(),
            tz,
            weekly: weekly.map(normalize),
            holidays,
            holiday_sets,
            exceptions: exceptions
                .into_iter()
                .map(|(d, s)| (d, normalize(s)))
                .collect(),
            always_open: false,
        }
    }

    /// The built-in calendar `always`: open 24/7, in UTC.
    pub fn always() -> Calendar {
        let full = || {
            vec![Span {
                start: 0,
                end: MINUTES_PER_DAY,
            }]
        };
        Calendar {
            name: ALWAYS.to_string(),
            tz: Tz::UTC,
            weekly: [full(), full(), full(), full(), full(), full(), full()],
            holidays: BTreeSet::new(),
            holiday_sets: Vec::new(),
            exceptions: BTreeMap::new(),
            always_open: true,
        }
    }

    /// The calendar's name (the key under `[calendars.NAME]`, or `always`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The time zone the calendar's hours are written in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether `date` (local) is a holiday, from the list or a holiday set. An exception on that
    /// date still wins over it (see [`Calendar::hours_on`]).
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains(&date) || self.holiday_sets.iter().any(|s| s.contains(date))
    }

    /// The open spans of a local date: its exception, else nothing on a holiday, else its
    /// weekday's hours with the breaks cut out.
    pub fn hours_on(&self, date: NaiveDate) -> &[Span] {
        if let Some(spans) = self.exceptions.get(&date) {
            return spans;
        }
        let weekly = &self.weekly[date.weekday().num_days_from_monday() as usize];
        if weekly.is_empty() || self.is_holiday(date) {
            return &[];
        }
        weekly
    }

    /// Whether a send may start at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        if self.always_open {
            return true;
        }
        let date = self.local_date(t);
        let mut pieces = Vec::new();
        for day in [date.pred_opt(), Some(date)].into_iter().flatten() {
            pieces.clear();
            self.day_pieces(day, &mut pieces);
            if pieces.iter().any(|&(s, e)| s <= t && t < e) {
                return true;
            }
        }
        false
    }

    /// The first instant at or after `t` that is open: `t` itself when open, `None` when the
    /// calendar does not open within [`HORIZON_DAYS`].
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open {
            return Some(t);
        }
        let hi = horizon_end(t);
        let mut day = self.local_date(t).pred_opt()?;
        let mut day_start = self.day_start(day);
        let mut best: Option<DateTime<Utc>> = None;
        let mut pieces = Vec::new();
        // Pieces of later days start no earlier than that day's start, so once the best
        // candidate is at or before it, nothing later can beat it.
        while day_start < hi && best.map_or(true, |b| b > day_start) {
            pieces.clear();
            self.day_pieces(day, &mut pieces);
            for &(s, e) in &pieces {
                if e > t {
                    let candidate = s.max(t);
                    best = Some(best.map_or(candidate, |b| b.min(candidate)));
                }
            }
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

    /// The local date at instant `t`.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The instant at which local `date` starts.
    fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        first_instant_at_or_after(self.tz, date.and_time(NaiveTime::MIN))
    }

    /// Appends the open pieces (UTC, sorted, disjoint) of the spans of local `date`.
    fn day_pieces(&self, date: NaiveDate, out: &mut Vec<(DateTime<Utc>, DateTime<Utc>)>) {
        let midnight = date.and_time(NaiveTime::MIN);
        for span in self.hours_on(date) {
            let start = midnight.checked_add_signed(Duration::minutes(i64::from(span.start)));
            let end = midnight.checked_add_signed(Duration::minutes(i64::from(span.end)));
            if let (Some(start), Some(end)) = (start, end) {
                local_range_to_utc(self.tz, start, end, out);
            }
        }
    }
}

/// Sorts spans and merges touching or overlapping ones; drops empty ones.
fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| s.start < s.end);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

fn horizon_end(t: DateTime<Utc>) -> DateTime<Utc> {
    t.checked_add_signed(Duration::days(HORIZON_DAYS))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// UTC offset in seconds at instant `u`.
fn offset_at(tz: Tz, u: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&u.naive_utc())
        .fix()
        .local_minus_utc()
}

/// UTC offset in seconds at the instant `secs` seconds after the epoch.
fn offset_at_secs(tz: Tz, secs: i64) -> i32 {
    offset_at(tz, from_secs(secs))
}

fn from_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first instant whose local time is `x` or later, counting each local time once: the
/// instant itself, the first of two (fall back), or the end of the gap when `x` does not exist
/// (spring forward).
fn first_instant_at_or_after(tz: Tz, x: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&x) {
        LocalResult::Single(d) => d.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // `x` lies in a gap, so the answer is the transition instant: the first instant
            // whose local time is past `x`. No offset exceeds 15 h, so it lies within x ± 15 h.
            let x_secs = x.and_utc().timestamp();
            let local_at = |u: i64| u + i64::from(offset_at_secs(tz, u));
            let (mut lo, mut hi) = (x_secs - 15 * 3600, x_secs + 15 * 3600);
            // Transitions fall on whole seconds, so bisecting seconds finds them exactly.
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if local_at(mid) >= x_secs {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            from_secs(hi)
        }
    }
}

/// Maps the local range `[start, end)` to UTC pieces, appended to `out` in order: from the
/// first instant at `start` to the first instant at `end`, minus the second pass of any
/// fall-back inside it (a repeated local time is open once).
fn local_range_to_utc(
    tz: Tz,
    start: NaiveDateTime,
    end: NaiveDateTime,
    out: &mut Vec<(DateTime<Utc>, DateTime<Utc>)>,
) {
    let u0 = first_instant_at_or_after(tz, start);
    let u1 = first_instant_at_or_after(tz, end);
    if u0 >= u1 {
        return;
    }
    let mut piece_start = u0;
    let mut cursor = u0;
    let mut offset = offset_at(tz, u0);
    let end_offset = offset_at(tz, u1);
    // Walk the offset changes inside [u0, u1); a range is at most 48 h long, so in practice
    // there is at most one. Two changes that cancel out inside one range are not seen.
    while offset != end_offset {
        let (transition, after) = next_transition(tz, cursor, u1, offset);
        if after < offset {
            // Fall back: local times from here on repeat for `offset - after` seconds; their
            // second pass is closed.
            let repeat_end = transition + Duration::seconds(i64::from(offset - after));
            if transition > piece_start {
                out.push((piece_start, transition));
            }
            piece_start = piece_start.max(repeat_end.min(u1));
        }
        cursor = transition;
        offset = after;
    }
    if piece_start < u1 {
        out.push((piece_start, u1));
    }
}

/// The first instant in `(lo, hi]` whose offset differs from `offset` (the offset at `lo`),
/// and its offset. The caller knows the offset at `hi` differs.
fn next_transition(
    tz: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    offset: i32,
) -> (DateTime<Utc>, i32) {
    // Transitions fall on whole seconds, so bisecting seconds finds them exactly.
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if offset_at_secs(tz, mid) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (from_secs(hi), offset_at_secs(tz, hi))
}

/// Iterator over the merged open stretches of a calendar inside a range; see
/// [`Calendar::open_intervals_between`]. It expands one local day at a time.
#[derive(Debug, Clone)]
pub struct OpenIntervals<'a> {
    cal: &'a Calendar,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    /// The next local day to expand, and the instant it starts.
    day: Option<NaiveDate>,
    day_start: DateTime<Utc>,
    /// Merged stretches, sorted; those ending before `day_start` can grow no more.
    pending: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    done: bool,
}

impl<'a> OpenIntervals<'a> {
    fn new(cal: &'a Calendar, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Self {
        let mut it = OpenIntervals {
            cal,
            lo,
            hi,
            day: None,
            day_start: lo,
            pending: Vec::new(),
            done: lo >= hi,
        };
        if it.done {
            return it;
        }
        if cal.always_open {
            it.pending.push((lo, hi));
            it.done = true;
            return it;
        }
        // The day before `lo` may have an interval crossing midnight into it.
        match cal.local_date(lo).pred_opt() {
            Some(d) => {
                it.day = Some(d);
                it.day_start = cal.day_start(d);
            }
            None => it.done = true,
        }
        it
    }

    /// Expands the next local day into `pending`, or marks the iterator done.
    fn expand(&mut self) {
        let day = match self.day {
            Some(day) if self.day_start < self.hi => day,
            _ => {
                self.done = true;
                return;
            }
        };
        let before = self.pending.len();
        self.cal.day_pieces(day, &mut self.pending);
        if self.pending.len() != before {
            self.pending.sort_unstable_by_key(|&(s, _)| s);
            let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> =
                Vec::with_capacity(self.pending.len());
            for &(s, e) in &self.pending {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            self.pending = merged;
        }
        self.day = day.succ_opt();
        match self.day {
            Some(next) => self.day_start = self.cal.day_start(next),
            None => self.done = true,
        }
    }
}

impl Iterator for OpenIntervals<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(&(s, e)) = self.pending.first() {
                // Later days only add pieces starting at or after `day_start`.
                if self.done || e < self.day_start {
                    self.pending.remove(0);
                    let (s, e) = (s.max(self.lo), e.min(self.hi));
                    if s < e {
                        return Some((s, e));
                    }
                    continue;
                }
            }
            if self.done {
                return None;
            }
            self.expand();
        }
    }
}
