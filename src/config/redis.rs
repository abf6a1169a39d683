//! How the daemon reaches its Redis: one URL (`redis://`, `rediss://` for TLS, `redis+unix://`
//! or `unix://` for a socket), a Cluster's seed nodes, or a Sentinel-watched master; and the TLS
//! files for `rediss://`.
//!
//! Everything here is checked by [`validate`] from the text alone (no file read, no network), so
//! `tierpace check` rejects a URL `run` could not use, naming the key (issue #16 §2: a
//! `rediss://` URL used to pass `check` and then fail every `run` in a systemd restart loop).
use std::path::PathBuf;

use redis::IntoConnectionInfo as _;
use serde::Deserialize;

use super::{DaemonConfig, StateBackend};

/// `redis_sentinel = { master = "mymaster", nodes = ["10.0.0.1:26379", ...] }`: the master is
/// asked from the Sentinels, and asked again after every connection error, so a failover is
/// followed without a restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The master's name in `sentinel monitor <name> ...`.
    pub master: String,
    /// The Sentinels, `host:port` or `redis://host:port` (`rediss://` for TLS to a Sentinel).
    pub nodes: Vec<String>,
    /// Connect to the master (and replicas) over TLS, with the `redis_tls_*` files.
    #[serde(default)]
    pub tls: bool,
    /// The master's password (`requirepass`), from an environment variable or a file.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The Sentinels' own password (`requirepass` in sentinel.conf), if any.
    #[serde(default)]
    pub sentinel_password_env: Option<String>,
    #[serde(default)]
    pub sentinel_password_file: Option<PathBuf>,
}

/// A node written `host:port` (as `redis-cli` and Sentinel print them) or as a URL, as a URL.
pub fn node_url(node: &str) -> String {
    if node.contains("://") {
        node.to_string()
    } else {
        format!("redis://{node}")
    }
}

/// Whether `url` asks for TLS.
pub fn is_tls_url(url: &str) -> bool {
    url.trim_start()
        .to_ascii_lowercase()
        .starts_with("rediss://")
}

/// Why a URL does not parse, without repeating the URL (it may hold a password).
fn url_problem(url: &str) -> Option<String> {
    match url.into_connection_info() {
        Ok(_) => None,
        Err(e) => Some(format!(
            "not a Redis URL this build can use (redis://, rediss://, redis+unix:// or unix://): {e}"
        )),
    }
}

impl DaemonConfig {
    /// Whether any connection this config makes is TLS (so the `redis_tls_*` files are used).
    pub fn redis_uses_tls(&self) -> bool {
        match (&self.redis_sentinel, self.redis_cluster.is_empty()) {
            (Some(s), _) => s.tls || s.nodes.iter().any(|n| is_tls_url(n)),
            (None, false) => self.redis_cluster.iter().any(|n| is_tls_url(n)),
            (None, true) => is_tls_url(&self.redis_url),
        }
    }

