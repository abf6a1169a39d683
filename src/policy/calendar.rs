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
//! Everything is computed per local day from the spans, with three or four time-zone look-ups
//! per day (more only on a day the offset changes): no minute scanning, so `open_seconds` over
//! a month costs microseconds. The code assumes a zone changes its offset at most once within
//! any 48 hours, which holds for every zone in the tz database in modern times. Queries look
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
    /// Builds a calendar from already validated parts (`CalendarConfig::build` is the usual
    /// way). Each span list is sorted and merged here; empty spans are dropped and ends are
    /// clamped to 2880 (the end of the next day), so the invariants of [`Span`] hold.
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

    /// The local date at instant `t`.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        let offset = offset_at(self.tz, t);
        let local = t
            .naive_utc()
            .checked_add_signed(Duration::seconds(i64::from(offset)));
        // Only at the very ends of chrono's range does the local date not exist.
        local.map_or(
            if offset > 0 {
                NaiveDate::MAX
            } else {
                NaiveDate::MIN
            },
            |l| l.date(),
        )
    }

    /// The first local day whose hours can reach into `date`: the day before when one of its
    /// intervals crosses midnight, else `date` itself.
    fn first_day_reaching(&self, date: NaiveDate) -> Option<NaiveDate> {
        let before = date.pred_opt()?;
        Some(if self.crosses_midnight(before) {
            before
        } else {
            date
        })
    }

    /// Whether one of `date`'s intervals runs past its midnight into the next day.
    fn crosses_midnight(&self, date: NaiveDate) -> bool {
        self.hours_on(date)
            .last()
            .is_some_and(|s| s.end > MINUTES_PER_DAY)
    }

    /// The instant at which local `date` starts.
    fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        first_instant_at_or_after(self.tz, date.and_time(NaiveTime::MIN))
    }

    /// Calls `f` with each open piece (UTC, in order, disjoint) of the spans of local `date`.
    fn for_each_piece(&self, date: NaiveDate, mut f: impl FnMut(DateTime<Utc>, DateTime<Utc>)) {
        let spans = self.hours_on(date);
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return;
        };
        let midnight = date.and_time(NaiveTime::MIN);
        let local = |minute: u16| midnight.checked_add_signed(Duration::minutes(i64::from(minute)));
        let Some(x0) = local(first.start) else {
            return;
        };
        // Fast path, taken on all but a few days a year: the offset is the same from the first
        // open minute to the last, so every local time maps by that one offset (with at most
        // one change inside 48 h, equal ends mean no change).
        let u0 = first_instant_at_or_after(self.tz, x0);
        let offset = offset_at(self.tz, u0);
        let x0_exists = u0
            .naive_utc()
            .checked_add_signed(Duration::seconds(i64::from(offset)))
            == Some(x0);
        let u_last = plus_minutes(u0, last.end - first.start);
        if let Some(u_last) = u_last.filter(|u| x0_exists && offset_at(self.tz, *u) == offset) {
            for span in spans {
                let start = plus_minutes(u0, span.start - first.start);
                let end = plus_minutes(u0, span.end - first.start).map(|e| e.min(u_last));
                if let (Some(start), Some(end)) = (start, end) {
                    f(start, end);
                }
            }
            return;
        }
        for span in spans {
            if let (Some(start), Some(end)) = (local(span.start), local(span.end)) {
                local_range_to_utc(self.tz, start, end, &mut f);
            }
        }
    }
}

/// Sorts spans and merges touching or overlapping ones; drops empty ones. Nothing may run past
/// the end of the next day: `is_open` only looks one day back.
fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    for s in &mut spans {
        s.end = s.end.min(2 * MINUTES_PER_DAY);
    }
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

