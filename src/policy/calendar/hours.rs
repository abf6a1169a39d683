//! A calendar's rules and what they open on each local date: the weekday hours with the breaks
//! cut out, holidays (listed or from a [`HolidaySet`]) closed, exceptions taken literally; and
//! where a date's open spans fall in UTC. The questions asked in instants are in
//! [`super::queries`].
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use super::span::{normalize, Span, MINUTES_PER_DAY};
use super::zone::{first_instant_at_or_after, local_range_to_utc, offset_at, plus_minutes};
use crate::policy::holidays::HolidaySet;

/// The name of the built-in 24/7 calendar.
pub const ALWAYS: &str = "always";

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
    pub(super) always_open: bool,
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

    /// The local date at instant `t`.
    pub(super) fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
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
    pub(super) fn first_day_reaching(&self, date: NaiveDate) -> Option<NaiveDate> {
        let before = date.pred_opt()?;
        Some(if self.crosses_midnight(before) {
            before
        } else {
            date
        })
    }

    /// Whether one of `date`'s intervals runs past its midnight into the next day.
    pub(super) fn crosses_midnight(&self, date: NaiveDate) -> bool {
        self.hours_on(date)
            .last()
            .is_some_and(|s| s.end > MINUTES_PER_DAY)
    }

    /// The instant at which local `date` starts.
    pub(super) fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        first_instant_at_or_after(self.tz, date.and_time(NaiveTime::MIN))
    }

    /// Calls `f` with each open piece (UTC, in order, disjoint) of the spans of local `date`.
    pub(super) fn for_each_piece(
        &self,
        date: NaiveDate,
        mut f: impl FnMut(DateTime<Utc>, DateTime<Utc>),
    ) {
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
