//! The pre-flight of a campaign with a deadline (DESIGN.md §7: "a 4K-contact flow started on a
//! 1K tier got the account suspended for a day; users asked for a pre-flight check",
//! glific/glific#3541): forecast the campaign from its sender's configured tier and warn when
//! its audience cannot be reached before its `end`. A warning, not an error: the campaign still
//! runs and the contacts left at the end expire, but the operator learns it before the start.
use chrono::{DateTime, Utc};

use super::{Forecast, ForecastInput};
use crate::cli::table::thousands;

/// The warning `check` and `plan` print when the forecast finish comes after the campaign's
/// `end` (or never within the horizon); `None` when it finishes in time.
pub fn deadline_warning(
    id: &str,
    end: DateTime<Utc>,
    input: &ForecastInput,
    f: &Forecast,
) -> Option<String> {
    let tz = f.timezone;
    let at = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    if f.finished_at.is_some_and(|t| t <= end) {
        return None;
    }
    let by_end = f
        .cumulative
        .iter()
        .take_while(|(t, _)| *t <= end)
        .last()
        .map_or(0, |(_, n)| *n);
    let finish = match f.finished_at {
        Some(t) => format!("finishes {}", at(t)),
        None => format!("does not finish by {}", at(f.until)),
    };
    Some(format!(
        "campaign {id}: at tier {} ({} calendar, {} contacts) the forecast {finish}, after its end {}; \
         about {} contacts would expire unsent",
        input.tier,
        input.calendar.name(),
        thousands(input.audience),
        at(end),
        thousands(input.audience.saturating_sub(by_end))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::plan::forecast::simulate;
    use crate::policy::calendar::Calendar;
    use crate::policy::growth::PacingMode;
    use crate::policy::pacer::PacerSettings;
    use crate::policy::profile::Policy;
    use crate::policy::tier::Tier;
    use chrono::Duration;
    use chrono::TimeZone;

    fn input() -> ForecastInput {
        ForecastInput {
            policy: Policy::legacy(),
            safety_share: 0.95,
            reserve: 0,
            tier: Tier::T1K,
            calendar: Calendar::always(),
            start: Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
            audience: 2_000,
            mode: PacingMode::Grow,
            daily_max: None,
            marketing: true,
            template_sends: 1_000,
            max_mps: 20,
            pacing: PacerSettings::default(),
            tick: std::time::Duration::from_secs(60),
            horizon: Duration::days(10),
        }
    }

    #[test]
    fn an_end_at_the_finish_is_fine_and_one_before_it_counts_what_would_expire() {
        let input = input();
        let f = simulate(&input).unwrap();
        let finish = f.finished_at.unwrap();
        assert_eq!(deadline_warning("bf", finish, &input, &f), None);
        // After day 1 only the 1K allowance (949 of 950, the last minute is paid after midnight)
        // has gone out.
        let end = input.start + Duration::days(1);
        let w = deadline_warning("bf", end, &input, &f).unwrap();
        assert!(w.contains("about 1,051 contacts would expire"), "{w}");
        assert!(w.contains("at tier 1K"), "{w}");
    }
}
