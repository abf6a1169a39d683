//! The campaign file: one TOML file per campaign in `campaigns_dir` (DESIGN.md §1, §4).
//!
//! This file holds the validated types the rest of tierpace uses. Parsing happens in two steps, as
//! vector does it: serde structs that mirror the file, then validation into a [`Campaign`] that
//! reports every problem at once, each with file, line, column and key, and what was expected
//! (guarantee 6: bad input names its place); both live in [`super::validate`], and
//! [`super::load`] reads a file from disk and runs them.
//!
//! Paths in the file are relative to the file itself, so a campaigns directory can be moved whole.
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use siphasher::sip::SipHasher13;

use super::params::ParamTemplate;
use super::template_spec::TemplateParts;
use super::text_encoding::EncodingSetting;
use crate::policy::calendar_config::CalendarConfig;
use crate::provider::ProviderKind;

/// What a campaign file may refer to outside itself: the daemon config's senders and calendars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignContext {
    pub senders: BTreeSet<String>,
    pub calendars: BTreeSet<String>,
    /// Each sender's provider, to refuse a template style it cannot send (Gupshup names a
    /// template by `id`, Meta by `name` + `language`). A sender missing here is not checked.
    pub providers: BTreeMap<String, ProviderKind>,
}

/// What a campaign may refer to in this daemon config: its senders (with their providers) and
/// its calendars, plus the built-in `always`. The daemon, `check` and `plan` all use this one.
impl From<&crate::config::DaemonConfig> for CampaignContext {
    fn from(cfg: &crate::config::DaemonConfig) -> Self {
        let mut calendars: BTreeSet<String> = cfg.calendars.keys().cloned().collect();
        calendars.insert(crate::policy::calendar::ALWAYS.into());
        CampaignContext {
            senders: cfg.senders.keys().cloned().collect(),
            providers: cfg
                .senders
                .iter()
                .map(|(name, s)| (name.clone(), s.provider.into()))
                .collect(),
            calendars,
        }
    }
}

/// A validated campaign, ready for the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Unique across the directory; defaults to the file stem.
    pub id: String,
    /// The file it was loaded from (as found in the directory).
    pub file: PathBuf,
    pub sender: String,
    /// Lower runs first; campaigns of equal priority share headroom by `weight`.
    pub priority: u32,
    pub weight: u32,
    pub template: TemplateSpec,
    pub audience: AudienceSpec,
    pub schedule: ScheduleSpec,
    pub pacing: PacingSpec,
}

/// Which template to send and how to fill it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSpec {
    pub template: TemplateRef,
    pub category: Category,
    /// Every fillable text of the template (header, body, buttons), in the order
    /// [`TemplateParts::fill`] reads them back: what the audience reader renders per row.
    pub params: Vec<ParamTemplate>,
    pub parts: TemplateParts,
}

/// Gupshup names templates by UUID; Meta's Cloud API by name and language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TemplateRef {
    Id(String),
    Name { name: String, language: String },
}

/// The WhatsApp template category; it decides the default pacing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Marketing,
    Utility,
    Authentication,
}

/// Where the contacts come from and how to read them.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceSpec {
    /// Absolute (or as given when absolute in the file) path of the CSV.
    pub file: PathBuf,
    /// Country code used when a row's `ddi` column is empty or absent.
    pub default_ddi: String,
    pub columns: ColumnNames,
    /// The share of rows with bad data above which the audience is refused (default 0.2).
    pub max_bad_share: f64,
    /// `audience.encoding`: UTF-8, Windows-1252, or told from the file (default).
    pub encoding: EncodingSetting,
    /// `audience.param_cleanup`: what to do with a filled parameter Meta would refuse for its
    /// whitespace (newline, tab, more than four spaces in a row).
    pub param_cleanup: ParamCleanup,
}

/// `audience.param_cleanup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamCleanup {
    /// Collapse each such run to one space and send (counted in `check` and metrics).
    #[default]
    Normalise,
    /// Skip the row as `invalid_param`.
    SkipRow,
}

/// Header names of the contact-form columns, configurable per campaign (`[audience.columns]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnNames {
    pub name: String,
    pub ddi: String,
    pub phone: String,
    pub email: String,
    pub opt_in: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        Self {
            name: "name".into(),
            ddi: "ddi".into(),
            phone: "phone".into(),
            email: "email".into(),
            opt_in: "opt_in".into(),
        }
    }
}

