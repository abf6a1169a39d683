//! The campaign file: one TOML file per campaign in `campaigns_dir` (DESIGN.md §1, §4).
//!
//! Parsing happens in two steps, as vector does it: serde structs that mirror the file
//! (`deny_unknown_fields`, values wrapped in [`Spanned`] so we know where they were written), then
//! [`load_campaign`] validates them into a [`Campaign`] and reports every problem at once, each
//! with file, line, column and key, and what was expected (guarantee 6: bad input names its place).
//!
//! Paths in the file are relative to the file itself, so a campaigns directory can be moved whole.
use std::collections::BTreeSet;
use std::fmt;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use siphasher::sip::SipHasher13;
use toml::Spanned;

use super::params::ParamTemplate;
use crate::policy::calendar_config::CalendarConfig;

/// Files larger than this are refused before parsing: a campaign file is a screenful of TOML.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// What a campaign file may refer to outside itself: the daemon config's senders and calendars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignContext {
    pub senders: BTreeSet<String>,
    pub calendars: BTreeSet<String>,
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
    pub params: Vec<ParamTemplate>,
    pub media: Option<MediaSpec>,
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

/// A media header for media templates (Gupshup's `message` field, DOMAIN.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSpec {
    #[serde(rename = "type")]
    pub kind: MediaKind,
    /// Public https URL of the file.
    pub link: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Document,
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
    /// A recurring run (tokio-cron-scheduler syntax, seconds first); each occurrence is its own run.
    pub cron: Option<String>,
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
        h.write(self.audience.file.to_string_lossy().as_bytes());
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    id: Option<Spanned<String>>,
    sender: Spanned<String>,
    priority: Option<u32>,
    weight: Option<Spanned<u32>>,
    template: RawTemplate,
    audience: RawAudience,
    schedule: RawSchedule,
    #[serde(default)]
    pacing: RawPacing,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    id: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    language: Option<Spanned<String>>,
    category: Category,
    #[serde(default)]
    params: Vec<Spanned<String>>,
    media: Option<Spanned<MediaSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudience {
    file: Spanned<String>,
    default_ddi: Option<Spanned<String>>,
    #[serde(default)]
    columns: ColumnNames,
    max_bad_share: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    start: Option<Spanned<toml::Value>>,
    end: Option<Spanned<toml::Value>>,
    cron: Option<Spanned<String>>,
    calendar: Option<Spanned<String>>,
    hours: Option<CalendarConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPacing {
    mode: Option<PacingMode>,
    daily_max: Option<Spanned<u64>>,
    daily_budget: Option<Spanned<u64>>,
}

/// Reads and validates one campaign file.
pub fn load_campaign(path: &Path, ctx: &CampaignContext) -> Result<Campaign, CampaignFileError> {
    let read_err = |source| CampaignFileError::Read {
        file: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_err)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CampaignFileError::Invalid {
            file: path.to_path_buf(),
            problems: vec![FileProblem {
                line: 0,
                column: 0,
                key: String::new(),
                message: format!("file is {size} bytes, expected a campaign file under 1 MiB"),
            }],
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    parse_campaign(path, &text, ctx).map_err(|problems| CampaignFileError::Invalid {
        file: path.to_path_buf(),
        problems,
    })
}

/// Parses and validates campaign text as if read from `path`.
pub fn parse_campaign(
    path: &Path,
    text: &str,
    ctx: &CampaignContext,
) -> Result<Campaign, Vec<FileProblem>> {
    let src = Source(text);
    let raw: RawCampaign = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = src.line_col(offset);
        vec![FileProblem {
            line,
            column,
            key: src.key_at(offset),
            message: e.message().trim().to_string(),
        }]
    })?;
    Validator {
        src,
        path,
        ctx,
        problems: Vec::new(),
    }
    .campaign(raw)
}

struct Validator<'a> {
    src: Source<'a>,
    path: &'a Path,
    ctx: &'a CampaignContext,
    problems: Vec<FileProblem>,
}

