//! The Redis consent store ([`RedisConsent`]): the hashes and Lua scripts described in the
//! [`consent`](super) module docs.

use ::redis::AsyncCommands;
use chrono::{DateTime, Utc};

use super::*;
use crate::contact::ContactKey;

/// Redis store; `C` is a `ConnectionManager`, a cluster connection or a plain connection.
#[derive(Clone)]
pub struct RedisConsent<C> {
    conn: C,
    key: String,
    marketing_key: String,
    alias_key: String,
    lifted_key: String,
    scripts: std::sync::Arc<Scripts>,
}

/// The consent store's Lua scripts, loaded once (STYLE.md 14).
struct Scripts {
    add: ::redis::Script,
    lift: ::redis::Script,
}

impl<C> std::fmt::Debug for RedisConsent<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConsent")
            .field("key", &self.key)
            .field("marketing_key", &self.marketing_key)
            .field("alias_key", &self.alias_key)
            .finish()
    }
}

impl<C> RedisConsent<C>
where
    C: ::redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    /// `key_prefix` is the deployment's prefix, e.g. `tierpace`; the hashes are
    /// `tierpace:{optout}` (everything) and `tierpace:{optout}:marketing`.
    pub fn new(conn: C, key_prefix: &str) -> Self {
        Self {
            conn,
            key: format!("{key_prefix}:{{optout}}"),
            marketing_key: format!("{key_prefix}:{{optout}}:marketing"),
            alias_key: format!("{key_prefix}:{{optout}}:alias"),
            lifted_key: format!("{key_prefix}:{{optout}}:lifted"),
            scripts: std::sync::Arc::new(Scripts {
                add: ::redis::Script::new(include_str!("optout_add.lua")),
                lift: ::redis::Script::new(include_str!("optout_lift.lua")),
            }),
        }
    }

    /// The Redis key of the hash of opt-outs of everything (the pre-scope layout).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The Redis key of the hash of marketing-only opt-outs.
    pub fn marketing_key(&self) -> &str {
        &self.marketing_key
    }

    /// The Redis key of the hash of WhatsApp-id aliases (alias key hex -> contact key hex).
    pub fn alias_key(&self) -> &str {
        &self.alias_key
    }

    async fn present(&self, hash: &str, fields: &[String]) -> Result<Vec<bool>, ConsentError> {
        let mut conn = self.conn.clone();
        // HMGET with one field still returns an array, which the explicit cmd keeps.
        let values: Vec<Option<String>> = ::redis::cmd("HMGET")
            .arg(hash)
            .arg(fields)
            .query_async(&mut conn)
            .await?;
        Ok(values.iter().map(Option::is_some).collect())
    }
}

/// HMGET in chunks, so a dispatcher batch of any size stays one reasonable command each.
const HMGET_CHUNK: usize = 1000;

#[async_trait::async_trait]
impl<C> ConsentStore for RedisConsent<C>
where
    C: ::redis::aio::ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn scopes(&self, keys: &[ContactKey]) -> Result<Vec<Option<ConsentScope>>, ConsentError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(HMGET_CHUNK) {
            let fields: Vec<String> = chunk.iter().map(|k| k.to_hex()).collect();
            // Marketing first, then all: a scope that widens between the two reads (the script
            // adds to "all" and removes from "marketing" at once) is seen in one or both,
            // never in neither.
            let marketing = self.present(&self.marketing_key, &fields).await?;
            let all = self.present(&self.key, &fields).await?;
            out.extend(marketing.into_iter().zip(all).map(|(m, a)| {
                if a {
                    Some(ConsentScope::All)
                } else if m {
                    Some(ConsentScope::Marketing)
                } else {
                    None
                }
            }));
        }
        Ok(out)
    }

    async fn opt_out_scoped(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        let mut conn = self.conn.clone();
        let reply: i64 = self
            .scripts
            .add
            .key(&self.key)
            .key(&self.marketing_key)
            .key(&self.lifted_key)
            .arg(key.to_hex())
            .arg(scope.as_str())
            .arg(source.as_str())
            .arg(at.timestamp())
            .invoke_async(&mut conn)
            .await?;
        Ok(ConsentChange::of_reply(reply))
    }

    async fn lift(
        &self,
        key: ContactKey,
        scope: ConsentScope,
        at: DateTime<Utc>,
    ) -> Result<ConsentChange, ConsentError> {
        let mut conn = self.conn.clone();
        let reply: i64 = self
            .scripts
            .lift
            .key(&self.key)
            .key(&self.marketing_key)
            .key(&self.lifted_key)
            .arg(key.to_hex())
            .arg(scope.as_str())
            .arg(at.timestamp())
            .invoke_async(&mut conn)
            .await?;
        Ok(ConsentChange::of_reply(reply))
    }

    async fn counts(&self) -> Result<OptOutCounts, ConsentError> {
        let mut conn = self.conn.clone();
        Ok(OptOutCounts {
            all: conn.hlen(&self.key).await?,
            marketing: conn.hlen(&self.marketing_key).await?,
        })
    }

    async fn lookup(&self, key: ContactKey) -> Result<Option<OptOutRecord>, ConsentError> {
        let mut conn = self.conn.clone();
        let field = key.to_hex();
        // Marketing first, then all (see `scopes`): the broader one wins.
        let marketing: Option<String> = conn.hget(&self.marketing_key, &field).await?;
        let all: Option<String> = conn.hget(&self.key, &field).await?;
        Ok(match (all, marketing) {
            (Some(v), _) => Some(OptOutRecord::parse(ConsentScope::All, &v)),
            (None, Some(v)) => Some(OptOutRecord::parse(ConsentScope::Marketing, &v)),
            (None, None) => None,
        })
    }

    async fn link_alias(&self, alias: ContactKey, contact: ContactKey) -> Result<(), ConsentError> {
        let mut conn = self.conn.clone();
        let _: i64 = conn
            .hset(&self.alias_key, alias.to_hex(), contact.to_hex())
            .await?;
        Ok(())
    }

    async fn aliases_for(
        &self,
        keys: &[ContactKey],
    ) -> Result<Vec<Option<ContactKey>>, ConsentError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(HMGET_CHUNK) {
            let fields: Vec<String> = chunk.iter().map(|k| k.to_hex()).collect();
            let mut conn = self.conn.clone();
            let values: Vec<Option<String>> = ::redis::cmd("HMGET")
                .arg(&self.alias_key)
                .arg(&fields)
                .query_async(&mut conn)
                .await?;
            if values.len() != fields.len() {
                return Err(ConsentError::Backend(format!(
                    "asked about {} aliases, got {} answers",
                    fields.len(),
                    values.len()
                )));
            }
            for v in values {
                // A value that is not a key (written by hand, or damaged) links to nothing.
                out.push(v.as_deref().and_then(ContactKey::from_hex));
            }
        }
        Ok(out)
    }
}
