//! Recurring campaign runs: each firing of a campaign's `cron` pattern starts its own run, so
//! every contact may be reached once per firing (e.g. a weekly reminder).
//!
//! Firings are computed in the campaign calendar's time zone (operators write "9:00 on Mondays"
//! meaning their own clock), and that one computation serves twice: the run in force at `now` is
//! the latest firing at or before `now`, and the daemon's wake-up is the next firing after it.
//!
//! Patterns take five fields, minute first (`30 9 * * 1-5`, what crontab and every cron tutorial
//! write), or six with seconds first (`0 30 9 * * Mon-Fri`, tokio-cron-scheduler's form, which
//! campaign files used before). Across daylight-saving changes croner follows the Open Cron
//! Pattern Specification: a fixed time that does not exist that day (spring forward) fires at the
//! first instant after the gap, and one that happens twice (fall back) fires once, the first time.
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// How long after a firing its run may still start (`schedule.late_start`, default 1h): a
/// firing missed by longer (the campaign was loaded, or the daemon was down, after it) waits
/// for the next one instead of sending Monday's campaign on Thursday.
pub const DEFAULT_LATE_START: Duration = Duration::from_secs(3600);

/// Parses a five-field (minute first) or six-field (seconds first) pattern.
pub fn parse(pattern: &str) -> Result<Cron, CronPatternError> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(pattern.trim())
        .map_err(|e| CronPatternError {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

/// A `schedule.cron` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cron `{pattern}` does not parse ({reason}), expected five fields like \"30 9 * * 1-5\" (minute hour day month weekday) or six with seconds first like \"0 30 9 * * Mon-Fri\"")]
pub struct CronPatternError {
    pub pattern: String,
    pub reason: String,
}

/// Which firing's run is in force at `now`, given whether a late one was already started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunInForce {
    /// This firing's run: on time, within `late_start`, or already started (it resumes).
    Current(DateTime<Utc>),
    /// No firing yet, or the last one was missed by more than `late_start` and never started:
    /// the run of this next firing, which has not come yet.
    Next(DateTime<Utc>),
}

/// Decides the run in force at `now` (pure: the caller says whether a firing's run had started).
pub fn run_in_force(
    cron: &Cron,
    tz: Tz,
    now: DateTime<Utc>,
    late_start: Duration,
    started: impl FnOnce(DateTime<Utc>) -> bool,
) -> Option<RunInForce> {
    if let Some(last) = latest_firing(cron, tz, now) {
        let late = (now - last).to_std().unwrap_or_default();
        if late <= late_start || started(last) {
            return Some(RunInForce::Current(last));
        }
    }
    next_firing(cron, tz, now).map(RunInForce::Next)
}

/// The latest firing at or before `now`, in `tz`; `None` when it never fired before `now`.
///
/// croner's backward search does not apply the daylight-saving rules its forward search does
/// (in a spring-forward gap it answers the second before the gap, where nothing fired, or skips
/// a firing at the gap's end), so the backward answer is only a starting point: it is taken
/// forward to the firing it stands for, then forward while the next firing is still at or before
/// `now`. The firings are then exactly the forward search's, and the run a wake-up starts is
/// the run in force afterwards.
pub fn latest_firing(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut bound = whole_second(now).with_timezone(&tz);
    let mut firing = None;
    // A candidate is wrong at most once per DST change, so a few rounds always settle.
    for _ in 0..4 {
        let candidate = cron.find_previous_occurrence(&bound, true).ok()?;
        let forward = next_in_zone(cron, candidate, true)?;
        if forward <= now {
            firing = Some(forward);
            break;
        }
        bound = candidate - chrono::Duration::seconds(1);
    }
    let mut firing = firing?;
    for _ in 0..4 {
        match next_firing(cron, tz, firing) {
            Some(next) if next <= now => firing = next,
            _ => break,
        }
    }
    Some(firing)
}

/// The next firing strictly after `now`.
pub fn next_firing(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // croner keeps the sub-second part of its starting point: from 08:59:50.020 it answers
    // 09:00:00.020. Firings are whole seconds, so search from the whole second.
    next_in_zone(cron, whole_second(now).with_timezone(&tz), false)
}

/// `t` without its fraction of a second.
fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

/// croner's forward search, minus its false firings: on a day whose clock skips midnight
/// (Santiago, and Sao Paulo when Brazil had DST) it also fires a fixed-time pattern at the end
/// of the gap, whatever time the pattern names. A firing counts when the pattern matches its
/// wall time, or names a wall time inside the gap that ends there (the OCPS rule above).
fn next_in_zone(cron: &Cron, from: DateTime<Tz>, inclusive: bool) -> Option<DateTime<Utc>> {
    let (mut from, mut inclusive) = (from, inclusive);
    for _ in 0..8 {
        let candidate = cron.find_next_occurrence(&from, inclusive).ok()?;
        if fires_at(cron, &candidate) {
            return Some(candidate.with_timezone(&Utc));
        }
        (from, inclusive) = (candidate, false);
    }
    None
}

fn fires_at(cron: &Cron, at: &DateTime<Tz>) -> bool {
    let matches = |wall: NaiveDateTime| {
        cron.is_time_matching(&Utc.from_utc_datetime(&wall))
            .unwrap_or(false)
    };
    let wall = at.naive_local();
    if matches(wall) {
        return true;
    }
    // The wall times skipped just before `at` (none unless a DST gap ends at `at`).
    let second = chrono::Duration::seconds(1);
    let mut skipped = (*at - second).naive_local() + second;
    while skipped < wall {
        if matches(skipped) {
            return true;
        }
        skipped += second;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn monday_nine_in_sao_paulo_is_twelve_utc() {
        let cron = parse("0 0 9 * * Mon").unwrap();
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        // Thursday 2026-11-26 15:00 UTC: the latest Monday 09:00 local was 2026-11-23 12:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap();
        assert_eq!(
            latest_firing(&cron, tz, now),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap())
        );
        assert_eq!(
            next_firing(&cron, tz, now),
            Some(Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap())
        );
    }

    #[test]
    fn a_firing_exactly_now_is_the_current_run() {
        let cron = parse("0 0 9 * * *").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        assert_eq!(latest_firing(&cron, Tz::UTC, now), Some(now));
    }

    #[test]
    fn five_field_patterns_are_minute_first_and_six_field_ones_seconds_first() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap(); // a Thursday
        let five = parse("30 9 * * 1-5").unwrap();
        let six = parse("0 30 9 * * Mon-Fri").unwrap();
        let friday_0930_local = Utc.with_ymd_and_hms(2026, 11, 27, 12, 30, 0).unwrap();
        assert_eq!(next_firing(&five, tz, now), Some(friday_0930_local));
        assert_eq!(next_firing(&six, tz, now), Some(friday_0930_local));
    }

    #[test]
    fn a_bad_pattern_is_named_with_both_accepted_forms() {
        let err = parse("0 9 * *").unwrap_err().to_string();
        assert!(err.contains("`0 9 * *`"), "{err}");
        assert!(err.contains("five fields") && err.contains("six"), "{err}");
        assert!(parse("0 0 9 * * Mon 2027").is_err(), "no year field");
    }

    #[test]
    fn a_firing_missed_by_more_than_late_start_waits_for_the_next_unless_started() {
        let cron = parse("0 9 * * Mon").unwrap();
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let next_monday = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let hour = Duration::from_secs(3600);
        // Deployed on Thursday: Monday's run is not sent late.
        let thursday = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap();
        assert_eq!(
            run_in_force(&cron, tz, thursday, hour, |_| false),
            Some(RunInForce::Next(next_monday))
        );
        // ...but a Monday run that had started resumes.
        assert_eq!(
            run_in_force(&cron, tz, thursday, hour, |t| t == monday),
            Some(RunInForce::Current(monday))
        );
        // Within the grace period it starts, late.
        let monday_0959 = monday + chrono::Duration::minutes(59);
        assert_eq!(
            run_in_force(&cron, tz, monday_0959, hour, |_| false),
            Some(RunInForce::Current(monday))
        );
        let monday_1001 = monday + chrono::Duration::minutes(61);
        assert_eq!(
            run_in_force(&cron, tz, monday_1001, hour, |_| false),
            Some(RunInForce::Next(next_monday))
        );
    }

    #[test]
    fn a_clock_skipping_midnight_does_not_fire_a_nine_oclock_pattern_at_one() {
        // Santiago springs forward at midnight on 2026-09-06 (00:00 -> 01:00, -04 -> -03);
        // croner alone also fires `0 9 * * *` at 01:00 that day.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let cron = parse("0 9 * * *").unwrap();
        let saturday_noon = Utc.with_ymd_and_hms(2026, 9, 5, 16, 0, 0).unwrap();
        let sunday_nine = Utc.with_ymd_and_hms(2026, 9, 6, 12, 0, 0).unwrap();
        assert_eq!(next_firing(&cron, tz, saturday_noon), Some(sunday_nine));
        assert_eq!(
            latest_firing(&cron, tz, sunday_nine - chrono::Duration::hours(1)),
            Some(Utc.with_ymd_and_hms(2026, 9, 5, 13, 0, 0).unwrap())
        );
    }
}
