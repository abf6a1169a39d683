//! One dispatcher task per sender: built from the sender's config, restarted when that config
//! changes, stopped when the sender disappears.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Brakes, Shared};
use crate::config::{DaemonConfig, ProviderChoice, SenderConfig};
use crate::dispatch::dispatcher::{Command, Dispatcher};
use crate::dispatch::react::{GroupedSender, SenderControls};
use crate::dispatch::runner::LiveCampaign;
use crate::dispatch::sender_deps::SenderDeps;
use crate::ledger::LimitGroup;
use crate::policy::brake::BrakeState;
use crate::policy::pacer::Pacer;
use crate::policy::throughput::AdaptiveRate;
use crate::provider::{
    http_client, DryRunProvider, GupshupConfig, GupshupProvider, MetaConfig, MetaProvider, Provider,
};

/// What the rest of the daemon knows about a running sender.
#[derive(Clone)]
pub struct SenderHandle {
    pub id: String,
    pub group: LimitGroup,
    pub config: SenderConfig,
    /// Its share of its limit group's grow budget (`SenderConfig::group_share`).
    pub group_share: f64,
    pub brakes: Brakes,
    /// The sender's send rate under throughput errors (AIMD), shared with its dispatcher.
    pub rate: Arc<Mutex<AdaptiveRate>>,
    /// Where the provider's current tier and quality are asked (`None`: not configured).
    pub tier_source: Option<Arc<dyn crate::provider::tier_source::TierSource>>,
    pub commands: mpsc::Sender<Command>,
}

impl SenderHandle {
    /// The sender as reactions reach it: its controls and its limit group.
    pub fn grouped(&self) -> GroupedSender {
        GroupedSender {
            controls: SenderControls {
                id: self.id.clone(),
                brakes: self.brakes.clone(),
                rate: self.rate.clone(),
            },
            group: self.group.clone(),
        }
    }
}

struct Running {
    handle: SenderHandle,
    token: CancellationToken,
    task: JoinHandle<()>,
}

/// The set of running dispatchers.
pub struct Dispatchers {
    parent: CancellationToken,
    running: BTreeMap<String, Running>,
}

impl Dispatchers {
    pub fn new(parent: CancellationToken) -> Self {
        Self {
            parent,
            running: BTreeMap::new(),
        }
    }

