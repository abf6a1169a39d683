//! The inputs of `tierpace plan --campaign ID` / `--audience N`: a [`ForecastInput`] from a
//! campaign file or from flags (the parent, [`super`], runs it and prints it), with the campaign's
//! deadline if it has one.
//!
//! Where the numbers come from, in order: the flags, then the campaign file and its sender in the
//! daemon config, then the config's `[policy]` and `[pacing]`, then the built-in defaults. The tier
//! is the sender's `initial_tier` unless `--tier` says otherwise: the forecast is offline and does
//! not read the live ledger.
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use super::{ForecastInput, PlanArgs};
use crate::campaign::audience::scan_audience;
use crate::campaign::file::{CalendarRef, Campaign, CampaignContext, Category};
use crate::campaign::load::load_campaign;
use crate::campaign::registry::campaign_files;
use crate::config::LoadedConfig;
use crate::contact::ContactHasher;
use crate::policy::calendar::{Calendar, ALWAYS};
use crate::policy::calendar_config::{build_calendars, CalendarConfig};
use crate::policy::growth::PacingMode;
use crate::policy::pacer::PacerSettings;
use crate::policy::profile::{Policy, PROFILE_NAMES};
use crate::policy::tier::Tier;

/// The pacing mode and daily cap a campaign file asks for. Steady mode's `daily_budget` is its
/// fixed day budget, so it caps the day like `daily_max` (the smaller of the two wins).
fn campaign_pacing(c: &Campaign) -> (PacingMode, Option<u64>) {
    let mode: PacingMode = c.pacing.mode.into();
    match mode {
        PacingMode::Grow | PacingMode::Asap => (mode, c.pacing.daily_max),
        PacingMode::Steady => {
            let cap = match (c.pacing.daily_max, c.pacing.daily_budget) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (PacingMode::Steady, cap)
        }
    }
}

