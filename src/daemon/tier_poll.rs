//! Asking each sender's provider for its current limit and quality: at start, every
//! `tier_poll` (default 15 min) and on `tierpace status --refresh`, then handing the answer to
//! [`crate::dispatch::react`], which reconciles the model with it. Glue only: the requests live
//! in [`crate::provider::tier_source`], what the answer does in the reactions.
//!
//! A poll that fails (error, timeout, an answer without a limit) changes nothing: sending goes
//! on under the model, and the error shows in status and metrics.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{SenderHandle, Shared};
use crate::config::{ProviderChoice, SenderConfig};
use crate::policy::tier::{Quality, Tier};
use crate::provider::tier_source::{GupshupTierSource, MetaTierSource, TierSource};

/// What the provider said last about one sender, for status and metrics.
#[derive(Debug, Clone, Default)]
pub struct ProviderView {
    /// `meta-graph`, `gupshup-partner`; `None` when polling is not configured.
    pub source: Option<&'static str>,
    pub at: Option<DateTime<Utc>>,
    pub tier: Option<Tier>,
    pub quality: Option<Quality>,
    /// The last poll's error, cleared by the next answer.
    pub error: Option<String>,
}

impl ProviderView {
    /// One line for `tierpace status`.
    pub fn describe(&self) -> String {
        match (self.source, &self.error, self.at) {
            (None, _, _) => "not configured: relying on provider callbacks".into(),
            (Some(s), Some(e), _) => format!("{s}: last poll failed: {e}"),
            (Some(s), None, Some(at)) => format!("{s}: polled {}", at.format("%H:%M:%S UTC")),
            (Some(s), None, None) => format!("{s}: not polled yet"),
        }
    }
}

/// The sender's tier source, built from its config; `None` when it has none (dry run, or
/// Gupshup without the Partner API's app id and token).
pub fn build_source(sc: &SenderConfig) -> anyhow::Result<Option<Arc<dyn TierSource>>> {
    use anyhow::Context as _;
    if !sc.tier_poll_configured() {
        return Ok(None);
    }
    let http = crate::provider::http_client(Duration::from_secs(5))?;
    let timeout = sc.timeout;
    Ok(Some(match sc.provider {
        ProviderChoice::Meta => {
            let token = sc.api_key().context("access token")?;
            Arc::new(MetaTierSource::new(
                sc.graph_api_base(),
                sc.phone_number_id.as_deref().unwrap_or_default(),
                token,
                http,
                timeout,
            ))
        }
        ProviderChoice::Gupshup => {
            let app_id = sc.partner_app_id().context("partner app id")?;
            let token = sc.partner_token().context("partner token")?;
            Arc::new(GupshupTierSource::new(
                sc.partner_api_base(),
                app_id.expose().trim(),
                token,
                http,
                timeout,
            ))
        }
        ProviderChoice::Dryrun => return Ok(None),
    }))
}

/// Polls every sender when its `tier_poll` comes round (new senders at once) until `token`.
pub async fn run(shared: Arc<Shared>, token: CancellationToken) {
    let mut next: BTreeMap<String, tokio::time::Instant> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let senders: Vec<SenderHandle> = shared
            .senders
            .read()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        let now = tokio::time::Instant::now();
        for h in senders {
            if next.get(&h.id).is_some_and(|t| *t > now) {
                continue;
            }
            next.insert(h.id.clone(), now + h.config.tier_poll);
            poll_sender(&shared, &h).await;
        }
    }
}

/// Polls every sender now (`tierpace status --refresh`).
pub async fn refresh_all(shared: &Shared) {
    let senders: Vec<SenderHandle> = shared
        .senders
        .read()
        .map(|s| s.values().cloned().collect())
        .unwrap_or_default();
    for h in senders {
        poll_sender(shared, &h).await;
    }
}

/// One poll of one sender, reconciled with the model.
pub async fn poll_sender(shared: &Shared, h: &SenderHandle) {
    let Some(source) = h.tier_source.clone() else {
        record(shared, &h.id, |v| *v = ProviderView::default());
        return;
    };
    let polled = source.poll().await;
    let now = shared.clock.now();
    let result = match polled {
        Ok(view) => {
            let applied = shared
                .reactor()
                .polled(&h.grouped(), view.tier, view.quality, now)
                .await;
            if applied.as_ref().is_ok_and(|tier_changed| *tier_changed) {
                let _ = h
                    .commands
                    .try_send(crate::dispatch::dispatcher::Command::Wake);
            }
            record(shared, &h.id, |v| {
                v.source = Some(source.name());
                v.at = Some(now);
                v.tier = view.tier.or(v.tier);
                v.quality = view.quality.or(v.quality);
                v.error = applied.as_ref().err().map(ToString::to_string);
            });
            if applied.is_ok() {
                "ok"
            } else {
                "error"
            }
        }
        Err(e) => {
            tracing::warn!(sender = %h.id, source = source.name(), error = %e,
                "tier poll failed: the model's tier stays in force");
            record(shared, &h.id, |v| {
                v.source = Some(source.name());
                v.error = Some(e.to_string());
            });
            "error"
        }
    };
    shared
        .metrics
        .sender_tier_polls
        .get_or_create(&crate::http::metrics::PollLabels {
            sender: h.id.clone(),
            result: result.into(),
        })
        .inc();
}

fn record(shared: &Shared, sender: &str, f: impl FnOnce(&mut ProviderView)) {
    if let Ok(mut views) = shared.provider_views.write() {
        f(views.entry(sender.to_string()).or_default());
    }
}
