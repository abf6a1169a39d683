//! Property tests: the calendar against a deliberately naive reference that walks local time
//! minute by minute.
//!
//! The reference knows nothing of spans, pieces or transitions. For every local minute of every
//! local date it asks "is this wall-clock minute open by the config's words?" (exceptions, then
//! holidays, then weekday hours minus breaks; an interval crossing midnight belongs to the day it
//! starts), then maps the minute to UTC: a minute that does not exist is skipped, a minute that
//! happens twice is open on its first occurrence only. The set of open UTC minutes it builds is
//! the truth every function of `Calendar` is checked against, over random calendars, time zones
//! and instants from 2016 to 2030, with a bias towards DST changes.
use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;
use proptest::prelude::*;
use tierpace::policy::calendar::Calendar;
use tierpace::policy::calendar_config::CalendarConfig;

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Lisbon",
    "America/Sao_Paulo",
    "America/Fortaleza",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kathmandu",
    "UTC",
];

const FIRST_YEAR: i32 = 2016;
const LAST_YEAR: i32 = 2030;

/// Days of history and of future the reference covers around the instant under test.
const BEFORE_DAYS: i64 = 2;
const AFTER_DAYS: i64 = 10;

// ---------------------------------------------------------------------------------------------
// The reference model.

/// `HH:MM-HH:MM` as minutes; the end is moved past midnight when it is not after the start.
fn ref_interval(text: &str) -> (u32, u32) {
    let minutes = |t: &str| {
        let (h, m) = t.split_once(':').unwrap();
        h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
    };
    let (a, b) = text.split_once('-').unwrap();
    let (s, e) = (minutes(a), minutes(b));
    (s, if e <= s { e + 1440 } else { e })
}

/// Easter Sunday from a table (not from a formula: the code under test uses the formula).
fn ref_easter(year: i32) -> NaiveDate {
    let table = [
        (2015, 4, 5),
        (2016, 3, 27),
        (2017, 4, 16),
        (2018, 4, 1),
        (2019, 4, 21),
        (2020, 4, 12),
        (2021, 4, 4),
        (2022, 4, 17),
        (2023, 4, 9),
        (2024, 3, 31),
        (2025, 4, 20),
        (2026, 4, 5),
        (2027, 3, 28),
        (2028, 4, 16),
        (2029, 4, 1),
        (2030, 4, 21),
        (2031, 4, 13),
    ];
    let (_, m, d) = table.iter().find(|(y, _, _)| *y == year).copied().unwrap();
    NaiveDate::from_ymd_opt(year, m, d).unwrap()
}

fn ref_is_br_holiday(date: NaiveDate) -> bool {
    let fixed = [
        (1, 1),
        (4, 21),
        (5, 1),
        (9, 7),
        (10, 12),
        (11, 2),
        (11, 15),
        (12, 25),
    ];
    if fixed.contains(&(date.month(), date.day())) {
        return true;
    }
    if date.month() == 11 && date.day() == 20 && date.year() >= 2024 {
        return true;
    }
    let easter = ref_easter(date.year());
    [-48, -47, -2, 60]
        .iter()
        .any(|off| easter + Duration::days(*off) == date)
}

/// Which minutes of the 48-hour scale of local `date` its own rules open (index = minutes since
/// that date's midnight; past 1440 is the part of an interval that crossed midnight).
fn ref_day_scale(cfg: &CalendarConfig, date: NaiveDate) -> Vec<bool> {
    let mut open = vec![false; 2880];
    let date_key = date.format("%Y-%m-%d").to_string();
    if let Some(intervals) = cfg.exceptions.get(&date_key) {
        for text in intervals {
            let (s, e) = ref_interval(text);
            for m in s..e {
                open[m as usize] = true;
            }
        }
        return open;
    }
    let holiday = cfg.holidays.contains(&date_key)
        || (cfg.holiday_sets.iter().any(|s| s == "BR") && ref_is_br_holiday(date));
    if holiday {
        return open;
    }
    let key = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [date.weekday().num_days_from_monday() as usize];
    let hours = match key {
        "mon" => &cfg.mon,
        "tue" => &cfg.tue,
        "wed" => &cfg.wed,
        "thu" => &cfg.thu,
        "fri" => &cfg.fri,
        "sat" => &cfg.sat,
        _ => &cfg.sun,
    };
    let mut breaks: Vec<(u32, u32)> = cfg.breaks.iter().map(|b| ref_interval(b)).collect();
    if let Some(day) = cfg.day_breaks.get(key) {
        breaks.extend(day.iter().map(|b| ref_interval(b)));
    }
    for text in hours {
        let (s, e) = ref_interval(text);
        for m in s..e {
            // A break is a time of day: it closes that time on the day and on the part of an
            // interval that ran past midnight.
            let in_break = breaks
                .iter()
                .any(|(bs, be)| (*bs..*be).contains(&(m % 1440)));
            if !in_break {
                open[m as usize] = true;
            }
        }
    }
    open
}

