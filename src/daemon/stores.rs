//! The three stores the daemon keeps its state in (ledger, consent, campaign progress), built
//! for the configured backend: all in memory, or all in one Redis (single node or Cluster).
use std::sync::Arc;

use anyhow::Context as _;

use crate::campaign::consent::{ConsentStore, MemoryConsent, RedisConsent};
use crate::config::{DaemonConfig, StateBackend};
use crate::dispatch::pacing_store::{MemoryPacing, PacingStore, RedisPacing};
use crate::dispatch::progress::ProgressStore;
use crate::dispatch::progress_memory::MemoryProgress;
use crate::dispatch::progress_redis::RedisProgress;
use crate::ledger::{Ledger, LedgerSettings, MemoryLedger, RedisLedger};

/// A cheap handle to ask Redis whether it answers (for readiness).
#[derive(Clone)]
pub enum Pinger {
    None,
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Pinger {
    pub async fn ping(&self) -> Result<(), String> {
        let cmd = redis::cmd("PING");
        let r: redis::RedisResult<String> = match self {
            Pinger::None => return Ok(()),
            Pinger::Single(c) => cmd.query_async(&mut c.clone()).await,
            Pinger::Cluster(c) => cmd.query_async(&mut c.clone()).await,
        };
        r.map(|_| ()).map_err(|e| e.to_string())
    }
}

pub struct Stores {
    pub ledger: Arc<dyn Ledger>,
    pub consent: Arc<dyn ConsentStore>,
    pub progress: Arc<dyn ProgressStore>,
    pub pacing: Arc<dyn PacingStore>,
    pub pinger: Pinger,
}

pub async fn build(cfg: &DaemonConfig, settings: LedgerSettings) -> anyhow::Result<Stores> {
    let prefix = cfg.key_prefix.as_str();
    match cfg.state {
        StateBackend::Memory => Ok(Stores {
            ledger: Arc::new(MemoryLedger::new(settings)),
            consent: Arc::new(MemoryConsent::new()),
            progress: Arc::new(MemoryProgress::new()),
            pacing: Arc::new(MemoryPacing::new()),
            pinger: Pinger::None,
        }),
        StateBackend::Redis if !cfg.redis_cluster.is_empty() => {
            let client =
                cluster_client(&cfg.redis_cluster).context("redis_cluster: invalid node list")?;
            let conn = client
                .get_async_connection()
                .await
                .context("connecting to the Redis Cluster")?;
            Ok(Stores {
                ledger: Arc::new(RedisLedger::new(conn.clone(), prefix, settings)),
                consent: Arc::new(RedisConsent::new(conn.clone(), prefix)),
                progress: Arc::new(RedisProgress::new(conn.clone(), prefix)),
                pacing: Arc::new(RedisPacing::new(conn.clone(), prefix)),
                pinger: Pinger::Cluster(conn),
            })
        }
        StateBackend::Redis => {
            let client = redis::Client::open(cfg.redis_url.as_str())
                .with_context(|| "redis_url: not a valid Redis URL".to_string())?;
            // The manager reconnects by itself; while Redis is down calls fail fast and the
            // dispatchers send nothing (DESIGN.md §2.5).
            let conn = redis::aio::ConnectionManager::new_with_config(
                client,
                crate::ledger::redis::manager_config(),
            )
            .await
            .context("connecting to Redis (is redis_url right and the server up?)")?;
            Ok(Stores {
                ledger: Arc::new(RedisLedger::new(conn.clone(), prefix, settings)),
                consent: Arc::new(RedisConsent::new(conn.clone(), prefix)),
                progress: Arc::new(RedisProgress::new(conn.clone(), prefix)),
                pacing: Arc::new(RedisPacing::new(conn.clone(), prefix)),
                pinger: Pinger::Single(conn),
            })
        }
    }
}

/// The Cluster client for the `redis_cluster` seeds.
///
/// Seeds are written `host:port` (as `redis-cli --cluster` prints them) or as `redis://` URLs;
/// the client only takes URLs. Like the single-node manager (`ledger::redis::manager_config`) it
/// fails fast while a master does not answer: the client's defaults (no response timeout, 16
/// retries with waits growing to minutes) would leave sends and the readiness PING hanging on a
/// frozen master instead of reporting Redis as unavailable, so the dispatchers retry on their
/// own tick instead.
pub fn cluster_client(seeds: &[String]) -> redis::RedisResult<redis::cluster::ClusterClient> {
    let urls: Vec<String> = seeds
        .iter()
        .map(|s| {
            if s.contains("://") {
                s.clone()
            } else {
                format!("redis://{s}")
            }
        })
        .collect();
    redis::cluster::ClusterClientBuilder::new(urls)
        .connection_timeout(std::time::Duration::from_secs(2))
        .response_timeout(std::time::Duration::from_secs(5))
        .retries(2)
        .min_retry_wait(100)
        .max_retry_wait(500)
        .build()
}
