//! `tierpace check --online`: the offline check, then the go-live checklist (issue #21) asked
//! of each sender's provider and the network; one line per item, or JSON with `--json`.
//! Exit code: 0 all ok, 1 any failed (offline errors included), 2 only unknowns besides oks.
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::{LoadedConfig, ProviderChoice};
use crate::provider::golive::{self, network, GoLiveContext, GoLiveItem};

/// Options of `check --online`.
#[derive(Debug, Clone, Default)]
pub struct OnlineArgs {
    pub json: bool,
    /// Balance warning threshold; default [`golive::balance::DEFAULT_MIN_BALANCE`].
    pub min_balance: Option<f64>,
    pub price_per_message: Option<f64>,
}

/// The `redis` item: the state store answers, keeps every key (`noeviction`) and accepts a
/// write, probed as the daemon probes it ([`crate::daemon::probe_redis`]). Offline `check`
/// only notes an unreachable Redis (it may run on a machine without access); going live, it
/// is a failure.
async fn redis_item(cfg: &crate::config::DaemonConfig) -> GoLiveItem {
    const ITEM: &str = "redis";
    let target = if cfg.redis_cluster.is_empty() {
        cfg.redis_url.clone()
    } else {
        cfg.redis_cluster.join(",")
    };
    match crate::daemon::probe_redis(cfg, std::time::Duration::from_secs(5)).await {
        None => GoLiveItem::unknown("-", ITEM, "no Redis client for this config"),
        Some(Ok(())) => GoLiveItem::ok(
            "-",
            ITEM,
            format!("{target}: reachable, maxmemory-policy noeviction, accepts writes"),
        ),
        Some(Err(p)) => GoLiveItem::failed(
            "-",
            ITEM,
            format!("{target}: {p}"),
            "start Redis with maxmemory-policy noeviction, or correct redis_url / redis_cluster (docs/redis.md)",
        ),
    }
}

pub fn run(config: &Path, now: DateTime<Utc>, args: &OnlineArgs) -> Result<i32> {
    // The offline part first (text only: `--json` prints just the go-live items).
    let offline = if args.json {
        0
    } else {
        super::check::run(config, now)?
    };
    let loaded = match LoadedConfig::load(config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    let cfg = &loaded.config;
    let mut ctx = GoLiveContext::for_config(cfg)?;
    if let Some(m) = args.min_balance {
        ctx.min_balance = m;
    }
    ctx.price_per_message = args.price_per_message;
    ctx.campaigns = valid_campaigns(&loaded);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut items = rt.block_on(golive::check_all(cfg, &ctx));
    if cfg.state == crate::config::StateBackend::Redis {
        items.insert(0, rt.block_on(redis_item(cfg)));
    }
    let uses = |p| cfg.senders.values().any(|s| s.provider == p);
    let sources =
        network::callback_sources(uses(ProviderChoice::Gupshup), uses(ProviderChoice::Meta));
    let code = if offline == 1 {
        1
    } else {
        golive::exit_code(&items)
    };
    let mut out = String::new();
    if args.json {
        let v = json!({ "items": items, "callback_sources": sources, "exit": code });
        out.push_str(&serde_json::to_string_pretty(&v)?);
        out.push('\n');
    } else {
        out.push_str("go-live:\n");
        for item in &items {
            out.push_str(&item.line());
            out.push('\n');
        }
        for line in &sources {
            out.push_str(&format!("firewall: {line}\n"));
        }
        out.push_str(match code {
            0 => "go-live: ok\n",
            1 => "go-live: FAILED\n",
            _ => "go-live: unknown items (nothing failed)\n",
        });
    }
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(code)
}

/// Every valid campaign file of the config's directory (invalid ones are the offline check's).
fn valid_campaigns(loaded: &LoadedConfig) -> Vec<crate::campaign::file::Campaign> {
    let cfg = &loaded.config;
    let mut calendars: std::collections::BTreeSet<String> = cfg.calendars.keys().cloned().collect();
    calendars.insert("always".into());
    let ctx = crate::campaign::file::CampaignContext {
        senders: cfg.senders.keys().cloned().collect(),
        providers: cfg
            .senders
            .iter()
            .map(|(name, s)| (name.clone(), s.provider.into()))
            .collect(),
        calendars,
    };
    let mut registry = crate::campaign::registry::Registry::new(loaded.campaigns_dir(), ctx);
    registry.reload();
    registry.campaigns().cloned().collect()
}
