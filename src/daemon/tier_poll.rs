//! Asking each sender's provider for its current limit and quality: at start, every
//! `tier_poll` (default 15 min) and on `tierpace status --refresh`, then reconciling the model
//! with it ([`crate::policy::tier_reconcile`]). Glue only: the comparison is pure, the requests
//! live in [`crate::provider::tier_source`].
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
use crate::ledger::LedgerError;
use crate::policy::brake::QualityRating;
use crate::policy::tier::{Quality, Tier};
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_reconcile::{reconcile, Reconcile};
use crate::provider::tier_source::{GupshupTierSource, MetaTierSource, TierSource};
use crate::secret::SecretSource;

/// Gupshup's Partner API, unless a sender names another base URL.
pub const GUPSHUP_PARTNER_URL: &str = "https://partner.gupshup.io";

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
            let token = SecretSource::from_keys(
                sc.api_key_env.clone(),
                sc.api_key_file.clone(),
                "api_key_env",
                "api_key_file",
            )
            .and_then(|s| s.load())
            .context("access token")?;
            Arc::new(MetaTierSource::new(
                sc.base_url
                    .as_deref()
                    .unwrap_or("https://graph.facebook.com/v21.0"),
                sc.phone_number_id.as_deref().unwrap_or_default(),
                token,
                http,
                timeout,
            ))
        }
        ProviderChoice::Gupshup => {
            let app_id = SecretSource::from_keys(
                sc.partner_app_id_env.clone(),
                sc.partner_app_id_file.clone(),
                "partner_app_id_env",
                "partner_app_id_file",
            )
            .and_then(|s| s.load())
            .context("partner app id")?;
            let token = SecretSource::from_keys(
                sc.partner_token_env.clone(),
                sc.partner_token_file.clone(),
                "partner_token_env",
                "partner_token_file",
            )
            .and_then(|s| s.load())
            .context("partner token")?;
            Arc::new(GupshupTierSource::new(
                sc.partner_base_url
                    .as_deref()
                    .unwrap_or(GUPSHUP_PARTNER_URL),
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
            let applied = apply(shared, h, view.tier, view.quality, now).await;
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

/// Applies what the provider said: its tier when it differs from the model's, its quality
/// (and the quality brakes). Ledger counts are left alone.
async fn apply(
    shared: &Shared,
    h: &SenderHandle,
    tier: Option<Tier>,
    quality: Option<Quality>,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let stats = shared.ledger.stats(&h.group, now).await?;
    let r = reconcile(stats.tier, tier);
    if let Some(tier) = r.set_tier() {
        shared
            .ledger
            .apply_tier_event(&h.group, now, TierEvent::ProviderTier { tier })
            .await?;
        match r {
            Reconcile::ProviderLower { model, provider } => {
                tracing::warn!(sender = %h.id, group = %h.group, %model, %provider,
                    "provider reports a lower limit than the model: it takes effect now")
            }
            _ => {
                tracing::info!(sender = %h.id, group = %h.group, model = %stats.tier, provider = %tier,
                "provider reports a higher limit: accepted")
            }
        }
        shared
            .metrics
            .group_tier_reconciles
            .get_or_create(&crate::http::metrics::ReconcileLabels {
                group: h.group.0.clone(),
                result: r.as_str().into(),
            })
            .inc();
        let _ = h
            .commands
            .try_send(crate::dispatch::dispatcher::Command::Wake);
    }
    if let Some(q) = quality.filter(|q| *q != stats.quality && *q != Quality::Unknown) {
        shared
            .ledger
            .apply_tier_event(&h.group, now, TierEvent::Quality(q))
            .await?;
        // `q` is never Unknown here (filtered above); Low is the safe side all the same.
        let rating = QualityRating::try_from(q).unwrap_or(QualityRating::Low);
        let active = {
            let mut b = h.brakes.lock().unwrap_or_else(|e| e.into_inner());
            b.quality(rating, now).then(|| b.active())
        };
        if let Some(active) = active {
            tracing::warn!(sender = %h.id, quality = q.name(), "quality from the provider's poll: brakes updated");
            crate::dispatch::pacing_store::persist_brakes(shared.pacing.as_ref(), &h.id, &active)
                .await;
        }
    }
    Ok(())
}

fn record(shared: &Shared, sender: &str, f: impl FnOnce(&mut ProviderView)) {
    if let Ok(mut views) = shared.provider_views.write() {
        f(views.entry(sender.to_string()).or_default());
    }
}