    /// Every problem with the Redis keys, each naming its key (empty for memory state).
    pub fn validate_redis(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.state != StateBackend::Redis {
            return problems;
        }
        match &self.redis_sentinel {
            Some(s) => {
                if !self.redis_cluster.is_empty() {
                    problems.push(
                        "redis_sentinel / redis_cluster: set one of them (Sentinel watches a \
                         single master, a Cluster has its own failover)"
                            .into(),
                    );
                }
                if s.master.trim().is_empty() {
                    problems.push("redis_sentinel.master: the master's name is empty".into());
                }
                if s.nodes.is_empty() {
                    problems.push("redis_sentinel.nodes: list at least one Sentinel".into());
                }
                for (i, n) in s.nodes.iter().enumerate() {
                    if let Some(p) = url_problem(&node_url(n)) {
                        problems.push(format!("redis_sentinel.nodes[{i}] ({n}): {p}"));
                    }
                }
                for (env, file, keys) in [
                    (
                        &s.password_env,
                        &s.password_file,
                        "redis_sentinel.password_env / redis_sentinel.password_file",
                    ),
                    (
                        &s.sentinel_password_env,
                        &s.sentinel_password_file,
                        "redis_sentinel.sentinel_password_env / redis_sentinel.sentinel_password_file",
                    ),
                ] {
                    if env.is_some() && file.is_some() {
                        problems.push(format!("{keys}: set at most one of them"));
                    }
                }
            }
            None if !self.redis_cluster.is_empty() => {
                for (i, n) in self.redis_cluster.iter().enumerate() {
                    if let Some(p) = url_problem(&node_url(n)) {
                        problems.push(format!("redis_cluster[{i}] ({n}): {p}"));
                    }
                }
            }
            None => {
                if let Some(p) = url_problem(&self.redis_url) {
                    problems.push(format!("redis_url: {p}"));
                }
            }
        }
        if self.redis_tls_cert_file.is_some() != self.redis_tls_key_file.is_some() {
            problems.push(
                "redis_tls_cert_file / redis_tls_key_file: a client certificate needs both".into(),
            );
        }
        let tls_keys = [
            ("redis_tls_ca_file", self.redis_tls_ca_file.is_some()),
            ("redis_tls_cert_file", self.redis_tls_cert_file.is_some()),
            ("redis_tls_key_file", self.redis_tls_key_file.is_some()),
        ];
        if !self.redis_uses_tls() {
            for (key, set) in tls_keys {
                if set {
                    problems.push(format!(
                        "{key}: set, but no Redis connection uses TLS (use a rediss:// URL, or \
                         redis_sentinel.tls = true)"
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> DaemonConfig {
        toml::from_str(&format!("state = \"redis\"\nhash_key_env = \"K\"\n{extra}")).unwrap()
    }

    #[test]
    fn every_url_form_this_build_supports_is_accepted() {
        for url in [
            "redis://127.0.0.1:6379/",
            "rediss://redis.internal:6380/0",
            "redis+unix:///run/redis/redis.sock",
            "unix:///run/redis/redis.sock",
        ] {
            let c = cfg(&format!("redis_url = \"{url}\""));
            assert_eq!(c.validate_redis(), Vec::<String>::new(), "{url}");
        }
    }

    #[test]
    fn a_bad_url_is_reported_under_its_key_without_its_text() {
        let c = cfg("redis_url = \"http://user:s3cret@host/\"");
        let p = c.validate_redis();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("redis_url: "), "{p:?}");
        assert!(!p[0].contains("s3cret"), "{p:?}");
    }

    #[test]
    fn bad_cluster_seeds_and_sentinel_nodes_name_their_index() {
        let c = cfg("redis_cluster = [\"127.0.0.1:7000\", \"ftp://x:1\"]");
        let p = c.validate_redis();
        assert!(
            p.len() == 1 && p[0].starts_with("redis_cluster[1]"),
            "{p:?}"
        );
        let c =
            cfg("redis_sentinel = { master = \"\", nodes = [\"127.0.0.1:26379\", \"ftp://x\"] }");
        let p = c.validate_redis();
        assert!(
            p.iter().any(|l| l.starts_with("redis_sentinel.master")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.starts_with("redis_sentinel.nodes[1]")),
            "{p:?}"
        );
        let c = cfg("redis_sentinel = { master = \"m\", nodes = [] }");
        assert!(c.validate_redis()[0].starts_with("redis_sentinel.nodes"));
    }

    #[test]
    fn sentinel_and_cluster_together_is_an_error() {
        let c = cfg(
            "redis_cluster = [\"127.0.0.1:7000\"]\nredis_sentinel = { master = \"m\", nodes = [\"127.0.0.1:26379\"] }",
        );
        assert!(c.validate_redis()[0].contains("set one of them"));
    }

    #[test]
    fn tls_files_need_a_tls_connection_and_a_certificate_needs_its_key() {
        let c = cfg("redis_url = \"redis://h:6379\"\nredis_tls_ca_file = \"ca.pem\"");
        let p = c.validate_redis();
        assert!(
            p.len() == 1 && p[0].starts_with("redis_tls_ca_file: set, but"),
            "{p:?}"
        );
        let c = cfg("redis_url = \"rediss://h:6379\"\nredis_tls_cert_file = \"c.pem\"");
        let p = c.validate_redis();
        assert!(p.len() == 1 && p[0].contains("needs both"), "{p:?}");
        let c = cfg(
            "redis_tls_ca_file = \"ca.pem\"\nredis_sentinel = { master = \"m\", nodes = [\"h:26379\"], tls = true }",
        );
        assert_eq!(c.validate_redis(), Vec::<String>::new());
    }

    #[test]
    fn memory_state_ignores_the_redis_keys() {
        let c: DaemonConfig = toml::from_str("redis_url = \"nonsense\"").unwrap();
        assert!(c.validate_redis().is_empty());
    }
}
