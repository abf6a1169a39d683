//! How a business-hours calendar is written in the daemon config (`[calendars.NAME]`) or inline in
//! a campaign file (`[schedule.hours]`). Validation turns it into a [`super::calendar::Calendar`].
use std::collections::BTreeMap;

use serde::Deserialize;

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
