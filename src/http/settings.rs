//! The `[http]` section of `tierpace.toml` and how it becomes an [`HttpConfig`].
//!
//! Secrets are named by reference only (DESIGN.md §4, §2.7): `*_env` names an environment
//! variable, `*_file` a file such as a systemd credential (`/run/credentials/...`); the file wins
//! when both are set. [`HttpSection::resolve`] reads them and reports every problem at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use ipnet::IpNet;

use super::auth::Secret;
use super::source::{RateLimit, SourceRules};
use super::HttpConfig;

/// `[http]` as written in the config file. Every key is optional; defaults are in `Default`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    pub listen: SocketAddr,
    pub admin_token_env: Option<String>,
    pub admin_token_file: Option<PathBuf>,
    pub read_token_env: Option<String>,
    pub read_token_file: Option<PathBuf>,
    pub gupshup_secret_env: Option<String>,
    pub gupshup_secret_file: Option<PathBuf>,
    pub meta_verify_token_env: Option<String>,
    pub meta_verify_token_file: Option<PathBuf>,
    pub meta_app_secret_env: Option<String>,
    pub meta_app_secret_file: Option<PathBuf>,
    pub optout_keywords: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub webhook_sink_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog (issue #16).
    pub max_connections: usize,
    /// Longest wait for a request's headers (also on an idle kept-alive connection) and between
    /// two parts of its body.
    #[serde(with = "humantime_serde")]
    pub client_timeout: Duration,
    /// Development only: accept Gupshup callbacks without `gupshup_secret_*` (issue #22).
    pub insecure_open_webhooks: bool,
    /// Networks (CIDR or single addresses) allowed to call each webhook; empty: any.
    pub gupshup_allow: Vec<String>,
    pub meta_allow: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Requests per second per client address on each webhook (0: no limit), and the burst.
    pub webhook_rate_per_source: f64,
    pub webhook_burst_per_source: u32,
    /// Requests per second per client address on the admin API (0: no limit), and the burst.
    pub admin_rate_per_source: f64,
    pub admin_burst_per_source: u32,
    /// The https URL the providers reach this daemon at (`https://tp.example.com`), for the
    /// go-live check (issue #21): callbacks must point at it + `/webhooks/...`.
    pub public_url: Option<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        let base = HttpConfig::default();
        HttpSection {
            listen: base.listen,
            admin_token_env: Some("TIERPACE_ADMIN_TOKEN".into()),
            admin_token_file: None,
            read_token_env: None,
            read_token_file: None,
            gupshup_secret_env: None,
            gupshup_secret_file: None,
            meta_verify_token_env: None,
            meta_verify_token_file: None,
            meta_app_secret_env: None,
            meta_app_secret_file: None,
            optout_keywords: base.optout_keywords,
            webhook_sink_timeout: base.sink_timeout,
            max_connections: base.limits.max_connections,
            client_timeout: base.limits.client_timeout,
            insecure_open_webhooks: false,
            gupshup_allow: Vec::new(),
            meta_allow: Vec::new(),
            trusted_proxies: Vec::new(),
            webhook_rate_per_source: base.webhook_rate.map_or(0.0, |r| r.rate),
            webhook_burst_per_source: base.webhook_rate.map_or(0, |r| r.burst),
            admin_rate_per_source: base.admin_rate.map_or(0.0, |r| r.rate),
            admin_burst_per_source: base.admin_rate.map_or(0, |r| r.burst),
            public_url: None,
        }
    }
}

/// `["203.0.113.0/24", "198.51.100.7"]` as networks; a bad entry is an error naming the key.
fn networks(key: &'static str, list: &[String], errors: &mut Vec<HttpConfigError>) -> Vec<IpNet> {
    list.iter()
        .filter_map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    errors.push(HttpConfigError::Invalid {
                        key,
                        detail: format!("{entry:?} is not an address or a network (CIDR)"),
                    })
                })
                .ok()
        })
        .collect()
}

