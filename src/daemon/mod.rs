//! `tierpace run`: wiring, signals and systemd. Everything here is glue: load the config, build
//! the stores, start one dispatcher per sender, serve HTTP, and route reloads (SIGHUP, the
//! campaigns-directory watcher, cron firings and admin changes all take one path, STYLE.md 15).
//!
//! This file holds [`run`], the main loop. The rest, one concept a file:
//! - `shared`: the state the tasks share ([`Shared`]), the reload [`Trigger`]s, [`Brakes`];
//! - `config_parts`: what the daemon derives from its config (hash key, ledger settings,
//!   calendars, campaign context, HTTP settings);
//! - `stores`, `redis_connect`, `sentinel`, `redis_health`: the Redis (or memory) stores, how
//!   they are reached and what is checked about them; `health`: the health tick and store gate;
//! - `senders`: one dispatcher task per sender; `campaigns`: the registry's campaigns turned into
//!   runs; `reload`, `cron`: the one reload path and the cron timer; `optout_import`: the opt-out
//!   file; `register`: this replica in the register; `tier_poll`: the provider's tier and quality;
//! - `sink`: finds what a webhook event is about and routes it to `dispatch::react` (which
//!   decides); `admin`: the admin API's daemon side (operator actions, `admin::views` the
//!   statuses, `admin::readiness` `/readyz`); `go_live`: the go-live checklist at start.
mod admin;
mod campaigns;
mod config_parts;
mod cron;
mod go_live;
mod health;
mod optout_import;
pub mod redis_connect;
pub mod redis_health;
mod register;
mod reload;
mod senders;
mod sentinel;
mod shared;
mod sink;
mod stores;
mod template_gate;
pub mod tier_poll;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use prometheus_client::registry::Registry as MetricsRegistry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::campaign::metrics::CampaignMetrics;
use crate::campaign::registry::{spawn_sighup, watch_dir, Registry};
use crate::clock::Clock;
use crate::config::LoadedConfig;
use crate::dispatch::status::StatusBoard;
use crate::http::{self, HttpState, Metrics};
use crate::systemd;

pub use config_parts::{hash_key, MIN_HASH_KEY_LEN};
pub use senders::SenderHandle;
pub use shared::{Brakes, Shared, Trigger};

use config_parts::{calendars, campaign_context, http_config, ledger_settings};
use cron::cron_delay;
use go_live::go_live_run;
use health::{health_interval, health_tick, summary};
use optout_import::import_optout_file;
use reload::{apply_campaigns, reload};
pub use stores::probe_configured as probe_redis;

