//! [`ProgressStore`] in Redis: per run a states hash, a meta hash (fence, lease, cursor,
//! counters), an in-flight set and a retry-attempts hash, all under the run's hash tag `PREFIX:{run:ID}:...` so every
//! script touches one Cluster slot. Scripts are `.lua` files beside this one.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionLike;
use redis::{AsyncCommands, Script};

use super::progress::{
    ContactState, Control, LeaseStatus, ProgressError, ProgressStore, RunId, RunMeta, Write,
};
use super::redis_wire::{time_of, Keyspace};

/// The scripts, loaded once and run by SHA (NOSCRIPT falls back to EVAL inside `redis::Script`).
struct Scripts {
    claim: Script,
    update: Script,
    lease: Script,
    set_cursor: Script,
    retry_at: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            claim: Script::new(include_str!("progress_claim.lua")),
            update: Script::new(include_str!("progress_update.lua")),
            lease: Script::new(include_str!("lease.lua")),
            set_cursor: Script::new(include_str!("set_cursor.lua")),
            retry_at: Script::new(include_str!("retry_at.lua")),
        }
    }
}

pub struct RedisProgress<C> {
    conn: C,
    keys: Keyspace,
    scripts: Scripts,
}

impl<C> RedisProgress<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// One call of the run-lease script: `mode` is `acquire` (only a free or own lease) or
    /// `take` (also a lease whose owner lost the sender). Shapes as [`LeaseStatus`].
    async fn lease_call(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        mode: &str,
    ) -> Result<LeaseStatus, ProgressError> {
        let (held, who, until) = self
            .lease_script(
                run,
                owner,
                now.timestamp_millis(),
                ttl.as_millis() as i64,
                mode,
            )
            .await?;
        Ok(if held == 1 {
            LeaseStatus::Held {
                fence: who.parse().unwrap_or(0),
                until: time_of(until),
            }
        } else {
            LeaseStatus::HeldByOther {
                owner: who,
                until: time_of(until),
            }
        })
    }

    /// The run-lease script's raw reply: held (1 or 0), fence or holder, until (ms).
    async fn lease_script(
        &self,
        run: &RunId,
        owner: &str,
        now_ms: i64,
        ttl_ms: i64,
        mode: &str,
    ) -> Result<(i64, String, i64), ProgressError> {
        let [states, meta, inflight] = self.keys(run);
        let mut inv = self.scripts.lease.prepare_invoke();
        inv.key(meta)
            .key(states)
            .key(inflight)
            .arg(now_ms)
            .arg(ttl_ms)
            .arg(owner)
            .arg(mode);
        self.invoke(&inv, run).await
    }

    /// Runs a script (by SHA, loaded on NOSCRIPT) on a fresh handle of the connection.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
        run: &RunId,
    ) -> Result<T, ProgressError> {
        let mut conn = self.conn.clone();
        inv.invoke_async(&mut conn)
            .await
            .map_err(|e| map_err(e, run))
    }

    /// The update script on `run`'s keys; the caller adds one (field, state, kind) per write.
    fn update_call(&self, run: &RunId) -> redis::ScriptInvocation<'_> {
        let [states, meta, inflight] = self.keys(run);
        let mut inv = self.scripts.update.prepare_invoke();
        inv.key(states)
            .key(meta)
            .key(inflight)
            .key(self.attempts_key(run));
        inv
    }

    pub fn new(conn: C, key_prefix: &str) -> Self {
        Self {
            conn,
            keys: Keyspace::new(key_prefix),
            scripts: Scripts::new(),
        }
    }

    fn keys(&self, run: &RunId) -> [String; 3] {
        ["states", "meta", "inflight"].map(|name| self.keys.tagged("run", &run.0, name))
    }

    /// Retries per contact, kept across resends (same hash tag as the run's other keys).
    fn attempts_key(&self, run: &RunId) -> String {
        self.keys.tagged("run", &run.0, "attempts")
    }

    fn control_key(&self, campaign: &str) -> String {
        self.keys.tagged("camp", campaign, "control")
    }

    fn message_key(&self, message_id: &str) -> String {
        self.keys.plain(&format!("msg:{message_id}"))
    }
}

fn map_err(e: redis::RedisError, run: &RunId) -> ProgressError {
    if e.code() == Some("FENCED") || e.to_string().contains("FENCED") {
        ProgressError::Fenced(run.0.clone())
    } else if e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
    {
        ProgressError::Unavailable(e.to_string())
    } else {
        ProgressError::Backend(e.to_string())
    }
}

