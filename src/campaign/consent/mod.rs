//! The consent store: global opt-outs, across every campaign and sender (DESIGN.md §2,
//! guarantee 3: no send to a contact who opted out by any channel).
//!
//! Opt-outs arrive from the admin API, provider webhooks (opt-out keywords, `user-event`
//! opted-out, error 131050 / Gupshup 1012, DOMAIN.md §3-4) and an optional opt-out file. They are
//! keyed by [`ContactKey`], never by number (guarantee 7). Opt-in (the audience's `opt_in` column)
//! is per row in the CSV; this store only records who later withdrew it, and [`ConsentStore::opt_in`]
//! removes such a withdrawal when the contact consents again.
//!
//! Migration of keys (one customer, one identity, `crate::contact`): tierpace before the identity
//! rule stored an opt-out from a pre-9th-digit WhatsApp id (55 + DDD + 8 digits) under the hash of
//! those 12 digits. Such a field cannot be rewritten (a hash does not give the number back), so
//! the check asks for both keys of a contact ([`ContactKeys`], [`opted_out_any`]) and an opt-in
//! removes both. New opt-outs are only ever stored under the canonical key.
//!
//! Each opt-out has a [`ConsentScope`]: everything, or marketing templates only (Meta's "Stop
//! promotions" button). The channel decides the scope ([`OptOutSource::scope`]); the dispatcher
//! asks [`ConsentStore::blocked`] with the campaign's template category.
//!
//! Redis layout: two hashes in one Cluster slot (hash tag `{optout}`), field = contact key hex,
//! value = `SOURCE UNIX_SECONDS` (why and when, for the admin API and audits):
//! - `PREFIX:{optout}`: opt-outs of everything. This is the hash every tierpace before scopes
//!   wrote, so the opt-outs already stored keep meaning "all";
//! - `PREFIX:{optout}:marketing`: marketing-only opt-outs.
//!
//! - `PREFIX:{optout}:alias`: WhatsApp ids a provider resolved a contact's number to (Meta's
//!   send answer `contacts[].wa_id`, e.g. `521...` for a Mexican `52...`), field = the id's key
//!   hex, value = the contact's key hex. A webhook from that id then reaches the contact.
//!
//! A contact is in at most one of them (the broader wins); changes are one Lua script each
//! (`optout_add.lua`, `optout_lift.lua`), so readers never see a contact in neither hash while
//! its scope widens.
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::audience::{AudienceRow, RowSkip, SkipReason};
pub use super::consent_scope::{ConsentScope, OptOutCounts, UnknownScope};
use super::file::Category;
use super::phone::normalise;

mod memory;
mod redis;
pub use self::memory::MemoryConsent;
pub use self::redis::RedisConsent;
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
    /// Meta's `user_preferences` webhook (`marketing_messages` `stop`): the customer tapped
    /// "Stop promotions" (DOMAIN.md §7). Directly from Meta or through Gupshup's v3 callbacks.
    MarketingPreference,
    /// A send failed because the number is not on WhatsApp or not a valid destination (131026,
    /// Gupshup 1002; DOMAIN.md §3 "never retry"): later campaigns skip it too. Not the customer's
    /// wish, but the same effect; an opt-in event or `tierpace optout remove` lifts it.
    Undeliverable,
}

impl OptOutSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Provider => "provider",
            Self::Admin => "admin",
            Self::File => "file",
            Self::MarketingPreference => "marketing_preference",
            Self::Undeliverable => "undeliverable",
        }
    }

    /// The source as stored (`as_str`); `None` for a word this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Keyword,
            Self::Provider,
            Self::Admin,
            Self::File,
            Self::MarketingPreference,
            Self::Undeliverable,
        ]
        .into_iter()
        .find(|src| src.as_str() == s)
    }

    /// What an opt-out from this channel stops: marketing only for Meta's preference button,
    /// everything for a keyword, a provider opt-out, an operator or the opt-out file.
    pub fn scope(self) -> ConsentScope {
        match self {
            Self::MarketingPreference => ConsentScope::Marketing,
            Self::Keyword | Self::Provider | Self::Admin | Self::File | Self::Undeliverable => {
                ConsentScope::All
            }
        }
    }
}

