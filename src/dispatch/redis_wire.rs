//! What the dispatch stores' Redis backends (progress, pacing, sender leases) share on the
//! wire: the key scheme and times as milliseconds.
//!
//! Every key is `PREFIX:{KIND:ID}:NAME`: the braces are a Cluster hash tag, so all of one
//! run's, campaign's, sender's or template's keys live in one slot and one script may touch
//! them together (STYLE.md 7).
use chrono::{DateTime, TimeZone, Utc};

/// The key prefix of one deployment (`[redis] key_prefix`).
#[derive(Debug, Clone)]
pub(super) struct Keyspace {
    prefix: String,
}

impl Keyspace {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// `PREFIX:{KIND:ID}:NAME`, e.g. `tp:{sender:sac}:brakes`.
    pub(super) fn tagged(&self, kind: &str, id: &str, name: &str) -> String {
        format!("{}:{{{kind}:{id}}}:{name}", self.prefix)
    }

    /// `PREFIX:NAME`, for a key of no group (`tp:msg:ID`; `tp:{replicas}` names its own tag).
    pub(super) fn plain(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
}

/// A time the store wrote as milliseconds since the epoch (out of range: the earliest time,
/// which every comparison treats as long past).
pub(super) fn time_of(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_group_as_a_hash_tag() {
        let k = Keyspace::new("tp");
        assert_eq!(k.tagged("sender", "sac", "lease"), "tp:{sender:sac}:lease");
        assert_eq!(
            k.tagged("camp", "bf", "sent:2026-12-01"),
            "tp:{camp:bf}:sent:2026-12-01"
        );
        assert_eq!(k.plain("{replicas}"), "tp:{replicas}");
    }

    #[test]
    fn a_time_is_read_back_from_its_milliseconds() {
        let t = Utc.timestamp_millis_opt(1_796_000_000_123).unwrap();
        assert_eq!(time_of(t.timestamp_millis()), t);
        assert_eq!(time_of(i64::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