/// The open UTC minutes of `[w0, w0 + len minutes)`, found by walking local minutes.
struct Reference {
    w0: DateTime<Utc>,
    open: Vec<bool>,
}

impl Reference {
    fn build(cfg: &CalendarConfig, tz: Tz, w0: DateTime<Utc>, minutes: usize) -> Reference {
        let mut open = vec![false; minutes];
        let first = w0.with_timezone(&tz).date_naive() - Duration::days(2);
        let last = (w0 + Duration::minutes(minutes as i64))
            .with_timezone(&tz)
            .date_naive()
            + Duration::days(1);
        let mut previous = ref_day_scale(cfg, first - Duration::days(1));
        let mut date = first;
        while date <= last {
            let today = ref_day_scale(cfg, date);
            for m in 0..1440usize {
                if !(today[m] || previous[m + 1440]) {
                    continue;
                }
                let local = date.and_time(NaiveTime::MIN) + Duration::minutes(m as i64);
                let utc = match tz.from_local_datetime(&local) {
                    LocalResult::Single(d) => d.with_timezone(&Utc),
                    // Open once: on the first occurrence only.
                    LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
                    // Does not exist: skipped.
                    LocalResult::None => continue,
                };
                let index = (utc - w0).num_minutes();
                if (0..minutes as i64).contains(&index) {
                    open[index as usize] = true;
                }
            }
            previous = today;
            date += Duration::days(1);
        }
        Reference { w0, open }
    }

    fn end(&self) -> DateTime<Utc> {
        self.w0 + Duration::minutes(self.open.len() as i64)
    }

    fn minute(&self, t: DateTime<Utc>) -> usize {
        (t - self.w0).num_minutes() as usize
    }

    fn at(&self, i: usize) -> DateTime<Utc> {
        self.w0 + Duration::minutes(i as i64)
    }

    fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.open[self.minute(t)]
    }

    /// First instant at or after `t` whose openness is `want`; `None` past the window.
    fn next_with(&self, t: DateTime<Utc>, want: bool) -> Option<DateTime<Utc>> {
        let i = self.minute(t);
        if self.open[i] == want {
            return Some(t);
        }
        (i + 1..self.open.len())
            .find(|&j| self.open[j] == want)
            .map(|j| self.at(j))
    }

    fn open_seconds(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
        let mut total = 0;
        for i in self.minute(a)..=self.minute(b - Duration::seconds(1)) {
            if self.open[i] {
                let (s, e) = (
                    self.at(i).max(a),
                    (self.at(i) + Duration::minutes(1)).min(b),
                );
                total += (e - s).num_seconds();
            }
        }
        total
    }

    /// Maximal open runs inside `[a, b)`, clipped to it.
    fn runs(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for i in self.minute(a)..=self.minute(b - Duration::seconds(1)) {
            if !self.open[i] {
                continue;
            }
            let (s, e) = (
                self.at(i).max(a),
                (self.at(i) + Duration::minutes(1)).min(b),
            );
            match runs.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => runs.push((s, e)),
            }
        }
        runs
    }

    /// The local day containing `t`, by walking: the first existing minute of its date, and of
    /// the next date.
    fn day_bounds(tz: Tz, t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let first_existing = |date: NaiveDate| {
            let mut local = date.and_time(NaiveTime::MIN);
            loop {
                match tz.from_local_datetime(&local) {
                    LocalResult::Single(d) => return d.with_timezone(&Utc),
                    LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
                    LocalResult::None => local += Duration::minutes(1),
                }
            }
        };
        let date = t.with_timezone(&tz).date_naive();
        (
            first_existing(date),
            first_existing(date + Duration::days(1)),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Random calendars and instants.

fn hhmm(quarter: u16) -> String {
    let m = quarter * 15;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Zero to two open intervals on quarter hours; the last may cross midnight.
fn day_hours() -> impl Strategy<Value = Vec<String>> {
    (
        0usize..=2,
        prop::collection::btree_set(0u16..=96, 4),
        any::<bool>(),
        0u16..96,
    )
        .prop_map(|(count, bounds, cross, x)| {
            let v: Vec<u16> = bounds.into_iter().collect();
            let mut out: Vec<String> = (0..count)
                .map(|i| format!("{}-{}", hhmm(v[2 * i]), hhmm(v[2 * i + 1])))
                .collect();
            if cross && count > 0 && v[2 * count - 2] > 0 {
                let start = v[2 * count - 2];
                out[count - 1] = format!("{}-{}", hhmm(start), hhmm(x % start));
            }
            out
        })
}

fn a_break() -> impl Strategy<Value = String> {
    (0u16..96, 1u16..=16).prop_map(|(s, len)| format!("{}-{}", hhmm(s), hhmm((s + len).min(96))))
}

/// Instants of offset change of each zone in the years under test, found once by stepping.
fn transitions(tz: Tz) -> &'static [DateTime<Utc>] {
    static ALL: OnceLock<BTreeMap<String, Vec<DateTime<Utc>>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        ZONES
            .iter()
            .map(|name| {
                let tz: Tz = name.parse().unwrap();
                let offset = |u: DateTime<Utc>| {
                    tz.offset_from_utc_datetime(&u.naive_utc())
                        .fix()
                        .local_minus_utc()
                };
                let mut found = Vec::new();
                let mut u = Utc.with_ymd_and_hms(FIRST_YEAR, 1, 1, 0, 0, 0).unwrap();
                let end = Utc.with_ymd_and_hms(LAST_YEAR + 1, 1, 1, 0, 0, 0).unwrap();
                while u < end {
                    let next = u + Duration::hours(1);
                    if offset(u) != offset(next) {
                        found.push(next);
                    }
                    u = next;
                }
                (name.to_string(), found)
            })
            .collect()
    });
    &all[tz.name()]
}

#[derive(Debug, Clone)]
struct Case {
    cfg: CalendarConfig,
    tz: Tz,
    t: DateTime<Utc>,
    /// Length of the range checked by `open_seconds` and `open_intervals_between`.
    span: Duration,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            0..ZONES.len(),
            any::<bool>(),
            any::<prop::sample::Index>(),
            -3 * 1440i64..3 * 1440,
            0i64..60,
        ),
        prop::collection::vec(day_hours(), 7),
        prop::option::of(a_break()),
        prop::option::of((0usize..7, a_break())),
        prop::collection::vec(-2i64..12, 0..3),
        any::<bool>(),
        prop::collection::vec((-2i64..12, day_hours()), 0..3),
        (1i64..9 * 1440, 0i64..60),
    )
        .prop_map(
            |(when, week, brk, day_brk, holidays, br, exceptions, (span_min, span_sec))| {
                let (zone, near_transition, pick, minutes, seconds) = when;
                let tz: Tz = ZONES[zone].parse().unwrap();
                let moments = transitions(tz);
                let base = if near_transition && !moments.is_empty() {
                    moments[pick.index(moments.len())]
                } else {
                    let first = Utc.with_ymd_and_hms(FIRST_YEAR, 1, 10, 0, 0, 0).unwrap();
                    let days = (LAST_YEAR - FIRST_YEAR) as usize * 365 - 20;
                    first + Duration::days(pick.index(days) as i64)
                };
                let t = base + Duration::minutes(minutes) + Duration::seconds(seconds);
                let date = t.with_timezone(&tz).date_naive();
                let day_key =
                    |off: i64| (date + Duration::days(off)).format("%Y-%m-%d").to_string();
                let mut cfg = CalendarConfig {
                    timezone: ZONES[zone].to_string(),
                    ..Default::default()
                };
                let slots = [
                    &mut cfg.mon,
                    &mut cfg.tue,
                    &mut cfg.wed,
                    &mut cfg.thu,
                    &mut cfg.fri,
                    &mut cfg.sat,
                    &mut cfg.sun,
                ];
                for (slot, hours) in slots.into_iter().zip(week) {
                    *slot = hours;
                }
                cfg.breaks = brk.into_iter().collect();
                if let Some((day, b)) = day_brk {
                    let key = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day];
                    cfg.day_breaks.insert(key.to_string(), vec![b]);
                }
                cfg.holidays = holidays.into_iter().map(day_key).collect();
                if br {
                    cfg.holiday_sets = vec!["BR".to_string()];
                }
                cfg.exceptions = exceptions
                    .into_iter()
                    .map(|(off, hours)| (day_key(off), hours))
                    .collect();
                let span = Duration::minutes(span_min) + Duration::seconds(span_sec);
                Case { cfg, tz, t, span }
            },
        )
}