fn plus_minutes(u: DateTime<Utc>, minutes: u16) -> Option<DateTime<Utc>> {
    u.checked_add_signed(Duration::minutes(i64::from(minutes)))
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
    f: &mut impl FnMut(DateTime<Utc>, DateTime<Utc>),
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
            let repeat = Duration::seconds(i64::from(offset - after));
            let repeat_end = transition.checked_add_signed(repeat).unwrap_or(u1);
            if transition > piece_start {
                f(piece_start, transition);
            }
            piece_start = piece_start.max(repeat_end.min(u1));
        }
        cursor = transition;
        offset = after;
    }
    if piece_start < u1 {
        f(piece_start, u1);
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
        match cal.first_day_reaching(cal.local_date(lo)) {
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
        let pending = &mut self.pending;
        self.cal.for_each_piece(day, |s, e| pending.push((s, e)));
        if self.pending.len() != before {
            // Merge in place: a day's pieces may touch or overlap the previous day's tail.
            self.pending.sort_unstable_by_key(|&(s, _)| s);
            let mut kept = 0;
            for i in 1..self.pending.len() {
                let (s, e) = self.pending[i];
                if s <= self.pending[kept].1 {
                    self.pending[kept].1 = self.pending[kept].1.max(e);
                } else {
                    kept += 1;
                    self.pending[kept] = (s, e);
                }
            }
            self.pending.truncate(kept + 1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::calendar_config::CalendarConfig;

    fn cal(toml_text: &str) -> Calendar {
        let cfg: CalendarConfig = toml::from_str(toml_text).unwrap();
        cfg.build("test").unwrap().0
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn runs(c: &Calendar, a: &str, b: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        c.open_intervals_between(at(a), at(b)).collect()
    }

    #[test]
    fn the_ends_of_time_do_not_panic() {
        let hours = "mon = ['22:00-02:00']\nsun = ['00:00-24:00']";
        let calendars = [
            cal(&format!("timezone = 'Pacific/Kiritimati'\n{hours}")),
            cal(&format!("timezone = 'Pacific/Niue'\n{hours}")),
        ];
        let ends = [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC];
        for (c, t) in calendars.iter().flat_map(|c| ends.map(|t| (c, t))) {
            let _ = c.is_open(t);
            let _ = c.next_open(t);
            let _ = c.next_close(t);
            let three_days = Duration::days(3);
            let lo = t.checked_sub_signed(three_days).unwrap_or(t);
            let hi = t.checked_add_signed(three_days).unwrap_or(t);
            let _ = c.open_seconds(lo, hi);
            let _ = c.open_seconds_left_today(lo);
            let _ = c.open_intervals(t).count();
            let _ = c.local_day_bounds(t);
        }
    }

    #[test]
    fn calendars_can_be_shared_across_tasks() {
        fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
        shareable::<Calendar>();
    }

    #[test]
    fn always_is_open_at_every_instant_and_never_closes() {
        let c = Calendar::always();
        let t = at("2026-11-26T03:17:00Z");
        assert!(c.is_open(t));
        assert_eq!(c.next_open(t), Some(t));
        assert_eq!(c.next_close(t), None);
        assert_eq!(c.open_seconds(t, t + Duration::days(30)), 30 * 86_400);
        assert_eq!(c.open_seconds_left_today(t), 86_400 - 3 * 3600 - 17 * 60);
        assert_eq!(c.timezone(), Tz::UTC);
        assert_eq!(c.name(), "always");
    }

    #[test]
    fn new_york_spring_forward_skips_the_missing_hour() {
        // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00Z.
        let c = cal("timezone = 'America/New_York'\nsun = ['01:00-04:00']");
        let day = runs(&c, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
        assert_eq!(
            day,
            vec![(at("2026-03-08T06:00:00Z"), at("2026-03-08T08:00:00Z"))]
        );
        assert_eq!(
            c.open_seconds(at("2026-03-08T00:00:00Z"), at("2026-03-09T00:00:00Z")),
            7200
        );
        let (start, end) = c.local_day_bounds(at("2026-03-08T12:00:00Z"));
        assert_eq!(
            (start, end),
            (at("2026-03-08T05:00:00Z"), at("2026-03-09T04:00:00Z")),
            "a 23-hour day"
        );
    }

    #[test]
    fn new_york_interval_inside_the_missing_hour_never_happens() {
        let c = cal("timezone = 'America/New_York'\nsun = ['02:15-02:45']");
        // Skipped on 2026-03-08; the next Sunday it happens at 02:15 EDT.
        assert_eq!(
            c.next_open(at("2026-03-08T05:00:00Z")),
            Some(at("2026-03-15T06:15:00Z"))
        );
        let c = cal("timezone = 'America/New_York'\nsun = ['02:30-03:30']");
        let day = runs(&c, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
        assert_eq!(
            day,
            vec![(at("2026-03-08T07:00:00Z"), at("2026-03-08T07:30:00Z"))],
            "opens when the gap ends"
        );
    }

    #[test]
    fn new_york_fall_back_opens_the_repeated_hour_once() {
        // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z; 01:00-02:00 happens twice.
        let c = cal("timezone = 'America/New_York'\nsun = ['01:00-02:00']");
        let day = runs(&c, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
        assert_eq!(
            day,
            vec![(at("2026-11-01T05:00:00Z"), at("2026-11-01T06:00:00Z"))]
        );
        assert!(
            !c.is_open(at("2026-11-01T06:30:00Z")),
            "01:30 EST is the second pass"
        );

        let c = cal("timezone = 'America/New_York'\nsun = ['01:30-03:00']");
        let day = runs(&c, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
        assert_eq!(
            day,
            vec![
                (at("2026-11-01T05:30:00Z"), at("2026-11-01T06:00:00Z")),
                (at("2026-11-01T07:00:00Z"), at("2026-11-01T08:00:00Z")),
            ]
        );
        assert_eq!(
            c.next_close(at("2026-11-01T05:45:00Z")),
            Some(at("2026-11-01T06:00:00Z"))
        );
        assert_eq!(
            c.next_open(at("2026-11-01T06:00:00Z")),
            Some(at("2026-11-01T07:00:00Z"))
        );
        assert_eq!(
            c.open_seconds(at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z")),
            5400,
            "wall-clock length"
        );
    }

    #[test]
    fn lisbon_spring_forward_and_fall_back() {
        // 2026-03-29: 01:00 WET becomes 02:00 WEST at 01:00Z.
        let c = cal("timezone = 'Europe/Lisbon'\nsun = ['00:00-03:00']");
        let spring = runs(&c, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
        assert_eq!(
            spring,
            vec![(at("2026-03-29T00:00:00Z"), at("2026-03-29T02:00:00Z"))]
        );
        // 2026-10-25: 02:00 WEST becomes 01:00 WET at 01:00Z.
        let fall = runs(&c, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
        assert_eq!(
            fall,
            vec![
                (at("2026-10-24T23:00:00Z"), at("2026-10-25T01:00:00Z")),
                (at("2026-10-25T02:00:00Z"), at("2026-10-25T03:00:00Z")),
            ]
        );
        let bounds = c.local_day_bounds(at("2026-10-25T12:00:00Z"));
        assert_eq!(
            bounds,
            (at("2026-10-24T23:00:00Z"), at("2026-10-26T00:00:00Z")),
            "a 25-hour day"
        );
    }

    #[test]
    fn sao_paulo_keeps_utc_minus_3_since_2019_and_had_midnight_gaps_before() {
        let c = cal("timezone = 'America/Sao_Paulo'\nmon = ['08:00-18:00']");
        for monday in ["2026-01-05", "2026-07-06", "2026-11-09"] {
            let t = at(&format!("{monday}T00:00:00Z"));
            assert_eq!(
                c.next_open(t),
                Some(t + Duration::hours(11)),
                "{monday} 08:00 is 11:00Z"
            );
        }
        // 2018-11-04 DST began at local midnight: the day started at 01:00 -02 and lasted 23 h.
        let bounds = c.local_day_bounds(at("2018-11-04T12:00:00Z"));
        assert_eq!(
            bounds,
            (at("2018-11-04T03:00:00Z"), at("2018-11-05T02:00:00Z"))
        );
    }

    #[test]
    fn fortaleza_is_utc_minus_3_all_year() {
        let c = cal("timezone = 'America/Fortaleza'\nmon = ['08:00-18:00']");
        assert_eq!(c.timezone(), chrono_tz::America::Fortaleza);
        for monday in ["2026-01-05", "2026-07-06"] {
            let t = at(&format!("{monday}T00:00:00Z"));
            assert_eq!(c.next_open(t), Some(t + Duration::hours(11)));
            assert_eq!(
                c.next_close(t + Duration::hours(12)),
                Some(t + Duration::hours(21))
            );
        }
    }

    #[test]
    fn breaks_at_the_edges_of_an_interval_trim_it() {
        let c = cal(
            "timezone = 'UTC'\nmon = ['08:00-18:00']\nbreaks = ['08:00-09:00', '12:00-13:00', '17:30-18:00']",
        );
        let day = runs(&c, "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z");
        assert_eq!(
            day,
            vec![
                (at("2026-11-23T09:00:00Z"), at("2026-11-23T12:00:00Z")),
                (at("2026-11-23T13:00:00Z"), at("2026-11-23T17:30:00Z")),
            ]
        );
        assert!(!c.is_open(at("2026-11-23T08:59:59Z")));
        assert!(c.is_open(at("2026-11-23T11:59:59Z")));
        assert!(!c.is_open(at("2026-11-23T12:00:00Z")));
        assert!(c.is_open(at("2026-11-23T13:00:00Z")));
        assert_eq!(
            c.open_seconds_left_today(at("2026-11-23T10:00:00Z")),
            2 * 3600 + 4 * 3600 + 1800
        );
    }

    #[test]
    fn day_breaks_apply_to_their_weekday_only() {
        let c = cal("timezone = 'UTC'\nmon = ['08:00-18:00']\ntue = ['08:00-18:00']\n[day_breaks]\ntue = ['12:00-14:00']");
        assert!(c.is_open(at("2026-11-23T12:30:00Z")), "Monday");
        assert!(!c.is_open(at("2026-11-24T12:30:00Z")), "Tuesday");
    }

    #[test]
    fn exceptions_override_holidays_and_weekdays() {
        let c = cal(
            "timezone = 'America/Sao_Paulo'\nmon = ['08:00-18:00']\nthu = ['08:00-18:00']\nholidays = ['2026-12-24']\nholiday_sets = ['BR']\n[exceptions]\n'2026-12-24' = ['08:00-12:00']\n'2026-02-16' = ['09:00-10:00']\n'2026-11-23' = []",
        );
        // Christmas Eve is a holiday, but the exception opens the morning (breaks do not apply).
        let eve = runs(&c, "2026-12-24T00:00:00Z", "2026-12-25T00:00:00Z");
        assert_eq!(
            eve,
            vec![(at("2026-12-24T11:00:00Z"), at("2026-12-24T15:00:00Z"))]
        );
        // Carnaval Monday is a BR holiday; its exception opens one hour.
        assert_eq!(
            c.open_seconds(at("2026-02-16T00:00:00Z"), at("2026-02-17T00:00:00Z")),
            3600
        );
        // An empty exception closes an ordinary Monday.
        assert_eq!(
            c.open_seconds(at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z")),
            0
        );
        // Good Friday 2026-04-03 falls on a Friday with no hours anyway; Corpus Christi
        // 2026-06-04 is a Thursday: closed.
        assert_eq!(
            c.open_seconds(at("2026-06-04T00:00:00Z"), at("2026-06-05T00:00:00Z")),
            0
        );
        assert!(c.is_holiday(NaiveDate::from_ymd_opt(2026, 6, 4).unwrap()));
    }

    #[test]
    fn an_interval_crossing_midnight_belongs_to_the_day_it_starts() {
        let c = cal("timezone = 'UTC'\nfri = ['22:00-02:00']\nholidays = ['2026-11-28']");
        // Friday 27th 22:00 to Saturday 28th 02:00, although Saturday is a holiday.
        assert!(c.is_open(at("2026-11-28T01:00:00Z")));
        assert_eq!(
            c.next_close(at("2026-11-27T23:00:00Z")),
            Some(at("2026-11-28T02:00:00Z"))
        );
        let c = cal("timezone = 'UTC'\nfri = ['22:00-02:00']\nholidays = ['2026-11-27']");
        assert!(
            !c.is_open(at("2026-11-28T01:00:00Z")),
            "the Friday it starts on is the holiday"
        );
        // A break cuts the after-midnight part too.
        let c = cal("timezone = 'UTC'\nfri = ['22:00-02:00']\nbreaks = ['00:30-01:00']");
        assert!(!c.is_open(at("2026-11-28T00:45:00Z")));
        assert_eq!(
            c.open_seconds(at("2026-11-27T00:00:00Z"), at("2026-11-29T00:00:00Z")),
            4 * 3600 - 1800
        );
    }

    #[test]
    fn touching_days_merge_into_one_open_stretch() {
        let c = cal("timezone = 'UTC'\nmon = ['00:00-24:00']\ntue = ['00:00-24:00']");
        assert_eq!(
            c.next_close(at("2026-11-23T10:00:00Z")),
            Some(at("2026-11-25T00:00:00Z"))
        );
        let first = c.next_window(at("2026-11-23T10:00:00Z"));
        assert_eq!(
            first,
            Some((at("2026-11-23T10:00:00Z"), at("2026-11-25T00:00:00Z")))
        );
    }

    #[test]
    fn closed_instants_answer_themselves_for_next_close_and_open_ones_for_next_open() {
        let c = cal("timezone = 'UTC'\nmon = ['08:00-18:00']");
        let closed = at("2026-11-23T07:00:00Z");
        let open = at("2026-11-23T09:00:00Z");
        assert_eq!(c.next_close(closed), Some(closed));
        assert_eq!(c.next_open(open), Some(open));
        assert_eq!(c.next_open(closed), Some(at("2026-11-23T08:00:00Z")));
        assert_eq!(
            c.next_open(at("2026-11-23T18:00:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
    }

    #[test]
    fn a_calendar_that_never_opens_has_no_next_open() {
        let c = cal(
            "timezone = 'UTC'\nmon = ['08:00-18:00']\n[exceptions]\n'2026-11-23' = ['08:00-09:00']",
        );
        let c_closed = Calendar::from_parts(
            "closed",
            Tz::UTC,
            Default::default(),
            BTreeSet::new(),
            Vec::new(),
            BTreeMap::new(),
        );
        let t = at("2026-11-23T10:00:00Z");
        assert_eq!(c_closed.next_open(t), None);
        assert_eq!(c_closed.next_close(t), Some(t));
        assert_eq!(c_closed.open_intervals(t).next(), None);
        assert_eq!(
            c.open_seconds(at("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z")),
            3600
        );
    }

    #[test]
    fn open_seconds_over_a_month_counts_each_working_day() {
        let c = cal("timezone = 'America/Sao_Paulo'\nmon = ['08:00-18:00']\ntue = ['08:00-18:00']\nwed = ['08:00-18:00']\nthu = ['08:00-18:00']\nfri = ['08:00-18:00']\nbreaks = ['12:00-13:00']");
        // November 2026 has 21 weekdays; Nov 2 and Nov 20 are no holidays here (no holiday set).
        let month = c.open_seconds(at("2026-11-01T03:00:00Z"), at("2026-12-01T03:00:00Z"));
        assert_eq!(month, 21 * 9 * 3600);
    }
}