/// A named calendar of the daemon config, or the built-in `always`.
fn named_calendar(loaded: Option<&LoadedConfig>, name: &str) -> Result<Calendar> {
    if name == ALWAYS {
        return Ok(Calendar::always());
    }
    let loaded = loaded.ok_or_else(|| {
        anyhow!("--calendar {name:?} needs the daemon config (--config) that defines it")
    })?;
    let (calendars, _) = build_calendars(&loaded.config.calendars).map_err(|errors| {
        anyhow!(
            "calendars in {}: {}",
            loaded.path.display(),
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    calendars.get(name).cloned().ok_or_else(|| {
        anyhow!(
            "--calendar: no calendar {name:?} in {}; accepted: {}",
            loaded.path.display(),
            calendars.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

/// The calendar a campaign sends in.
fn campaign_calendar(loaded: &LoadedConfig, c: &Campaign) -> Result<Calendar> {
    match &c.schedule.calendar {
        CalendarRef::Named(n) => named_calendar(Some(loaded), n),
        CalendarRef::Inline(cfg) => cfg.build(&c.id).map(|(cal, _)| cal).map_err(|errors| {
            anyhow!(
                "{}: schedule.hours: {}",
                c.file.display(),
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }),
    }
}

/// The forecast inputs of one campaign from the daemon config, starting at `now` (or the
/// campaign's `start` if later), for `audience` contacts.
pub fn campaign_input(
    loaded: &LoadedConfig,
    c: &Campaign,
    audience: u64,
    now: DateTime<Utc>,
) -> Result<ForecastInput> {
    let cfg = &loaded.config;
    let sender = cfg
        .senders
        .get(&c.sender)
        .ok_or_else(|| anyhow!("campaign {}: no sender {:?} in the config", c.id, c.sender))?;
    let tier: Tier = sender
        .initial_tier
        .parse()
        .map_err(|e| anyhow!("senders.{}.initial_tier: {e}", c.sender))?;
    let policy = cfg
        .policy
        .resolve()
        .map_err(|e| anyhow!("{}: {e}", loaded.path.display()))?;
    let (mode, daily_max) = campaign_pacing(c);
    Ok(ForecastInput {
        policy,
        safety_share: cfg.pacing.safety_share,
        reserve: cfg.pacing.reserve,
        tier,
        calendar: campaign_calendar(loaded, c)?,
        start: c.schedule.start.map_or(now, |s| s.max(now)),
        audience,
        mode,
        daily_max,
        marketing: c.template.category == Category::Marketing,
        template_sends: 0,
        max_mps: sender.max_mps,
        pacing: cfg.pacing.clone(),
        tick: StdDuration::from_secs(60),
        horizon: Duration::days(90),
    })
}

/// The campaign with this id in the config's campaigns directory.
fn find_campaign(loaded: &LoadedConfig, id: &str) -> Result<Campaign> {
    let cfg = &loaded.config;
    let ctx = CampaignContext::from(cfg);
    let dir = loaded.campaigns_dir();
    let files = campaign_files(&dir).with_context(|| format!("listing {}", dir.display()))?;
    let mut ids = Vec::new();
    for file in files {
        match load_campaign(&file, &ctx) {
            Ok(c) if c.id == id => return Ok(c),
            Ok(c) => ids.push(c.id),
            // The asked campaign's file does not load: the same reason `check` gives (issue #20).
            Err(e) if file_id(&file).as_deref() == Some(id) => {
                bail!("--campaign: campaign {id:?} does not load: {e}")
            }
            // Other files that do not load are `tierpace check`'s business.
            Err(_) => {}
        }
    }
    bail!(
        "--campaign: no valid campaign {id:?} in {}; found: {}",
        dir.display(),
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    )
}

/// The `id` a campaign file declares (or its file stem without one), read leniently so a file
/// that fails validation can still be matched to `--campaign`.
fn file_id(file: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    match toml::from_str::<toml::Value>(&text) {
        Ok(v) => match v.get("id") {
            Some(id) => id.as_str().map(str::to_string),
            None => file.file_stem().map(|s| s.to_string_lossy().into_owned()),
        },
        Err(_) => file.file_stem().map(|s| s.to_string_lossy().into_owned()),
    }
}

/// Valid contacts in a campaign's audience (opt-outs held only in Redis are not known offline).
fn audience_size(c: &Campaign) -> Result<u64> {
    // The real hash key is not needed to count: hashes only group duplicates here.
    let hasher = ContactHasher::new(b"tierpace-plan");
    let summary = scan_audience(&c.audience, &c.template.params, &hasher)
        .map_err(|e| anyhow!("campaign {}: {e}", c.id))?;
    Ok(summary.valid)
}

fn default_config_path() -> PathBuf {
    std::env::var_os("TIERPACE_CONFIG")
        .map_or_else(|| PathBuf::from("config/tierpace.toml"), PathBuf::from)
}

/// A 24/7 calendar in `tz` (the built-in `always` is in UTC), so the days of the table are the
/// operator's days.
fn always_in(tz: Tz) -> Result<Calendar> {
    if tz == Tz::UTC {
        return Ok(Calendar::always());
    }
    let day = vec!["00:00-24:00".to_string()];
    let cfg = CalendarConfig {
        timezone: tz.name().to_string(),
        mon: day.clone(),
        tue: day.clone(),
        wed: day.clone(),
        thu: day.clone(),
        fri: day.clone(),
        sat: day.clone(),
        sun: day,
        ..CalendarConfig::default()
    };
    cfg.build(ALWAYS)
        .map(|(c, _)| c)
        .map_err(|_| anyhow!("cannot build a 24/7 calendar in {tz}"))
}

/// A campaign's id and `end`, for the deadline warning.
pub type Deadline = Option<(String, DateTime<Utc>)>;

/// Builds the forecast inputs from the flags (and the config and campaign they name), with the
/// campaign's deadline if it has one.
pub fn input_from_args(args: &PlanArgs, now: DateTime<Utc>) -> Result<(ForecastInput, Deadline)> {
    let needs_config = args.campaign.is_some()
        || args.config.is_some()
        || args.calendar.as_deref().is_some_and(|c| c != ALWAYS);
    let loaded = if needs_config {
        let path = args.config.clone().unwrap_or_else(default_config_path);
        Some(LoadedConfig::load(&path).map_err(|e| anyhow!("--config: {e}"))?)
    } else {
        None
    };
    let timezone: Tz = args.timezone.parse().map_err(|_| {
        anyhow!(
            "--timezone: unknown time zone {:?}; accepted: IANA names like UTC or America/Sao_Paulo",
            args.timezone
        )
    })?;
    let mut deadline = None;
    let mut input = match (&loaded, &args.campaign) {
        (Some(loaded), Some(id)) => {
            let c = find_campaign(loaded, id)?;
            let audience = match args.audience {
                Some(n) => n,
                None => audience_size(&c)?,
            };
            deadline = c.schedule.end.map(|end| (c.id.clone(), end));
            campaign_input(loaded, &c, audience, now)?
        }
        _ => {
            let audience = args
                .audience
                .ok_or_else(|| anyhow!("--audience: give the number of contacts, e.g. 25000"))?;
            let cfg = loaded.as_ref().map(|l| &l.config);
            let policy = match cfg {
                Some(c) => c.policy.resolve().map_err(|e| anyhow!("--config: {e}"))?,
                None => Policy::legacy(),
            };
            let pacing = cfg.map_or_else(PacerSettings::default, |c| c.pacing.clone());
            ForecastInput {
                policy,
                safety_share: pacing.safety_share,
                reserve: pacing.reserve,
                tier: Tier::T1K,
                calendar: Calendar::always(),
                start: now,
                audience,
                mode: PacingMode::Grow,
                daily_max: None,
                marketing: true,
                template_sends: 0,
                max_mps: 20,
                pacing,
                tick: StdDuration::from_secs(60),
                horizon: Duration::days(90),
            }
        }
    };
    // Flags override whatever the file said.
    if let Some(name) = &args.calendar {
        input.calendar = if name == ALWAYS {
            always_in(timezone)?
        } else {
            named_calendar(loaded.as_ref(), name)?
        };
    } else if args.campaign.is_none() {
        input.calendar = always_in(timezone)?;
    }
    if let Some(profile) = &args.profile {
        input.policy = Policy::by_name(profile).ok_or_else(|| {
            anyhow!("--profile: unknown profile {profile:?}; accepted: {PROFILE_NAMES}")
        })?;
    }
    if let Some(tier) = args.tier {
        input.tier = tier;
    }
    if let Some(share) = args.safety_share {
        if !(share > 0.0 && share <= 1.0) {
            bail!(
                "--safety-share: {share} is out of range; accepted: a number in (0, 1], e.g. 0.95"
            );
        }
        input.safety_share = share;
    }
    if let Some(reserve) = args.reserve {
        input.reserve = reserve;
    }
    if let Some(mode) = args.mode {
        input.mode = mode;
    }
    if args.daily_max.is_some() {
        input.daily_max = args.daily_max;
    }
    if input.mode == PacingMode::Steady && input.daily_max.is_none() {
        bail!("--mode steady: give the day budget with --daily-max, e.g. --daily-max 500");
    }
    if let Some(mps) = args.max_mps {
        if mps == 0 {
            bail!("--max-mps: must be at least 1");
        }
        input.max_mps = mps;
    }
    if let Some(n) = args.template_sends {
        input.template_sends = n;
    }
    if let Some(d) = args.cross_within {
        input.pacing.cross_within = d;
    }
    input.tick = args.tick;
    input.horizon = Duration::days(i64::from(args.days.max(1)));
    if let Some(date) = args.start {
        // The start of that local day in the calendar's zone.
        let tz = input.calendar.timezone();
        let midnight = date
            .and_time(NaiveTime::MIN)
            .and_local_timezone(tz)
            .earliest()
            .ok_or_else(|| anyhow!("--start: {date} has no midnight in {tz}"))?;
        input.start = midnight.with_timezone(&Utc);
    }
    Ok((input, deadline))
}