fn setup(case: &Case) -> (Calendar, Reference) {
    let (cal, _warnings) = case
        .cfg
        .build("prop")
        .expect("generated calendars are valid");
    let floor = case.t - Duration::seconds(i64::from(case.t.timestamp().rem_euclid(60) as u32));
    let w0 = floor - Duration::days(BEFORE_DAYS);
    let minutes = ((BEFORE_DAYS + AFTER_DAYS) * 1440) as usize;
    (cal, Reference::build(&case.cfg, case.tz, w0, minutes))
}

/// Instants where the reference changes state, and one second before each: the sharpest spots.
fn edges(r: &Reference) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for i in 1..r.open.len() {
        if r.open[i] != r.open[i - 1] {
            out.push(r.at(i));
            out.push(r.at(i) - Duration::seconds(1));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn is_open_matches_the_minute_walk(case in case()) {
        let (cal, r) = setup(&case);
        prop_assert_eq!(cal.is_open(case.t), r.is_open(case.t), "at {}", case.t);
        for e in edges(&r) {
            prop_assert_eq!(cal.is_open(e), r.is_open(e), "at edge {}", e);
        }
    }

    #[test]
    fn next_open_and_next_close_match_the_minute_walk(case in case()) {
        let (cal, r) = setup(&case);
        let mut points = vec![case.t];
        points.extend(edges(&r).into_iter().filter(|e| *e >= case.t).take(12));
        for p in points {
            for (want, got) in [(true, cal.next_open(p)), (false, cal.next_close(p))] {
                match r.next_with(p, want) {
                    Some(expected) => prop_assert_eq!(got, Some(expected), "from {} want open={}", p, want),
                    // Not within the reference's window: the answer must lie beyond it.
                    None => prop_assert!(got.is_none_or(|g| g >= r.end()), "from {} want open={} got {:?}", p, want, got),
                }
            }
        }
    }

    #[test]
    fn open_seconds_and_intervals_match_the_minute_walk(case in case()) {
        let (cal, r) = setup(&case);
        let (a, b) = (case.t, case.t + case.span);
        prop_assert_eq!(cal.open_seconds(a, b), r.open_seconds(a, b), "[{}, {})", a, b);
        prop_assert_eq!(cal.open_seconds(b, a), 0);
        let runs: Vec<_> = cal.open_intervals_between(a, b).collect();
        prop_assert_eq!(&runs, &r.runs(a, b), "[{}, {})", a, b);
        // The unbounded iterator agrees on every run the window sees whole.
        let whole: Vec<_> = r.runs(a, r.end()).into_iter().filter(|run| run.1 < r.end()).collect();
        let from_iter: Vec<_> = cal.open_intervals(a).take(whole.len()).collect();
        prop_assert_eq!(from_iter, whole);
    }

    #[test]
    fn local_day_and_seconds_left_today_match_the_minute_walk(case in case()) {
        let (cal, r) = setup(&case);
        let (start, end) = Reference::day_bounds(case.tz, case.t);
        prop_assert_eq!(cal.local_day_bounds(case.t), (start, end));
        prop_assert_eq!(cal.open_seconds_left_today(case.t), r.open_seconds(case.t, end));
    }
}
