//! From the registry's valid campaigns to the runs each sender's dispatcher works on: resolve
//! the calendar, pick the run in force (a new template or audience file, or a new cron firing,
//! is a new run), and scan the audience once per file version for the contact count and the
//! bad-row rule (a campaign whose audience is mostly garbage is refused, not half-sent).
//!
//! For cron campaigns the same computation gives the daemon its next wake-up: the earliest next
//! firing of any campaign, in that campaign's calendar zone ([`CampaignPlanner::next_wake`]).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::campaign::audience::{scan_audience, AudienceError, AudienceSummary};
use crate::campaign::file::{CalendarRef, Campaign};
use crate::contact::ContactHasher;
use crate::dispatch::progress::RunId;
use crate::dispatch::runner::LiveCampaign;
use crate::policy::calendar::Calendar;
use crate::policy::calendar_config::CalendarError;
use crate::policy::cron;

/// Why a campaign that is valid as a file cannot run. Its text is the [`Refusal`]'s `error`,
/// shown in the log and by `tierpace status`.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The campaign names a calendar the daemon config does not define.
    #[error("calendar {0:?} is not defined in the daemon config")]
    UnknownCalendar(String),
    /// The campaign's inline calendar is invalid (every error, joined by "; ").
    #[error("{}", join(.0))]
    InlineCalendar(Vec<CalendarError>),
    /// The audience file's metadata cannot be read (missing, no permission).
    #[error("{}: {source}", file.display())]
    AudienceFile {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The audience cannot be read, or is refused by the bad-row rule.
    #[error(transparent)]
    Audience(#[from] AudienceError),
    /// The cron pattern does not parse.
    #[error(transparent)]
    Cron(#[from] cron::CronPatternError),
    /// The cron pattern parses but never fires.
    #[error("cron {0:?} never fires")]
    NeverFires(String),
}

fn join(errors: &[CalendarError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Remembers audience scans (by file, modification time and size) and campaigns' arrival order.
#[derive(Default)]
pub struct CampaignPlanner {
    scans: HashMap<PathBuf, (Option<SystemTime>, u64, AudienceSummary)>,
    ages: HashMap<String, u64>,
    next_age: u64,
    /// Cron runs this process has put in force: a run once in force stays so, however late
    /// the next reload comes (the calendar may keep it from sending for hours).
    in_force: HashSet<RunId>,
    next_wake: Option<DateTime<Utc>>,
}

/// A campaign that is valid as a file but cannot run (its audience or calendar is unusable).
#[derive(Debug, Clone)]
pub struct Refusal {
    pub campaign: String,
    pub file: PathBuf,
    pub error: String,
}

impl CampaignPlanner {
    /// The live runs per sender at `now`. Blocking (reads audience files): call it off the runtime.
    /// `started` says whether a run has progress in the store (a late cron run then resumes).
    pub fn plan(
        &mut self,
        campaigns: &[Campaign],
        calendars: &BTreeMap<String, Calendar>,
        hasher: &ContactHasher,
        now: DateTime<Utc>,
        started: &dyn Fn(&RunId) -> bool,
    ) -> (BTreeMap<String, Vec<LiveCampaign>>, Vec<Refusal>) {
        let mut live: BTreeMap<String, Vec<LiveCampaign>> = BTreeMap::new();
        let mut refused = Vec::new();
        self.next_wake = None;
        for c in campaigns {
            match self.one(c, calendars, hasher, now, started) {
                Ok(l) => live.entry(c.sender.clone()).or_default().push(l),
                Err(error) => refused.push(Refusal {
                    campaign: c.id.clone(),
                    file: c.file.clone(),
                    error: error.to_string(),
                }),
            }
        }
        (live, refused)
    }

    /// The earliest next cron firing among the campaigns of the last [`Self::plan`]: when the
    /// daemon must plan again to start that firing's run.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.next_wake
    }

    fn one(
        &mut self,
        c: &Campaign,
        calendars: &BTreeMap<String, Calendar>,
        hasher: &ContactHasher,
        now: DateTime<Utc>,
        started: &dyn Fn(&RunId) -> bool,
    ) -> Result<LiveCampaign, PlanError> {
        let (calendar_name, calendar) = match &c.schedule.calendar {
            CalendarRef::Named(name) => (
                name.clone(),
                calendars
                    .get(name)
                    .cloned()
                    .ok_or_else(|| PlanError::UnknownCalendar(name.clone()))?,
            ),
            CalendarRef::Inline(cfg) => {
                let name = format!("{} (inline)", c.id);
                let (cal, _warnings) = cfg.build(&name).map_err(PlanError::InlineCalendar)?;
                (name, cal)
            }
        };
        let summary = self.scan(c, hasher)?;
        if summary.refused() {
            return Err(AudienceError::Refused {
                summary: Box::new(summary),
            }
            .into());
        }
        let mut campaign = c.clone();
        let mut run_key = c.run_key();
        if let Some(pattern) = &c.schedule.cron {
            let cron = cron::parse(pattern)?;
            let tz = calendar.timezone();
            let run_at =
                |t: DateTime<Utc>| RunId::new(&c.id, &format!("{run_key}@{}", t.timestamp()));
            let in_force = cron::run_in_force(&cron, tz, now, c.schedule.late_start, |t| {
                let run = run_at(t);
                self.in_force.contains(&run) || started(&run)
            })
            .ok_or_else(|| PlanError::NeverFires(pattern.clone()))?;
            let firing = match in_force {
                cron::RunInForce::Current(t) => {
                    self.in_force.insert(run_at(t));
                    t
                }
                cron::RunInForce::Next(next) => {
                    campaign.schedule.start =
                        Some(campaign.schedule.start.map_or(next, |s| s.max(next)));
                    next
                }
            };
            if let Some(next) = cron::next_firing(&cron, tz, now) {
                self.next_wake = Some(self.next_wake.map_or(next, |w| w.min(next)));
            }
            run_key = format!("{run_key}@{}", firing.timestamp());
        }
        let age_rank = *self.ages.entry(c.id.clone()).or_insert_with(|| {
            self.next_age += 1;
            self.next_age
        });
        Ok(LiveCampaign {
            run: RunId::new(&c.id, &run_key),
            campaign,
            calendar_name,
            calendar,
            valid_contacts: summary.valid,
            total_rows: summary.rows,
            age_rank,
        })
    }

    fn scan(&mut self, c: &Campaign, hasher: &ContactHasher) -> Result<AudienceSummary, PlanError> {
        let file = &c.audience.file;
        let meta = std::fs::metadata(file).map_err(|source| PlanError::AudienceFile {
            file: file.clone(),
            source,
        })?;
        let stamp = (meta.modified().ok(), meta.len());
        if let Some((m, len, summary)) = self.scans.get(file) {
            if (*m, *len) == stamp {
                return Ok(summary.clone());
            }
        }
        let summary = scan_audience(&c.audience, &c.template.params, hasher)?;
        self.scans
            .insert(file.clone(), (stamp.0, stamp.1, summary.clone()));
        Ok(summary)
    }
}
