//! The runtime pieces the daemon derives from its config: the contact hasher (hash key), the
//! ledger settings, the built calendars, the campaign context and the HTTP settings.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The shortest hash key `run` and `check` accept, in bytes: 32 characters, e.g. the 64 hex
/// digits `tierpace init` or `openssl rand -hex 32` write (256 bits).
pub const MIN_HASH_KEY_LEN: usize = 32;

/// The contact hasher from `hash_key_env` / `hash_key_file` (required with Redis state; the
/// built-in development key with memory state and neither set). A relative `hash_key_file` is read
/// from `$CREDENTIALS_DIRECTORY` when systemd sets it, else from `config_dir` (the config file's
/// folder). Errors: the source is unset, unreadable (naming the full path looked at), or the key
/// is shorter than [`MIN_HASH_KEY_LEN`]. `run` and `check` both call this, so they agree.
pub fn hash_key(cfg: &DaemonConfig, config_dir: &Path) -> anyhow::Result<ContactHasher> {
    // Resolved here rather than by the secret loader so every message names the full path.
    let file = cfg.hash_key_file.as_ref().map(|p| {
        if p.is_relative() {
            let base = std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| config_dir.to_path_buf());
            let joined = base.join(p);
            std::path::absolute(&joined).unwrap_or(joined)
        } else {
            p.clone()
        }
    });
    match SecretSource::from_keys(
        cfg.hash_key_env.clone(),
        file,
        "hash_key_env",
        "hash_key_file",
    ) {
        Ok(source) => {
            let secret = source.load().context("hash key")?;
            let len = secret.expose().trim().len();
            if len < MIN_HASH_KEY_LEN {
                anyhow::bail!(
                    "hash key: {} is {len} characters long, at least {MIN_HASH_KEY_LEN} are required (generate one with `openssl rand -hex 32`, or let `tierpace init` write it)",
                    match &source {
                        SecretSource::Env(name) => format!("environment variable {name}"),
                        SecretSource::File(path) => format!("file {}", path.display()),
                    }
                );
            }
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
