//! `tierpace plan`: a forecast of the tier ladder, one row a day like the operator's guide's
//! tables (DOMAIN.md §1): new business-initiated conversations, unique customers in the last 7
//! days, the limit in force at the end of the day, and when an upgrade takes effect.
//!
//! This folder is one command with several modes (STYLE.md rule 22: parents dispatch, children do
//! not import each other). This file holds the flags, the forecast's input and result types the
//! children share, and the runs that chain the children:
//! - [`replay`]: `--sends 500,500,...` replays given day totals through the in-memory ledger;
//! - [`inputs`]: a forecast's inputs from the flags, a campaign file and the daemon config;
//! - [`forecast`]: the campaign on virtual time (pacer and in-memory ledger) and its summary;
//! - [`deadline`]: the warning when a campaign cannot finish before its `end`;
//! - [`svg`]: the forecast drawn as a chart.
//!
//! The day table both modes print is [`crate::cli::table`].
pub mod deadline;
pub mod forecast;
pub mod inputs;
pub mod replay;
pub mod svg;

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::campaign::file::Campaign;
use crate::cli::table::PlanDay;
use crate::clock::{Clock, SystemClock};
use crate::config::LoadedConfig;
use crate::policy::calendar::Calendar;
use crate::policy::growth::PacingMode;
use crate::policy::pacer::PacerSettings;
use crate::policy::profile::Policy;
use crate::policy::tier::Tier;

/// Exit code when the flags are unusable (EX_USAGE, STYLE.md convention 17).
pub const EXIT_USAGE: i32 = 64;
/// Exit code when some day's sends go over the limit.
pub const EXIT_OVER_LIMIT: i32 = 1;

/// Arguments of `tierpace plan`.
///
/// Two modes: `--sends 500,500,...` replays given day totals through the ledger ([`replay`]);
/// `--audience N` or `--campaign ID` forecasts a campaign with the pacer on virtual time
/// ([`forecast`], its inputs from [`inputs`]).
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// Tier policy profile: legacy or meta-2025 [default: legacy, or the config's [policy]].
    #[arg(long)]
    pub profile: Option<String>,
    /// Tier at the start of the first day: 250, 1k, 10k, 100k, unlimited, TIER_2K, ...
    /// [default: 1k, or the campaign's sender's initial_tier].
    #[arg(long)]
    pub tier: Option<Tier>,
    /// New customers to reach each day, comma-separated: 500,500,2000
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1..,
        required_unless_present_any = ["audience", "campaign"],
        conflicts_with_all = ["audience", "campaign"]
    )]
    pub sends: Vec<u64>,
    /// First day, YYYY-MM-DD (default: today in --timezone; for a forecast, now).
    #[arg(long)]
    pub start: Option<NaiveDate>,
    /// Send each day's batch at this time, HH:MM (default: spread evenly over the day).
    #[arg(long, value_parser = parse_hh_mm)]
    pub at: Option<NaiveTime>,
    /// IANA time zone the days and times are in (a forecast uses its calendar's zone).
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Share of the limit tierpace may use [default: 0.95, or the config's pacing.safety_share].
    #[arg(long)]
    pub safety_share: Option<f64>,
    /// Unique customers per 24 h kept free for agents' manual messages [default: 0, or the
    /// config's pacing.reserve].
    #[arg(long)]
    pub reserve: Option<u64>,
    /// Forecast: the daemon config that holds the campaign, its sender and calendars.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Forecast the campaign with this id (its audience, calendar, pacing and sender).
    #[arg(long)]
    pub campaign: Option<String>,
    /// Forecast this many contacts (overrides the campaign's audience count).
    #[arg(long)]
    pub audience: Option<u64>,
    /// Forecast: business hours, a calendar of the config or `always` [default: always, or the
    /// campaign's].
    #[arg(long)]
    pub calendar: Option<String>,
    /// Forecast: grow, steady or asap [default: grow, or the campaign's].
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<PacingMode>,
    /// Forecast: at most this many new customers a day (steady mode's day budget).
    #[arg(long)]
    pub daily_max: Option<u64>,
    /// Forecast: the sender's messages per second [default: 20, or the sender's max_mps].
    #[arg(long)]
    pub max_mps: Option<u32>,
    /// Forecast: sends the template already had; the first 1,000 go at half rate [default: 0].
    #[arg(long)]
    pub template_sends: Option<u64>,
    /// Forecast: grow mode crosses each threshold over this much open time (`pacing.cross_within`)
    /// [default: 1h, or the config's [pacing]].
    #[arg(long, value_parser = parse_tick)]
    pub cross_within: Option<StdDuration>,
    /// Forecast: virtual time between two pacer decisions.
    #[arg(long, default_value = "60s", value_parser = parse_tick)]
    pub tick: StdDuration,
    /// Forecast: give up after this many days.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Forecast: also draw the tier limit and the cumulative sends as an SVG chart.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// A flag value `plan` cannot use; clap prints it after the flag's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("{0:?} is not a time of day; accepted: HH:MM, e.g. 15:00")]
    TimeOfDay(String),
    #[error("{0:?} is not a pacing mode; accepted: grow, steady, asap")]
    Mode(String),
    #[error("{0:?} is too short; accepted: 1s or more, e.g. 60s")]
    TooShort(String),
    #[error("{given:?} is not a duration ({reason}); accepted: e.g. 60s, 5m")]
    Duration { given: String, reason: String },
}

