//! How a business-hours calendar is written in the daemon config (`[calendars.NAME]`) or inline in
//! a campaign file (`[schedule.hours]`). Validation turns it into a [`super::calendar::Calendar`].
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

use super::calendar::{Calendar, Span, ALWAYS, MINUTES_PER_DAY};
use super::day_interval::{hits_any, parse_interval, subtract, IntervalError};
use super::holidays::HolidaySet;

/// One calendar as written in TOML. Times are local to `timezone`; intervals are `HH:MM-HH:MM`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone name, e.g. `America/Sao_Paulo`.
    pub timezone: String,
    #[serde(default)]
    pub mon: Vec<String>,
    #[serde(default)]
    pub tue: Vec<String>,
    #[serde(default)]
    pub wed: Vec<String>,
    #[serde(default)]
    pub thu: Vec<String>,
    #[serde(default)]
    pub fri: Vec<String>,
    #[serde(default)]
    pub sat: Vec<String>,
    #[serde(default)]
    pub sun: Vec<String>,
    /// Closed inside every open day (the "intervalo", e.g. lunch).
    #[serde(default)]
    pub breaks: Vec<String>,
    /// Breaks for one weekday only, keyed `mon`..`sun`.
    #[serde(default)]
    pub day_breaks: BTreeMap<String, Vec<String>>,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Built-in national holiday sets, e.g. `BR`.
    #[serde(default)]
    pub holiday_sets: Vec<String>,
    /// One-off days with other hours (`[]` for closed); they override weekdays and holidays.
    #[serde(default)]
    pub exceptions: BTreeMap<String, Vec<String>>,
}

/// Days of the week as written in config, Monday first (the index of [`Calendar`]'s week).
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A semantic error in one calendar. Each names the calendar, the field and the bad value, so
/// `tierpace check` can print it next to the file and line the integrator finds for the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar \"{calendar}\": timezone: unknown time zone \"{value}\" (use an IANA name such as \"America/Sao_Paulo\")")]
    UnknownTimeZone { calendar: String, value: String },
    #[error("calendar \"{calendar}\": {field}: \"{value}\" is not an interval: {reason} (write HH:MM-HH:MM, e.g. \"08:00-18:00\")")]
    BadInterval {
        calendar: String,
        field: String,
        value: String,
        reason: IntervalError,
    },
    #[error("calendar \"{calendar}\": {field}: \"{value}\" does not end after it starts: {hint}")]
    EndBeforeStart {
        calendar: String,
        field: String,
        value: String,
        hint: String,
    },
    #[error("calendar \"{calendar}\": {field}: \"{first}\" and \"{second}\" overlap")]
    Overlap {
        calendar: String,
        field: String,
        first: String,
        second: String,
    },
    #[error("calendar \"{calendar}\": {field}: \"{value}\" is not a date (write YYYY-MM-DD, e.g. \"2026-12-25\")")]
    BadDate {
        calendar: String,
        field: String,
        value: String,
    },
    #[error(
        "calendar \"{calendar}\": holiday_sets: unknown holiday set \"{value}\" (known: {known})"
    )]
    UnknownHolidaySet {
        calendar: String,
        value: String,
        known: String,
    },
    #[error("calendar \"{calendar}\": day_breaks: unknown weekday \"{value}\" (use mon, tue, wed, thu, fri, sat or sun)")]
    UnknownWeekday { calendar: String, value: String },
    #[error("calendar \"{calendar}\": the name \"always\" is the built-in 24/7 calendar; pick another name")]
    ReservedName { calendar: String },
}

/// Something in a calendar that is valid but almost certainly not what was meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarWarning {
    pub calendar: String,
    pub field: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for CalendarWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(
                f,
                "calendar \"{}\": {}: {}",
                self.calendar, self.field, self.message
            )
        } else {
            write!(
                f,
                "calendar \"{}\": {}: \"{}\" {}",
                self.calendar, self.field, self.value, self.message
            )
        }
    }
}

