//! The campaign half of `tierpace check` (DESIGN.md §4; like `nginx -t`): validate every campaign
//! file and read every audience offline, then print per campaign the valid contacts, how many
//! numbers were normalised (old Brazilian mobiles given their 9th digit), the skips by reason
//! with their first lines, and every error as `file:line`.
//!
//! The daemon config half and the next send window belong to the CLI, which passes the window in
//! as a closure so this module needs no calendar. Paths are shown relative to the campaigns
//! directory so the report reads the same on every machine (and golden tests can compare it).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::audience::{scan_audience_with, AudienceError, AudienceSummary};
use super::file::{Campaign, CampaignContext};
use super::load::load_campaign;
use super::registry::campaign_files;
use super::validate::id_place;
use crate::contact::{ContactHasher, ContactKey};

/// The result for one campaign file.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Ok {
        campaign: Campaign,
        summary: AudienceSummary,
    },
    Err {
        file: PathBuf,
        /// One line per problem, `file:line:column: key: message`.
        errors: Vec<String>,
        /// Present when the file was valid but its audience was not.
        campaign: Option<Campaign>,
        /// Present when the audience was read but refused (too much bad data).
        summary: Option<AudienceSummary>,
    },
}

/// What `tierpace check` found in the campaigns directory.
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub dir: PathBuf,
    pub outcomes: Vec<CheckOutcome>,
    /// Problems with the directory itself (unreadable).
    pub dir_errors: Vec<String>,
}

/// Checks every campaign file in `dir` and its audience.
pub fn check_campaigns(dir: &Path, ctx: &CampaignContext, hasher: &ContactHasher) -> CheckReport {
    check_campaigns_with(dir, ctx, hasher, &|_| false)
}

/// Like [`check_campaigns`], also counting contacts that `opted_out` (e.g. the opt-out file) holds.
pub fn check_campaigns_with(
    dir: &Path,
    ctx: &CampaignContext,
    hasher: &ContactHasher,
    opted_out: &dyn Fn(ContactKey) -> bool,
) -> CheckReport {
    let mut report = CheckReport {
        dir: dir.to_path_buf(),
        outcomes: Vec::new(),
        dir_errors: Vec::new(),
    };
    let files = match campaign_files(dir) {
        Ok(files) => files,
        Err(e) => {
            report.dir_errors.push(format!(
                "{}: cannot list campaigns directory: {e}",
                dir.display()
            ));
            return report;
        }
    };
    let mut ids: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in files {
        let shown = relative(dir, &file);
        let campaign = match load_campaign(&file, ctx) {
            Ok(c) => c,
            Err(e) => {
                report.outcomes.push(CheckOutcome::Err {
                    errors: e.lines(&shown),
                    file,
                    campaign: None,
                    summary: None,
                });
                continue;
            }
        };
        if let Some(first) = ids.get(&campaign.id) {
            report.outcomes.push(CheckOutcome::Err {
                errors: vec![format!(
                    "{}: id: campaign id `{}` is already used by {}, expected a unique id",
                    id_place(&file, &shown),
                    campaign.id,
                    relative(dir, first).display()
                )],
                file,
                campaign: Some(campaign),
                summary: None,
            });
            continue;
        }
        ids.insert(campaign.id.clone(), file.clone());
        let scanned = scan_audience_with(
            &campaign.audience,
            &campaign.template.params,
            hasher,
            opted_out,
        );
        let strip = |msg: String| msg.replace(&format!("{}/", dir.display()), "");
        report.outcomes.push(match scanned {
            Ok(summary) => CheckOutcome::Ok { campaign, summary },
            Err(AudienceError::Refused { summary }) => CheckOutcome::Err {
                errors: vec![strip(
                    AudienceError::Refused {
                        summary: summary.clone(),
                    }
                    .to_string(),
                )],
                file,
                campaign: Some(campaign),
                summary: Some(*summary),
            },
            Err(e) => CheckOutcome::Err {
                errors: vec![strip(e.to_string())],
                file,
                campaign: Some(campaign),
                summary: None,
            },
        });
    }
    report
}

fn relative(dir: &Path, file: &Path) -> PathBuf {
    file.strip_prefix(dir).unwrap_or(file).to_path_buf()
}

impl CheckReport {
    /// Whether `check` must exit 1.
    pub fn has_errors(&self) -> bool {
        !self.dir_errors.is_empty()
            || self
                .outcomes
                .iter()
                .any(|o| matches!(o, CheckOutcome::Err { .. }))
    }

    /// The campaigns that passed, for the CLI's next-window lines or a dry run.
    pub fn campaigns(&self) -> impl Iterator<Item = &Campaign> {
        self.outcomes.iter().filter_map(|o| match o {
            CheckOutcome::Ok { campaign, .. } => Some(campaign),
            CheckOutcome::Err { .. } => None,
        })
    }

    /// The human report. `next_window` gives a campaign's next send window, when known.
    pub fn render(&self, next_window: &dyn Fn(&Campaign) -> Option<String>) -> String {
        let mut out = String::new();
        for e in &self.dir_errors {
            let _ = writeln!(out, "error: {e}");
        }
        let mut ok = 0;
        for outcome in &self.outcomes {
            match outcome {
                CheckOutcome::Ok { campaign, summary } => {
                    ok += 1;
                    let _ = writeln!(
                        out,
                        "ok     {} ({}): {} valid contacts of {} rows",
                        campaign.id,
                        relative(&self.dir, &campaign.file).display(),
                        summary.valid,
                        summary.rows
                    );
                    render_skips(&mut out, summary);
                    if let Some(window) = next_window(campaign) {
                        let _ = writeln!(out, "       next send window: {window}");
                    }
                }
                CheckOutcome::Err {
                    file,
                    errors,
                    summary,
                    ..
                } => {
                    let _ = writeln!(out, "ERROR  {}", relative(&self.dir, file).display());
                    for e in errors {
                        let _ = writeln!(out, "       {e}");
                    }
                    if let Some(summary) = summary {
                        render_skips(&mut out, summary);
                    }
                }
            }
        }
        let failed = self.outcomes.len() - ok;
        if self.outcomes.is_empty() && self.dir_errors.is_empty() {
            let _ = writeln!(out, "no campaign files (*.toml) in {}", self.dir.display());
        } else {
            let _ = writeln!(
                out,
                "{} campaign file(s): {ok} ok, {failed} with errors",
                self.outcomes.len()
            );
        }
        out
    }
}

fn render_skips(out: &mut String, summary: &AudienceSummary) {
    if summary.normalised > 0 {
        let _ = writeln!(
            out,
            "       normalised: {} (old mobiles given their 9th digit)",
            summary.normalised
        );
    }
    if summary.params_normalised > 0 {
        let _ = writeln!(
            out,
            "       params normalised: {} (newlines, tabs or runs of over four spaces made one space)",
            summary.params_normalised
        );
    }
    for (reason, tally) in &summary.skips {
        let _ = writeln!(out, "       {reason}: {}", tally.count);
        for (line, detail) in &tally.first {
            let _ = writeln!(out, "         line {line}: {detail}");
        }
    }
}
