//! Sender leases and the replica register: which replica paces which sender (issue #19).
//!
//! Everything paced per sender (the `max_mps` cap over any one-second interval, the day's grow
//! budget spread, warm-up, brakes) is decided by one [`crate::policy::pacer::Pacer`] in one
//! process. With several replicas each pacing the same sender, the provider saw a multiple of
//! the cap (21 in one second at `max_mps = 10`, 2.1x). So a sender is leased to one replica at a
//! time, as a campaign run is: a lease with a TTL and a fence, renewed while the replica lives;
//! all of the sender's campaign runs are leased by the same replica. A holder sends only while
//! more than [`PACE_WINDOW`] is left on its lease, and a release names when its last second
//! ends, so the next holder never shares a one-second window with the previous one.
//!
//! The register is a set of live replicas, each entry expiring unless renewed; the ownership
//! plan ([`super::ownership`]) spreads senders over it evenly. Two backends with one contract
//! (`tests/sender_lease_conformance.rs`): memory (one process) and Redis (keys
//! `PREFIX:{sender:ID}:lease`, a hash, beside the sender's brakes; `PREFIX:{replicas}`, a sorted
//! set of replica ids scored by expiry in ms).
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionLike;
use redis::Script;

use super::redis_wire::{time_of, Keyspace};

/// The throughput cap's window (`policy::rate`): the quiet time between two holders' sends.
pub const PACE_WINDOW: chrono::Duration = chrono::Duration::seconds(1);

/// How often a replica proves it lives: it renews its register entry and the liveness of each
/// sender lease it holds once a beat, an eighth of `lease_ttl` (at least 50 ms, at most 1 s).
pub fn beat(lease_ttl: Duration) -> Duration {
    (lease_ttl / 8).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// How long a replica counts as live without a beat: three beats (750 ms for a `lease_ttl` of
/// 2 s). A holder silent that long has its sender taken by the replica the plan names next,
/// without waiting for the lease's TTL (issue #19: the takeover gap); the holder itself starts
/// no send later than one beat before its liveness runs out ([`live_margin`]).
pub fn live_ttl(lease_ttl: Duration) -> Duration {
    beat(lease_ttl) * 3
}

/// How long before its liveness runs out a holder stops starting sends: one beat. The replica
/// that takes a silent holder's sender starts no earlier than this after the holder's last
/// possible start, so the two holders' sends keep the timeline's spacing when `max_mps` is at
/// least `1 / beat` (4/s for a 2 s `lease_ttl`); slower senders wait the rest of a spacing.
pub fn live_margin(lease_ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(beat(lease_ttl)).unwrap_or(PACE_WINDOW)
}

/// What asking for a sender's lease gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderLease {
    /// The caller holds it until `until`; `fence` grows with every new holder.
    Held { fence: u64, until: DateTime<Utc> },
    /// Replica `replica` holds it until `until`.
    HeldBy {
        replica: String,
        until: DateTime<Utc>,
    },
    /// Nobody holds it, but the caller may not take it before `until` (the previous holder's
    /// last second, or the time the replica the plan names has to take it first).
    NotBefore { until: DateTime<Utc> },
}

#[derive(Debug, thiserror::Error)]
pub enum SenderLeaseError {
    #[error("sender lease store unreachable: {0}")]
    Unavailable(String),
}

/// One request for a sender's lease, as [`SenderLeases::acquire`] and
/// [`SenderLeases::acquire_or_take`] make it.
#[derive(Debug, Clone, Copy)]
pub struct LeaseAsk<'a> {
    pub sender: &'a str,
    pub replica: &'a str,
    /// Unique per dispatcher.
    pub token: &'a str,
    pub now: DateTime<Utc>,
    pub ttl: Duration,
    /// How long a free lease must have been free before this replica takes it.
    pub free_for: Duration,
    /// Also take the lease from a holder that stopped proving it lives.
    pub take_silent: bool,
}

