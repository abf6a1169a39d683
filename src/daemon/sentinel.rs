//! A Redis connection that follows a Sentinel failover (issue #16 §2).
//!
//! The stores take any `ConnectionLike + Clone`; this one asks the Sentinels for the master,
//! keeps one multiplexed connection to it, and forgets it on a connection error or a `READONLY`
//! answer (the old master came back as a replica). The next call asks the Sentinels again. The
//! failing call itself is not retried: like the single-node `ConnectionManager`, an error goes
//! back to the caller, which sends nothing and tries again on its next tick (DESIGN.md §2.5).
//! So while Sentinel has not yet promoted a replica, every call fails fast (the old address
//! refuses connections or the Sentinels still name it) and sends pause; the first call after the
//! promotion connects to the new master and sends resume, with the ledger that was replicated
//! to it.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

/// How long asking the Sentinels and connecting to the master may take before the call fails.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// A clonable connection to whichever node the Sentinels name as master.
#[derive(Clone)]
pub struct SentinelConnection {
    inner: Arc<Inner>,
    db: i64,
}

struct Inner {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    /// The current master connection and its generation (so a stale error does not drop a
    /// newer connection).
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
}

impl SentinelConnection {
    /// Connects to the master the Sentinels name now; fails if none answers.
    pub async fn connect(sentinel: SentinelClient) -> redis::RedisResult<Self> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(5));
        let conn = Self {
            inner: Arc::new(Inner {
                sentinel: tokio::sync::Mutex::new(sentinel),
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                config,
            }),
            db: 0,
        };
        conn.connection().await?;
        Ok(conn)
    }

    /// The current master connection, asking the Sentinels for one if there is none.
    async fn connection(&self) -> redis::RedisResult<(u64, MultiplexedConnection)> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let mut sentinel = self.inner.sentinel.lock().await;
        // Another caller may have reconnected while this one waited for the lock.
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let fresh = tokio::time::timeout(
            RESOLVE_TIMEOUT,
            sentinel.get_async_connection_with_config(&self.inner.config),
        )
        .await
        .map_err(|_| {
            RedisError::from((
                ErrorKind::IoError,
                "no Redis master found through Sentinel in time",
            ))
        })??;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.lock_current() = Some((generation, fresh.clone()));
        tracing::info!(
            generation,
            "connected to the Redis master named by Sentinel"
        );
        Ok((generation, fresh))
    }

    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.lock_current().clone()
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<(u64, MultiplexedConnection)>> {
        // A poisoned lock only means a panic elsewhere while swapping an Option: the value is
        // still a whole connection or none.
        self.inner
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops connection `generation` after `e` if `e` means it no longer reaches the master.
    fn after_error(&self, generation: u64, e: &RedisError) {
        if !lost_the_master(e) {
            return;
        }
        let mut current = self.lock_current();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            tracing::warn!(error = %e, "lost the Redis master; asking Sentinel again");
        }
    }
}

/// Errors after which the connection may not reach the master any more.
fn lost_the_master(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            ErrorKind::ReadOnly | ErrorKind::MasterDown | ErrorKind::IoError
        )
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let result = conn.req_packed_command(cmd).await;
            if let Err(e) = &result {
                self.after_error(generation, e);
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let (generation, mut conn) = self.connection().await?;
            let result = conn.req_packed_commands(cmd, offset, count).await;
            if let Err(e) = &result {
                self.after_error(generation, e);
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_and_readonly_mean_ask_sentinel_again() {
        let io: RedisError = std::io::Error::from(std::io::ErrorKind::ConnectionReset).into();
        assert!(lost_the_master(&io));
        let readonly = RedisError::from((ErrorKind::ReadOnly, "READONLY"));
        assert!(lost_the_master(&readonly));
        let script = RedisError::from((ErrorKind::ResponseError, "ERR wrong number of args"));
        assert!(!lost_the_master(&script));
    }
}
