//! The `[http]` section of `tierpace.toml` and how it becomes an [`HttpConfig`].
//!
//! Secrets are named by reference only (DESIGN.md §4, §2.7): `*_env` names an environment
//! variable, `*_file` a file such as a systemd credential (`/run/credentials/...`); the file wins
//! when both are set. [`HttpSection::resolve`] reads them and reports every problem at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::auth::Secret;
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
            public_url: None,
        }
    }
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
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(HttpConfig {
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
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<HttpSection>("admin_token = \"inline\"").is_err());
    }
}
