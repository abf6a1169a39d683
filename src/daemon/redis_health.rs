//! What the daemon checks about its Redis beyond "it answers" (issue #16, DESIGN.md §2.5).
//!
//! tierpace's promises (never twice, never over the limit) rest on Redis keeping every key it
//! was given. A Redis with `maxmemory` and any `maxmemory-policy` but `noeviction` (the default
//! of many managed services) deletes keys under memory pressure: a finished run's progress, or a
//! group's rolling window, and with them the memory of who was reached. So, like BullMQ and
//! Sidekiq, tierpace refuses to send on such a Redis, and also while a full `noeviction` Redis
//! refuses writes (`OOM`), and says why in `/readyz`, the log and `tierpace_redis_refusing`.
//!
//! The probe runs at start and on every health tick (so also after every reconnect): `INFO
//! memory` for the policy (readable on managed services where `CONFIG` is disabled) and one
//! small write with a short expiry for the `OOM` answer.
use std::fmt;

use redis::aio::ConnectionLike;
use redis::Value;

/// Why Redis cannot be used for sending now. Its text is what `/readyz`, the log and `check` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisProblem {
    /// No answer (down, frozen, network).
    Unreachable(String),
    /// `maxmemory-policy` is not `noeviction`: keys may vanish under memory pressure.
    Evicts { policy: String },
    /// Redis answered a write with an error (`OOM` on a full `noeviction` Redis, `READONLY` on a
    /// replica).
    WritesRefused(String),
}

impl RedisProblem {
    /// The short label used in metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            RedisProblem::Unreachable(_) => "unreachable",
            RedisProblem::Evicts { .. } => "eviction_policy",
            RedisProblem::WritesRefused(_) => "writes_refused",
        }
    }

    /// Every label [`reason`](Self::reason) can take, for metrics that set the others to 0.
    pub const REASONS: [&'static str; 3] = ["unreachable", "eviction_policy", "writes_refused"];
}

impl fmt::Display for RedisProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisProblem::Unreachable(e) => write!(f, "redis unreachable: {e}"),
            RedisProblem::Evicts { policy } => write!(
                f,
                "redis maxmemory-policy is `{policy}`: it may evict tierpace's keys and so \
                 resend or exceed the limit; no sends until it is `noeviction` (redis.conf \
                 `maxmemory-policy noeviction`, or `CONFIG SET maxmemory-policy noeviction`; on a \
                 managed service, its parameter group)"
            ),
            RedisProblem::WritesRefused(e) => write!(
                f,
                "redis refuses writes ({e}): no sends until it accepts them (a full \
                 `noeviction` Redis: raise `maxmemory` or free memory)"
            ),
        }
    }
}

/// The `maxmemory_policy` values in an `INFO memory` answer (one per node on a Cluster).
pub fn eviction_policies(info: &str) -> Vec<String> {
    info.lines()
        .filter_map(|l| l.trim().strip_prefix("maxmemory_policy:"))
        .map(|p| p.trim().to_string())
        .collect()
}

/// The first policy that evicts, if any ("" or unreadable counts as none: an `INFO` we cannot
/// read must not stop a deployment that was fine before this check existed).
pub fn evicting_policy(info: &str) -> Option<String> {
    eviction_policies(info)
        .into_iter()
        .find(|p| !p.is_empty() && p != "noeviction")
}

/// Probes one connection: reachable, not evicting, accepting writes. `probe_key` is a key of
/// tierpace's own (it is written with a 10 s expiry).
pub async fn probe<C: ConnectionLike + Clone>(
    conn: &C,
    probe_key: &str,
) -> Result<(), RedisProblem> {
    let mut c = conn.clone();
    let info: redis::RedisResult<Value> =
        redis::cmd("INFO").arg("memory").query_async(&mut c).await;
    match info {
        Ok(v) => {
            let mut text = String::new();
            collect_text(&v, &mut text);
            if let Some(policy) = evicting_policy(&text) {
                return Err(RedisProblem::Evicts { policy });
            }
        }
        Err(e) if is_unreachable(&e) => return Err(RedisProblem::Unreachable(e.to_string())),
        // INFO refused by an ACL: the policy cannot be read; the write below still probes.
        Err(e) => tracing::debug!(error = %e, "INFO memory refused; eviction policy not checked"),
    }
    let write: redis::RedisResult<Value> = redis::cmd("SET")
        .arg(probe_key)
        .arg("1")
        .arg("PX")
        .arg(10_000)
        .query_async(&mut c)
        .await;
    match write {
        Ok(_) => Ok(()),
        Err(e) if is_unreachable(&e) => Err(RedisProblem::Unreachable(e.to_string())),
        Err(e) => Err(RedisProblem::WritesRefused(
            e.code().unwrap_or("error").to_string(),
        )),
    }
}

fn is_unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// Flattens a reply (a bulk string, or one per node from a Cluster) into text.
fn collect_text(v: &Value, out: &mut String) {
    match v {
        Value::BulkString(b) => {
            out.push_str(&String::from_utf8_lossy(b));
            out.push('\n');
        }
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) | Value::Set(items) => items.iter().for_each(|i| collect_text(i, out)),
        Value::Map(pairs) => pairs.iter().for_each(|(_, i)| collect_text(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str =
        "# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n";

    #[test]
    fn noeviction_is_fine_and_every_other_policy_is_named() {
        assert_eq!(evicting_policy(INFO), None);
        let lru = INFO.replace("noeviction", "allkeys-lru");
        assert_eq!(evicting_policy(&lru), Some("allkeys-lru".to_string()));
        // One node of a Cluster evicting is enough.
        let cluster = format!("{INFO}{}", INFO.replace("noeviction", "volatile-ttl"));
        assert_eq!(evicting_policy(&cluster), Some("volatile-ttl".to_string()));
    }

    #[test]
    fn an_info_without_the_policy_is_not_a_problem() {
        assert_eq!(evicting_policy("# Memory\r\nused_memory:1\r\n"), None);
    }

    #[test]
    fn the_message_says_how_to_fix_it() {
        let m = RedisProblem::Evicts {
            policy: "allkeys-lru".into(),
        }
        .to_string();
        assert!(m.contains("allkeys-lru") && m.contains("maxmemory-policy noeviction"));
    }
}
