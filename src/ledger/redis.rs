//! The Redis ledger: production state, shared by every tierpace replica on one Redis.
//!
//! Keys per limit group, hash-tagged so one group lives in one Cluster slot:
//! - `PREFIX:{group}:conv`: sorted set, 8-byte contact -> ms its current conversation opened. One
//!   set answers both the 24 h and the 7 d unique counts (`ZCOUNT`), and a re-send inside the
//!   window does not move the score.
//! - `PREFIX:{group}:svc`: sorted set, 8-byte contact -> ms the customer last wrote (service window).
//! - `PREFIX:{group}:tier`: hash, `s` = tier state JSON, `v` = version (bumped on every write).
//!
//! Each `admit` is one Lua script run (by SHA, reloaded on NOSCRIPT). The tier policy is computed
//! in Rust from this process's cached copy of the state; the script refuses to act if the stored
//! version moved, returns the current state, and the batch is recomputed: so the allowance a
//! script enforces is always derived from the state it sees, even with many replicas. Only the
//! first call per group (or after another replica changed the tier) costs a second round trip.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use redis::{aio::ConnectionLike, RedisError, Script, Value};

use super::{
    decisions, member_of, stats_from, AdmitDecision, AdmitOutcome, AdmitPlan, Code, Ledger,
    LedgerError, LedgerSettings, LedgerStats, LimitGroup,
};
use crate::contact::ContactKey;
use crate::policy::profile::{from_millis, to_millis};
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_state::TierState;

/// How many times a call recomputes after the tier state moved under it before giving up.
const MAX_ATTEMPTS: usize = 16;

/// Every Lua script the ledger runs, loaded once (STYLE.md, convention 14).
struct Scripts {
    admit: Script,
    set_state: Script,
    stats: Script,
    release: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            admit: Script::new(include_str!("admit.lua")),
            set_state: Script::new(include_str!("set_state.lua")),
            stats: Script::new(include_str!("stats.lua")),
            release: Script::new(include_str!("release.lua")),
        }
    }
}

/// This process's last view of a group's stored tier state.
#[derive(Debug, Clone, Default)]
struct Cached {
    version: i64,
    state: Option<TierState>,
    /// The group's epoch id as last seen ("" = never seen).
    epoch: String,
}

/// A ledger in Redis (standalone via `ConnectionManager`, or Cluster via its async client).
pub struct RedisLedger<C> {
    conn: C,
    prefix: String,
    settings: RwLock<Arc<LedgerSettings>>,
    cache: Mutex<HashMap<LimitGroup, Cached>>,
    scripts: Scripts,
}

impl<C> std::fmt::Debug for RedisLedger<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLedger")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The keys of a group.
struct Keys {
    conv: String,
    svc: String,
    tier: String,
    epoch: String,
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisLedger<C> {
    /// `key_prefix` is e.g. `tierpace`; keys become `tierpace:{group}:...`.
    pub fn new(conn: C, key_prefix: &str, settings: LedgerSettings) -> Self {
        Self {
            conn,
            prefix: key_prefix.to_string(),
            settings: RwLock::new(Arc::new(settings)),
            cache: Mutex::new(HashMap::new()),
            scripts: Scripts::new(),
        }
    }

    /// The key holding a group's conversations (for tools and the memory benchmark).
    pub fn conversations_key(&self, group: &LimitGroup) -> String {
        self.keys(group).conv
    }

    fn keys(&self, group: &LimitGroup) -> Keys {
        let base = format!("{}:{{{}}}", self.prefix, group.0);
        Keys {
            conv: format!("{base}:conv"),
            svc: format!("{base}:svc"),
            tier: format!("{base}:tier"),
            epoch: format!("{base}:epoch"),
        }
    }

    fn settings(&self) -> Arc<LedgerSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn cached(&self, group: &LimitGroup) -> Cached {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    fn remember(&self, group: &LimitGroup, cached: Cached) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group.clone(), cached);
    }

    /// Writes back the tier state this process knew after Redis lost it; whoever wins the race
    /// among replicas, every one ends up with the stored state.
    async fn restore(
        &self,
        group: &LimitGroup,
        keys: &Keys,
        state: &TierState,
        seen: Cached,
    ) -> Result<Cached, LedgerError> {
        let json = serde_json::to_string(state).map_err(|e| corrupt(group, e.to_string()))?;
        let mut conn = self.conn.clone();
        let reply: Vec<Value> = self
            .scripts
            .set_state
            .key(&keys.tier)
            .arg(seen.version)
            .arg(json.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        let [_, version, json] = reply.as_slice() else {
            return Err(corrupt(group, "unexpected set_state reply".into()));
        };
        let mut fresh = self.decode_state(group, version, json)?;
        fresh.epoch = seen.epoch;
        Ok(fresh)
    }

    /// Parses a `{version, state JSON}` pair as the scripts return it.
    fn decode_state(
        &self,
        group: &LimitGroup,
        version: &Value,
        json: &Value,
    ) -> Result<Cached, LedgerError> {
        let version = int(group, version)?;
        let json = bytes(group, json)?;
        let state = if version == 0 || json.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&json).map_err(|e| corrupt(group, e.to_string()))?)
        };
        Ok(Cached {
            version,
            state,
            epoch: String::new(),
        })
    }
}