#[async_trait]
pub trait SenderLeases: Send + Sync + 'static {
    /// Takes or renews a lease as `ask` says: the one backend call behind
    /// [`SenderLeases::acquire`] and [`SenderLeases::acquire_or_take`].
    async fn ask(&self, ask: LeaseAsk<'_>) -> Result<SenderLease, SenderLeaseError>;
    /// Takes or renews `sender`'s lease for `token` (unique per dispatcher) of `replica` until
    /// `now + ttl`. A free lease is only taken once it has been free for `free_for` (zero for
    /// the replica the ownership plan names).
    async fn acquire(
        &self,
        sender: &str,
        replica: &str,
        token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
        free_for: Duration,
    ) -> Result<SenderLease, SenderLeaseError> {
        self.ask(LeaseAsk {
            sender,
            replica,
            token,
            now,
            ttl,
            free_for,
            take_silent: false,
        })
        .await
    }
    /// As [`SenderLeases::acquire`] for the replica the plan names (`free_for` zero), and it
    /// also takes the lease from a holder that stopped proving it lives (no renewal for
    /// [`live_ttl`]): a dead replica's sender moves before the lease's TTL runs out. The old
    /// holder started no send after its liveness less [`live_margin`].
    async fn acquire_or_take(
        &self,
        sender: &str,
        replica: &str,
        token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<SenderLease, SenderLeaseError> {
        self.ask(LeaseAsk {
            sender,
            replica,
            token,
            now,
            ttl,
            free_for: Duration::ZERO,
            take_silent: true,
        })
        .await
    }
    /// Gives the lease up if `token` holds it; nobody takes it before `quiet_until`.
    async fn release(
        &self,
        sender: &str,
        token: &str,
        quiet_until: DateTime<Utc>,
    ) -> Result<(), SenderLeaseError>;
    /// The replica holding `sender`'s lease at `now`, if any.
    async fn holder(
        &self,
        sender: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, SenderLeaseError>;
    /// Registers `replica` as live until `now + ttl`, forgets expired ones, and returns the
    /// live replicas, sorted.
    async fn beat(
        &self,
        replica: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Vec<String>, SenderLeaseError>;
    /// Takes `replica` off the register (a clean stop).
    async fn leave(&self, replica: &str) -> Result<(), SenderLeaseError>;
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::milliseconds(ms(d))
}

#[derive(Default)]
struct MemoryLease {
    token: Option<String>,
    replica: String,
    until: Option<DateTime<Utc>>,
    /// The holder proved it lives until then (renewed every beat).
    live_until: Option<DateTime<Utc>>,
    fence: u64,
    quiet_until: Option<DateTime<Utc>>,
}

/// One process: the lease logic of the Lua script, on a map.
#[derive(Default)]
pub struct MemorySenderLeases {
    leases: Mutex<HashMap<String, MemoryLease>>,
    replicas: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

impl MemorySenderLeases {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemorySenderLeases {
    fn ask_now(&self, ask: LeaseAsk<'_>) -> SenderLease {
        let mut leases = lock(&self.leases);
        let l = leases.entry(ask.sender.to_string()).or_default();
        let mine = l.token.as_deref() == Some(ask.token);
        let mut taken = false;
        if let (Some(_), Some(until)) = (&l.token, l.until) {
            if !mine && until > ask.now {
                let silent = l.live_until.is_some_and(|live| live <= ask.now);
                if !(ask.take_silent && silent) {
                    return SenderLease::HeldBy {
                        replica: l.replica.clone(),
                        until,
                    };
                }
                taken = true;
            }
        }
        if !mine && !taken {
            let epoch = DateTime::<Utc>::UNIX_EPOCH;
            let quiet = l.quiet_until.unwrap_or(epoch);
            let free_since = l.until.unwrap_or(epoch).max(quiet);
            let may_from = quiet.max(free_since + chrono_of(ask.free_for));
            if may_from > ask.now {
                return SenderLease::NotBefore { until: may_from };
            }
        }
        if !mine {
            l.fence += 1;
        }
        let until = ask.now + chrono_of(ask.ttl);
        l.token = Some(ask.token.to_string());
        l.replica = ask.replica.to_string();
        l.until = Some(until);
        l.live_until = Some(ask.now + chrono_of(live_ttl(ask.ttl)));
        SenderLease::Held {
            fence: l.fence,
            until,
        }
    }
}

#[async_trait]
impl SenderLeases for MemorySenderLeases {
    async fn ask(&self, ask: LeaseAsk<'_>) -> Result<SenderLease, SenderLeaseError> {
        Ok(self.ask_now(ask))
    }

    async fn release(
        &self,
        sender: &str,
        token: &str,
        quiet_until: DateTime<Utc>,
    ) -> Result<(), SenderLeaseError> {
        if let Some(l) = lock(&self.leases).get_mut(sender) {
            if l.token.as_deref() == Some(token) {
                l.token = None;
                l.until = None;
                l.live_until = None;
                l.replica.clear();
                l.quiet_until = Some(quiet_until);
            }
        }
        Ok(())
    }

    async fn holder(
        &self,
        sender: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, SenderLeaseError> {
        Ok(lock(&self.leases).get(sender).and_then(|l| {
            (l.token.is_some() && l.until.is_some_and(|u| u > now)).then(|| l.replica.clone())
        }))
    }

    async fn beat(
        &self,
        replica: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Vec<String>, SenderLeaseError> {
        let mut live = lock(&self.replicas);
        live.insert(replica.to_string(), now + chrono_of(ttl));
        live.retain(|_, until| *until > now);
        Ok(live.keys().cloned().collect())
    }

    async fn leave(&self, replica: &str) -> Result<(), SenderLeaseError> {
        lock(&self.replicas).remove(replica);
        Ok(())
    }
}

/// The Redis backend (single node, Cluster or Sentinel: each call touches one hash tag).
pub struct RedisSenderLeases<C> {
    conn: C,
    keys: Keyspace,
    script: Script,
}

impl<C> RedisSenderLeases<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    pub fn new(conn: C, key_prefix: &str) -> Self {
        Self {
            conn,
            keys: Keyspace::new(key_prefix),
            script: Script::new(include_str!("sender_lease.lua")),
        }
    }

    fn lease_key(&self, sender: &str) -> String {
        self.keys.tagged("sender", sender, "lease")
    }

    fn replicas_key(&self) -> String {
        self.keys.plain("{replicas}")
    }
}

fn unavailable(e: redis::RedisError) -> SenderLeaseError {
    SenderLeaseError::Unavailable(e.to_string())
}

#[async_trait]
impl<C> SenderLeases for RedisSenderLeases<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn ask(&self, ask: LeaseAsk<'_>) -> Result<SenderLease, SenderLeaseError> {
        let mut conn = self.conn.clone();
        let (kind, who, until): (i64, String, i64) = self
            .script
            .key(self.lease_key(ask.sender))
            .arg(ask.now.timestamp_millis())
            .arg(ms(ask.ttl))
            .arg(ask.token)
            .arg(ask.replica)
            .arg("acquire")
            .arg(ms(ask.free_for))
            .arg(ms(live_ttl(ask.ttl)))
            .arg(if ask.take_silent { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let until = time_of(until);
        Ok(match kind {
            1 => SenderLease::Held {
                fence: who.parse().unwrap_or(0),
                until,
            },
            2 => SenderLease::NotBefore { until },
            _ => SenderLease::HeldBy {
                replica: who,
                until,
            },
        })
    }

    async fn release(
        &self,
        sender: &str,
        token: &str,
        quiet_until: DateTime<Utc>,
    ) -> Result<(), SenderLeaseError> {
        let mut conn = self.conn.clone();
        let _: (i64, String, i64) = self
            .script
            .key(self.lease_key(sender))
            .arg(0)
            .arg(0)
            .arg(token)
            .arg("")
            .arg("release")
            .arg(quiet_until.timestamp_millis())
            .arg(0)
            .arg("0")
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn holder(
        &self,
        sender: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, SenderLeaseError> {
        let mut conn = self.conn.clone();
        let (token, replica, until): (Option<String>, Option<String>, Option<i64>) =
            redis::cmd("HMGET")
                .arg(self.lease_key(sender))
                .arg("token")
                .arg("replica")
                .arg("until")
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        Ok(match (token, replica, until) {
            (Some(_), Some(r), Some(u)) if u > now.timestamp_millis() => Some(r),
            _ => None,
        })
    }

    async fn beat(
        &self,
        replica: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Vec<String>, SenderLeaseError> {
        let key = self.replicas_key();
        let now_ms = now.timestamp_millis();
        let mut conn = self.conn.clone();
        let (_, _, live): (i64, i64, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("ZADD")
            .arg(&key)
            .arg(now_ms.saturating_add(ms(ttl)))
            .arg(replica)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms)
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut live = live;
        live.sort();
        Ok(live)
    }

    async fn leave(&self, replica: &str) -> Result<(), SenderLeaseError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("ZREM")
            .arg(self.replicas_key())
            .arg(replica)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
