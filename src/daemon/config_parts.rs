//! The runtime pieces the daemon derives from its config: the contact hasher (hash key), the
//! ledger settings, the built calendars, the campaign context and the HTTP settings.
use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::campaign::file::CampaignContext;
use crate::config::{DaemonConfig, LoadedConfig, StateBackend};
use crate::contact::ContactHasher;
use crate::http::HttpConfig;
use crate::ledger::{LedgerSettings, LimitGroup};
use crate::policy::calendar::Calendar;
use crate::policy::calendar_config::build_calendars;
use crate::policy::tier::Tier;
use crate::secret::SecretSource;

/// The key used to hash contacts when none is configured (memory state only): fine for a demo,
/// never for production, where the keys must survive restarts and stay secret.
pub(super) const DEV_HASH_KEY: &str = "tierpace-dev-only-hash-key";

/// Loads the hash key from its configured source (or the dev key with memory state).
/// The contact hasher from `hash_key_env` / `hash_key_file` (required with Redis state).
pub fn hash_key(cfg: &DaemonConfig) -> anyhow::Result<ContactHasher> {
    match SecretSource::from_keys(
        cfg.hash_key_env.clone(),
        cfg.hash_key_file.clone(),
        "hash_key_env",
        "hash_key_file",
    ) {
        Ok(source) => {
            let secret = source.load().context("hash key")?;
            Ok(ContactHasher::new(secret.expose().as_bytes()))
        }
        Err(_) if cfg.state == StateBackend::Memory => {
            tracing::warn!("no hash_key_env/hash_key_file: using the built-in development key (memory state only)");
            Ok(ContactHasher::new(DEV_HASH_KEY.as_bytes()))
        }
        Err(e) => Err(anyhow::anyhow!("hash key: {e}")),
    }
}

/// The ledger's view of the config.
pub(super) fn ledger_settings(cfg: &DaemonConfig) -> anyhow::Result<LedgerSettings> {
    let policy = cfg.policy.resolve().context("policy")?;
    let mut initial_tiers = BTreeMap::new();
    for (id, s) in &cfg.senders {
        let tier: Tier = s
            .initial_tier
            .parse()
            .map_err(|e| anyhow::anyhow!("senders.{id}.initial_tier: {e}"))?;
        initial_tiers.insert(LimitGroup::new(s.limit_group(id)), tier);
    }
    Ok(LedgerSettings {
        policy,
        safety_share: cfg.pacing.safety_share,
        reserve: cfg.pacing.reserve,
        initial_tiers,
    })
}

pub(super) fn calendars(cfg: &DaemonConfig) -> anyhow::Result<BTreeMap<String, Calendar>> {
    let (map, warnings) = build_calendars(&cfg.calendars).map_err(|errors| {
        anyhow::anyhow!(
            "calendars: {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    for w in warnings {
        tracing::warn!(warning = %w, "calendar");
    }
    Ok(map)
}

pub(super) fn campaign_context(cfg: &DaemonConfig) -> CampaignContext {
    CampaignContext::from(cfg)
}

pub(super) fn http_config(loaded: &LoadedConfig) -> anyhow::Result<HttpConfig> {
    loaded
        .config
        .http
        .resolve(|var| std::env::var(var).ok())
        .inspect(|c| {
            let all = c.admin_tokens.iter().chain(&c.read_tokens).chain(
                [&c.gupshup_secret, &c.meta_verify_token, &c.meta_app_secret]
                    .into_iter()
                    .flatten(),
            );
            for s in all {
                crate::logging::redact_secret(s.expose());
            }
        })
        .map_err(|errors| {
            anyhow::anyhow!(
                "{}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
}