impl Validator<'_> {
    fn at<T>(&mut self, spanned: &Spanned<T>, key: &str, message: impl fmt::Display) {
        let (line, column) = self.src.line_col(spanned.span().start);
        self.problems.push(FileProblem {
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    fn at_table(&mut self, table: &str, key: &str, message: impl fmt::Display) {
        let (line, column) = self.src.table_line(table);
        self.problems.push(FileProblem {
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    fn campaign(mut self, raw: RawCampaign) -> Result<Campaign, Vec<FileProblem>> {
        let id = self.id(raw.id.as_ref());
        let sender = self.sender(&raw.sender);
        let weight = match raw.weight {
            Some(w) if *w.get_ref() == 0 => {
                self.at(
                    &w,
                    "weight",
                    "weight is 0, expected a positive share (default 1)",
                );
                1
            }
            Some(w) => w.into_inner(),
            None => 1,
        };
        let template = self.template(raw.template);
        let audience = self.audience(raw.audience);
        let schedule = self.schedule(raw.schedule);
        let pacing = self.pacing(raw.pacing, template.as_ref().map(|t| t.category));
        match (template, audience, schedule, self.problems.is_empty()) {
            (Some(template), Some(audience), Some(schedule), true) => Ok(Campaign {
                id,
                file: self.path.to_path_buf(),
                sender,
                priority: raw.priority.unwrap_or(10),
                weight,
                template,
                audience,
                schedule,
                pacing,
            }),
            _ => Err(self.problems),
        }
    }

    fn id(&mut self, id: Option<&Spanned<String>>) -> String {
        let valid = |s: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        const EXPECTED: &str = "expected 1 to 64 letters, digits, `-`, `_` or `.`";
        match id {
            Some(id) => {
                if !valid(id.get_ref()) {
                    self.at(
                        id,
                        "id",
                        format!("id `{}` is not valid, {EXPECTED}", id.get_ref()),
                    );
                }
                id.get_ref().clone()
            }
            None => {
                let stem = self
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if !valid(&stem) {
                    self.problems.push(FileProblem {
                        line: 1,
                        column: 1,
                        key: "id".into(),
                        message: format!(
                            "the file name `{stem}` is not a valid campaign id ({EXPECTED}); set `id = \"...\"`"
                        ),
                    });
                }
                stem
            }
        }
    }

    fn sender(&mut self, sender: &Spanned<String>) -> String {
        let name = sender.get_ref();
        if !self.ctx.senders.contains(name) {
            let msg = format!(
                "unknown sender `{name}`, expected one of the daemon config's senders: {}",
                list(&self.ctx.senders)
            );
            self.at(sender, "sender", msg);
        }
        name.clone()
    }

    fn template(&mut self, raw: RawTemplate) -> Option<TemplateSpec> {
        let template = match (raw.id, raw.name, raw.language) {
            (Some(id), None, None) => {
                if uuid::Uuid::parse_str(id.get_ref()).is_err() {
                    let msg = format!("template id `{}` is not a UUID, expected Gupshup's template id like 6f1c2a9e-...", id.get_ref());
                    self.at(&id, "template.id", msg);
                }
                Some(TemplateRef::Id(id.into_inner()))
            }
            (None, Some(name), Some(language)) => {
                if name.get_ref().trim().is_empty() {
                    self.at(
                        &name,
                        "template.name",
                        "template name is empty, expected Meta's template name",
                    );
                }
                if language.get_ref().trim().is_empty() {
                    self.at(
                        &language,
                        "template.language",
                        "language is empty, expected a code like pt_BR",
                    );
                }
                Some(TemplateRef::Name {
                    name: name.into_inner(),
                    language: language.into_inner(),
                })
            }
            (None, Some(name), None) => {
                self.at(
                    &name,
                    "template.language",
                    "`name` needs `language` (e.g. \"pt_BR\")",
                );
                None
            }
            (Some(id), _, _) => {
                self.at(
                    &id,
                    "template.id",
                    "give either `id` (Gupshup) or `name` + `language` (Meta), not both",
                );
                None
            }
            (None, None, _) => {
                self.at_table(
                    "template",
                    "template",
                    "expected `id` (Gupshup template UUID) or `name` + `language` (Meta)",
                );
                None
            }
        };
        let mut params = Vec::with_capacity(raw.params.len());
        for (i, p) in raw.params.iter().enumerate() {
            match ParamTemplate::parse(p.get_ref()) {
                Ok(t) => params.push(t),
                Err(e) => self.at(p, &format!("template.params[{i}]"), e),
            }
        }
        let media = raw.media.map(|m| {
            if !m.get_ref().link.starts_with("https://") {
                self.at(
                    &m,
                    "template.media.link",
                    "media link must be an https:// URL",
                );
            }
            m.into_inner()
        });
        Some(TemplateSpec {
            template: template?,
            category: raw.category,
            params,
            media,
        })
    }

    fn audience(&mut self, raw: RawAudience) -> Option<AudienceSpec> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let file = base.join(raw.audience_file());
        if raw.file.get_ref().trim().is_empty() {
            self.at(
                &raw.file,
                "audience.file",
                "audience file is empty, expected a CSV path relative to this file",
            );
        } else if !file.is_file() {
            let msg = format!(
                "audience file {} does not exist, expected a CSV path relative to this file",
                file.display()
            );
            self.at(&raw.file, "audience.file", msg);
        }
        let default_ddi = match raw.default_ddi {
            Some(d) => {
                let v = d.get_ref().trim_start_matches('+');
                let ok = (1..=3).contains(&v.len())
                    && v.bytes().all(|b| b.is_ascii_digit())
                    && !v.starts_with('0');
                if !ok {
                    let msg = format!("default_ddi `{}` is not a country code, expected 1 to 3 digits like \"55\"", d.get_ref());
                    self.at(&d, "audience.default_ddi", msg);
                }
                v.to_string()
            }
            None => "55".to_string(),
        };
        let max_bad_share = match raw.max_bad_share {
            Some(s) if !(0.0..=1.0).contains(s.get_ref()) => {
                let msg = format!(
                    "max_bad_share {} is out of range, expected a share from 0.0 to 1.0",
                    s.get_ref()
                );
                self.at(&s, "audience.max_bad_share", msg);
                0.2
            }
            Some(s) => s.into_inner(),
            None => 0.2,
        };
        Some(AudienceSpec {
            file,
            default_ddi,
            columns: raw.columns,
            max_bad_share,
        })
    }

    fn schedule(&mut self, raw: RawSchedule) -> Option<ScheduleSpec> {
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
            let parsed = croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Required)
                .build()
                .parse(cron.get_ref());
            if let Err(e) = parsed {
                let msg = format!("cron `{}` does not parse ({e}), expected six fields with seconds first, e.g. \"0 0 9 * * Mon\"", cron.get_ref());
                self.at(cron, "schedule.cron", msg);
            }
        }
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

    fn pacing(&mut self, raw: RawPacing, category: Option<Category>) -> PacingSpec {
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

impl RawAudience {
    fn audience_file(&self) -> &str {
        self.file.get_ref().trim()
    }
}

fn list(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "(none defined)".to_string()
    } else {
        names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The file text, for turning byte offsets into lines, columns and keys.
#[derive(Clone, Copy)]
struct Source<'a>(&'a str);

impl Source<'_> {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.0, offset);
        let before = &self.0[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The dotted key written at `offset`: the enclosing `[table]` plus the `key =` on that line.
    fn key_at(&self, offset: usize) -> String {
        let offset = floor_char_boundary(self.0, offset);
        let line_start = self.0[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line_end = self.0[offset..]
            .find('\n')
            .map(|i| offset + i)
            .unwrap_or(self.0.len());
        let line = self.0[line_start..line_end].trim();
        let table = self.0[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find_map(table_header)
            .unwrap_or_default();
        if let Some(header) = table_header(line) {
            return header.to_string();
        }
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .unwrap_or("");
        match (table.is_empty(), key.is_empty()) {
            (_, true) => table.to_string(),
            (true, false) => key.to_string(),
            (false, false) => format!("{table}.{key}"),
        }
    }

    /// Where `[table]` is written; line 1 when it is not (the problem is then the file's).
    fn table_line(&self, table: &str) -> (usize, usize) {
        self.0
            .lines()
            .position(|l| table_header(l.trim()) == Some(table))
            .map(|i| (i + 1, 1))
            .unwrap_or((1, 1))
    }
}

fn table_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim_matches(|c| c == '[' || c == ' '))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}