/// `HH:MM`, e.g. `15:00`.
pub fn parse_hh_mm(s: &str) -> Result<NaiveTime, FlagError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| FlagError::TimeOfDay(s.to_string()))
}

/// `grow`, `steady` or `asap`.
pub fn parse_mode(s: &str) -> Result<PacingMode, FlagError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "grow" => Ok(PacingMode::Grow),
        "steady" => Ok(PacingMode::Steady),
        "asap" => Ok(PacingMode::Asap),
        _ => Err(FlagError::Mode(s.to_string())),
    }
}

/// Humantime, e.g. `60s`, `5m`.
pub fn parse_tick(s: &str) -> Result<StdDuration, FlagError> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d >= StdDuration::from_secs(1) => Ok(d),
        Ok(_) => Err(FlagError::TooShort(s.to_string())),
        Err(e) => Err(FlagError::Duration {
            given: s.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Everything a forecast depends on.
#[derive(Debug, Clone)]
pub struct ForecastInput {
    pub policy: Policy,
    /// Share of the limit tierpace may use (`pacing.safety_share`).
    pub safety_share: f64,
    /// Unique customers per 24 h kept free for agents (`pacing.reserve`).
    pub reserve: u64,
    /// The tier at `start`.
    pub tier: Tier,
    /// Business hours the campaign sends in; the table's days are this calendar's local days.
    pub calendar: Calendar,
    /// The first instant the campaign may send.
    pub start: DateTime<Utc>,
    /// Contacts to reach, each a new unique customer.
    pub audience: u64,
    pub mode: PacingMode,
    /// At most this many new customers a local day (steady mode's budget, or a cap).
    pub daily_max: Option<u64>,
    /// Marketing templates are the ones the warm-up and quality brakes apply to.
    pub marketing: bool,
    /// Sends the template already had: the first `warmup_sends` of a template go at a reduced
    /// pace (DESIGN.md §3), so a new template (0) forecasts later than a warmed-up one.
    pub template_sends: u64,
    /// The sender's throughput cap.
    pub max_mps: u32,
    /// Warm-up and brake settings of the pacer (`[pacing]`); `catch_up` is replaced by `tick`.
    pub pacing: PacerSettings,
    /// Virtual time between two pacer decisions.
    pub tick: StdDuration,
    /// The forecast gives up this long after `start` if the audience is not reached.
    pub horizon: Duration,
}

/// What the forecast found.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// One row per local day of the calendar, from the start's day to the last simulated day.
    pub days: Vec<PlanDay>,
    /// Each tier held and the instant it took effect, the starting tier (at `start`) first.
    pub tiers: Vec<(Tier, DateTime<Utc>)>,
    /// When the last contact was reached; `None` if not within the horizon.
    pub finished_at: Option<DateTime<Utc>>,
    /// Contacts reached.
    pub sent: u64,
    /// Cumulative sends after each tick with sends (for the chart), starting with `(start, 0)`.
    pub cumulative: Vec<(DateTime<Utc>, u64)>,
    /// Where the simulation stopped.
    pub until: DateTime<Utc>,
    /// The calendar's zone: the days and times of the table are local to it.
    pub timezone: Tz,
}

impl Forecast {
    /// The local date of `t` in the calendar's zone and its day number (1 = the start's day).
    pub fn day_of(&self, t: DateTime<Utc>) -> Option<(usize, NaiveDate)> {
        let date = t.with_timezone(&self.timezone).date_naive();
        self.days
            .iter()
            .find(|d| d.date == date)
            .map(|d| (d.day, d.date))
    }

    /// When `tier` took effect, if it did.
    pub fn reached(&self, tier: Tier) -> Option<DateTime<Utc>> {
        self.tiers
            .iter()
            .find(|(t, _)| *t == tier)
            .map(|(_, at)| *at)
    }
}

impl ForecastInput {
    /// The same campaign under the tier rules alone: the whole limit (safety share 1, no
    /// reserve), each threshold crossed at `max_mps` from the moment it is allowed (no ramp),
    /// no warm-up. Same calendar, profile, start tier and throughput cap.
    pub fn rules_only(&self) -> ForecastInput {
        ForecastInput {
            safety_share: 1.0,
            reserve: 0,
            mode: PacingMode::Grow,
            daily_max: None,
            pacing: PacerSettings {
                safety_share: 1.0,
                reserve: 0,
                warmup_sends: 0,
                cross_within: StdDuration::from_secs(1),
                ..self.pacing.clone()
            },
            ..self.clone()
        }
    }
}

/// Prints the plan; returns the process exit code.
pub fn run(args: &PlanArgs) -> Result<i32> {
    if args.audience.is_some() || args.campaign.is_some() {
        return run_forecast(args, SystemClock.now());
    }
    let input = match replay::validate(args) {
        Ok(input) => input,
        Err(e) => {
            eprintln!("tierpace plan: {e:#}");
            return Ok(EXIT_USAGE);
        }
    };
    let days = replay::simulate(&input)?;
    crate::cli::out::print(&replay::render(&input, &days));
    Ok(if days.iter().any(|d| d.refused > 0) {
        EXIT_OVER_LIMIT
    } else {
        0
    })
}

/// `plan` in forecast mode: prints the table and summary, writes the SVG; returns the exit code.
pub fn run_forecast(args: &PlanArgs, now: DateTime<Utc>) -> Result<i32> {
    let (input, deadline) = match inputs::input_from_args(args, now) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("tierpace plan: {e:#}");
            return Ok(EXIT_USAGE);
        }
    };
    let f = forecast::simulate(&input)?;
    let earliest = forecast::earliest_rungs(&input)?;
    crate::cli::out::print(&forecast::render(&input, &f, &earliest));
    if let Some(warning) =
        deadline.and_then(|(id, end)| deadline::deadline_warning(&id, end, &input, &f))
    {
        crate::cli::out::println(&format!("warning: {warning}"));
    }
    if let Some(path) = &args.svg {
        write_svg(path, &input, &f)?;
    }
    Ok(0)
}

fn write_svg(path: &Path, input: &ForecastInput, f: &Forecast) -> Result<()> {
    std::fs::write(path, svg::render_svg(input, f))
        .with_context(|| format!("--svg: cannot write {}", path.display()))
}

/// How far past a campaign's `end` the check's forecast looks for the finish day.
const CHECK_BEYOND_END: i64 = 30;

/// The forecast check of one valid campaign for `tierpace check`: a warning when its audience
/// cannot be reached before its `end` (an `Err` says why no forecast could be made).
pub fn check_campaign(
    loaded: &LoadedConfig,
    c: &Campaign,
    audience: u64,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let Some(end) = c.schedule.end else {
        return Ok(None);
    };
    let mut input = inputs::campaign_input(loaded, c, audience, now)?;
    if end <= input.start {
        // The next-window line already says the schedule has ended.
        return Ok(None);
    }
    input.horizon = (end - input.start) + Duration::days(CHECK_BEYOND_END);
    let f = forecast::simulate(&input)?;
    Ok(deadline::deadline_warning(&c.id, end, &input, &f))
}
