//! What the provider told us and what pacing counted, kept where every replica sees it and a
//! restart finds it (issue 12 §3): a sender's active brakes, a campaign's sends on one local day
//! (its `daily_max`), and a template's sends across campaigns (its warm-up, DESIGN.md §3: the
//! first 1,000 sends of a template go slower).
//!
//! Before this store these lived in each process: after a restart a spam brake (131048) was
//! gone, and with replicas a brake set by the replica that received the callback did not stop
//! the others. Two backends with one contract (`tests/pacing_conformance.rs`): memory and Redis
//! (keys hash-tagged per sender, campaign or template).
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use redis::aio::ConnectionLike;
use redis::Script;

use super::redis_wire::Keyspace;
use crate::policy::brake::Brake;

/// A sender's active brakes, each with the time it was set, oldest first.
pub type ActiveBrakes = Vec<(Brake, DateTime<Utc>)>;

#[derive(Debug, thiserror::Error)]
pub enum PacingStoreError {
    #[error("pacing store unreachable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait PacingStore: Send + Sync + 'static {
    /// The sender's active brakes, each with the time it was set.
    async fn brakes(&self, sender: &str) -> Result<Vec<(Brake, DateTime<Utc>)>, PacingStoreError>;
    /// Replaces the sender's active brakes with `brakes` (one write).
    async fn set_brakes(
        &self,
        sender: &str,
        brakes: &[(Brake, DateTime<Utc>)],
    ) -> Result<(), PacingStoreError>;
    /// Adds `n` sends of a campaign on its local `day`; returns the day's total.
    async fn add_sends(
        &self,
        campaign: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError>;
    async fn sends_on(&self, campaign: &str, day: NaiveDate) -> Result<u64, PacingStoreError>;
    /// Adds `n` sends of a template (any campaign); returns the total so far.
    async fn add_template_sends(&self, template: &str, n: u64) -> Result<u64, PacingStoreError>;
    async fn template_sends(&self, template: &str) -> Result<u64, PacingStoreError>;
    /// Adds `n` new unique customers a sender reached on its pacing `day` (issue #19: the
    /// day's grow budget is the sender's, whichever replica paced it); returns the day's total.
    async fn add_sender_uniques(
        &self,
        sender: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError>;
    async fn sender_uniques_on(
        &self,
        sender: &str,
        day: NaiveDate,
    ) -> Result<u64, PacingStoreError>;
}

/// Writes a sender's brakes, as they were right after a change (`active`, taken under the
/// lock that made the change), to the store, so every replica and the next start see them.
pub async fn persist_brakes(
    store: &dyn PacingStore,
    sender: &str,
    active: &[(Brake, DateTime<Utc>)],
) {
    if let Err(e) = store.set_brakes(sender, active).await {
        tracing::warn!(sender, error = %e, "brakes not saved to the state store");
    }
}

#[derive(Default)]
pub struct MemoryPacing {
    brakes: Mutex<HashMap<String, ActiveBrakes>>,
    sends: Mutex<HashMap<(String, NaiveDate), u64>>,
    templates: Mutex<HashMap<String, u64>>,
    uniques: Mutex<HashMap<(String, NaiveDate), u64>>,
}

impl MemoryPacing {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Adds `n` to a memory counter; the new total.
fn add<K: Eq + Hash>(counters: &Mutex<HashMap<K, u64>>, key: K, n: u64) -> u64 {
    let mut m = lock(counters);
    let v = m.entry(key).or_default();
    *v += n;
    *v
}

/// A memory counter's value, 0 when it is not there.
fn count<K: Eq + Hash>(counters: &Mutex<HashMap<K, u64>>, key: &K) -> u64 {
    lock(counters).get(key).copied().unwrap_or(0)
}

#[async_trait]
impl PacingStore for MemoryPacing {
    async fn brakes(&self, sender: &str) -> Result<Vec<(Brake, DateTime<Utc>)>, PacingStoreError> {
        Ok(lock(&self.brakes).get(sender).cloned().unwrap_or_default())
    }

    async fn set_brakes(
        &self,
        sender: &str,
        brakes: &[(Brake, DateTime<Utc>)],
    ) -> Result<(), PacingStoreError> {
        let mut sorted = brakes.to_vec();
        sorted.sort_by_key(|(_, since)| *since);
        lock(&self.brakes).insert(sender.to_string(), sorted);
        Ok(())
    }

    async fn add_sends(
        &self,
        campaign: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError> {
        Ok(add(&self.sends, (campaign.to_string(), day), n))
    }

    async fn sends_on(&self, campaign: &str, day: NaiveDate) -> Result<u64, PacingStoreError> {
        Ok(count(&self.sends, &(campaign.to_string(), day)))
    }

    async fn add_template_sends(&self, template: &str, n: u64) -> Result<u64, PacingStoreError> {
        Ok(add(&self.templates, template.to_string(), n))
    }

    async fn template_sends(&self, template: &str) -> Result<u64, PacingStoreError> {
        Ok(count(&self.templates, &template.to_string()))
    }

    async fn add_sender_uniques(
        &self,
        sender: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError> {
        Ok(add(&self.uniques, (sender.to_string(), day), n))
    }

    async fn sender_uniques_on(
        &self,
        sender: &str,
        day: NaiveDate,
    ) -> Result<u64, PacingStoreError> {
        Ok(count(&self.uniques, &(sender.to_string(), day)))
    }
}

/// The Redis backend. Keys: `PREFIX:{sender:ID}:brakes` (hash: brake as JSON -> since, ms),
/// `PREFIX:{camp:ID}:sent:YYYY-MM-DD` (counter, expires after 3 days) and
/// `PREFIX:{tpl:ID}:sends` (counter) and `PREFIX:{sender:ID}:uniques:YYYY-MM-DD` (counter,
/// expires after 3 days).
pub struct RedisPacing<C> {
    conn: C,
    keys: Keyspace,
    replace_brakes: Script,
}

impl<C> RedisPacing<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    pub fn new(conn: C, key_prefix: &str) -> Self {
        Self {
            conn,
            keys: Keyspace::new(key_prefix),
            replace_brakes: Script::new(include_str!("replace_brakes.lua")),
        }
    }

    fn brakes_key(&self, sender: &str) -> String {
        self.keys.tagged("sender", sender, "brakes")
    }

    fn sends_key(&self, campaign: &str, day: NaiveDate) -> String {
        self.keys.tagged("camp", campaign, &format!("sent:{day}"))
    }

    fn uniques_key(&self, sender: &str, day: NaiveDate) -> String {
        self.keys
            .tagged("sender", sender, &format!("uniques:{day}"))
    }

    fn template_key(&self, template: &str) -> String {
        self.keys.tagged("tpl", template, "sends")
    }

    /// Adds `n` to a day's counter and returns the total; the key lives three days, so a
    /// counter outlives its local day in every time zone and then goes.
    async fn add_to_day(&self, key: String, n: u64) -> Result<u64, PacingStoreError> {
        let mut conn = self.conn.clone();
        let (total, _): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("INCRBY")
            .arg(&key)
            .arg(n)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(3 * 86_400)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(total)
    }

    /// A counter's value, 0 when it is not there.
    async fn counter(&self, key: String) -> Result<u64, PacingStoreError> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(v.unwrap_or(0))
    }
}

fn unavailable(e: redis::RedisError) -> PacingStoreError {
    PacingStoreError::Unavailable(e.to_string())
}

#[async_trait]
impl<C> PacingStore for RedisPacing<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn brakes(&self, sender: &str) -> Result<Vec<(Brake, DateTime<Utc>)>, PacingStoreError> {
        let mut conn = self.conn.clone();
        let all: Vec<(String, i64)> = redis::cmd("HGETALL")
            .arg(self.brakes_key(sender))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut out: Vec<(Brake, DateTime<Utc>)> = all
            .into_iter()
            .filter_map(|(b, ms)| {
                Some((
                    serde_json::from_str(&b).ok()?,
                    Utc.timestamp_millis_opt(ms).single()?,
                ))
            })
            .collect();
        out.sort_by_key(|(_, since)| *since);
        Ok(out)
    }

    async fn set_brakes(
        &self,
        sender: &str,
        brakes: &[(Brake, DateTime<Utc>)],
    ) -> Result<(), PacingStoreError> {
        let mut inv = self.replace_brakes.prepare_invoke();
        inv.key(self.brakes_key(sender));
        for (b, since) in brakes {
            let json = serde_json::to_string(b)
                .map_err(|e| PacingStoreError::Unavailable(e.to_string()))?;
            inv.arg(json).arg(since.timestamp_millis());
        }
        let mut conn = self.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        Ok(())
    }

    async fn add_sends(
        &self,
        campaign: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError> {
        self.add_to_day(self.sends_key(campaign, day), n).await
    }

    async fn sends_on(&self, campaign: &str, day: NaiveDate) -> Result<u64, PacingStoreError> {
        self.counter(self.sends_key(campaign, day)).await
    }

    async fn add_template_sends(&self, template: &str, n: u64) -> Result<u64, PacingStoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("INCRBY")
            .arg(self.template_key(template))
            .arg(n)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn template_sends(&self, template: &str) -> Result<u64, PacingStoreError> {
        self.counter(self.template_key(template)).await
    }

    async fn add_sender_uniques(
        &self,
        sender: &str,
        day: NaiveDate,
        n: u64,
    ) -> Result<u64, PacingStoreError> {
        self.add_to_day(self.uniques_key(sender, day), n).await
    }

    async fn sender_uniques_on(
        &self,
        sender: &str,
        day: NaiveDate,
    ) -> Result<u64, PacingStoreError> {
        self.counter(self.uniques_key(sender, day)).await
    }
}
