//! What the campaign subsystem reports: one structured log line and one counter per registry
//! event and per audience skip, from one place (STYLE.md 12 and 16).
//!
//! Stable names, for dashboards and alerts:
//! - `tierpace_campaign_reloads_total{outcome}`: `added`, `changed`, `new_run`, `removed`, `invalid`;
//! - `tierpace_campaign_reload_errors_total`: files that failed validation on a reload (the old
//!   version stays in force, DESIGN.md §2 guarantee 6);
//! - `tierpace_audience_skips_total{campaign, reason}`: contacts not sent, by [`SkipReason`].
//!
//! Log lines never carry phone numbers (guarantee 7): skips name the file line and contact key.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry as MetricsRegistry;

use super::audience::{RowSkip, SkipReason};
use super::registry::RegistryEvent;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    campaign: String,
    reason: &'static str,
}

/// The campaign subsystem's metrics.
#[derive(Debug, Clone, Default)]
pub struct CampaignMetrics {
    reloads: Family<OutcomeLabels, Counter>,
    reload_errors: Counter,
    skips: Family<SkipLabels, Counter>,
}

impl CampaignMetrics {
    pub fn register(registry: &mut MetricsRegistry) -> Self {
        let m = Self::default();
        registry.register(
            "tierpace_campaign_reloads",
            "Campaign registry changes, by outcome",
            m.reloads.clone(),
        );
        registry.register(
            "tierpace_campaign_reload_errors",
            "Campaign files that failed validation on reload (previous version kept)",
            m.reload_errors.clone(),
        );
        registry.register(
            "tierpace_audience_skips",
            "Audience contacts not sent, by campaign and reason",
            m.skips.clone(),
        );
        m
    }

    /// Logs one registry event and counts it. Runs are logged as their run id,
    /// `CAMPAIGN:RUN_KEY` (the dispatcher's `RunId` and the Redis key), one spelling everywhere.
    pub fn registry_event(&self, event: &RegistryEvent) {
        let outcome = match event {
            RegistryEvent::Added(c) => {
                tracing::info!(campaign = %c.id, file = %c.file.display(), run = %format!("{}:{}", c.id, c.run_key()), "campaign added");
                "added"
            }
            RegistryEvent::Changed {
                new,
                new_run: true,
                old,
            } => {
                tracing::warn!(campaign = %new.id, file = %new.file.display(), old_run = %format!("{}:{}", old.id, old.run_key()), run = %format!("{}:{}", new.id, new.run_key()),
                    "campaign changed template or audience file: new run, progress starts over");
                "new_run"
            }
            RegistryEvent::Changed { new, .. } => {
                tracing::info!(campaign = %new.id, file = %new.file.display(), run = %format!("{}:{}", new.id, new.run_key()), "campaign changed, progress kept");
                "changed"
            }
            RegistryEvent::Removed { id, file } => {
                tracing::info!(campaign = %id, file = %file.display(), "campaign file removed: stopped, state kept");
                "removed"
            }
            RegistryEvent::Invalid { file, error } => {
                tracing::error!(file = %file.display(), error = %error, "campaign file invalid: previous version (if any) stays in force");
                self.reload_errors.inc();
                "invalid"
            }
        };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Logs (at debug: audiences can be large) and counts one skipped contact.
    pub fn skip(&self, campaign: &str, skip: &RowSkip) {
        tracing::debug!(campaign, line = skip.line, reason = skip.reason.as_str(), detail = %skip.detail, "contact skipped");
        self.count_skip(campaign, skip.reason);
    }

    pub fn count_skip(&self, campaign: &str, reason: SkipReason) {
        self.skips
            .get_or_create(&SkipLabels {
                campaign: campaign.to_string(),
                reason: reason.as_str(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn invalid_files_count_as_reload_errors_in_the_exposition() {
        let mut registry = MetricsRegistry::default();
        let m = CampaignMetrics::register(&mut registry);
        m.registry_event(&RegistryEvent::Invalid {
            file: PathBuf::from("bf.toml"),
            error: "bf.toml:1:1: broken".into(),
        });
        m.count_skip("bf", SkipReason::NoOptIn);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("tierpace_campaign_reload_errors_total 1"),
            "{text}"
        );
        assert!(
            text.contains("tierpace_campaign_reloads_total{outcome=\"invalid\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tierpace_audience_skips_total{campaign=\"bf\",reason=\"no_opt_in\"} 1"),
            "{text}"
        );
    }
}
