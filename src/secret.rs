//! Secrets (API keys, access tokens, the contact hash key) and where they come from.
//!
//! DESIGN.md §2, guarantee 7: secrets come from an environment variable or a file (systemd
//! credentials), never from config or campaign files, and never appear in logs, metrics, error
//! texts or the admin API. [`Secret`] prints `<redacted>` in both `Debug` and `Display`, so a
//! `{:?}` of a config struct is safe; the value is read only through [`Secret::expose`].
//!
//! A relative `*_file` path is resolved against `$CREDENTIALS_DIRECTORY`, which systemd sets for
//! `LoadCredential=` (see systemd.exec(5)), so the unit file can say `api_key_file = "gupshup-sac"`.
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value already read from a safe place (tests, or a loader below).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in constant time (bearer tokens, webhook verify tokens),
    /// so the comparison's duration does not leak how many leading bytes matched.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from: the `api_key_env` / `api_key_file` pair of a sender (or any other
/// `*_env` / `*_file` pair in the daemon config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The name of an environment variable.
    Env(String),
    /// A file whose whole content (minus one trailing newline) is the secret.
    File(PathBuf),
}

/// Why a secret could not be loaded. Names the variable or file, never the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("set exactly one of `{env_key}` and `{file_key}`")]
    NeitherOrBoth {
        env_key: &'static str,
        file_key: &'static str,
    },
    #[error("environment variable {0} is not set or not valid UTF-8")]
    EnvMissing(String),
    #[error("secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("the secret from {0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Builds the source from a config's optional pair; exactly one must be set.
    /// `env_key`/`file_key` are the config key names, for the error message.
    pub fn from_keys(
        env: Option<String>,
        file: Option<PathBuf>,
        env_key: &'static str,
        file_key: &'static str,
    ) -> Result<Self, SecretError> {
        match (env, file) {
            (Some(name), None) => Ok(SecretSource::Env(name)),
            (None, Some(path)) => Ok(SecretSource::File(path)),
            _ => Err(SecretError::NeitherOrBoth { env_key, file_key }),
        }
    }

    /// Loads the secret from the process environment and `$CREDENTIALS_DIRECTORY`.
    pub fn load(&self) -> Result<Secret, SecretError> {
        let credentials_dir = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        self.load_with(|name| std::env::var(name).ok(), credentials_dir.as_deref())
    }

    /// Loads the secret with the environment and credentials directory passed in (for tests,
    /// which must not change the process environment other tests read).
    pub fn load_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
        credentials_dir: Option<&Path>,
    ) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(name) => {
                let value = env(name).ok_or_else(|| SecretError::EnvMissing(name.clone()))?;
                non_empty(value, || format!("environment variable {name}"))
            }
            SecretSource::File(path) => {
                let path = self.resolve(path, credentials_dir);
                let value = std::fs::read_to_string(&path).map_err(|e| SecretError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                // Files written by `echo` or editors end with a newline that is not part of the key.
                let value = value
                    .strip_suffix("\r\n")
                    .or_else(|| value.strip_suffix('\n'))
                    .unwrap_or(&value)
                    .to_string();
                non_empty(value, || format!("file {}", path.display()))
            }
        }
    }

    fn resolve(&self, path: &Path, credentials_dir: Option<&Path>) -> PathBuf {
        match credentials_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }
}

fn non_empty(value: String, origin: impl FnOnce() -> String) -> Result<Secret, SecretError> {
    if value.trim().is_empty() {
        Err(SecretError::Empty(origin()))
    } else {
        // Second line of defence: the log scrubber masks this value wherever it might appear.
        crate::logging::redact_secret(&value);
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(s.expose(), "sk-live-123");
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("token-1");
        assert!(s.matches(b"token-1"));
        assert!(!s.matches(b"token-2"));
        assert!(!s.matches(b"token-12"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn env_source_reads_the_named_variable() {
        let src = SecretSource::Env("GUPSHUP_KEY_SAC".into());
        let env = |n: &str| (n == "GUPSHUP_KEY_SAC").then(|| "k1".to_string());
        assert_eq!(src.load_with(env, None).unwrap().expose(), "k1");
        let err = src.load_with(|_| None, None).unwrap_err();
        assert_eq!(err, SecretError::EnvMissing("GUPSHUP_KEY_SAC".into()));
    }

    #[test]
    fn relative_file_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gupshup-sac"), "key-from-file\n").unwrap();
        let src = SecretSource::File("gupshup-sac".into());
        let s = src.load_with(|_| None, Some(dir.path())).unwrap();
        assert_eq!(s.expose(), "key-from-file");
    }

    #[test]
    fn absolute_file_ignores_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abs").unwrap();
        let src = SecretSource::File(path);
        let s = src
            .load_with(|_| None, Some(Path::new("/nonexistent")))
            .unwrap();
        assert_eq!(s.expose(), "abs");
    }

    #[test]
    fn errors_name_the_place_but_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let err = SecretSource::File("empty".into())
            .load_with(|_| None, Some(dir.path()))
            .unwrap_err();
        assert!(matches!(err, SecretError::Empty(_)));
        let err = SecretSource::File("missing".into())
            .load_with(|_| None, Some(dir.path()))
            .unwrap_err();
        assert!(err.to_string().contains("missing"));
    }

    #[test]
    fn exactly_one_of_env_and_file() {
        let both = SecretSource::from_keys(
            Some("A".into()),
            Some("b".into()),
            "api_key_env",
            "api_key_file",
        );
        assert!(both.unwrap_err().to_string().contains("api_key_env"));
        assert!(SecretSource::from_keys(None, None, "api_key_env", "api_key_file").is_err());
        assert_eq!(
            SecretSource::from_keys(Some("A".into()), None, "api_key_env", "api_key_file"),
            Ok(SecretSource::Env("A".into()))
        );
    }
}
