//! Cron firings in the calendar's zone, against a naive reference that walks the clock minute by
//! minute, in 8 zones and across their daylight-saving changes.
//!
//! The reference states the rule for the fixed-time patterns campaigns use (`M H * * DOW`): on
//! each local day the pattern names, fire once at H:M local time; when H:M does not exist that
//! day (spring forward) fire at the first minute after the gap, and when it happens twice (fall
//! back) fire the first time only. Walking UTC minutes, that is: fire at the first minute whose
//! local time reaches H:M on a named day, never going back for a wall time already passed.
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use tierpace::policy::cron::{latest_firing, next_firing, parse};

const ZONES: [&str; 8] = [
    "America/Sao_Paulo",   // no DST since 2019; had DST with midnight changes before
    "America/New_York",    // 02:00 changes
    "Europe/London",       // 01:00 changes
    "Europe/Berlin",       // 02:00 -> 03:00, 03:00 -> 02:00
    "Australia/Sydney",    // southern hemisphere
    "Australia/Lord_Howe", // half-hour DST shift
    "America/Santiago",    // midnight changes
    "Asia/Kolkata",        // no DST, +05:30
];

/// Starts a few days before a DST change of each zone (and a Sao Paulo change from 2018).
fn starts() -> Vec<DateTime<Utc>> {
    [
        (2018, 11, 1),
        (2026, 3, 5),
        (2026, 3, 25),
        (2026, 4, 1),
        (2026, 9, 1),
        (2026, 9, 30),
        (2026, 10, 22),
        (2026, 10, 28),
    ]
    .iter()
    .map(|&(y, m, d)| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap())
    .collect()
}

/// The first `n` firings strictly after `from`, by walking minutes.
fn reference(
    minute: u32,
    hour: u32,
    days: &[u32],
    tz: Tz,
    from: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from + Duration::minutes(1);
    let mut seen: NaiveDateTime = from.with_timezone(&tz).naive_local();
    while out.len() < n {
        let local = t.with_timezone(&tz).naive_local();
        let weekday = local.weekday().num_days_from_sunday();
        let target = local.date().and_hms_opt(hour, minute, 0).unwrap();
        if days.contains(&weekday) && seen < target && target <= local {
            out.push(t);
        }
        if local > seen {
            seen = local;
        }
        t += Duration::minutes(1);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn firings_match_a_minute_walk_in_eight_zones_across_dst(
        zone in 0..ZONES.len(),
        start in 0..8usize,
        offset_hours in 0..96i64,
        minute in prop::sample::select(vec![0u32, 15, 30, 45, 59]),
        hour in 0u32..24,
        days in prop::sample::subsequence(vec![0u32, 1, 2, 3, 4, 5, 6], 1..=7),
        six_fields: bool,
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let from = starts()[start] + Duration::hours(offset_hours);
        let dow = days.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(",");
        let pattern = if six_fields {
            format!("0 {minute} {hour} * * {dow}")
        } else {
            format!("{minute} {hour} * * {dow}")
        };
        let cron = parse(&pattern).unwrap();
        let want = reference(minute, hour, &days, tz, from, 4);
        let mut got = Vec::new();
        let mut t = from;
        for _ in 0..4 {
            t = next_firing(&cron, tz, t).unwrap();
            got.push(t);
        }
        prop_assert_eq!(&got, &want, "{} in {}", pattern, ZONES[zone]);
        // The run in force just after each firing is that firing's, and just before it the
        // previous one's.
        for w in want.windows(2) {
            prop_assert_eq!(latest_firing(&cron, tz, w[1]), Some(w[1]));
            prop_assert_eq!(latest_firing(&cron, tz, w[1] - Duration::seconds(1)), Some(w[0]));
        }
    }
}

#[test]
fn nine_in_sao_paulo_is_nine_local_in_both_forms() {
    let tz: Tz = "America/Sao_Paulo".parse().unwrap();
    let from = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    for pattern in ["0 9 * * *", "0 0 9 * * *"] {
        let t = next_firing(&parse(pattern).unwrap(), tz, from).unwrap();
        let local = t.with_timezone(&tz);
        assert_eq!((local.hour(), local.minute()), (9, 0), "{pattern}");
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap());
    }
}

#[test]
fn a_time_skipped_by_spring_forward_fires_after_the_gap_and_a_repeated_one_once() {
    let tz: Tz = "America/New_York".parse().unwrap();
    let cron = parse("30 2 * * *").unwrap();
    // 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist, so 03:00 EDT (07:00 UTC).
    let from = Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap();
    let want = Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap();
    assert_eq!(next_firing(&cron, tz, from), Some(want));
    assert_eq!(
        reference(30, 2, &[0, 1, 2, 3, 4, 5, 6], tz, from, 1),
        [want]
    );
    // 2026-11-01 01:30 happens twice (EDT, then EST): once, at the first (05:30 UTC).
    let cron = parse("30 1 * * *").unwrap();
    let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let first = Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap();
    let next_day = Utc.with_ymd_and_hms(2026, 11, 2, 6, 30, 0).unwrap();
    assert_eq!(next_firing(&cron, tz, from), Some(first));
    assert_eq!(next_firing(&cron, tz, first), Some(next_day));
    assert_eq!(
        reference(30, 1, &[0, 1, 2, 3, 4, 5, 6], tz, from, 2),
        [first, next_day]
    );
}
