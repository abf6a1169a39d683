//! Recurring campaign runs: each firing of a campaign's `cron` pattern starts its own run, so
//! every contact may be reached once per firing (e.g. a weekly reminder).
//!
//! The run in force at `now` is the latest firing at or before `now`, computed in the campaign
//! calendar's time zone (operators write "9:00 on Mondays" meaning their own clock). The pattern
//! syntax is tokio-cron-scheduler's: six fields, seconds first.
use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// Parses a six-field pattern the way tokio-cron-scheduler does.
pub fn parse(pattern: &str) -> Result<Cron, String> {
    let _ = Cron::from_str; // the five-field form is not accepted: seconds come first
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(pattern)
        .map_err(|e| format!("cron {pattern:?}: {e}"))
}

/// The latest firing at or before `now`, in `tz`; `None` when it never fired before `now`.
pub fn latest_firing(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    cron.find_previous_occurrence(&local, true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next firing strictly after `now`.
pub fn next_firing(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz);
    cron.find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
    fn five_field_patterns_are_refused_with_the_pattern_named() {
        let err = parse("0 9 * * Mon").unwrap_err();
        assert!(err.contains("0 9 * * Mon"), "{err}");
    }
}