/// A per-source limit from its two keys: a rate of 0 turns it off.
fn rate_limit(
    key: &'static str,
    rate: f64,
    burst: u32,
    errors: &mut Vec<HttpConfigError>,
) -> Option<RateLimit> {
    if rate == 0.0 {
        return None;
    }
    if !rate.is_finite() || rate < 0.0 || burst == 0 {
        errors.push(HttpConfigError::Invalid {
            key,
            detail: "the rate must be 0 (off) or positive, with a burst of at least 1".into(),
        });
        return None;
    }
    Some(RateLimit { rate, burst })
}

/// One problem with the `[http]` section, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpConfigError {
    #[error("http.{key}: environment variable {var} is not set or empty")]
    MissingEnv { key: &'static str, var: String },
    #[error("http.{key}: cannot read {path}: {detail}")]
    File {
        key: &'static str,
        path: String,
        detail: String,
    },
    #[error("http.{key}: {detail}")]
    Invalid { key: &'static str, detail: String },
}

impl HttpSection {
    /// Read the referenced secrets (`env` looks a variable up; tests pass a map) and check values.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<HttpConfig, Vec<HttpConfigError>> {
        let mut errors = Vec::new();
        let mut secret = |key_env: &'static str,
                          var: &Option<String>,
                          key_file: &'static str,
                          file: &Option<PathBuf>,
                          required_env: bool| {
            if let Some(path) = file {
                return read_secret_file(key_file, path)
                    .map_err(|e| errors.push(e))
                    .ok();
            }
            let var = var.as_ref()?;
            match env(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                Some(v) => Some(Secret::new(v)),
                None if required_env => {
                    errors.push(HttpConfigError::MissingEnv {
                        key: key_env,
                        var: var.clone(),
                    });
                    None
                }
                None => None,
            }
        };
        // The admin token's env default is optional: without it changes are simply disabled.
        let default_admin_env = self.admin_token_env.as_deref() == Some("TIERPACE_ADMIN_TOKEN");
        let admin = secret(
            "admin_token_env",
            &self.admin_token_env,
            "admin_token_file",
            &self.admin_token_file,
            !default_admin_env,
        );
        let read = secret(
            "read_token_env",
            &self.read_token_env,
            "read_token_file",
            &self.read_token_file,
            true,
        );
        let gupshup = secret(
            "gupshup_secret_env",
            &self.gupshup_secret_env,
            "gupshup_secret_file",
            &self.gupshup_secret_file,
            true,
        );
        let verify = secret(
            "meta_verify_token_env",
            &self.meta_verify_token_env,
            "meta_verify_token_file",
            &self.meta_verify_token_file,
            true,
        );
        let app = secret(
            "meta_app_secret_env",
            &self.meta_app_secret_env,
            "meta_app_secret_file",
            &self.meta_app_secret_file,
            true,
        );
        if self.optout_keywords.iter().any(|k| k.trim().is_empty()) {
            errors.push(HttpConfigError::Invalid {
                key: "optout_keywords",
                detail: "a keyword is empty".into(),
            });
        }
        if self.webhook_sink_timeout.is_zero() || self.webhook_sink_timeout > Duration::from_secs(8)
        {
            errors.push(HttpConfigError::Invalid {
                key: "webhook_sink_timeout",
                detail: "must be above 0 and at most 8s (Gupshup gives up after 10 s)".into(),
            });
        }
        if self.max_connections == 0 {
            errors.push(HttpConfigError::Invalid {
                key: "max_connections",
                detail: "must be at least 1".into(),
            });
        }
        if self.client_timeout.is_zero() {
            errors.push(HttpConfigError::Invalid {
                key: "client_timeout",
                detail: "must be above 0".into(),
            });
        }
        let sources = SourceRules {
            gupshup_allow: networks("gupshup_allow", &self.gupshup_allow, &mut errors),
            meta_allow: networks("meta_allow", &self.meta_allow, &mut errors),
            trusted_proxies: networks("trusted_proxies", &self.trusted_proxies, &mut errors),
        };
        let webhook_rate = rate_limit(
            "webhook_rate_per_source",
            self.webhook_rate_per_source,
            self.webhook_burst_per_source,
            &mut errors,
        );
        let admin_rate = rate_limit(
            "admin_rate_per_source",
            self.admin_rate_per_source,
            self.admin_burst_per_source,
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(HttpConfig {
            insecure_open_webhooks: self.insecure_open_webhooks,
            sources,
            webhook_rate,
            admin_rate,
            listen: self.listen,
            admin_tokens: admin.into_iter().collect(),
            read_tokens: read.into_iter().collect(),
            gupshup_secret: gupshup,
            meta_verify_token: verify,
            meta_app_secret: app,
            optout_keywords: self.optout_keywords.clone(),
            sink_timeout: self.webhook_sink_timeout,
            limits: super::ListenerLimits {
                max_connections: self.max_connections,
                client_timeout: self.client_timeout,
                ..super::ListenerLimits::default()
            },
            self_proof: super::self_proof::SelfProofKey::random(),
        })
    }
}

/// Reads a secret file the way sender keys are read: a relative name is looked up in
/// `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`), one place for all secrets.
fn read_secret_file(key: &'static str, path: &Path) -> Result<Secret, HttpConfigError> {
    crate::secret::SecretSource::File(path.to_path_buf())
        .load()
        .map(|s| Secret::new(s.expose().trim()))
        .map_err(|e| HttpConfigError::File {
            key,
            path: path.display().to_string(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_resolve_without_any_secret() {
        let config = HttpSection::default().resolve(env(&[])).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:9464");
        assert!(config.admin_tokens.is_empty());
        assert_eq!(config.sink_timeout, Duration::from_secs(2));
        assert_eq!(config.optout_keywords.len(), 5);
    }

    #[test]
    fn secrets_come_from_env_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("app_secret");
        std::fs::write(&file, "from-file\n").expect("write");
        let section: HttpSection = toml::from_str(&format!(
            r#"
            listen = "127.0.0.1:9999"
            meta_app_secret_file = "{}"
            meta_verify_token_env = "META_VERIFY"
            webhook_sink_timeout = "500ms"
            "#,
            file.display()
        ))
        .expect("toml");
        let config = section
            .resolve(env(&[
                ("TIERPACE_ADMIN_TOKEN", "adm"),
                ("META_VERIFY", "v"),
            ]))
            .expect("valid");
        assert_eq!(config.meta_app_secret, Some(Secret::new("from-file")));
        assert_eq!(config.meta_verify_token, Some(Secret::new("v")));
        assert_eq!(config.admin_tokens, vec![Secret::new("adm")]);
        assert_eq!(config.sink_timeout, Duration::from_millis(500));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let section: HttpSection = toml::from_str(
            r#"
            gupshup_secret_env = "NOT_SET"
            meta_app_secret_file = "/nonexistent/tierpace/secret"
            optout_keywords = ["STOP", " "]
            webhook_sink_timeout = "30s"
            "#,
        )
        .expect("toml");
        let errors = section.resolve(env(&[])).expect_err("invalid");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].to_string().contains("http.gupshup_secret_env"));
    }

    #[test]
    fn allowlists_proxies_and_rate_limits_are_read_and_checked() {
        let section: HttpSection = toml::from_str(
            r#"
            gupshup_allow = ["203.0.113.0/24", "198.51.100.7"]
            trusted_proxies = ["10.0.0.1"]
            admin_rate_per_source = 0
            "#,
        )
        .expect("toml");
        let config = section.resolve(env(&[])).expect("valid");
        assert_eq!(config.sources.gupshup_allow.len(), 2);
        assert!(config.sources.meta_allow.is_empty());
        assert_eq!(config.admin_rate, None);
        assert!(
            config.webhook_rate.is_some(),
            "webhooks are limited by default"
        );
        let bad: HttpSection = toml::from_str(
            r#"meta_allow = ["meta"]
            webhook_rate_per_source = -1"#,
        )
        .expect("toml");
        let errors = bad.resolve(env(&[])).expect_err("invalid");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].to_string().contains("http.meta_allow"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<HttpSection>("admin_token = \"inline\"").is_err());
    }
}
