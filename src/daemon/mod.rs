//! `tierpace run`: wiring, signals and systemd. Everything here is glue: load the config, build
//! the stores, start one dispatcher per sender, serve HTTP, and route reloads (SIGHUP, the
//! campaigns-directory watcher, cron firings and admin changes all take one path, STYLE.md 15).
mod admin;
mod campaigns;
pub mod redis_connect;
pub mod redis_health;
mod register;
mod senders;
mod sentinel;
mod sink;
mod stores;
mod template_gate;
pub mod tier_poll;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use prometheus_client::registry::Registry as MetricsRegistry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::campaign::consent::OptOutSource;
use crate::campaign::file::{Campaign, CampaignContext};
use crate::campaign::metrics::CampaignMetrics;
use crate::campaign::registry::{spawn_sighup, watch_dir, Registry, RegistryEvent, ReloadTrigger};
use crate::clock::Clock;
use crate::config::{DaemonConfig, LoadedConfig, StateBackend};
use crate::contact::ContactHasher;
use crate::dispatch::progress::RunId;
use crate::dispatch::status::StatusBoard;
use crate::http::{self, HttpConfig, HttpState, Metrics};
use crate::ledger::{LedgerSettings, LimitGroup};
use crate::policy::calendar::Calendar;
use crate::policy::calendar_config::build_calendars;
use crate::policy::tier::Tier;
use crate::secret::SecretSource;
use crate::systemd;

pub use senders::SenderHandle;
pub use stores::probe_configured as probe_redis;

/// The key used to hash contacts when none is configured (memory state only): fine for a demo,
/// never for production, where the keys must survive restarts and stay secret.
const DEV_HASH_KEY: &str = "tierpace-dev-only-hash-key";

/// What the daemon shares between its tasks.
pub struct Shared {
    pub loaded: RwLock<LoadedConfig>,
    pub clock: Arc<dyn Clock>,
    pub hasher: ContactHasher,
    pub ledger: Arc<dyn crate::ledger::Ledger>,
    pub consent: Arc<dyn crate::campaign::consent::ConsentStore>,
    pub progress: Arc<dyn crate::dispatch::progress::ProgressStore>,
    /// Brakes, sends per day and template warm-up, shared by replicas and kept across restarts.
    pub pacing: Arc<dyn crate::dispatch::pacing_store::PacingStore>,
    /// Sender leases and the replica register: one replica paces a sender (issue #19).
    pub sender_leases: Arc<dyn crate::dispatch::sender_lease::SenderLeases>,
    /// This replica's id and the latest plan of which replica paces which sender.
    pub ownership: Arc<crate::dispatch::ownership::Ownership>,
    pub pinger: stores::Pinger,
    pub redis_up: std::sync::atomic::AtomicBool,
    /// Closed while Redis evicts or refuses writes (`redis_health`); the ledger checks it.
    pub store_gate: Arc<crate::ledger::StoreGate>,
    /// When the last "Redis refuses" warning was logged (one a minute while it lasts).
    pub store_warned_at: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    pub board: Arc<StatusBoard>,
    pub senders: RwLock<BTreeMap<String, SenderHandle>>,
    pub campaigns: RwLock<Vec<Campaign>>,
    pub calendars: RwLock<BTreeMap<String, Calendar>>,
    pub metrics: Metrics,
    /// The campaign registry's log lines and counters (reloads, invalid files), registered
    /// beside [`Metrics`] (STYLE.md 16: each subsystem registers its own).
    pub campaign_metrics: CampaignMetrics,
    pub reload_tx: mpsc::Sender<Trigger>,
    pub started: std::sync::atomic::AtomicBool,
    /// Webhook bodies dropped as unreadable, for status (issue 11 §2).
    pub unreadable: std::sync::Mutex<crate::http::UnreadableLog>,
    /// What each sender's provider said last about its tier and quality (by sender id).
    pub provider_views: RwLock<BTreeMap<String, tier_poll::ProviderView>>,
    /// The go-live checklist's latest run (issue #21: at start and after every reload); failed
    /// items show in status and `/readyz` warnings, never blocking.
    pub go_live: RwLock<Vec<crate::provider::golive::GoLiveItem>>,
    /// Go-live runs started; a run's items are kept only if no later run started meanwhile.
    pub go_live_runs: std::sync::atomic::AtomicU64,
    /// Template reads for the pre-flight at load and the go-live templates item (issue #18).
    pub templates: Arc<crate::provider::template_preflight::TemplateCatalog>,
    /// Campaigns of the last load that do not run (template, audience, calendar) and running
    /// campaigns whose template was not verified.
    pub campaign_problems: RwLock<template_gate::CampaignProblems>,
    /// Every valid campaign file of the last load, refused ones included (go-live templates).
    pub loaded_campaigns: RwLock<Vec<Campaign>>,
    /// This daemon's key for `/healthz?nonce=` proofs (the public-URL self-call).
    pub self_proof: crate::http::self_proof::SelfProofKey,
}

