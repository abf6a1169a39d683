//! The three stores the daemon keeps its state in (ledger, consent, campaign progress), built
//! for the configured backend: all in memory, or all in one Redis (single node, Cluster, or a
//! master found through Sentinel; any of them over TLS, see `redis_connect`).
use std::sync::Arc;

use anyhow::Context as _;

use crate::campaign::consent::{ConsentStore, MemoryConsent, RedisConsent};
use crate::config::{DaemonConfig, StateBackend};
use crate::dispatch::pacing_store::{MemoryPacing, PacingStore, RedisPacing};
use crate::dispatch::progress::ProgressStore;
use crate::dispatch::progress_memory::MemoryProgress;
use crate::dispatch::progress_redis::RedisProgress;
use crate::dispatch::sender_lease::{MemorySenderLeases, RedisSenderLeases, SenderLeases};
use crate::ledger::{GatedLedger, Ledger, LedgerSettings, MemoryLedger, RedisLedger, StoreGate};

use super::redis_connect::{cluster_client, sentinel_client, single_client};
use super::redis_health::{self, RedisProblem};
use super::sentinel::SentinelConnection;

/// A cheap handle to ask Redis whether it answers (for readiness).
#[derive(Clone)]
pub enum Pinger {
    None,
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
    Sentinel(SentinelConnection),
}

impl Pinger {
    /// Reachable, not evicting, accepting writes (see `redis_health`); `prefix` names the
    /// probe key.
    pub async fn probe(&self, prefix: &str) -> Result<(), RedisProblem> {
        let key = format!("{prefix}:{{health}}:probe");
        match self {
            Pinger::None => Ok(()),
            Pinger::Single(c) => redis_health::probe(c, &key).await,
            Pinger::Cluster(c) => redis_health::probe(c, &key).await,
            Pinger::Sentinel(c) => redis_health::probe(c, &key).await,
        }
    }
}

pub struct Stores {
    /// The ledger behind `gate`: the health probe closes it while Redis cannot be trusted.
    pub ledger: Arc<dyn Ledger>,
    pub gate: Arc<StoreGate>,
    pub consent: Arc<dyn ConsentStore>,
    pub progress: Arc<dyn ProgressStore>,
    pub pacing: Arc<dyn PacingStore>,
    /// Sender leases and the replica register (issue #19).
    pub sender_leases: Arc<dyn SenderLeases>,
    pub pinger: Pinger,
}

pub async fn build(cfg: &DaemonConfig, settings: LedgerSettings) -> anyhow::Result<Stores> {
    let mut stores = build_ungated(cfg, settings).await?;
    // Probe before any dispatcher starts, so an evicting Redis never sees a first send.
    match stores.pinger.probe(&cfg.key_prefix).await {
        Err(p @ (RedisProblem::Evicts { .. } | RedisProblem::WritesRefused(_))) => {
            tracing::error!(reason = p.reason(), "{p}");
            stores.gate.close(p.to_string());
        }
        Err(RedisProblem::Unreachable(_)) | Ok(()) => {}
    }
    stores.ledger = Arc::new(GatedLedger::new(stores.ledger, stores.gate.clone()));
    Ok(stores)
}

/// Every store on one Redis connection (single, Cluster or Sentinel), probed by `pinger`.
fn redis_stores<C>(conn: C, prefix: &str, settings: LedgerSettings, pinger: Pinger) -> Stores
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    Stores {
        ledger: Arc::new(RedisLedger::new(conn.clone(), prefix, settings)),
        consent: Arc::new(RedisConsent::new(conn.clone(), prefix)),
        progress: Arc::new(RedisProgress::new(conn.clone(), prefix)),
        pacing: Arc::new(RedisPacing::new(conn.clone(), prefix)),
        sender_leases: Arc::new(RedisSenderLeases::new(conn, prefix)),
        pinger,
        gate: Arc::default(),
    }
}

