//! The in-process consent store ([`MemoryConsent`]): the embedded default and tests. The
//! contract is [`ConsentStore`]; the rules are in the [`consent`](super) module docs.
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::*;
use crate::contact::ContactKey;

/// In-process store: the embedded default and tests.
#[derive(Debug, Default)]
pub struct MemoryConsent {
    out: Mutex<HashMap<ContactKey, Entry>>,
    aliases: Mutex<HashMap<ContactKey, ContactKey>>,
}

/// One opt-out: its scope, the first source and time (kept for audits), the latest opt-out
/// time seen, and the latest lifts (`lifted_*`, kept after the opt-out goes).
#[derive(Debug, Clone, Copy)]
struct Entry {
    scope: Option<ConsentScope>,
    source: OptOutSource,
    since: DateTime<Utc>,
    latest: DateTime<Utc>,
    lifted_all: Option<DateTime<Utc>>,
    lifted_marketing: Option<DateTime<Utc>>,
}

impl MemoryConsent {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContactKey, Entry>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still safe to use.
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl ConsentStore for MemoryConsent {
    async fn scopes(&self, keys: &[ContactKey]) -> Result<Vec<Option<ConsentScope>>, ConsentError> {
        let out = self.lock();
        Ok(keys
            .iter()
            .map(|k| out.get(k).and_then(|e| e.scope))
            .collect())
    }

    async fn opt_out_scoped(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        let mut out = self.lock();
        let entry = out.entry(key).or_insert(Entry {
            scope: None,
            source,
            since: at,
            latest: at,
            lifted_all: None,
            lifted_marketing: None,
        });
        // Like optout_add.lua: older than a lift of its scope changes nothing.
        let lifted = match scope {
            ConsentScope::All => entry.lifted_all,
            ConsentScope::Marketing => entry.lifted_all.max(entry.lifted_marketing),
        };
        if lifted.is_some_and(|l| at < l) {
            return Ok(ConsentChange::Stale);
        }
        match entry.scope {
            Some(current) if current.widen(scope) == current => {
                // A repeat (or a narrower one): the latest time moves on, like the Redis store.
                if current == scope {
                    entry.latest = entry.latest.max(at);
                }
                Ok(ConsentChange::Unchanged)
            }
            _ => {
                // A new or widened opt-out is a new fact, with its own source and time.
                entry.scope = Some(scope);
                entry.source = source;
                entry.since = at;
                entry.latest = at;
                Ok(ConsentChange::Changed)
            }
        }
    }

    async fn lift(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        let mut out = self.lock();
        let entry = out.entry(key).or_insert(Entry {
            scope: None,
            source: OptOutSource::Admin,
            since: at,
            latest: at,
            lifted_all: None,
            lifted_marketing: None,
        });
        let lifts = entry
            .scope
            .is_some_and(|s| s.after_lifting(scope).is_none());
        let blocks = match (entry.scope, scope) {
            (Some(_), ConsentScope::All)
            | (Some(ConsentScope::Marketing), ConsentScope::Marketing) => entry.latest > at,
            _ => false,
        };
        if blocks {
            return Ok(ConsentChange::Stale);
        }
        let slot = match scope {
            ConsentScope::All => &mut entry.lifted_all,
            ConsentScope::Marketing => &mut entry.lifted_marketing,
        };
        *slot = Some(slot.map_or(at, |l| l.max(at)));
        if lifts {
            entry.scope = None;
            return Ok(ConsentChange::Changed);
        }
        Ok(ConsentChange::Unchanged)
    }

    async fn counts(&self) -> Result<OptOutCounts, ConsentError> {
        let mut counts = OptOutCounts::default();
        for e in self.lock().values() {
            match e.scope {
                Some(ConsentScope::Marketing) => counts.marketing += 1,
                Some(ConsentScope::All) => counts.all += 1,
                None => {}
            }
        }
        Ok(counts)
    }

    async fn lookup(&self, key: ContactKey) -> Result<Option<OptOutRecord>, ConsentError> {
        Ok(self.lock().get(&key).and_then(|e| {
            e.scope.map(|scope| OptOutRecord {
                scope,
                source: Some(e.source),
                since: Some(e.since),
            })
        }))
    }

    async fn link_alias(&self, alias: ContactKey, contact: ContactKey) -> Result<(), ConsentError> {
        // Single inserts: a poisoned lock cannot hold a half-made change.
        self.aliases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(alias, contact);
        Ok(())
    }

    async fn aliases_for(
        &self,
        keys: &[ContactKey],
    ) -> Result<Vec<Option<ContactKey>>, ConsentError> {
        let aliases = self.aliases.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys.iter().map(|k| aliases.get(k).copied()).collect())
    }
}