/// Why the daemon re-reads its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal,
    FileChange,
    Cron,
    /// Admin change (pause, resume, brake): no re-read, only wake the dispatchers.
    Wake,
}

/// The registry's triggers (file watcher, SIGHUP) arrive on the daemon's reload channel as they are.
impl From<ReloadTrigger> for Trigger {
    fn from(t: ReloadTrigger) -> Self {
        match t {
            ReloadTrigger::FileChange => Trigger::FileChange,
            ReloadTrigger::Signal => Trigger::Signal,
        }
    }
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Signal => "sighup",
            Trigger::FileChange => "file_change",
            Trigger::Cron => "cron",
            Trigger::Wake => "wake",
        }
    }
}

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
fn ledger_settings(cfg: &DaemonConfig) -> anyhow::Result<LedgerSettings> {
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

fn calendars(cfg: &DaemonConfig) -> anyhow::Result<BTreeMap<String, Calendar>> {
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

fn campaign_context(cfg: &DaemonConfig) -> CampaignContext {
    let mut calendars: std::collections::BTreeSet<String> = cfg.calendars.keys().cloned().collect();
    calendars.insert("always".into());
    CampaignContext {
        senders: cfg.senders.keys().cloned().collect(),
        providers: cfg
            .senders
            .iter()
            .map(|(name, s)| (name.clone(), s.provider.into()))
            .collect(),
        calendars,
    }
}

fn http_config(loaded: &LoadedConfig) -> anyhow::Result<HttpConfig> {
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

fn health_interval() -> Duration {
    systemd::watchdog_interval()
        .map(|w| (w / 3).min(Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(1))
}

/// One line for systemd's STATUS= and the log.
fn summary(shared: &Shared) -> String {
    let senders = shared.board.senders();
    let campaigns: usize = shared.campaigns.read().map(|c| c.len()).unwrap_or(0);
    let running: usize = senders
        .iter()
        .flat_map(|s| &s.campaigns)
        .filter(|c| c.status.state == crate::dispatch::schedule::RunState::Running)
        .count();
    format!(
        "{} senders, {campaigns} campaigns ({running} running)",
        shared.senders.read().map(|s| s.len()).unwrap_or(0)
    )
}

/// Pings the watchdog only while healthy, refreshes metrics and readiness.
async fn health_tick(shared: &Arc<Shared>) {
    let prefix = shared
        .loaded
        .read()
        .map(|l| l.config.key_prefix.clone())
        .unwrap_or_default();
    let probe = shared.pinger.probe(&prefix).await;
    let up = !matches!(probe, Err(redis_health::RedisProblem::Unreachable(_)));
    apply_store_problem(shared, probe.err().filter(|_| up));
    let was = shared
        .redis_up
        .swap(up, std::sync::atomic::Ordering::SeqCst);
    if was && !up {
        tracing::error!("redis unreachable: no sends until it is back");
    } else if !was && up {
        tracing::info!("redis reachable again");
    }
    shared.metrics.redis_up.set(i64::from(up));
    if !up {
        shared.metrics.redis_errors.inc();
    }
    admin::refresh_metrics(shared).await;
    let now = shared.clock.now();
    if up
        && shared
            .board
            .healthy(now, chrono::Duration::seconds(30))
            .is_ok()
    {
        systemd::watchdog();
    }
    systemd::status(&summary(shared));
}

/// Opens or closes the store gate from the probe; logs a change at once and a lasting problem
/// once a minute (not on every tick: the old behaviour was a warning every 50 ms).
fn apply_store_problem(shared: &Shared, problem: Option<redis_health::RedisProblem>) {
    use redis_health::RedisProblem;
    let before = shared.store_gate.why();
    for reason in RedisProblem::REASONS {
        if reason != "unreachable" {
            let on = problem.as_ref().is_some_and(|p| p.reason() == reason);
            shared
                .metrics
                .redis_refusing
                .get_or_create(&crate::http::metrics::ReasonLabels {
                    reason: reason.to_string(),
                })
                .set(i64::from(on));
        }
    }
    let mut warned = shared
        .store_warned_at
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match problem {
        Some(p) => {
            let text = p.to_string();
            let now = shared.clock.now();
            let due = warned.is_none_or(|t| now - t >= chrono::Duration::seconds(60));
            if before.as_deref() != Some(text.as_str()) || due {
                tracing::error!(reason = p.reason(), "{text}");
                *warned = Some(now);
            }
            shared.store_gate.close(text);
        }
        None => {
            if before.is_some() {
                tracing::info!(
                    "redis accepts tierpace's writes again and does not evict: sending resumes"
                );
                shared.store_gate.open();
                *warned = None;
            }
        }
    }
}

async fn import_optout_file(shared: &Arc<Shared>, loaded: &LoadedConfig) {
    let Some(path) = &loaded.config.optout_file else {
        return;
    };
    let path = loaded.resolve(path);
    let ddi = loaded.config.default_ddi.clone();
    let hasher = shared.hasher.clone();
    let read = tokio::task::spawn_blocking(move || {
        crate::campaign::consent::read_optout_file(&path, &ddi, &hasher).map_err(|e| e.to_string())
    })
    .await;
    match read {
        Ok(Ok((keys, bad))) => {
            for b in bad {
                tracing::warn!(problem = %b, "opt-out file line skipped");
            }
            let now = shared.clock.now();
            let mut n = 0;
            for k in keys {
                if shared
                    .consent
                    .opt_out(k, OptOutSource::File, now)
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            tracing::info!(count = n, "opt-out file imported");
        }
        Ok(Err(e)) => tracing::error!(error = %e, "opt-out file not read"),
        Err(e) => tracing::error!(error = %e, "opt-out file task failed"),
    }
}

/// Re-reads config and campaigns; a bad config keeps the old one in force.
async fn reload(
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
fn count_reload(shared: &Shared, result: &str) {
    shared
        .metrics
        .config_reloads
        .get_or_create(&http::metrics::ResultLabels {
            result: result.to_string(),
        })
        .inc();
}

fn apply_config(
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
async fn apply_campaigns(
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

/// How long to sleep before looking at the next cron firing again: until it, but at most a
/// second, so a clock that jumps (NTP, a suspended VM, a test's manual clock) is noticed.
fn cron_delay(shared: &Shared, next: Option<DateTime<Utc>>) -> Duration {
    const RECHECK: Duration = Duration::from_secs(1);
    match next {
        Some(t) => (t - shared.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(RECHECK),
        None => Duration::from_secs(3600),
    }
}

/// Shared brake state per sender (webhooks and admin set brakes; the dispatcher reads them).
pub type Brakes = Arc<Mutex<crate::policy::brake::BrakeState>>;

/// Runs the go-live checklist (issue #21) once, logs each failed item and keeps the items for
/// status and `/readyz`, unless a later run started meanwhile (runs follow reloads).
async fn go_live_run(shared: Arc<Shared>) {
    use crate::provider::golive;
    use std::sync::atomic::Ordering;
    let run = shared.go_live_runs.fetch_add(1, Ordering::SeqCst) + 1;
    let cfg = match shared.loaded.read() {
        Ok(l) => l.config.clone(),
        Err(_) => return,
    };
    let mut ctx = match golive::GoLiveContext::for_config(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "go-live check not run: no HTTP client");
            return;
        }
    };
    ctx.campaigns = shared
        .loaded_campaigns
        .read()
        .map(|l| l.clone())
        .unwrap_or_default();
    ctx.templates = shared.templates.clone();
    ctx.self_proof = golive::SelfProofCheck::Key(shared.self_proof.clone());
    let items = golive::check_all(&cfg, &ctx).await;
    if shared.go_live_runs.load(Ordering::SeqCst) != run {
        return;
    }
    for item in items.iter().filter(|i| i.is_failed()) {
        tracing::warn!(sender = %item.sender, item = item.item, "go-live check failed: {}", item.line());
    }
    tracing::info!(
        failed = items.iter().filter(|i| i.is_failed()).count(),
        items = items.len(),
        "go-live check done (tierpace check --online shows every item)"
    );
    if let Ok(mut g) = shared.go_live.write() {
        *g = items;
    }
}
