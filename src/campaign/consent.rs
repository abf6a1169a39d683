//! The consent store: global opt-outs, across every campaign and sender (DESIGN.md §2,
//! guarantee 3: no send to a contact who opted out by any channel).
//!
//! Opt-outs arrive from the admin API, provider webhooks (opt-out keywords, `user-event`
//! opted-out, error 131050 / Gupshup 1012, DOMAIN.md §3-4) and an optional opt-out file. They are
//! keyed by [`ContactKey`], never by number (guarantee 7). Opt-in (the audience's `opt_in` column)
//! is per row in the CSV; this store only records who later withdrew it, and [`ConsentStore::opt_in`]
//! removes such a withdrawal when the contact consents again.
//!
//! Redis layout: one hash `PREFIX:{optout}` (hash-tagged so it lives in one Cluster slot), field =
//! contact key hex, value = `SOURCE UNIX_SECONDS` (why and when, for the admin API and audits).
//!
//! Migration of keys (one customer, one identity, `crate::contact`): tierpace before the identity
//! rule stored an opt-out from a pre-9th-digit WhatsApp id (55 + DDD + 8 digits) under the hash of
//! those 12 digits. Such a field cannot be rewritten (a hash does not give the number back), so
//! the check asks for both keys of a contact ([`ContactKeys`], [`opted_out_any`]) and an opt-in
//! removes both. New opt-outs are only ever stored under the canonical key.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::audience::{AudienceRow, RowSkip, SkipReason};
use super::phone::normalise;
use crate::contact::{ContactHasher, ContactKey, E164};

/// Where an opt-out came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptOutSource {
    /// An inbound message with an opt-out keyword (STOP, SAIR, ...).
    Keyword,
    /// A provider event: Gupshup `user-event` opted-out, or a send failing with "opted out".
    Provider,
    /// `tierpace optout add` / the admin API.
    Admin,
    /// The opt-out file in the config directory.
    File,
}

impl OptOutSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Provider => "provider",
            Self::Admin => "admin",
            Self::File => "file",
        }
    }
}

/// Errors a caller can act on: the store is unreachable (send nothing, retry later) or broke.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("consent store unreachable: {0}")]
    Unavailable(String),
    #[error("consent store error: {0}")]
    Backend(String),
    #[error("{}: cannot read opt-out file: {source}", file.display())]
    File {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<redis::RedisError> for ConsentError {
    fn from(e: redis::RedisError) -> Self {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
        {
            Self::Unavailable(e.to_string())
        } else {
            Self::Backend(e.to_string())
        }
    }
}

/// Global opt-outs. Both backends pass the same tests (`tests/campaign_consent.rs`).
#[async_trait::async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    /// For each key, in order: whether it opted out.
    async fn opted_out(&self, keys: &[ContactKey]) -> Result<Vec<bool>, ConsentError>;
    /// Records an opt-out (idempotent: webhooks are retried).
    async fn opt_out(
        &self,
        key: ContactKey,
        source: OptOutSource,
        now: DateTime<Utc>,
    ) -> Result<(), ConsentError>;
    /// Removes an opt-out: the contact consented again.
    async fn opt_in(&self, key: ContactKey, now: DateTime<Utc>) -> Result<(), ConsentError>;
    /// How many contacts are opted out.
    async fn count(&self) -> Result<u64, ConsentError>;
}

/// In-process store: the embedded default and tests.
#[derive(Debug, Default)]
pub struct MemoryConsent {
    out: Mutex<HashMap<ContactKey, (OptOutSource, DateTime<Utc>)>>,
}

impl MemoryConsent {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ContactKey, (OptOutSource, DateTime<Utc>)>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still safe to use.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl ConsentStore for MemoryConsent {
    async fn opted_out(&self, keys: &[ContactKey]) -> Result<Vec<bool>, ConsentError> {
        let out = self.lock();
        Ok(keys.iter().map(|k| out.contains_key(k)).collect())
    }

    async fn opt_out(
        &self,
        key: ContactKey,
        source: OptOutSource,
        now: DateTime<Utc>,
    ) -> Result<(), ConsentError> {
        self.lock().entry(key).or_insert((source, now));
        Ok(())
    }

    async fn opt_in(&self, key: ContactKey, _now: DateTime<Utc>) -> Result<(), ConsentError> {
        self.lock().remove(&key);
        Ok(())
    }

    async fn count(&self) -> Result<u64, ConsentError> {
        Ok(self.lock().len() as u64)
    }
}

/// Redis store; `C` is a `ConnectionManager`, a cluster connection or a plain connection.
#[derive(Clone)]
pub struct RedisConsent<C> {
    conn: C,
    key: String,
}

impl<C> std::fmt::Debug for RedisConsent<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConsent")
            .field("key", &self.key)
            .finish()
    }
}

impl<C> RedisConsent<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    /// `key_prefix` is the deployment's prefix, e.g. `tierpace`; the hash is `tierpace:{optout}`.
    pub fn new(conn: C, key_prefix: &str) -> Self {
        Self {
            conn,
            key: format!("{key_prefix}:{{optout}}"),
        }
    }

    /// The Redis key of the opt-out hash.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// HMGET in chunks, so a dispatcher batch of any size stays one reasonable command each.
const HMGET_CHUNK: usize = 1000;

