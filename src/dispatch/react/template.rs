//! What the provider's word on a template does (DOMAIN.md §3): a template paused or disabled
//! pauses every campaign that sends it, with the provider's reason, which `status` shows. An
//! operator's later word wins: a pause dated before the operator's last action (a replay, or a
//! late delivery of an event the operator already answered) changes nothing.
use chrono::{DateTime, Utc};

use super::Reactor;
use crate::campaign::file::{Campaign, TemplateRef};
use crate::dispatch::progress::{Control, ProgressError};
use crate::http::EventOutcome;
use crate::policy::tier_report::is_stale;

/// Whether a template status stops the campaigns that send it.
pub fn pauses_for_template(status: &str) -> bool {
    matches!(status, "paused" | "disabled")
}

/// Whether the campaign's template is the one the event names (by id or by name).
fn sends(template: &TemplateRef, id: Option<&str>, name: Option<&str>) -> bool {
    match template {
        TemplateRef::Id(tid) => id == Some(tid.as_str()),
        TemplateRef::Name { name: n, .. } => name == Some(n.as_str()),
    }
}

impl Reactor {
    /// The provider reports template `id` / `name` in `status`, dated `at`: every campaign of
    /// `campaigns` that sends it is paused when the status stops it.
    pub async fn template_status(
        &self,
        campaigns: &[Campaign],
        id: Option<&str>,
        name: Option<&str>,
        status: &str,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, ProgressError> {
        if !pauses_for_template(status) {
            return Ok(EventOutcome::Applied);
        }
        let mut stale = false;
        for c in campaigns
            .iter()
            .filter(|c| sends(&c.template.template, id, name))
        {
            let ctl = self.progress.control(&c.id).await?;
            if is_stale(ctl.operator_at, at, now) {
                tracing::warn!(campaign = %c.id, status, "template event older than the operator's last action: ignored");
                stale = true;
                continue;
            }
            let control = Control {
                paused: true,
                pause_reason: Some(format!("the provider reported the template {status}")),
                ..ctl
            };
            self.progress.set_control(&c.id, control).await?;
            tracing::warn!(campaign = %c.id, status, "template paused or disabled: campaign paused");
        }
        Ok(if stale {
            EventOutcome::Stale
        } else {
            EventOutcome::Applied
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_and_disabled_templates_stop_their_campaigns_other_statuses_do_not() {
        assert!(pauses_for_template("paused"));
        assert!(pauses_for_template("disabled"));
        assert!(!pauses_for_template("approved"));
        assert!(!pauses_for_template("rejected"));
    }

    #[test]
    fn a_campaign_sends_the_template_named_by_id_or_by_name() {
        let by_id = TemplateRef::Id("6f1c".into());
        assert!(sends(&by_id, Some("6f1c"), None));
        assert!(!sends(&by_id, None, Some("6f1c")));
        let by_name = TemplateRef::Name {
            name: "oferta".into(),
            language: "pt_BR".into(),
        };
        assert!(sends(&by_name, None, Some("oferta")));
        assert!(!sends(&by_name, Some("oferta"), None));
    }
}