/// One contact's opt-out as stored: what it stops, where it came from and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptOutRecord {
    pub scope: ConsentScope,
    /// `None` when the stored source is a word this version does not know.
    pub source: Option<OptOutSource>,
    pub since: Option<DateTime<Utc>>,
}

impl OptOutRecord {
    /// Reads the stored value `SOURCE SINCE [LATEST]` (unix seconds).
    pub(super) fn parse(scope: ConsentScope, value: &str) -> Self {
        let mut parts = value.split_whitespace();
        let source = parts.next().and_then(OptOutSource::parse);
        let since = parts
            .next()
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0));
        Self {
            scope,
            source,
            since,
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

impl From<::redis::RedisError> for ConsentError {
    fn from(e: ::redis::RedisError) -> Self {
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

/// What a consent change did. Providers retry and reorder callbacks, so each change carries
/// the time it happened and an older one than the state it would change is refused (issue #22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    Changed,
    /// Already so (a duplicate): nothing to do.
    Unchanged,
    /// Older than the opt-out or opt-in it would undo: nothing changed.
    Stale,
}

impl ConsentChange {
    pub(super) fn of_reply(reply: i64) -> Self {
        match reply {
            r if r < 0 => ConsentChange::Stale,
            0 => ConsentChange::Unchanged,
            _ => ConsentChange::Changed,
        }
    }

    /// The outcome of two changes made for one contact (its two keys): stale if either was.
    pub fn and(self, other: ConsentChange) -> ConsentChange {
        use ConsentChange::*;
        match (self, other) {
            (Stale, _) | (_, Stale) => Stale,
            (Changed, _) | (_, Changed) => Changed,
            _ => Unchanged,
        }
    }
}

/// Global opt-outs with their scope. Both backends pass the same tests
/// (`tests/campaign_consent.rs`).
#[async_trait::async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    /// For each key, in order: the scope it opted out of, if any.
    async fn scopes(&self, keys: &[ContactKey]) -> Result<Vec<Option<ConsentScope>>, ConsentError>;
    /// Records an opt-out of `scope` made at `at` (idempotent: webhooks are retried). The
    /// broader scope wins: a marketing opt-out of a contact opted out of everything changes
    /// nothing. [`ConsentChange::Stale`] when a lift of that scope is newer than `at`.
    async fn opt_out_scoped(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError>;
    /// Lifts an opt-out at `at`: `All` lifts any (the contact consented again), `Marketing`
    /// lifts only a marketing opt-out (Meta's `resume`; an opt-out of everything stays).
    /// [`ConsentChange::Stale`] when the opt-out it would lift was made after `at`.
    async fn lift(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError>;
    /// How many contacts are opted out, by scope.
    async fn counts(&self) -> Result<OptOutCounts, ConsentError>;
    /// One contact's opt-out, if any (the admin API shows it).
    async fn lookup(&self, key: ContactKey) -> Result<Option<OptOutRecord>, ConsentError>;
    /// Records that `alias`, the key of the WhatsApp id a provider resolved a contact's number
    /// to, is the contact `contact` (idempotent; the latest link wins).
    async fn link_alias(&self, alias: ContactKey, contact: ContactKey) -> Result<(), ConsentError>;
    /// For each key, in order: the contact it is an alias of, if any.
    async fn aliases_for(
        &self,
        keys: &[ContactKey],
    ) -> Result<Vec<Option<ContactKey>>, ConsentError>;

    /// Records an opt-out with the scope its channel implies ([`OptOutSource::scope`]).
    async fn opt_out(
        &self,
        key: ContactKey,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        self.opt_out_scoped(key, source.scope(), source, at).await
    }
    /// Removes any opt-out: the contact consented again.
    async fn opt_in(
        &self,
        key: ContactKey,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        self.lift(key, ConsentScope::All, at).await
    }
    /// For each key, in order: whether it opted out of anything (marketing or all).
    async fn opted_out(&self, keys: &[ContactKey]) -> Result<Vec<bool>, ConsentError> {
        Ok(self
            .scopes(keys)
            .await?
            .iter()
            .map(Option::is_some)
            .collect())
    }
    /// For each key, in order: the scope that forbids a template of `category`, if one does.
    async fn blocked(
        &self,
        keys: &[ContactKey],
        category: Category,
    ) -> Result<Vec<Option<ConsentScope>>, ConsentError> {
        Ok(self
            .scopes(keys)
            .await?
            .into_iter()
            .map(|s| s.filter(|s| s.blocks(category)))
            .collect())
    }
    /// How many contacts opted out of anything.
    async fn count(&self) -> Result<u64, ConsentError> {
        Ok(self.counts().await?.total())
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

/// For each contact, in order: the broader scope it opted out of under either of its keys, if
/// any (one round trip).
pub async fn scopes_any(
    store: &dyn ConsentStore,
    contacts: &[ContactKeys],
) -> Result<Vec<Option<ConsentScope>>, ConsentError> {
    let mut keys = Vec::with_capacity(contacts.len() * 2);
    keys.extend(contacts.iter().map(|c| c.key));
    keys.extend(contacts.iter().filter_map(|c| c.legacy));
    let answers = store.scopes(&keys).await?;
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
        .map(|(c, &now)| {
            let old = if c.legacy.is_some() {
                legacy.next().copied().flatten()
            } else {
                None
            };
            match (now, old) {
                (Some(a), Some(b)) => Some(a.widen(b)),
                (a, b) => a.or(b),
            }
        })
        .collect())
}

/// For each contact, in order: whether it opted out of anything under either of its keys.
pub async fn opted_out_any(
    store: &dyn ConsentStore,
    contacts: &[ContactKeys],
) -> Result<Vec<bool>, ConsentError> {
    Ok(scopes_any(store, contacts)
        .await?
        .iter()
        .map(Option::is_some)
        .collect())
}

/// For each contact, in order: the scope (under either key) that forbids a template of
/// `category`, if one does.
pub async fn blocked_any(
    store: &dyn ConsentStore,
    contacts: &[ContactKeys],
    category: Category,
) -> Result<Vec<Option<ConsentScope>>, ConsentError> {
    Ok(scopes_any(store, contacts)
        .await?
        .into_iter()
        .map(|s| s.filter(|s| s.blocks(category)))
        .collect())
}

/// Records that a contact consented again: removes its opt-out under both of its keys.
pub async fn opt_in_any(
    store: &dyn ConsentStore,
    contact: ContactKeys,
    at: DateTime<Utc>,
) -> Result<ConsentChange, ConsentError> {
    let mut change = store.opt_in(contact.key, at).await?;
    if let Some(legacy) = contact.legacy {
        change = change.and(store.opt_in(legacy, at).await?);
    }
    Ok(change)
}

/// Splits a batch of audience rows of a campaign whose template is of `category` into those
/// that may be sent and skips (`opted_out`, or `opted_out_marketing` for a marketing template
/// to a contact who stopped only marketing), in one store round trip. An error means: send none
/// of them now.
pub async fn split_opted_out(
    store: &dyn ConsentStore,
    hasher: &ContactHasher,
    rows: Vec<AudienceRow>,
    category: Category,
) -> Result<(Vec<AudienceRow>, Vec<RowSkip>), ConsentError> {
    let keys: Vec<ContactKeys> = rows
        .iter()
        .map(|r| ContactKeys {
            key: r.key,
            legacy: hasher.legacy_key(&r.number),
        })
        .collect();
    let out = blocked_any(store, &keys, category).await?;
    if out.len() != rows.len() {
        return Err(ConsentError::Backend(format!(
            "asked about {} contacts, got {} answers",
            rows.len(),
            out.len()
        )));
    }
    let mut send = Vec::with_capacity(rows.len());
    let mut skipped = Vec::new();
    for (row, blocked) in rows.into_iter().zip(out) {
        match blocked {
            Some(scope) => skipped.push(RowSkip {
                line: row.line,
                reason: skip_reason(scope),
                detail: format!("contact {} opted out ({scope})", row.key.to_hex()),
            }),
            None => send.push(row),
        }
    }
    Ok((send, skipped))
}

/// The skip reason a blocking opt-out of `scope` is counted under.
pub fn skip_reason(scope: ConsentScope) -> SkipReason {
    match scope {
        ConsentScope::All => SkipReason::OptedOut,
        ConsentScope::Marketing => SkipReason::OptedOutMarketing,
    }
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