    /// Starts, restarts or stops dispatchers to match the config's senders.
    pub fn reconcile(&mut self, shared: &Arc<Shared>, cfg: &DaemonConfig) -> anyhow::Result<()> {
        // Build every new provider first: a bad sender config refuses the whole reload.
        let mut fresh = BTreeMap::new();
        for (id, sc) in &cfg.senders {
            let unchanged = self.running.get(id).is_some_and(|r| {
                format!("{:?}", r.handle.config) == format!("{sc:?}")
                    && r.handle.group_share == sc.group_share(id, &cfg.senders)
            });
            if !unchanged {
                let provider = build_provider(id, sc).with_context(|| format!("senders.{id}"))?;
                fresh.insert(id.clone(), provider);
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !cfg.senders.contains_key(*id) || fresh.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(r) = self.running.remove(&id) {
                tracing::info!(sender = %id, "dispatcher stopping (sender changed or removed)");
                r.token.cancel();
                shared.board.remove(&id);
            }
        }
        for (id, provider) in fresh {
            let sc = cfg.senders[&id].clone();
            let tier_source = super::tier_poll::build_source(&sc)
                .with_context(|| format!("senders.{id}: tier poll"))?;
            if tier_source.is_none() && sc.provider == ProviderChoice::Gupshup {
                tracing::info!(sender = %id, "tier poll not configured (partner_app_id / partner_token): relying on Gupshup's tier callbacks");
            }
            let brakes: Brakes = shared
                .senders
                .read()
                .ok()
                .and_then(|s| s.get(&id).map(|h| h.brakes.clone()))
                .unwrap_or_else(|| {
                    Arc::new(Mutex::new(BrakeState::new(cfg.pacing.brakes.clone())))
                });
            let rate = Arc::new(Mutex::new(AdaptiveRate::new(sc.max_mps)));
            let group = LimitGroup::new(sc.limit_group(&id));
            let group_share = sc.group_share(&id, &cfg.senders);
            let (tx, rx) = mpsc::channel(16);
            let deps = SenderDeps {
                sender_id: id.clone(),
                group: group.clone(),
                provider,
                ledger: shared.ledger.clone(),
                consent: shared.consent.clone(),
                progress: shared.progress.clone(),
                clock: shared.clock.clone(),
                hasher: shared.hasher.clone(),
                owner: format!(
                    "{}-{}",
                    shared.ownership.replica,
                    uuid::Uuid::new_v4().simple()
                ),
                ownership: shared.ownership.clone(),
                sender_leases: shared.sender_leases.clone(),
                lease_ttl: cfg.lease_ttl,
                max_mps: sc.max_mps,
                group_share,
                concurrency: sc.concurrency,
                pacer: Pacer::new(cfg.pacing.clone()),
                tick: Duration::from_millis(50),
                drain_timeout: cfg.drain_timeout,
                brakes: brakes.clone(),
                pacing: shared.pacing.clone(),
                rate: rate.clone(),
                retries: cfg.retries.clone(),
                board: shared.board.clone(),
                metrics: shared.metrics.clone(),
                campaign_metrics: shared.campaign_metrics.clone(),
            };
            let token = self.parent.child_token();
            let task = tokio::spawn(Dispatcher::new(deps).run(rx, token.clone()));
            let handle = SenderHandle {
                id: id.clone(),
                group,
                config: sc,
                group_share,
                brakes,
                rate,
                tier_source,
                commands: tx,
            };
            tracing::info!(sender = %id, provider = ?handle.config.provider, group = %handle.group, "dispatcher started");
            self.running.insert(
                id,
                Running {
                    handle,
                    token,
                    task,
                },
            );
        }
        if let Ok(mut s) = shared.senders.write() {
            *s = self
                .running
                .iter()
                .map(|(id, r)| (id.clone(), r.handle.clone()))
                .collect();
        }
        Ok(())
    }

    /// Hands each dispatcher its campaigns (an empty list for senders without any).
    pub async fn assign(&self, mut live: BTreeMap<String, Vec<LiveCampaign>>) {
        for (id, r) in &self.running {
            let list = live.remove(id).unwrap_or_default();
            let _ = r.handle.commands.send(Command::SetCampaigns(list)).await;
        }
    }

    pub fn wake(&self) {
        for r in self.running.values() {
            let _ = r.handle.commands.try_send(Command::Wake);
        }
    }

    /// Waits for every dispatcher to finish (after the parent token is cancelled).
    pub async fn join(&mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            let _ = r.task.await;
        }
    }
}

pub(super) fn instance_name(cfg: &DaemonConfig) -> String {
    cfg.instance_id.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "tierpace".into())
    })
}

fn build_provider(id: &str, sc: &SenderConfig) -> anyhow::Result<Arc<dyn Provider>> {
    let secret = || sc.api_key();
    let http = || http_client(Duration::from_secs(5)).context("building the HTTP client");
    Ok(match sc.provider {
        ProviderChoice::Dryrun => Arc::new(DryRunProvider::new(id)),
        ProviderChoice::Gupshup => {
            let mut cfg = GupshupConfig::new(
                sc.source.clone().unwrap_or_default(),
                sc.app_name.clone().unwrap_or_default(),
                secret().context("api key")?,
            );
            if let Some(url) = &sc.base_url {
                cfg.base_url = url.clone();
            }
            cfg.timeout = sc.timeout;
            Arc::new(GupshupProvider::new(cfg, http()?))
        }
        ProviderChoice::Meta => {
            let mut cfg = MetaConfig::new(
                sc.phone_number_id.clone().unwrap_or_default(),
                secret().context("access token")?,
            );
            if let Some(url) = &sc.base_url {
                cfg.base_url = url.clone();
            }
            cfg.timeout = sc.timeout;
            Arc::new(MetaProvider::new(cfg, http()?))
        }
    })
}
