//! Validation of a campaign file: the checks that turn the serde structs of `raw.rs` into a
//! [`Campaign`], collecting every problem at once (STYLE.md 8), each at its line, column and
//! dotted key. The key of a deserialization error comes from `serde_path_to_error`; positions
//! and the key of a syntax error come from the parser's spans (`spans.rs`).
mod raw;
mod schedule;
mod spans;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_path_to_error::Segment;
use toml::Spanned;

use super::file::{
    AudienceSpec, Campaign, CampaignContext, FileProblem, TemplateRef, TemplateSpec,
};
use super::phone::country_code;
use super::template_file::{read_parts, Placed, RawParts};
use super::text_encoding::EncodingSetting;
use crate::provider::ProviderKind;
use raw::{RawAudience, RawCampaign, RawTemplate};

/// Parses and validates campaign text as if read from `path`.
pub fn parse_campaign(
    path: &Path,
    text: &str,
    ctx: &CampaignContext,
) -> Result<Campaign, Vec<FileProblem>> {
    let raw: RawCampaign = serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|e| {
            let offset = e.inner().span().map(|s| s.start).unwrap_or(0);
            let (line, column) = spans::line_col(text, offset);
            // A syntax error stops the parse before serde has a path: the spans name the key.
            let key = match error_key(e.path()) {
                key if key.is_empty() => spans::key_at(text, offset),
                key => key,
            };
            vec![FileProblem {
                line,
                column,
                key,
                message: parse_message(e.inner().message()),
            }]
        })?;
    Validator {
        text,
        path,
        ctx,
        problems: Vec::new(),
    }
    .campaign(raw)
}

struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
    ctx: &'a CampaignContext,
    problems: Vec<FileProblem>,
}

impl Validator<'_> {
    fn at<T>(&mut self, spanned: &Spanned<T>, key: &str, message: impl fmt::Display) {
        let (line, column) = spans::line_col(self.text, spanned.span().start);
        self.problems.push(FileProblem {
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        });
    }

    fn at_table(&mut self, table: &str, key: &str, message: impl fmt::Display) {
        let (line, column) = spans::table_line(self.text, table);
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
            self.text,
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
            let (line, column) = spans::line_col(self.text, offset);
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
            Some(d) => match country_code(d.get_ref()) {
                Ok(code) => code.to_string(),
                Err(_) => {
                    let msg = format!("default_ddi `{}` is not a country code, expected 1 to 3 digits like \"55\"", d.get_ref());
                    self.at(&d, "audience.default_ddi", msg);
                    d.get_ref().trim_start_matches('+').to_string()
                }
            },
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

/// The parser's message on one line; it is empty for some syntax errors (e.g. `key =` and
/// nothing after it), where the position is all the parser knows.
fn parse_message(message: &str) -> String {
    let message = message.trim().replace('\n', "; ");
    if message.is_empty() {
        "TOML syntax error here, expected `key = value`, a [table] header or a comment".to_string()
    } else {
        in_operator_words(&message)
    }
}

/// serde names Rust's types (`expected u64`); an operator reads what to write instead.
fn in_operator_words(message: &str) -> String {
    const WORDS: [(&str, &str); 10] = [
        ("u8", "a whole number of 0 or more, without quotes"),
        ("u16", "a whole number of 0 or more, without quotes"),
        ("u32", "a whole number of 0 or more, without quotes"),
        ("u64", "a whole number of 0 or more, without quotes"),
        ("usize", "a whole number of 0 or more, without quotes"),
        ("i32", "a whole number, without quotes"),
        ("i64", "a whole number, without quotes"),
        ("f32", "a number, without quotes"),
        ("f64", "a number, without quotes"),
        ("a boolean", "true or false, without quotes"),
    ];
    let mut out = message.to_string();
    for (rust, words) in WORDS {
        let from = format!("expected {rust}");
        if let Some(at) = out.find(&from) {
            let end = at + from.len();
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(at..end, &format!("expected {words}"));
            }
        }
    }
    out
}

/// Where the top-level `id = ...` of a campaign file is written, as `file:line:column`, or the
/// file alone when the id comes from the file name. For errors found across files (duplicate ids).
pub fn id_place(path: &Path, shown: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match spans::id_line(&text) {
        Some(line) => format!("{}:{line}:1", shown.display()),
        None => shown.display().to_string(),
    }
}

/// The dotted key of serde's path (`template.params[1]`); empty at the top of the file. The
/// private keys through which [`Spanned`] reads its value are not the operator's and are left out.
fn error_key(path: &serde_path_to_error::Path) -> String {
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } => {
                if k.starts_with("$__serde_spanned_private") {
                    continue;
                }
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Unknown => {}
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_problem(text: &str) -> FileProblem {
        let problems = parse_campaign(Path::new("x.toml"), text, &CampaignContext::default())
            .expect_err("refused");
        problems[0].clone()
    }

    #[test]
    fn a_type_error_inside_a_spanned_value_names_the_written_key() {
        let p = first_problem("sender = \"s\"\nweight = \"x\"\n");
        assert_eq!((p.line, p.column, p.key.as_str()), (2, 10, "weight"));
        let p = first_problem("sender = \"s\"\n[schedule.hours]\ntimezone = 5\n");
        assert_eq!(p.key, "schedule.hours.timezone");
    }
}
