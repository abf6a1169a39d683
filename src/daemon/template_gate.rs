//! The template pre-flight at load (issue #18): before a loaded or reloaded campaign is handed
//! to its dispatcher, its template is asked of the provider
//! ([`crate::provider::template_preflight`]). A template that is missing, not APPROVED, of
//! another category or language, or that takes other parameters keeps the campaign from
//! starting (refused like a campaign whose load failed, with `file:line`); the other campaigns
//! are unaffected. A provider that cannot be asked (no credentials, unreachable) is a warning:
//! the campaign runs and status says its template was not verified.
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::campaign::file::{Campaign, TemplateRef};
use crate::config::SenderConfig;
use crate::provider::template_catalog::Mismatch;
use crate::provider::template_preflight::{placed, TemplateCatalog, Verdict};

/// A valid campaign file the daemon does not run, and why (`tierpace status`, `/api/v1/campaigns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCampaign {
    pub campaign: String,
    pub sender: String,
    /// The template's name or id, as the file gives it.
    pub template: String,
    pub file: PathBuf,
    /// `file:line: key: message`, or the planner's reason (audience, calendar).
    pub error: String,
}

/// Campaign problems of the last load, for status and `/readyz` warnings.
#[derive(Debug, Clone, Default)]
pub struct CampaignProblems {
    /// Campaign files that did not parse or validate (unknown sender, bad key), each as
    /// [`not_loaded_line`] words it; their previous valid version, if any, stays in force.
    pub invalid: Vec<String>,
    pub refused: Vec<RefusedCampaign>,
    /// Running campaigns whose template could not be verified, by campaign id: why.
    pub unverified: BTreeMap<String, String>,
}

impl CampaignProblems {
    /// Every campaign that does not run, one `FILE: error` line each (invalid files first, then
    /// refused campaigns), as `/readyz` warnings and `tierpace status` list them (issue #20).
    pub fn not_loaded(&self) -> Vec<String> {
        let refused = self
            .refused
            .iter()
            .map(|r| not_loaded_line(&r.file, &r.error));
        self.invalid.iter().cloned().chain(refused).collect()
    }
}

/// One campaign problem line: the file name, then the error (which may name it again).
pub fn not_loaded_line(file: &std::path::Path, error: &str) -> String {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if error.starts_with(name.as_str()) {
        error.to_string()
    } else {
        format!("{name}: {error}")
    }
}

/// The template as the file names it.
pub fn template_name(c: &Campaign) -> String {
    match &c.template.template {
        TemplateRef::Id(id) => id.clone(),
        TemplateRef::Name { name, .. } => name.clone(),
    }
}

/// Splits `campaigns` into those that may run and those refused for their template; the
/// warnings of those that run unverified go to `unverified`.
pub async fn gate(
    catalog: &TemplateCatalog,
    senders: &BTreeMap<String, SenderConfig>,
    campaigns: Vec<Campaign>,
) -> (
    Vec<Campaign>,
    Vec<RefusedCampaign>,
    BTreeMap<String, String>,
) {
    let verdicts: BTreeMap<String, Verdict> = catalog
        .verify_all(senders, &campaigns)
        .await
        .into_iter()
        .collect();
    let mut keep = Vec::new();
    let mut refused = Vec::new();
    let mut unverified = BTreeMap::new();
    for c in campaigns {
        match verdicts.get(&c.id) {
            Some(Verdict::Mismatch(m)) => {
                let error = describe(&c, m);
                tracing::error!(campaign = %c.id, file = %c.file.display(), error = %error, "campaign refused: its template does not fit the provider's; the other campaigns run");
                refused.push(RefusedCampaign {
                    campaign: c.id.clone(),
                    sender: c.sender.clone(),
                    template: template_name(&c),
                    file: c.file.clone(),
                    error,
                });
            }
            Some(Verdict::NotVerified(why)) => {
                tracing::warn!(campaign = %c.id, why = %why, "template not verified; the campaign runs");
                unverified.insert(c.id.clone(), why.clone());
                keep.push(c);
            }
            Some(Verdict::Fits(detail)) => {
                tracing::info!(campaign = %c.id, detail = %detail, "template verified");
                keep.push(c);
            }
            None => keep.push(c),
        }
    }
    (keep, refused, unverified)
}

fn describe(c: &Campaign, m: &[Mismatch]) -> String {
    placed(&c.file, &c.file, m).join("; ")
}