/// Runs the daemon until `shutdown` is cancelled or SIGTERM/SIGINT arrives.
pub async fn run(
    config_path: &Path,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let loaded = LoadedConfig::load(config_path)?;
    let cfg = loaded.config.clone();
    if let Err(e) = crate::logging::set_level(&cfg.log_level) {
        tracing::warn!(error = %e, "log_level not applied");
    }
    let hasher = hash_key(&cfg, loaded.path.parent().unwrap_or(Path::new("")))?;
    let cals = calendars(&cfg)?;
    let stores = stores::build(&cfg, ledger_settings(&cfg)?).await?;
    let mut metrics_registry = MetricsRegistry::default();
    let metrics = Metrics::register(&mut metrics_registry);
    let campaign_metrics = CampaignMetrics::register(&mut metrics_registry);
    let (reload_tx, mut reload_rx) = mpsc::channel::<Trigger>(16);
    let shared = Arc::new(Shared {
        loaded: RwLock::new(loaded.clone()),
        clock: clock.clone(),
        hasher,
        ledger: stores.ledger,
        consent: stores.consent,
        progress: stores.progress,
        pacing: stores.pacing,
        sender_leases: stores.sender_leases,
        ownership: Arc::new(crate::dispatch::ownership::Ownership::new(
            register::replica_id(&cfg),
        )),
        pinger: stores.pinger,
        redis_up: std::sync::atomic::AtomicBool::new(true),
        store_gate: stores.gate,
        store_warned_at: std::sync::Mutex::new(None),
        board: Arc::new(StatusBoard::default()),
        senders: RwLock::new(BTreeMap::new()),
        campaigns: RwLock::new(Vec::new()),
        calendars: RwLock::new(cals),
        metrics: metrics.clone(),
        campaign_metrics,
        reload_tx: reload_tx.clone(),
        started: std::sync::atomic::AtomicBool::new(false),
        unreadable: Default::default(),
        provider_views: RwLock::new(BTreeMap::new()),
        go_live: RwLock::new(Vec::new()),
        go_live_runs: std::sync::atomic::AtomicU64::new(0),
        templates: Arc::new(
            crate::provider::template_preflight::TemplateCatalog::new(
                crate::provider::template_preflight::DEFAULT_TTL,
            )
            .context("template pre-flight HTTP client")?,
        ),
        campaign_problems: RwLock::new(Default::default()),
        loaded_campaigns: RwLock::new(Vec::new()),
        self_proof: crate::http::self_proof::SelfProofKey::random(),
    });
    import_optout_file(&shared, &loaded).await;

    // HTTP first, so /healthz answers while campaigns load.
    let mut http_cfg = http_config(&loaded)?;
    http_cfg.self_proof = shared.self_proof.clone();
    let listener = tokio::net::TcpListener::bind(http_cfg.listen)
        .await
        .with_context(|| format!("http.listen: cannot bind {}", http_cfg.listen))?;
    tracing::info!(listen = %http_cfg.listen, "http listening");
    let state = HttpState {
        sink: Arc::new(sink::Sink(shared.clone())),
        admin: Arc::new(admin::Admin(shared.clone())),
        readiness: Arc::new(admin::Admin(shared.clone())),
        registry: Arc::new(metrics_registry),
        metrics,
        config: Arc::new(http_cfg),
    };
    let http_token = CancellationToken::new();
    // An open Gupshup webhook is said loudly: at start and every hour (issue #22).
    let warnings = state.config.trust_warnings();
    if !warnings.is_empty() {
        let stop = http_token.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => {
                        for w in &warnings {
                            tracing::warn!(warning = %w, "webhook trust");
                        }
                    }
                }
            }
        });
    }
    let limits = http::ListenerLimits {
        drain_timeout: cfg.drain_timeout,
        ..state.config.limits
    };
    let http_task = tokio::spawn(http::serve(
        listener,
        http::router(state),
        http_token.clone(),
        limits,
    ));

    // Campaigns and dispatchers. The replica register is read once first, so the dispatchers
    // start with a plan of which replica paces which sender.
    let dispatch_token = CancellationToken::new();
    register::refresh(&shared).await;
    tracing::info!(replica = %shared.ownership.replica, live = ?shared.ownership.live(), "replica registered");
    let register_token = CancellationToken::new();
    let register_task = tokio::spawn(register::run(shared.clone(), register_token.clone()));
    let mut registry = Registry::new(loaded.campaigns_dir(), campaign_context(&cfg));
    let mut planner = campaigns::CampaignPlanner::default();
    let mut dispatchers = senders::Dispatchers::new(dispatch_token.clone());
    dispatchers.reconcile(&shared, &cfg)?;
    apply_campaigns(&shared, &mut registry, &mut planner, &dispatchers).await;

    // One reload path (STYLE.md 15): the watcher and SIGHUP send onto the reload channel itself.
    let _watch = match watch_dir(&loaded.campaigns_dir(), reload_tx.clone()) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(error = %e, "campaigns directory not watched; reload with SIGHUP");
            None
        }
    };
    let sighup = spawn_sighup(reload_tx.clone()).context("installing the SIGHUP handler")?;
    let mut signals = signal_hook_tokio::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    // One timer to the earliest next cron firing, computed by the planner in each campaign's
    // calendar zone (the same computation that picks the run in force).
    let cron_timer = tokio::time::sleep(cron_delay(&shared, planner.next_wake()));
    tokio::pin!(cron_timer);
    let poll_task = tokio::spawn(tier_poll::run(shared.clone(), dispatch_token.clone()));
    // The go-live checklist, in the background once the listener is up (its self-call needs
    // it): it reports, it never holds the start or stops sending. Again after every reload.
    tokio::spawn(go_live_run(shared.clone()));

    shared
        .started
        .store(true, std::sync::atomic::Ordering::SeqCst);
    systemd::ready(&summary(&shared));
    tracing::info!(summary = %summary(&shared), "tierpace ready");

    let mut health = tokio::time::interval(health_interval());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(sig) = signals.next() => {
                tracing::info!(signal = sig, "stopping");
                break;
            }
            Some(trigger) = reload_rx.recv() => {
                if trigger == Trigger::Wake {
                    dispatchers.wake();
                    continue;
                }
                systemd::reloading();
                reload(&shared, trigger, &mut registry, &mut planner, &mut dispatchers).await;
                if matches!(trigger, Trigger::Signal | Trigger::FileChange) {
                    tokio::spawn(go_live_run(shared.clone()));
                }
                // Campaigns may have gained or lost a cron pattern, or a firing came.
                cron_timer.as_mut().reset(tokio::time::Instant::now() + cron_delay(&shared, planner.next_wake()));
                systemd::ready(&summary(&shared));
            }
            () = &mut cron_timer => {
                let due = planner.next_wake().is_some_and(|t| shared.clock.now() >= t);
                if due && reload_tx.try_send(Trigger::Cron).is_ok() {
                    // The reload plans the firing's run and re-arms the timer to the next one.
                    cron_timer.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(3600));
                } else {
                    cron_timer.as_mut().reset(tokio::time::Instant::now() + cron_delay(&shared, planner.next_wake()));
                }
            }
            _ = health.tick() => health_tick(&shared).await,
        }
    }

    systemd::stopping();
    sighup.abort();
    // Off the register first, so the other replicas plan this one's senders elsewhere while
    // its dispatchers drain; they take each sender once it is released.
    register_token.cancel();
    let _ = register_task.await;
    register::leave(&shared).await;
    // Dispatchers and the listener drain side by side, each bounded by `drain_timeout`, so a
    // stop ends in time whatever the provider or HTTP clients do (issue #16).
    dispatch_token.cancel();
    http_token.cancel();
    let _ = poll_task.await;
    let drain = loaded.config.drain_timeout + Duration::from_secs(2);
    if tokio::time::timeout(drain, dispatchers.join())
        .await
        .is_err()
    {
        tracing::warn!("dispatchers did not stop within the drain timeout");
    }

    let _ = http_task.await;
    tracing::info!("stopped");
    Ok(())
}