/// When the campaign may send.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSpec {
    /// Not before this instant (default: as soon as loaded).
    pub start: Option<DateTime<Utc>>,
    /// Not after; unsent contacts are then `expired`.
    pub end: Option<DateTime<Utc>>,
    /// A recurring run (five fields minute first, or six with seconds first); each firing is its
    /// own run, fired in the calendar's time zone.
    pub cron: Option<String>,
    /// How late a firing's run may still start (`schedule.late_start`, default 1h).
    pub late_start: std::time::Duration,
    pub calendar: CalendarRef,
}

/// Business hours: a calendar named in the daemon config, or one written in the campaign file.
// One per campaign: boxing the inline calendar would only make matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CalendarRef {
    Named(String),
    Inline(CalendarConfig),
}

/// How fast to send (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacingSpec {
    pub mode: PacingMode,
    /// At most this many sends a day, whatever the mode.
    pub daily_max: Option<u64>,
    /// Steady mode's fixed daily budget.
    pub daily_budget: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacingMode {
    Grow,
    Steady,
    Asap,
}

impl Campaign {
    /// A change of template or audience file starts a new run (progress starts over); other edits
    /// keep progress. Only the template's identity counts, not its parameters: fixing a typo in a
    /// parameter must not send the campaign again to everyone already reached.
    pub fn run_key(&self) -> String {
        // Fixed keys: the run key is stored in Redis and must not change between builds.
        let mut h = SipHasher13::new_with_keys(0x7275_6e6b_6579, 1);
        match &self.template.template {
            TemplateRef::Id(id) => {
                h.write(b"id\0");
                h.write(id.as_bytes());
            }
            TemplateRef::Name { name, language } => {
                h.write(b"name\0");
                h.write(name.as_bytes());
                h.write(b"\0");
                h.write(language.as_bytes());
            }
        }
        h.write(b"\0");
        // The audience path as seen from the campaign file, so moving the whole campaigns
        // directory (or a replica mounting it elsewhere) is not mistaken for a new audience.
        let base = self.file.parent().unwrap_or(Path::new(""));
        let audience = self
            .audience
            .file
            .strip_prefix(base)
            .unwrap_or(&self.audience.file);
        h.write(audience.to_string_lossy().as_bytes());
        format!("{}@{:016x}", self.id, h.finish())
    }
}

/// One problem in a campaign file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `schedule.start` (empty when unknown).
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FileProblem {
    /// `file:line:column: key: message`, the form editors and `nginx -t` users know.
    pub fn render(&self, file: &Path) -> String {
        let place = if self.line == 0 {
            file.display().to_string()
        } else {
            format!("{}:{}:{}", file.display(), self.line, self.column)
        };
        if self.key.is_empty() {
            format!("{place}: {}", self.message)
        } else {
            format!("{place}: {}: {}", self.key, self.message)
        }
    }
}

/// Why a campaign file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum CampaignFileError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_all(file, problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<FileProblem>,
    },
}

fn render_all(file: &Path, problems: &[FileProblem]) -> String {
    problems
        .iter()
        .map(|p| p.render(file))
        .collect::<Vec<_>>()
        .join("\n")
}

impl CampaignFileError {
    pub fn file(&self) -> &Path {
        match self {
            Self::Read { file, .. } | Self::Invalid { file, .. } => file,
        }
    }

    /// Each problem as one line, with the file shown as `shown` (e.g. relative to the directory).
    pub fn lines(&self, shown: &Path) -> Vec<String> {
        match self {
            Self::Read { source, .. } => {
                vec![format!("{}: cannot read: {source}", shown.display())]
            }
            Self::Invalid { problems, .. } => problems.iter().map(|p| p.render(shown)).collect(),
        }
    }
}

/// The campaign file's pacing mode is the policy's (`policy::growth`), which holds what each does.
impl From<PacingMode> for crate::policy::growth::PacingMode {
    fn from(m: PacingMode) -> Self {
        match m {
            PacingMode::Grow => Self::Grow,
            PacingMode::Steady => Self::Steady,
            PacingMode::Asap => Self::Asap,
        }
    }
}