#[async_trait]
impl<C> ProgressStore for RedisProgress<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn acquire_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError> {
        self.lease_call(run, owner, now, ttl, "acquire").await
    }

    async fn take_lease(
        &self,
        run: &RunId,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<LeaseStatus, ProgressError> {
        self.lease_call(run, owner, now, ttl, "take").await
    }

    async fn release_lease(&self, run: &RunId, owner: &str) -> Result<(), ProgressError> {
        self.lease_script(run, owner, 0, 0, "release").await?;
        Ok(())
    }

    async fn claim(
        &self,
        run: &RunId,
        fence: u64,
        writes: &[Write],
    ) -> Result<Vec<Option<ContactState>>, ProgressError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let [states, meta, inflight] = self.keys(run);
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(states)
            .key(meta)
            .key(inflight)
            .arg(fence.to_string());
        for w in writes {
            let kind = match &w.state {
                ContactState::InFlight { .. } => "claim".to_string(),
                ContactState::Skipped { reason, .. } => format!("skipped:{reason}"),
                other => other.kind().to_string(),
            };
            inv.arg(&w.field).arg(w.state.encode()).arg(kind);
        }
        let out: Vec<String> = self.invoke(&inv, run).await?;
        Ok(out
            .into_iter()
            .map(|s| {
                if s.is_empty() {
                    None
                } else {
                    ContactState::decode(&s)
                }
            })
            .collect())
    }

    async fn states(
        &self,
        run: &RunId,
        fields: &[String],
    ) -> Result<Vec<Option<ContactState>>, ProgressError> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let [states, _, _] = self.keys(run);
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(states)
            .arg(fields)
            .query_async(&mut conn)
            .await
            .map_err(|e| map_err(e, run))?;
        Ok(values
            .into_iter()
            .map(|v| v.and_then(|s| ContactState::decode(&s)))
            .collect())
    }

    async fn update(&self, run: &RunId, writes: &[Write]) -> Result<u64, ProgressError> {
        if writes.is_empty() {
            return Ok(0);
        }
        let mut inv = self.update_call(run);
        for w in writes {
            inv.arg(&w.field).arg(w.state.encode()).arg(w.state.kind());
        }
        self.invoke(&inv, run).await
    }

    async fn set_cursor(&self, run: &RunId, fence: u64, cursor: &str) -> Result<(), ProgressError> {
        let [_, meta, _] = self.keys(run);
        let mut inv = self.scripts.set_cursor.prepare_invoke();
        inv.key(meta).arg(fence.to_string()).arg(cursor);
        let _: i64 = self.invoke(&inv, run).await?;
        Ok(())
    }

    async fn meta(&self, run: &RunId) -> Result<RunMeta, ProgressError> {
        let [_, meta, _] = self.keys(run);
        let mut conn = self.conn.clone();
        let fields: Vec<(String, String)> =
            conn.hgetall(meta).await.map_err(|e| map_err(e, run))?;
        let mut out = RunMeta::default();
        for (k, v) in fields {
            if let Some(name) = k.strip_prefix("n:") {
                out.counters
                    .insert(name.to_string(), v.parse().unwrap_or(0));
            } else if k == "cursor" {
                out.cursor = Some(v);
            } else if k == "rewind" {
                out.rewind = v == "1";
            } else if k == "retry_at" {
                out.retry_at = v.parse().ok().map(time_of);
            }
        }
        Ok(out)
    }

    async fn retry_failed(&self, run: &RunId, retryable: &[String]) -> Result<u64, ProgressError> {
        let [states, meta, _] = self.keys(run);
        let mut conn = self.conn.clone();
        let mut writes = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
                .arg(&states)
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(|e| map_err(e, run))?;
            for (field, value) in page {
                if let Some(ContactState::Failed { line, code }) = ContactState::decode(&value) {
                    if retryable.iter().any(|c| c == &code) {
                        writes.push((field, line));
                    }
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut applied = 0;
        for chunk in writes.chunks(500) {
            let mut inv = self.update_call(run);
            for (field, line) in chunk {
                inv.arg(field).arg(format!("x|{line}")).arg("retry");
            }
            let n: u64 = self.invoke(&inv, run).await?;
            applied += n;
        }
        let _: () = conn
            .hset(&meta, "rewind", "1")
            .await
            .map_err(|e| map_err(e, run))?;
        Ok(applied)
    }

    async fn requeue(
        &self,
        run: &RunId,
        fields: &[String],
        rewind: bool,
    ) -> Result<u64, ProgressError> {
        if fields.is_empty() {
            return Ok(0);
        }
        let mut inv = self.update_call(run);
        for field in fields {
            inv.arg(field)
                .arg(if rewind { "rewind" } else { "" })
                .arg("p");
        }
        self.invoke(&inv, run).await
    }

    async fn attempts(&self, run: &RunId, field: &str) -> Result<u32, ProgressError> {
        let mut conn = self.conn.clone();
        let n: Option<u32> = conn
            .hget(self.attempts_key(run), field)
            .await
            .map_err(|e| map_err(e, run))?;
        Ok(n.unwrap_or(0))
    }

    async fn note_retry(&self, run: &RunId, at: DateTime<Utc>) -> Result<(), ProgressError> {
        let [_, meta, _] = self.keys(run);
        let mut inv = self.scripts.retry_at.prepare_invoke();
        inv.key(meta).arg(at.timestamp_millis());
        let _: i64 = self.invoke(&inv, run).await?;
        Ok(())
    }

    async fn clear_rewind(&self, run: &RunId, fence: u64) -> Result<(), ProgressError> {
        let [_, meta, _] = self.keys(run);
        let mut conn = self.conn.clone();
        // Reset the cursor and the flag together, only for the holder.
        let script = Script::new(
            "if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return redis.error_reply('FENCED') end \
             redis.call('HDEL', KEYS[1], 'rewind', 'cursor', 'retry_at') return 1",
        );
        let _: i64 = script
            .key(meta)
            .arg(fence.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| map_err(e, run))?;
        Ok(())
    }

    async fn control(&self, campaign: &str) -> Result<Control, ProgressError> {
        let mut conn = self.conn.clone();
        #[allow(clippy::type_complexity)]
        let (paused, cancelled, changed, reason, operator_at): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        ) = redis::cmd("HMGET")
            .arg(self.control_key(campaign))
            .arg("paused")
            .arg("cancelled")
            .arg("audience_changed")
            .arg("pause_reason")
            .arg("operator_at")
            .query_async(&mut conn)
            .await
            .map_err(|e| map_err(e, &RunId(campaign.into())))?;
        Ok(Control {
            paused: paused.as_deref() == Some("1"),
            cancelled: cancelled.as_deref() == Some("1"),
            audience_changed: changed.as_deref() == Some("1"),
            pause_reason: reason.filter(|r| !r.is_empty()),
            operator_at: operator_at
                .filter(|ms| *ms > 0)
                .map(crate::policy::profile::from_millis),
        })
    }

    async fn set_control(&self, campaign: &str, control: Control) -> Result<(), ProgressError> {
        let mut conn = self.conn.clone();
        let flag = |b: bool| if b { "1" } else { "0" };
        let _: () = redis::cmd("HSET")
            .arg(self.control_key(campaign))
            .arg("paused")
            .arg(flag(control.paused))
            .arg("cancelled")
            .arg(flag(control.cancelled))
            .arg("audience_changed")
            .arg(flag(control.audience_changed))
            .arg("pause_reason")
            .arg(control.pause_reason.as_deref().unwrap_or(""))
            .arg("operator_at")
            .arg(
                control
                    .operator_at
                    .map_or(0, crate::policy::profile::to_millis),
            )
            .query_async(&mut conn)
            .await
            .map_err(|e| map_err(e, &RunId(campaign.into())))?;
        Ok(())
    }

    async fn index_message(
        &self,
        message_id: &str,
        run: &RunId,
        field: &str,
    ) -> Result<(), ProgressError> {
        let mut conn = self.conn.clone();
        // Callbacks arrive within days; a week is ample and keeps the index bounded.
        let _: () = conn
            .set_ex(
                self.message_key(message_id),
                format!("{}|{field}", run.0),
                7 * 86_400,
            )
            .await
            .map_err(|e| map_err(e, run))?;
        Ok(())
    }

    async fn lookup_message(
        &self,
        message_id: &str,
    ) -> Result<Option<(RunId, String)>, ProgressError> {
        let mut conn = self.conn.clone();
        let v: Option<String> = conn
            .get(self.message_key(message_id))
            .await
            .map_err(|e| map_err(e, &RunId(message_id.into())))?;
        Ok(v.and_then(|s| {
            let (run, field) = s.rsplit_once('|')?;
            Some((RunId(run.to_string()), field.to_string()))
        }))
    }
}