#[async_trait::async_trait]
impl<C> ConsentStore for RedisConsent<C>
where
    C: redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn opted_out(&self, keys: &[ContactKey]) -> Result<Vec<bool>, ConsentError> {
        let mut conn = self.conn.clone();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(HMGET_CHUNK) {
            let fields: Vec<String> = chunk.iter().map(|k| k.to_hex()).collect();
            // HMGET with one field still returns an array, which the explicit cmd keeps.
            let values: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(&self.key)
                .arg(&fields)
                .query_async(&mut conn)
                .await?;
            out.extend(values.iter().map(Option::is_some));
        }
        Ok(out)
    }

    async fn opt_out(
        &self,
        key: ContactKey,
        source: OptOutSource,
        now: DateTime<Utc>,
    ) -> Result<(), ConsentError> {
        let mut conn = self.conn.clone();
        let value = format!("{} {}", source.as_str(), now.timestamp());
        // HSETNX: the first opt-out's source and time are the ones worth keeping.
        let _: bool = conn.hset_nx(&self.key, key.to_hex(), value).await?;
        Ok(())
    }

    async fn opt_in(&self, key: ContactKey, _now: DateTime<Utc>) -> Result<(), ConsentError> {
        let mut conn = self.conn.clone();
        let _: u64 = conn.hdel(&self.key, key.to_hex()).await?;
        Ok(())
    }

    async fn count(&self) -> Result<u64, ConsentError> {
        let mut conn = self.conn.clone();
        Ok(conn.hlen(&self.key).await?)
    }
}

/// Every key an opt-out of one contact may be stored under: its canonical key and, for a
/// Brazilian mobile, the key older versions gave its pre-9th-digit spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactKeys {
    pub key: ContactKey,
    pub legacy: Option<ContactKey>,
}

impl ContactKeys {
    pub fn of(hasher: &ContactHasher, number: &E164) -> Self {
        Self {
            key: hasher.key(number),
            legacy: hasher.legacy_key(number),
        }
    }
}

/// For each contact, in order: whether it opted out under either of its keys (one round trip).
pub async fn opted_out_any(
    store: &dyn ConsentStore,
    contacts: &[ContactKeys],
) -> Result<Vec<bool>, ConsentError> {
    let mut keys = Vec::with_capacity(contacts.len() * 2);
    keys.extend(contacts.iter().map(|c| c.key));
    keys.extend(contacts.iter().filter_map(|c| c.legacy));
    let answers = store.opted_out(&keys).await?;
    if answers.len() != keys.len() {
        return Err(ConsentError::Backend(format!(
            "asked about {} keys, got {} answers",
            keys.len(),
            answers.len()
        )));
    }
    let (canonical, legacy) = answers.split_at(contacts.len());
    let mut legacy = legacy.iter();
    Ok(contacts
        .iter()
        .zip(canonical)
        .map(|(c, &out)| {
            let old = c.legacy.is_some() && legacy.next().copied().unwrap_or(false);
            out || old
        })
        .collect())
}

/// Records that a contact consented again: removes its opt-out under both of its keys.
pub async fn opt_in_any(
    store: &dyn ConsentStore,
    contact: ContactKeys,
    now: DateTime<Utc>,
) -> Result<(), ConsentError> {
    store.opt_in(contact.key, now).await?;
    if let Some(legacy) = contact.legacy {
        store.opt_in(legacy, now).await?;
    }
    Ok(())
}

/// Splits a batch of audience rows into those that may be sent and `opted_out` skips, in one
/// store round trip. The dispatcher calls it right before asking the ledger to admit the batch,
/// so an opt-out recorded a second ago is honoured. An error means: send none of them now.
pub async fn split_opted_out(
    store: &dyn ConsentStore,
    hasher: &ContactHasher,
    rows: Vec<AudienceRow>,
) -> Result<(Vec<AudienceRow>, Vec<RowSkip>), ConsentError> {
    let keys: Vec<ContactKeys> = rows
        .iter()
        .map(|r| ContactKeys {
            key: r.key,
            legacy: hasher.legacy_key(&r.number),
        })
        .collect();
    let out = opted_out_any(store, &keys).await?;
    if out.len() != rows.len() {
        return Err(ConsentError::Backend(format!(
            "asked about {} contacts, got {} answers",
            rows.len(),
            out.len()
        )));
    }
    let mut send = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    for (row, opted_out) in rows.into_iter().zip(out) {
        if opted_out {
            skipped.push(RowSkip {
                line: row.line,
                reason: SkipReason::OptedOut,
                detail: format!("contact {} opted out", row.key.to_hex()),
            });
        } else {
            send.push(row);
        }
    }
    Ok((send, skipped))
}

/// Reads an opt-out file: one number a line, as people write them; blank lines and `#` comments
/// are ignored. Returns the keys and one `file:line: reason` message per line that is not a number
/// (a bad line never stops the others from being honoured).
pub fn read_optout_file(
    path: &Path,
    default_ddi: &str,
    hasher: &ContactHasher,
) -> Result<(Vec<ContactKey>, Vec<String>), ConsentError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConsentError::File {
        file: path.to_path_buf(),
        source,
    })?;
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = line.split('#').next().unwrap_or("").trim();
        if number.is_empty() {
            continue;
        }
        match normalise(None, number, default_ddi) {
            Ok(n) => keys.push(hasher.key(&n.number)),
            Err(e) => errors.push(format!("{}:{}: {e}", path.display(), i + 1)),
        }
    }
    Ok((keys, errors))
}