impl CalendarConfig {
    /// Validates and builds; every error at once; warnings (break outside every interval)
    /// separately.
    pub fn build(
        &self,
        name: &str,
    ) -> Result<(Calendar, Vec<CalendarWarning>), Vec<CalendarError>> {
        let mut v = Validator {
            calendar: name,
            errors: Vec::new(),
            warnings: Vec::new(),
        };

        let tz = match self.timezone.trim().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                v.errors.push(CalendarError::UnknownTimeZone {
                    calendar: name.to_string(),
                    value: self.timezone.clone(),
                });
                None
            }
        };

        let days = [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ];
        let open: Vec<Vec<Span>> = days
            .iter()
            .zip(WEEKDAYS)
            .map(|(raw, field)| v.open_list(field, raw))
            .collect();

        let breaks = v.break_list("breaks", &self.breaks);
        let mut day_breaks: [Vec<Span>; 7] = Default::default();
        for (key, raw) in &self.day_breaks {
            let field = format!("day_breaks.{key}");
            let parsed = v.break_list(&field, raw);
            match WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(key.trim()))
            {
                Some(i) => {
                    for &(b, text) in &parsed {
                        if !hits_any(b, &open[i]) {
                            v.warn(
                                &field,
                                text,
                                "lies outside every open interval of that day; it has no effect",
                            );
                        }
                    }
                    day_breaks[i].extend(parsed.iter().map(|&(b, _)| b));
                }
                None => v.errors.push(CalendarError::UnknownWeekday {
                    calendar: name.to_string(),
                    value: key.clone(),
                }),
            }
        }
        for (b, text) in &breaks {
            if !open.iter().any(|spans| hits_any(*b, spans)) {
                v.warn(
                    "breaks",
                    text,
                    "lies outside every open interval; it has no effect",
                );
            }
        }

        let mut holidays = BTreeSet::new();
        for raw in &self.holidays {
            if let Some(date) = v.date("holidays", raw) {
                holidays.insert(date);
            }
        }
        let mut sets = Vec::new();
        for raw in &self.holiday_sets {
            match HolidaySet::from_name(raw) {
                Some(set) if !sets.contains(&set) => sets.push(set),
                Some(_) => {}
                None => v.errors.push(CalendarError::UnknownHolidaySet {
                    calendar: name.to_string(),
                    value: raw.clone(),
                    known: HolidaySet::ALL
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
        let mut exceptions = BTreeMap::new();
        for (raw_date, raw) in &self.exceptions {
            let field = format!("exceptions.{raw_date}");
            let spans = v.open_list(&field, raw);
            if let Some(date) = v.date("exceptions", raw_date) {
                exceptions.insert(date, spans);
            }
        }

        let mut weekly: [Vec<Span>; 7] = Default::default();
        for (i, spans) in open.into_iter().enumerate() {
            let cuts: Vec<Span> = breaks
                .iter()
                .map(|&(b, _)| b)
                .chain(day_breaks[i].iter().copied())
                .collect();
            weekly[i] = subtract(spans, &cuts);
        }
        if weekly.iter().all(Vec::is_empty) && exceptions.values().all(Vec::is_empty) {
            v.warn(
                "hours",
                "",
                "no weekday or exception has open hours; this calendar never opens",
            );
        }

        match tz {
            Some(tz) if v.errors.is_empty() => {
                let cal = Calendar::from_parts(name, tz, weekly, holidays, sets, exceptions);
                Ok((cal, v.warnings))
            }
            _ => Err(v.errors),
        }
    }
}

/// Every calendar of the daemon by name, the built-in `always` included.
pub type Calendars = BTreeMap<String, Calendar>;

/// Builds every named calendar of the daemon config plus the built-in `always`.
pub fn build_calendars(
    cfg: &BTreeMap<String, CalendarConfig>,
) -> Result<(Calendars, Vec<CalendarWarning>), Vec<CalendarError>> {
    let mut calendars = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    for (name, config) in cfg {
        if name == ALWAYS {
            errors.push(CalendarError::ReservedName {
                calendar: name.clone(),
            });
            continue;
        }
        match config.build(name) {
            Ok((cal, warns)) => {
                calendars.insert(name.clone(), cal);
                warnings.extend(warns);
            }
            Err(errs) => errors.extend(errs),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    calendars.insert(ALWAYS.to_string(), Calendar::always());
    Ok((calendars, warnings))
}

/// Collects the errors and warnings of one calendar while its fields are parsed.
struct Validator<'a> {
    calendar: &'a str,
    errors: Vec<CalendarError>,
    warnings: Vec<CalendarWarning>,
}

impl Validator<'_> {
    fn warn(&mut self, field: &str, value: &str, message: &str) {
        self.warnings.push(CalendarWarning {
            calendar: self.calendar.to_string(),
            field: field.to_string(),
            value: value.to_string(),
            message: message.to_string(),
        });
    }

    fn date(&mut self, field: &str, raw: &str) -> Option<NaiveDate> {
        let parsed = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok();
        if parsed.is_none() {
            self.errors.push(CalendarError::BadDate {
                calendar: self.calendar.to_string(),
                field: field.to_string(),
                value: raw.to_string(),
            });
        }
        parsed
    }

    /// Parses a list of open intervals; one that ends before it starts crosses midnight.
    fn open_list(&mut self, field: &str, raw: &[String]) -> Vec<Span> {
        let mut parsed = Vec::new();
        for text in raw {
            let Some((start, end)) = self.interval(field, text) else {
                continue;
            };
            if end == start {
                self.errors.push(CalendarError::EndBeforeStart {
                    calendar: self.calendar.to_string(),
                    field: field.to_string(),
                    value: text.clone(),
                    hint: "an interval cannot be empty; for a whole day write \"00:00-24:00\""
                        .to_string(),
                });
                continue;
            }
            // `22:00-02:00` crosses midnight and belongs to the day it starts.
            let end = if end < start {
                end + MINUTES_PER_DAY
            } else {
                end
            };
            parsed.push((Span { start, end }, text));
        }
        self.check_overlaps(field, &mut parsed);
        parsed.into_iter().map(|(s, _)| s).collect()
    }

    /// Parses a list of breaks; a break may not cross midnight.
    fn break_list<'t>(&mut self, field: &str, raw: &'t [String]) -> Vec<(Span, &'t String)> {
        let mut parsed = Vec::new();
        for text in raw {
            let Some((start, end)) = self.interval(field, text) else {
                continue;
            };
            if end <= start {
                self.errors.push(CalendarError::EndBeforeStart {
                    calendar: self.calendar.to_string(),
                    field: field.to_string(),
                    value: text.clone(),
                    hint: "a break cannot be empty or cross midnight; split it, e.g. \"23:00-24:00\" and \"00:00-01:00\"".to_string(),
                });
                continue;
            }
            parsed.push((Span { start, end }, text));
        }
        parsed
    }

    fn check_overlaps(&mut self, field: &str, parsed: &mut [(Span, &String)]) {
        parsed.sort_by_key(|(s, _)| *s);
        for pair in parsed.windows(2) {
            let ((a, a_text), (b, b_text)) = (&pair[0], &pair[1]);
            if b.start < a.end {
                self.errors.push(CalendarError::Overlap {
                    calendar: self.calendar.to_string(),
                    field: field.to_string(),
                    first: (*a_text).clone(),
                    second: (*b_text).clone(),
                });
            }
        }
    }

    /// Parses `HH:MM-HH:MM` into minutes since midnight; `24:00` only as an end.
    fn interval(&mut self, field: &str, text: &str) -> Option<(u16, u16)> {
        let result = parse_interval(text);
        match result {
            Ok(pair) => Some(pair),
            Err(reason) => {
                self.errors.push(CalendarError::BadInterval {
                    calendar: self.calendar.to_string(),
                    field: field.to_string(),
                    value: text.to_string(),
                    reason,
                });
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> CalendarConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_documented_example_builds_without_warnings() {
        let cfg = parse(
            r#"
            timezone = "America/Sao_Paulo"
            mon = ["08:00-18:00"]
            tue = ["08:00-18:00"]
            sat = ["09:00-13:00"]
            breaks = ["12:00-13:00"]
            holidays = ["2026-12-25", "2027-01-01"]
            holiday_sets = ["BR"]
            [exceptions]
            "2026-12-24" = ["08:00-12:00"]
            "#,
        );
        let (cal, warnings) = cfg.build("comercial").unwrap();
        assert_eq!(cal.name(), "comercial");
        assert_eq!(cal.timezone(), chrono_tz::America::Sao_Paulo);
        assert!(warnings.is_empty(), "{warnings:?}");
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            cal.hours_on(monday),
            &[
                Span {
                    start: 480,
                    end: 720
                },
                Span {
                    start: 780,
                    end: 1080
                }
            ]
        );
    }

    #[test]
    fn every_error_is_reported_at_once_naming_calendar_field_and_value() {
        let cfg = parse(
            r#"
            timezone = "America/Sao_Paul"
            mon = ["08:00-12:00", "11:00-18:00"]
            tue = ["8h-18h"]
            wed = ["25:00-26:00"]
            thu = ["10:00-10:00"]
            fri = ["24:00-02:00"]
            breaks = ["13:00-12:00"]
            holidays = ["2026-02-30"]
            holiday_sets = ["XX"]
            [day_breaks]
            funday = ["12:00-13:00"]
            [exceptions]
            "2026-13-01" = ["08:00-12:00"]
            "#,
        );
        let errors = cfg.build("comercial").unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let has = |needle: &str| text.iter().any(|t| t.contains(needle));
        assert_eq!(errors.len(), 11, "{text:#?}");
        assert!(
            text.iter()
                .all(|t| t.starts_with("calendar \"comercial\": ")),
            "{text:#?}"
        );
        assert!(has("timezone: unknown time zone \"America/Sao_Paul\""));
        assert!(has("mon: \"08:00-12:00\" and \"11:00-18:00\" overlap"));
        assert!(has("tue: \"8h-18h\" is not an interval"));
        assert!(has(
            "wed: \"25:00-26:00\" is not an interval: \"25:00\" is out of range"
        ));
        assert!(has("thu: \"10:00-10:00\" does not end after it starts"));
        assert!(has(
            "fri: \"24:00-02:00\" is not an interval: 24:00 can only end an interval"
        ));
        assert!(has("breaks: \"13:00-12:00\" does not end after it starts"));
        assert!(has("holidays: \"2026-02-30\" is not a date"));
        assert!(has(
            "unknown holiday set \"XX\" (known: BR, BR-SP, BR-RJ, BR-CE, BR-AC, "
        ));
        assert!(has("day_breaks: unknown weekday \"funday\""));
        assert!(
            !has("exceptions.2026-13-01"),
            "the key is wrong, not its intervals"
        );
        assert!(errors.contains(&CalendarError::BadDate {
            calendar: "comercial".into(),
            field: "exceptions".into(),
            value: "2026-13-01".into(),
        }));
    }

    #[test]
    fn a_break_outside_every_interval_is_only_a_warning() {
        let cfg = parse("timezone = 'UTC'\nmon = ['08:00-18:00']\nbreaks = ['19:00-20:00']\n[day_breaks]\nmon = ['06:00-07:00']");
        let (_, warnings) = cfg.build("late").unwrap();
        let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].contains("day_breaks.mon: \"06:00-07:00\" lies outside every open interval")
        );
        assert!(text[1].contains("breaks: \"19:00-20:00\" lies outside every open interval"));
    }

    #[test]
    fn a_break_on_the_after_midnight_part_of_an_interval_is_no_warning() {
        let cfg = parse("timezone = 'UTC'\nfri = ['22:00-02:00']\nbreaks = ['00:30-01:00']");
        assert!(cfg.build("night").unwrap().1.is_empty());
    }

    #[test]
    fn whole_days_and_midnight_ends_are_accepted() {
        let cfg = parse(
            "timezone = 'UTC'\nmon = ['00:00-24:00']\ntue = ['22:00-00:00']\nwed = ['9:30-12:00']",
        );
        let (cal, _) = cfg.build("x").unwrap();
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        assert_eq!(
            cal.hours_on(d(23)),
            &[Span {
                start: 0,
                end: 1440
            }]
        );
        assert_eq!(
            cal.hours_on(d(24)),
            &[Span {
                start: 1320,
                end: 1440
            }]
        );
        assert_eq!(
            cal.hours_on(d(25)),
            &[Span {
                start: 570,
                end: 720
            }]
        );
    }

    #[test]
    fn a_calendar_with_no_hours_warns_that_it_never_opens() {
        let (_, warnings) = parse("timezone = 'UTC'").build("empty").unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].to_string().contains("never opens"));
    }

    #[test]
    fn unknown_keys_are_rejected_by_serde() {
        assert!(
            toml::from_str::<CalendarConfig>("timezone = 'UTC'\nmonday = ['08:00-18:00']").is_err()
        );
    }

    #[test]
    fn build_calendars_adds_always_and_reserves_its_name() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "comercial".to_string(),
            parse("timezone = 'UTC'\nmon = ['08:00-18:00']"),
        );
        let (calendars, warnings) = build_calendars(&cfg).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            calendars.keys().collect::<Vec<_>>(),
            ["always", "comercial"]
        );

        cfg.insert("always".to_string(), parse("timezone = 'UTC'"));
        cfg.insert("broken".to_string(), parse("timezone = 'Mars/Olympus'"));
        let errors = build_calendars(&cfg).unwrap_err();
        assert_eq!(
            errors,
            vec![
                CalendarError::ReservedName {
                    calendar: "always".into()
                },
                CalendarError::UnknownTimeZone {
                    calendar: "broken".into(),
                    value: "Mars/Olympus".into()
                },
            ]
        );
    }
}
