//! The daemon config (`config/tierpace.toml`): state backend, HTTP listener, policy, pacing,
//! calendars and senders.
//!
//! Layered with the `config` crate: the file, then `TIERPACE__SECTION__KEY` environment variables
//! (e.g. `TIERPACE__REDIS_URL`, `TIERPACE__SENDERS__SAC__MAX_MPS`). Secrets are never written
//! inline: `api_key_env` / `api_key_file` and `hash_key_env` / `hash_key_file` name where they are.
//! Errors in the file are reported with file, line and key (the TOML parser's spans); semantic
//! problems are collected by [`DaemonConfig::validate`] all at once (vector's habit).
mod redis;
mod sender;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use redis::{is_tls_url, node_url, SentinelConfig};
pub use sender::{ProviderChoice, SenderConfig, GUPSHUP_PARTNER_URL, META_GRAPH_URL};

use crate::policy::calendar_config::CalendarConfig;
use crate::policy::pacer::PacerSettings;
use crate::policy::profile::PolicyConfig;

/// Where the ledger, progress and opt-outs live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// In-process: the embedded default and simulations. Lost on exit.
    #[default]
    Memory,
    /// A Redis server (production): survives restarts and is shared by replicas.
    Redis,
}

/// The whole daemon config as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    #[serde(default)]
    pub state: StateBackend,
    #[serde(default = "default_redis_url")]
    pub redis_url: String,
    /// Set to use a Redis Cluster: the seed nodes, `host:port` or `redis://host:port`
    /// (redis_url is then ignored).
    #[serde(default)]
    pub redis_cluster: Vec<String>,
    /// Set to find the master through Redis Sentinel (redis_url is then ignored).
    #[serde(default)]
    pub redis_sentinel: Option<SentinelConfig>,
    /// PEM CA certificate(s) that sign the Redis server's certificate (a private CA); without
    /// it the public web PKI roots are used. Absolute, or relative to `$CREDENTIALS_DIRECTORY`.
    #[serde(default)]
    pub redis_tls_ca_file: Option<PathBuf>,
    /// PEM client certificate and key, when Redis asks for one (`tls-auth-clients yes`).
    #[serde(default)]
    pub redis_tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub redis_tls_key_file: Option<PathBuf>,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// The secret that keys contact hashes: from an environment variable or a file.
    #[serde(default)]
    pub hash_key_env: Option<String>,
    #[serde(default)]
    pub hash_key_file: Option<PathBuf>,
    /// Directory of campaign files, relative to this config file when not absolute.
    #[serde(default = "default_campaigns_dir")]
    pub campaigns_dir: PathBuf,
    /// Optional file of opted-out numbers, one a line (relative to this config file).
    #[serde(default)]
    pub optout_file: Option<PathBuf>,
    /// Default country code for numbers in the opt-out file and the admin API.
    #[serde(default = "default_ddi")]
    pub default_ddi: String,
    /// How long a stop waits for in-flight sends.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// How long a campaign lease lasts without renewal (replicas take over after it).
    #[serde(default = "default_lease_ttl", with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// This instance's name in leases; default hostname-pid.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    #[serde(default)]
    pub http: crate::http::HttpSection,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub pacing: PacerSettings,
    /// When contacts with a temporary failure are tried again (DOMAIN.md §3).
    #[serde(default)]
    pub retries: crate::policy::retry_policy::RetrySettings,
    #[serde(default)]
    pub calendars: BTreeMap<String, CalendarConfig>,
    #[serde(default)]
    pub senders: BTreeMap<String, SenderConfig>,
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379/".into()
}
fn default_key_prefix() -> String {
    "tierpace".into()
}
fn default_campaigns_dir() -> PathBuf {
    PathBuf::from("campaigns")
}
fn default_ddi() -> String {
    "55".into()
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_lease_ttl() -> Duration {
    Duration::from_secs(15)
}
fn default_log_level() -> String {
    "info".into()
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Layering { file: PathBuf, message: String },
    #[error("{file}: invalid config:\n  - {}", .problems.join("\n  - "))]
    Invalid {
        file: PathBuf,
        problems: Vec<String>,
    },
}

/// A loaded config and where it came from (relative paths resolve against its folder).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub path: PathBuf,
    pub config: DaemonConfig,
}

impl LoadedConfig {
    /// Reads the file, layers `TIERPACE__*` environment variables over it, and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        // First the file alone through the TOML parser, for errors with line and column.
        if let Err(e) = toml::from_str::<DaemonConfig>(&text) {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            return Err(ConfigError::Syntax {
                file: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            });
        }
        let layered = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("TIERPACE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("redis_cluster")
                    .with_list_parse_key("redis_sentinel.nodes")
                    .with_list_parse_key("http.optout_keywords"),
            )
            .build()
            .and_then(|c| c.try_deserialize::<DaemonConfig>())
            .map_err(|e| ConfigError::Layering {
                file: path.to_path_buf(),
                message: format!("after applying TIERPACE__* environment overrides: {e}"),
            })?;
        let loaded = Self {
            path: path.to_path_buf(),
            config: layered,
        };
        let problems = loaded.config.validate();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                file: path.to_path_buf(),
                problems,
            });
        }
        Ok(loaded)
    }

    /// Resolves a path from the config against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or_else(|| Path::new(".")).join(p)
        }
    }

    pub fn campaigns_dir(&self) -> PathBuf {
        self.resolve(&self.config.campaigns_dir)
    }
}

impl DaemonConfig {
    /// Every semantic problem at once, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.policy.resolve() {
            problems.push(format!("policy: {e}"));
        }
        if !(0.0..=1.0).contains(&self.pacing.safety_share) || self.pacing.safety_share == 0.0 {
            problems.push(format!(
                "pacing.safety_share: {} is not in (0, 1]",
                self.pacing.safety_share
            ));
        }
        if self.state == StateBackend::Redis
            && self.hash_key_env.is_none()
            && self.hash_key_file.is_none()
        {
            problems.push(
                "hash_key_env / hash_key_file: a secret hash key is required with state = \"redis\" (contacts are keyed by it)"
                    .into(),
            );
        }
        // A sender's holder renews at half the TTL and starts sends only while more than one
        // second is left (dispatch::sender_hold): below 2 s it would never send.
        if self.lease_ttl < Duration::from_secs(2) {
            problems.push(format!(
                "lease_ttl: {:?} is under 2s (a sender's replica stops sending one second before its lease ends)",
                self.lease_ttl
            ));
        }
        problems.extend(self.validate_redis());
        if let Err(errors) = crate::policy::calendar_config::build_calendars(&self.calendars) {
            problems.extend(errors.iter().map(|e| format!("calendars: {e}")));
        }
        for (id, sender) in &self.senders {
            problems.extend(sender.validate(id));
        }
        problems
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}