async fn build_ungated(cfg: &DaemonConfig, settings: LedgerSettings) -> anyhow::Result<Stores> {
    let prefix = cfg.key_prefix.as_str();
    match cfg.state {
        StateBackend::Memory => Ok(Stores {
            ledger: Arc::new(MemoryLedger::new(settings)),
            consent: Arc::new(MemoryConsent::new()),
            progress: Arc::new(MemoryProgress::new()),
            pacing: Arc::new(MemoryPacing::new()),
            sender_leases: Arc::new(MemorySenderLeases::new()),
            pinger: Pinger::None,
            gate: Arc::default(),
        }),
        StateBackend::Redis if cfg.redis_sentinel.is_some() => {
            let s = cfg
                .redis_sentinel
                .as_ref()
                .context("checked by the guard")?;
            let client = sentinel_client(cfg, s)?;
            let conn = SentinelConnection::connect(client).await.with_context(|| {
                format!(
                    "finding the Redis master `{}` through Sentinel (are redis_sentinel.nodes \
                     right and a master up?)",
                    s.master
                )
            })?;
            Ok(redis_stores(
                conn.clone(),
                prefix,
                settings,
                Pinger::Sentinel(conn),
            ))
        }
        StateBackend::Redis if !cfg.redis_cluster.is_empty() => {
            let client = cluster_client(cfg)?;
            let conn = client
                .get_async_connection()
                .await
                .context("connecting to the Redis Cluster")?;
            Ok(redis_stores(
                conn.clone(),
                prefix,
                settings,
                Pinger::Cluster(conn),
            ))
        }
        StateBackend::Redis => {
            let client = single_client(cfg)?;
            // The manager reconnects by itself; while Redis is down calls fail fast and the
            // dispatchers send nothing (DESIGN.md §2.5).
            let conn = redis::aio::ConnectionManager::new_with_config(
                client,
                crate::ledger::redis::manager_config(),
            )
            .await
            .context("connecting to Redis (is redis_url right and the server up?)")?;
            Ok(redis_stores(
                conn.clone(),
                prefix,
                settings,
                Pinger::Single(conn),
            ))
        }
    }
}

/// Connects to the configured Redis (within `timeout`) and probes it, for `tierpace check`.
/// `Ok(None)` when the state is in memory.
pub async fn probe_configured(
    cfg: &DaemonConfig,
    timeout: std::time::Duration,
) -> Option<Result<(), RedisProblem>> {
    let unreachable = |e: String| Some(Err(RedisProblem::Unreachable(e)));
    let pinger = match cfg.state {
        StateBackend::Memory => return None,
        StateBackend::Redis if cfg.redis_sentinel.is_some() => {
            let client = match cfg.redis_sentinel.as_ref().map(|s| sentinel_client(cfg, s)) {
                Some(Ok(c)) => c,
                Some(Err(e)) => return unreachable(e.to_string()),
                None => return None,
            };
            match tokio::time::timeout(timeout, SentinelConnection::connect(client)).await {
                Ok(Ok(c)) => Pinger::Sentinel(c),
                Ok(Err(e)) => return unreachable(e.to_string()),
                Err(_) => return unreachable("no answer in time".into()),
            }
        }
        StateBackend::Redis if !cfg.redis_cluster.is_empty() => {
            let client = match cluster_client(cfg) {
                Ok(c) => c,
                Err(e) => return unreachable(e.to_string()),
            };
            match tokio::time::timeout(timeout, client.get_async_connection()).await {
                Ok(Ok(c)) => Pinger::Cluster(c),
                Ok(Err(e)) => return unreachable(e.to_string()),
                Err(_) => return unreachable("no answer in time".into()),
            }
        }
        StateBackend::Redis => {
            let client = match single_client(cfg) {
                Ok(c) => c,
                Err(e) => return unreachable(e.to_string()),
            };
            let manager = redis::aio::ConnectionManager::new_with_config(
                client,
                crate::ledger::redis::manager_config(),
            );
            match tokio::time::timeout(timeout, manager).await {
                Ok(Ok(c)) => Pinger::Single(c),
                Ok(Err(e)) => return unreachable(e.to_string()),
                Err(_) => return unreachable("no answer in time".into()),
            }
        }
    };
    match tokio::time::timeout(timeout, pinger.probe(&cfg.key_prefix)).await {
        Ok(r) => Some(r),
        Err(_) => unreachable("no answer in time".into()),
    }
}
