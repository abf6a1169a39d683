use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

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