#[async_trait::async_trait]
impl<C: ConnectionLike + Clone + Send + Sync + 'static> Ledger for RedisLedger<C> {
    async fn admit(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        contacts: &[ContactKey],
        budget: u32,
    ) -> Result<Vec<AdmitDecision>, LedgerError> {
        let settings = self.settings();
        let keys = self.keys(group);
        let members: Vec<[u8; 8]> = contacts
            .iter()
            .map(|&c| member_of(c).to_be_bytes())
            .collect();
        let trim_limit = 64 + 2 * contacts.len();
        let mut conn = self.conn.clone();
        for _ in 0..MAX_ATTEMPTS {
            let cached = self.cached(group);
            let plan = AdmitPlan::new(&settings, group, cached.state.as_ref(), now, budget);
            let crossed_json = match &plan.crossing {
                Some((_, s)) => {
                    serde_json::to_string(s).map_err(|e| corrupt(group, e.to_string()))?
                }
                None => String::new(),
            };
            let mut call = self.scripts.admit.prepare_invoke();
            call.key(&keys.conv)
                .key(&keys.svc)
                .key(&keys.tier)
                .key(&keys.epoch)
                .arg(plan.now_ms)
                .arg(plan.window_ms)
                .arg(plan.lookback_ms)
                .arg(plan.allowed.map_or(-1, |a| a.min(i64::MAX as u64) as i64))
                .arg(plan.budget)
                .arg(cached.version)
                .arg(
                    plan.crossing
                        .as_ref()
                        .map_or(-1, |(t, _)| (*t).min(i64::MAX as u64) as i64),
                )
                .arg(crossed_json.as_str())
                .arg(trim_limit)
                .arg(cached.epoch.as_str())
                .arg(uuid::Uuid::new_v4().simple().to_string());
            for m in &members {
                call.arg(&m[..]);
            }
            let reply: Vec<Value> = call.invoke_async(&mut conn).await.map_err(backend)?;
            if let Some(vanished) = reply.get(4) {
                if int(group, vanished)? == 1 {
                    tracing::error!(
                        group = %group,
                        "ledger records vanished from Redis (eviction or a deleted key): no new \
                         unique customers for one window; set maxmemory-policy noeviction"
                    );
                }
            }
            match reply.as_slice() {
                [status, version, json, epoch, _] if int(group, status)? == 0 => {
                    let mut fresh = self.decode_state(group, version, json)?;
                    fresh.epoch = String::from_utf8_lossy(&bytes(group, epoch)?).into_owned();
                    let lost = !cached.epoch.is_empty() && fresh.epoch != cached.epoch;
                    if lost && fresh.version == 0 {
                        if let Some(state) = &cached.state {
                            // Redis lost the group: put back the tier we knew (the script has
                            // already stopped new uniques for one window).
                            tracing::warn!(group = %group, "ledger records lost in Redis; restoring the known tier state");
                            fresh = self.restore(group, &keys, state, fresh).await?;
                        }
                    }
                    self.remember(group, fresh);
                }
                [status, slot, crossed, codes, _] if int(group, status)? == 1 => {
                    let codes = bytes(group, codes)?
                        .iter()
                        .map(|&b| {
                            Code::from_byte(b)
                                .ok_or_else(|| corrupt(group, "bad admit code".into()))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if codes.len() != contacts.len() {
                        return Err(corrupt(
                            group,
                            "admit returned the wrong number of codes".into(),
                        ));
                    }
                    let outcome = AdmitOutcome {
                        codes,
                        slot_ms: int(group, slot)?,
                        crossed: int(group, crossed)? == 1,
                    };
                    if outcome.crossed {
                        if let Some((_, s)) = &plan.crossing {
                            self.remember(
                                group,
                                Cached {
                                    version: cached.version + 1,
                                    state: Some(s.clone()),
                                    epoch: cached.epoch.clone(),
                                },
                            );
                        }
                    }
                    return Ok(decisions(&plan, &outcome));
                }
                _ => return Err(corrupt(group, "unexpected admit reply".into())),
            }
        }
        Err(LedgerError::Backend(format!(
            "tier state of group {group} kept changing during admit"
        )))
    }

    async fn release(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        admitted_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let keys = self.keys(group);
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .release
            .key(&keys.conv)
            .key(&keys.tier)
            .arg(&member_of(contact).to_be_bytes()[..])
            .arg(to_millis(admitted_at))
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn open_service_window(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let keys = self.keys(group);
        let mut conn = self.conn.clone();
        // GT: a late, out-of-order webhook never shortens a window already opened.
        let _: i64 = redis::cmd("ZADD")
            .arg(&keys.svc)
            .arg("GT")
            .arg(to_millis(now))
            .arg(&member_of(contact).to_be_bytes()[..])
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn apply_tier_event(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        event: TierEvent,
    ) -> Result<TierState, LedgerError> {
        let settings = self.settings();
        let keys = self.keys(group);
        let mut conn = self.conn.clone();
        for _ in 0..MAX_ATTEMPTS {
            let cached = self.cached(group);
            let next = settings.after_event(group, cached.state.as_ref(), now, event);
            let json = serde_json::to_string(&next).map_err(|e| corrupt(group, e.to_string()))?;
            let reply: Vec<Value> = self
                .scripts
                .set_state
                .key(&keys.tier)
                .arg(cached.version)
                .arg(json.as_str())
                .invoke_async(&mut conn)
                .await
                .map_err(backend)?;
            match reply.as_slice() {
                [status, version, json] => {
                    let written = int(group, status)? == 1;
                    let mut fresh = self.decode_state(group, version, json)?;
                    fresh.epoch = cached.epoch.clone();
                    if !written && fresh.version == 0 && cached.version > 0 {
                        // Redis lost the group: apply the event to the state we knew.
                        fresh.state = cached.state.clone();
                    }
                    self.remember(group, fresh);
                    if written {
                        return Ok(next);
                    }
                }
                _ => return Err(corrupt(group, "unexpected set_state reply".into())),
            }
        }
        Err(LedgerError::Backend(format!(
            "tier state of group {group} kept changing during a tier event"
        )))
    }

    async fn stats(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
    ) -> Result<LedgerStats, LedgerError> {
        let settings = self.settings();
        let keys = self.keys(group);
        let mut conn = self.conn.clone();
        let reply: Vec<Value> = self
            .scripts
            .stats
            .key(&keys.conv)
            .key(&keys.tier)
            .arg(to_millis(now))
            .arg(settings.policy.window.num_milliseconds())
            .arg(settings.policy.lookback.num_milliseconds())
            .invoke_async(&mut conn)
            .await
            .map_err(backend)?;
        let [c24, c7, oldest, version, json, lost] = reply.as_slice() else {
            return Err(corrupt(group, "unexpected stats reply".into()));
        };
        // Not cached: only `admit` and tier events move this process's view (a stats call right
        // after a Redis loss must not make the loss undetectable).
        let fresh = self.decode_state(group, version, json)?;
        let lost = int(group, lost)?;
        let recovering_until = (lost >= 0)
            .then(|| from_millis(lost) + settings.policy.window)
            .filter(|&t| t > now);
        let settled = settings.settled(group, fresh.state.as_ref(), now);
        let oldest = int(group, oldest)?;
        Ok(stats_from(
            &settings,
            &settled,
            int(group, c24)?.max(0) as u64,
            int(group, c7)?.max(0) as u64,
            (oldest >= 0).then_some(oldest),
            recovering_until,
        ))
    }

    fn update_settings(&self, settings: LedgerSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }
}

/// How the daemon should configure its `ConnectionManager` for the ledger: fail fast while
/// Redis is down (the dispatcher sends nothing and retries on its own tick) instead of
/// queueing calls behind a long reconnect backoff.
pub fn manager_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_max_delay(500)
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(5))
}

/// Connection trouble is `Unavailable` (send nothing, retry later); anything else is `Backend`.
fn backend(e: RedisError) -> LedgerError {
    use redis::ErrorKind as K;
    let unavailable = e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            K::IoError
                | K::ClusterDown
                | K::MasterDown
                | K::TryAgain
                | K::BusyLoadingError
                | K::ReadOnly
                | K::ClusterConnectionNotFound
        );
    if unavailable {
        LedgerError::Unavailable(e.to_string())
    } else {
        LedgerError::Backend(e.to_string())
    }
}

fn corrupt(group: &LimitGroup, detail: String) -> LedgerError {
    LedgerError::Corrupt {
        group: group.0.clone(),
        detail,
    }
}

fn int(group: &LimitGroup, v: &Value) -> Result<i64, LedgerError> {
    redis::from_redis_value::<i64>(v).map_err(|e| corrupt(group, e.to_string()))
}

fn bytes(group: &LimitGroup, v: &Value) -> Result<Vec<u8>, LedgerError> {
    redis::from_redis_value::<Vec<u8>>(v).map_err(|e| corrupt(group, e.to_string()))
}
