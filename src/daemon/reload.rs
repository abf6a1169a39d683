//! The one reload path (STYLE.md 15): whatever the trigger (SIGHUP, the campaigns watcher, a
//! cron firing), re-read what it concerns, validate, swap; a bad config keeps the old one.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::campaign::file::Campaign;
use crate::campaign::registry::{Registry, RegistryEvent};
use crate::config::LoadedConfig;
use crate::dispatch::progress::RunId;
use crate::http;

use super::config_parts::{calendars, campaign_context, ledger_settings};
use super::optout_import::import_optout_file;
use super::{campaigns, senders, template_gate, Shared, Trigger};

/// Re-reads config and campaigns; a bad config keeps the old one in force.
pub(super) async fn reload(
    shared: &Arc<Shared>,
    trigger: Trigger,
    registry: &mut Registry,
    planner: &mut campaigns::CampaignPlanner,
    dispatchers: &mut senders::Dispatchers,
) {
    if trigger == Trigger::Signal {
        let path: PathBuf = shared
            .loaded
            .read()
            .map(|l| l.path.clone())
            .unwrap_or_default();
        let applied = LoadedConfig::load(&path)
            .map_err(anyhow::Error::from)
            .and_then(|new| apply_config(shared, &new, dispatchers).map(|()| new));
        match applied {
            Ok(new) => {
                registry.set_context(campaign_context(&new.config));
                if let Err(e) = crate::logging::set_level(&new.config.log_level) {
                    tracing::warn!(error = %e, "log_level not applied");
                }
                if let Ok(mut l) = shared.loaded.write() {
                    *l = new;
                }
                count_reload(shared, "ok");
                tracing::info!(trigger = trigger.as_str(), "config reloaded");
            }
            Err(e) => {
                count_reload(shared, "error");
                tracing::error!(error = %format!("{e:#}"), "config reload refused; the previous config stays in force");
            }
        }
        let loaded = shared.loaded.read().map(|l| l.clone()).ok();
        if let Some(loaded) = loaded {
            import_optout_file(shared, &loaded).await;
        }
    }
    apply_campaigns(shared, registry, planner, dispatchers).await;
}

/// One reload (config or campaigns) in `tierpace_config_reloads_total`.
pub(super) fn count_reload(shared: &Shared, result: &str) {
    shared
        .metrics
        .config_reloads
        .get_or_create(&http::metrics::ResultLabels {
            result: result.to_string(),
        })
        .inc();
}

pub(super) fn apply_config(
    shared: &Arc<Shared>,
    new: &LoadedConfig,
    dispatchers: &mut senders::Dispatchers,
) -> anyhow::Result<()> {
    let cals = calendars(&new.config)?;
    let settings = ledger_settings(&new.config)?;
    dispatchers.reconcile(shared, &new.config)?;
    shared.ledger.update_settings(settings);
    if let Ok(mut c) = shared.calendars.write() {
        *c = cals;
    }
    Ok(())
}

/// Rescans the campaigns directory and hands each dispatcher its runs.
pub(super) async fn apply_campaigns(
    shared: &Arc<Shared>,
    registry: &mut Registry,
    planner: &mut campaigns::CampaignPlanner,
    dispatchers: &senders::Dispatchers,
) {
    let mut ok = true;
    let mut invalid = Vec::new();
    for event in registry.reload() {
        shared.campaign_metrics.registry_event(&event);
        if let RegistryEvent::Invalid { file, error } = &event {
            ok = false;
            invalid.push(template_gate::not_loaded_line(file, error));
        }
    }
    if registry.read_failed() {
        // No file event may come for a scan that failed to read (EMFILE, a flaky mount): try
        // again by ourselves rather than leave a dropped-in campaign unloaded.
        let tx = shared.reload_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let _ = tx.try_send(Trigger::FileChange);
        });
    }
    let list: Vec<Campaign> = registry.campaigns().cloned().collect();
    if let Ok(mut l) = shared.loaded_campaigns.write() {
        *l = list.clone();
    }
    // Template pre-flight (issue #18): a template that does not fit the provider's keeps its
    // campaign from starting; the others go on.
    let senders = shared
        .loaded
        .read()
        .map(|l| l.config.senders.clone())
        .unwrap_or_default();
    let (list, mut refused_templates, unverified) =
        template_gate::gate(&shared.templates, &senders, list).await;
    let cals = shared
        .calendars
        .read()
        .map(|c| c.clone())
        .unwrap_or_default();
    let hasher = shared.hasher.clone();
    let now = shared.clock.now();
    let mut owned = std::mem::take(planner);
    let progress = shared.progress.clone();
    let runtime = tokio::runtime::Handle::current();
    let (planned, back) = tokio::task::spawn_blocking(move || {
        // A late cron run resumes when it has progress in the store. Unknown (store down)
        // counts as started: resuming is what tierpace did before late_start existed.
        let started = |run: &RunId| {
            runtime
                .block_on(progress.meta(run))
                .map_or(true, |m| m.cursor.is_some() || m.settled() > 0)
        };
        let out = owned.plan(&list, &cals, &hasher, now, &started);
        (out, owned)
    })
    .await
    .expect("campaign planning does not panic");
    *planner = back;
    let (live, refused) = planned;
    for r in &refused {
        ok = false;
        tracing::error!(campaign = %r.campaign, file = %r.file.display(), error = %r.error, "campaign refused");
    }
    ok &= refused_templates.is_empty();
    let loaded_list = shared
        .loaded_campaigns
        .read()
        .map(|l| l.clone())
        .unwrap_or_default();
    refused_templates.extend(refused.iter().map(|r| {
        let c = loaded_list.iter().find(|c| c.id == r.campaign);
        template_gate::RefusedCampaign {
            campaign: r.campaign.clone(),
            sender: c.map(|c| c.sender.clone()).unwrap_or_default(),
            template: c.map(template_gate::template_name).unwrap_or_default(),
            file: r.file.clone(),
            error: r.error.clone(),
        }
    }));
    if let Ok(mut p) = shared.campaign_problems.write() {
        *p = template_gate::CampaignProblems {
            invalid,
            refused: refused_templates,
            unverified,
        };
    }
    count_reload(shared, if ok { "ok" } else { "error" });
    if let Ok(mut c) = shared.campaigns.write() {
        *c = live
            .values()
            .flatten()
            .map(|l| l.campaign.clone())
            .collect();
    }
    dispatchers.assign(live).await;
}
