//! The `[schedule]` and `[pacing]` checks of a campaign file: start and end times with their
//! offsets, the cron and how late a firing may start, the calendar (named or inline), and the
//! pacing mode with its daily caps (DESIGN.md §3).
use chrono::{DateTime, Utc};
use toml::Spanned;

use super::raw::{RawPacing, RawSchedule};
use super::{list, Validator};
use crate::campaign::file::{CalendarRef, Category, PacingMode, PacingSpec, ScheduleSpec};
use crate::policy::cron;

impl Validator<'_> {
    pub(super) fn schedule(&mut self, raw: RawSchedule) -> Option<ScheduleSpec> {
        let start = raw
            .start
            .as_ref()
            .and_then(|v| self.time(v, "schedule.start"));
        let end = raw.end.as_ref().and_then(|v| self.time(v, "schedule.end"));
        if let (Some(s), Some(e), Some(end_raw)) = (start, end, raw.end.as_ref()) {
            if e <= s {
                self.at(
                    end_raw,
                    "schedule.end",
                    format!("end {e} is not after start {s}, expected a later time"),
                );
            }
        }
        if let Some(cron) = &raw.cron {
            if let Err(e) = cron::parse(cron.get_ref()) {
                self.at(cron, "schedule.cron", e);
            }
        }
        let late_start = match &raw.late_start {
            None => cron::DEFAULT_LATE_START,
            Some(v) => {
                match humantime::parse_duration(v.get_ref().trim()) {
                    Ok(d) => {
                        if raw.cron.is_none() {
                            self.at(v, "schedule.late_start", "late_start applies to cron firings, expected `cron = \"...\"` beside it");
                        }
                        d
                    }
                    Err(e) => {
                        let msg = format!("late_start `{}` is not a duration ({e}), expected e.g. \"1h\" or \"30m\"", v.get_ref());
                        self.at(v, "schedule.late_start", msg);
                        cron::DEFAULT_LATE_START
                    }
                }
            }
        };
        let calendar = match (raw.calendar, raw.hours) {
            (Some(name), None) => {
                if !self.ctx.calendars.contains(name.get_ref()) {
                    let msg = format!(
                        "unknown calendar `{}`, expected one of the daemon config's calendars: {}",
                        name.get_ref(),
                        list(&self.ctx.calendars)
                    );
                    self.at(&name, "schedule.calendar", msg);
                }
                CalendarRef::Named(name.into_inner())
            }
            (None, Some(hours)) => {
                if hours.timezone.parse::<chrono_tz::Tz>().is_err() {
                    let msg = format!(
                        "time zone `{}` is unknown, expected an IANA name like America/Sao_Paulo",
                        hours.timezone
                    );
                    self.at_table("schedule.hours", "schedule.hours.timezone", msg);
                }
                CalendarRef::Inline(hours)
            }
            (Some(name), Some(_)) => {
                self.at(
                    &name,
                    "schedule.calendar",
                    "give either `calendar = \"NAME\"` or a [schedule.hours] table, not both",
                );
                return None;
            }
            (None, None) => {
                self.at_table("schedule", "schedule.calendar", "expected `calendar = \"NAME\"` or a [schedule.hours] table: a campaign never sends outside business hours");
                return None;
            }
        };
        Some(ScheduleSpec {
            start,
            end,
            cron: raw.cron.map(Spanned::into_inner),
            late_start,
            calendar,
        })
    }

    fn time(&mut self, value: &Spanned<toml::Value>, key: &str) -> Option<DateTime<Utc>> {
        const EXPECTED: &str =
            "expected a time with its UTC offset, e.g. 2026-11-27T09:00:00-03:00";
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                self.at(
                    value,
                    key,
                    format!("{} is a {}, {EXPECTED}", key, other.type_str()),
                );
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                self.at(
                    value,
                    key,
                    format!("`{text}` is not a time with an offset, {EXPECTED}"),
                );
                None
            }
        }
    }

    pub(super) fn pacing(&mut self, raw: RawPacing, category: Option<Category>) -> PacingSpec {
        // DESIGN.md §3: growth is the default for marketing; utility and authentication go ASAP.
        let mode = raw.mode.unwrap_or(match category {
            Some(Category::Marketing) | None => PacingMode::Grow,
            Some(_) => PacingMode::Asap,
        });
        for (v, key) in [
            (&raw.daily_max, "pacing.daily_max"),
            (&raw.daily_budget, "pacing.daily_budget"),
        ] {
            if let Some(v) = v {
                if *v.get_ref() == 0 {
                    self.at(
                        v,
                        key,
                        "0 sends a day, expected a positive number (omit the key for no cap)",
                    );
                }
            }
        }
        if mode == PacingMode::Steady && raw.daily_budget.is_none() {
            self.at_table(
                "pacing",
                "pacing.daily_budget",
                "mode \"steady\" needs `daily_budget`, the fixed number of sends a day",
            );
        }
        PacingSpec {
            mode,
            daily_max: raw.daily_max.map(Spanned::into_inner),
            daily_budget: raw.daily_budget.map(Spanned::into_inner),
        }
    }
}
