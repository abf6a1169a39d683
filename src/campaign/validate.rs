//! Validation of a campaign file: the serde structs that mirror the TOML (values wrapped in
//! [`Spanned`] so every problem can name its line, column and key), and the checks that turn
//! them into a [`Campaign`], collecting every problem at once (STYLE.md 8).
//!
//! Also here: turning the TOML parser's byte offsets into `line:column` and a dotted key, since
//! the parser does not expose the key path of its own errors.
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use toml::Spanned;

use super::file::{
    AudienceSpec, CalendarRef, Campaign, CampaignContext, Category, ColumnNames, FileProblem,
    PacingMode, PacingSpec, ParamCleanup, ScheduleSpec, TemplateRef, TemplateSpec,
};
use super::template_file::{read_parts, Placed, RawParts};
use super::text_encoding::EncodingSetting;
use crate::policy::calendar_config::CalendarConfig;
use crate::policy::cron;
use crate::provider::ProviderKind;

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
    body: Option<Spanned<toml::Value>>,
    /// The older name of `body`.
    params: Option<Spanned<toml::Value>>,
    /// `media` is the older name of `header`.
    #[serde(alias = "media")]
    header: Option<Spanned<toml::Value>>,
    buttons: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudience {
    file: Spanned<String>,
    default_ddi: Option<Spanned<String>>,
    #[serde(default)]
    columns: ColumnNames,
    max_bad_share: Option<Spanned<f64>>,
    encoding: Option<Spanned<String>>,
    #[serde(default)]
    param_cleanup: ParamCleanup,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    start: Option<Spanned<toml::Value>>,
    end: Option<Spanned<toml::Value>>,
    cron: Option<Spanned<String>>,
    late_start: Option<Spanned<String>>,
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
            message: parse_message(e.message()),
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
        if let Some(t) = &template {
            self.template_fits_provider(&sender, &t.template);
        }
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

    /// Gupshup sends by template id, Meta by name and language: the other style would pause
    /// the campaign at its first send.
    fn template_fits_provider(&mut self, sender: &str, template: &TemplateRef) {
        let msg = match (self.ctx.providers.get(sender), template) {
            (Some(ProviderKind::Gupshup), TemplateRef::Name { .. }) => format!(
                "sender `{sender}` uses Gupshup, which names templates by `id` (the template UUID), not `name` + `language`"
            ),
            (Some(ProviderKind::Meta), TemplateRef::Id(_)) => format!(
                "sender `{sender}` uses Meta's Cloud API, which names templates by `name` + `language`, not `id`"
            ),
            _ => return,
        };
        self.at_table("template", "template", msg);
    }

    fn template(&mut self, raw: RawTemplate) -> Option<TemplateSpec> {
        let uses_params_key = raw.body.is_none() && raw.params.is_some();
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
        let body = match (raw.body, raw.params) {
            (Some(body), Some(params)) => {
                self.at(
                    &params,
                    "template.params",
                    "give `body` or its older name `params`, not both",
                );
                Some(body)
            }
            (body, params) => body.or(params),
        };
        let mut placed = Vec::new();
        let parts = read_parts(
            self.src.0,
            RawParts {
                header: raw.header,
                body,
                buttons: raw.buttons,
                // Body parameters keep the key they were written under.
                body_key: if uses_params_key {
                    "template.params"
                } else {
                    "template.body"
                },
            },
            &mut placed,
        );
        for Placed {
            offset,
            key,
            message,
        } in placed
        {
            let (line, column) = self.src.line_col(offset);
            self.problems.push(FileProblem {
                line,
                column,
                key,
                message,
            });
        }
        let params = parts.slots();
        Some(TemplateSpec {
            template: template?,
            category: raw.category,
            params,
            parts,
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
        let encoding = match &raw.encoding {
            None => EncodingSetting::default(),
            Some(e) => match e.get_ref().trim().to_ascii_lowercase().as_str() {
                "auto" => EncodingSetting::Auto,
                "utf-8" | "utf8" => EncodingSetting::Utf8,
                "windows-1252" | "cp1252" => EncodingSetting::Windows1252,
                other => {
                    let msg = format!("encoding `{other}` is not known, expected \"auto\" (default), \"utf-8\" or \"windows-1252\" (Excel's \"CSV\" in pt-BR)");
                    self.at(e, "audience.encoding", msg);
                    EncodingSetting::default()
                }
            },
        };
        Some(AudienceSpec {
            file,
            default_ddi,
            columns: raw.columns,
            max_bad_share,
            encoding,
            param_cleanup: raw.param_cleanup,
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

/// The parser's message on one line; it is empty for some syntax errors (e.g. `key =` and
/// nothing after it), where the position is all the parser knows.
fn parse_message(message: &str) -> String {
    let message = message.trim().replace('\n', "; ");
    if message.is_empty() {
        "TOML syntax error here, expected `key = value`, a [table] header or a comment".to_string()
    } else {
        message
    }
}

/// Where the top-level `id = ...` of a campaign file is written, as `file:line:column`, or the
/// file alone when the id comes from the file name. For errors found across files (duplicate ids).
pub fn id_place(path: &Path, shown: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|l| table_header(l).is_none())
        .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == "id"));
    match line {
        Some(i) => format!("{}:{}:1", shown.display(), i + 1),
        None => shown.display().to_string(),
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
