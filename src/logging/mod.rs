//! Log output: human lines on a terminal, JSON lines under journald, secrets scrubbed from both.
//!
//! One `tracing` subscriber for the whole process, set up once by [`init_logging`] as soon as the
//! config's level is known (errors in reading the config itself are reported by `main` on
//! stderr before that); [`set_level`] applies a changed level on reload. What it decides:
//!
//! - **Format.** `--log-format json|human` wins. Otherwise JSON when stderr is connected to the
//!   journal (`JOURNAL_STREAM` names stderr's device and inode, see systemd.exec(5)): one object
//!   a line, easy to query with `journalctl -o cat | jq`. Otherwise human lines, coloured only on
//!   a terminal and without `NO_COLOR`. Checking that `JOURNAL_STREAM` really is stderr (not just
//!   set) matters: terminals started from a systemd user session inherit the variable.
//! - **Level.** `RUST_LOG` (full `tracing` filter syntax) when set, else the config's level
//!   (`info`, or `warn,tierpace=debug`). A misspelt config level is an error, not a silent
//!   filter for a target named after the typo.
//! - **Stable fields.** Events about sends carry the field names in [`field`]; dashboards and
//!   alerts may rely on them, in JSON as top-level keys.
//! - **Secrets.** Code should never log a secret, and secret-holding types should keep them out
//!   of `Debug` output; as a second line of defence every line passes through a filter that replaces the
//!   values registered with [`redact_secret`] (API keys, tokens, webhook secrets) by
//!   `[redacted]` before it is written (DESIGN.md §2, guarantee 7).
//!
//! Logs go to stderr; stdout stays free for command output (`tierpace check`, `status`).
use std::fmt;
use std::io::{self, IsTerminal};
use std::str::FromStr;
use std::sync::{Arc, LazyLock, OnceLock};

mod redact;

pub use redact::MIN_SECRET_LEN;
use redact::{Redacting, Secrets};
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, ParseError};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-11-26T11:30:00.123Z  INFO tierpace::dispatch: sent campaign="spring" ...`
    Human,
    /// `{"timestamp":"...","level":"INFO","target":"...","message":"sent","campaign":"spring",...}`
    Json,
}

impl FromStr for LogFormat {
    type Err = LoggingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err(LoggingError::UnknownFormat(s.to_string())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Human => "human",
            Self::Json => "json",
        })
    }
}

/// The field names every send-related event uses, stable across releases.
///
/// `tracing` macros take identifiers, so these constants document the contract (and let tests
/// check it) rather than being spliced into call sites: write `info!(campaign = %id, ...)`.
pub mod field {
    /// The campaign id (its file name without `.toml`).
    pub const CAMPAIGN: &str = "campaign";
    /// The sender's configured name (not its phone number).
    pub const SENDER: &str = "sender";
    /// The contact's keyed hash (`ContactKey::to_hex`), never the phone number.
    pub const CONTACT: &str = "contact";
    /// What happened to a send: `accepted`, `delivered`, `read`, `failed`, `deferred`, `unknown`, ...
    pub const OUTCOME: &str = "outcome";
    /// The provider's error code for a failure (`131048`, `1002`, an HTTP status), as given.
    pub const CODE: &str = "code";
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log level {directive:?} in {origin}: {reason}")]
    InvalidLevel {
        directive: String,
        /// `RUST_LOG` or `the config`.
        origin: &'static str,
        reason: String,
    },
    #[error("unknown log format {0:?}: expected `human` or `json`")]
    UnknownFormat(String),
    #[error("cannot change the log level: {0}")]
    Reload(#[source] tracing_subscriber::reload::Error),
    #[error("logging was already set up in this process")]
    AlreadyInitialised(#[source] TryInitError),
}

/// Sets up the process-wide logger; call once, first thing in `main`.
///
/// `format` is `--log-format` (None: decide from the environment, see the module docs);
/// `default_level` is the config's level, overridden by a non-empty `RUST_LOG`.
pub fn init_logging(format: Option<LogFormat>, default_level: &str) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(default_level, rust_log.as_deref())?;
    let format = choose_format(format, stderr_is_journal());
    let colour = format == LogFormat::Human
        && io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let writer = Redacting::new(io::stderr, Arc::clone(&GLOBAL_SECRETS));
    let (subscriber, reloader) = subscriber(format, colour, filter, writer);
    subscriber
        .try_init()
        .map_err(LoggingError::AlreadyInitialised)?;
    // Only the subscriber that became global may be reloaded; try_init succeeded, so this is
    // the first and only set.
    let _ = RELOADER.set(reloader);
    Ok(())
}

/// Applies a new config level on reload (SIGHUP), without a restart.
///
/// A non-empty `RUST_LOG` still wins, as at start. An invalid level is an error and the
/// current one stays. Does nothing before [`init_logging`].
pub fn set_level(default_level: &str) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(default_level, rust_log.as_deref())?;
    match RELOADER.get() {
        Some(reload) => reload(filter).map_err(LoggingError::Reload),
        None => Ok(()),
    }
}

/// Registers a secret value so it is replaced by `[redacted]` wherever it would appear in a log
/// line. Call for every API key, token and webhook secret as soon as it is loaded (and again on
/// reload for new values). Values shorter than [`MIN_SECRET_LEN`] bytes are ignored: scrubbing
/// them would mangle ordinary words, and they protect nothing.
pub fn redact_secret(secret: &str) {
    GLOBAL_SECRETS.add(secret);
}

static GLOBAL_SECRETS: LazyLock<Arc<Secrets>> = LazyLock::new(|| Arc::new(Secrets::default()));

/// Swaps the level filter of a built subscriber (a `tracing_subscriber::reload` handle, with its
/// format-specific type erased).
type Reloader =
    Box<dyn Fn(EnvFilter) -> Result<(), tracing_subscriber::reload::Error> + Send + Sync>;

/// The running subscriber's [`Reloader`], set by [`init_logging`].
static RELOADER: OnceLock<Reloader> = OnceLock::new();

/// Builds the subscriber; separate from [`init_logging`] so tests can capture its output.
fn subscriber<W>(
    format: LogFormat,
    colour: bool,
    filter: EnvFilter,
    writer: W,
) -> (Box<dyn Subscriber + Send + Sync>, Reloader)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => {
            let builder = builder.with_ansi(colour).with_filter_reloading();
            let handle = builder.reload_handle();
            (
                Box::new(builder.finish()),
                Box::new(move |f| handle.reload(f)),
            )
        }
        // Event fields at the top level (`"campaign":...`), not nested under "fields", so the
        // documented names are the keys a `jq` filter or a log pipeline sees. Span context goes
        // in "spans"; the stable fields are always put on the event itself.
        LogFormat::Json => {
            let builder = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            (
                Box::new(builder.finish()),
                Box::new(move |f| handle.reload(f)),
            )
        }
    }
}

/// The filter: `RUST_LOG` if set and non-empty, else the config's level. The config's level is
/// checked either way, so a typo in it is reported even while `RUST_LOG` hides it.
fn filter(default_level: &str, rust_log: Option<&str>) -> Result<EnvFilter, LoggingError> {
    let config_filter = config_filter(default_level)?;
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(directives) => {
            EnvFilter::try_new(directives).map_err(|e| invalid(directives, "RUST_LOG", &e))
        }
        None => Ok(config_filter),
    }
}

fn config_filter(level: &str) -> Result<EnvFilter, LoggingError> {
    let directives = match level.trim() {
        "" => "info",
        level => level,
    };
    // `EnvFilter` reads a bare word as a target name, so a config typo like "inof" would
    // silently log nothing of ours; require a level or `target=level` in each directive.
    for directive in directives.split(',').map(str::trim) {
        if !directive.contains('=') && directive.parse::<LevelFilter>().is_err() {
            return Err(LoggingError::InvalidLevel {
                directive: directive.to_string(),
                origin: "the config",
                reason: "expected one of off, error, warn, info, debug, trace, or target=level"
                    .to_string(),
            });
        }
    }
    EnvFilter::try_new(directives).map_err(|e| invalid(directives, "the config", &e))
}

fn invalid(directive: &str, origin: &'static str, error: &ParseError) -> LoggingError {
    LoggingError::InvalidLevel {
        directive: directive.to_string(),
        origin,
        reason: error.to_string(),
    }
}

fn choose_format(explicit: Option<LogFormat>, stderr_is_journal: bool) -> LogFormat {
    match explicit {
        Some(format) => format,
        None if stderr_is_journal => LogFormat::Json,
        None => LogFormat::Human,
    }
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=<dev>:<inode>`).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    journal_stream_matches(&value.to_string_lossy(), stderr_identity())
}

/// Device and inode of whatever stderr is connected to.
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(fd).metadata().ok()?;
    Some((metadata.dev(), metadata.ino()))
}

fn journal_stream_matches(journal_stream: &str, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(dev), Ok(ino), Some(stderr)) => (dev, ino) == stderr,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    /// Collects everything written, for assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Runs `emit` under a subscriber of the given format and level and returns what it wrote.
    fn capture(format: LogFormat, level: &str, secrets: &[&str], emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let set = Arc::new(Secrets::default());
        for s in secrets {
            set.add(s);
        }
        let writer = Redacting::new(captured.clone(), set);
        let (subscriber, _) = subscriber(format, false, filter(level, None).unwrap(), writer);
        tracing::subscriber::with_default(subscriber, emit);
        captured.text()
    }

    #[test]
    fn json_lines_carry_the_stable_fields_at_the_top_level() {
        let out = capture(LogFormat::Json, "info", &[], || {
            tracing::info!(
                campaign = "spring-sale",
                sender = "sac",
                contact = "9f86d081884c7d65",
                outcome = "failed",
                code = 131048,
                "send failed"
            );
        });
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line[field::CAMPAIGN], "spring-sale");
        assert_eq!(line[field::SENDER], "sac");
        assert_eq!(line[field::CONTACT], "9f86d081884c7d65");
        assert_eq!(line[field::OUTCOME], "failed");
        assert_eq!(line[field::CODE], 131048);
        assert_eq!(line["message"], "send failed");
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string(), "{line}");
    }

    #[test]
    fn json_output_is_one_object_per_line() {
        let out = capture(LogFormat::Json, "info", &[], || {
            tracing::info!(campaign = "a", "first\nwith a newline");
            tracing::warn!(campaign = "b", "second");
        });
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        for line in lines {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
    }

    #[test]
    fn human_lines_name_the_fields() {
        let out = capture(LogFormat::Human, "info", &[], || {
            tracing::info!(campaign = "spring-sale", outcome = "accepted", "sent");
        });
        assert!(out.contains("INFO"), "{out}");
        assert!(out.contains("campaign=\"spring-sale\""), "{out}");
        assert!(out.contains("outcome=\"accepted\""), "{out}");
        assert!(!out.contains('\u{1b}'), "no colour when not asked: {out}");
    }

    const KEY: &str = "sk-test-9Qx7Lm2Zp4Rt8Wv1";

    /// Emits a secret in every way a careless call site might: message, field, Debug of a
    /// struct holding it, an error text.
    fn leak_key_everywhere() {
        #[derive(Debug)]
        #[allow(dead_code)] // read only through Debug
        struct Sender {
            app: &'static str,
            api_key: &'static str,
        }
        let sender = Sender {
            app: "sac",
            api_key: KEY,
        };
        tracing::info!(api_key = KEY, "loaded key {KEY}");
        tracing::warn!(?sender, "sender config");
        tracing::error!(error = %format!("401 Authentication Failed for apikey {KEY}"), "send failed");
    }

    #[test]
    fn registered_secrets_never_reach_json_logs() {
        let out = capture(LogFormat::Json, "info", &[KEY], leak_key_everywhere);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(!out.contains(KEY), "{out}");
        assert!(!out.contains("9Qx7Lm2Zp4Rt8Wv1"), "{out}");
        assert_eq!(out.matches("[redacted]").count(), 4, "{out}");
        assert!(out.contains("sac"), "the rest of the line survives: {out}");
    }

    #[test]
    fn registered_secrets_never_reach_human_logs() {
        let out = capture(LogFormat::Human, "info", &[KEY], leak_key_everywhere);
        assert!(!out.contains(KEY), "{out}");
        assert_eq!(out.matches("[redacted]").count(), 4, "{out}");
    }

    #[test]
    fn a_secret_with_quotes_is_scrubbed_in_its_escaped_form_too() {
        let key = r#"ab"cd\ef"gh"#;
        let out = capture(LogFormat::Json, "info", &[key], || {
            tracing::info!(token = key, "x");
        });
        assert!(!out.contains(r#"ab\"cd\\ef\"gh"#), "{out}");
        assert!(out.contains("[redacted]"), "{out}");
    }

    #[test]
    fn config_level_filters_and_rust_log_overrides_it() {
        let quiet = capture(LogFormat::Human, "warn", &[], || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        assert!(
            !quiet.contains("hidden") && quiet.contains("shown"),
            "{quiet}"
        );

        let captured = Captured::default();
        let writer = Redacting::new(captured.clone(), Arc::new(Secrets::default()));
        let debug = filter("warn", Some("debug")).unwrap();
        let (subscriber, _) = subscriber(LogFormat::Human, false, debug, writer);
        tracing::subscriber::with_default(subscriber, || tracing::debug!("from RUST_LOG"));
        assert!(captured.text().contains("from RUST_LOG"));
    }

    #[test]
    fn a_misspelt_config_level_is_an_error() {
        assert!(filter("inof", None).is_err());
        assert!(filter("warn,tierpace=debug", None).is_ok());
        assert!(filter("", None).is_ok());
        assert!(filter("info", Some("")).is_ok(), "empty RUST_LOG is unset");
        assert!(
            filter("inof", Some("debug")).is_err(),
            "checked under RUST_LOG too"
        );
        let err = filter("warn,verbose", None).unwrap_err().to_string();
        assert!(err.contains("verbose") && err.contains("config"), "{err}");
    }

    #[test]
    fn log_format_parses_case_insensitively() {
        assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("human".parse::<LogFormat>().unwrap(), LogFormat::Human);
        assert!("xml".parse::<LogFormat>().is_err());
        assert_eq!(LogFormat::Json.to_string(), "json");
    }

    /// Set in the child process that runs [`logging_child_process`]: the format to ask for.
    const CHILD_ENV: &str = "TIERPACE_LOGGING_CHILD";

    /// Not a test by itself: the body of a real process, started by the tests below, that sets
    /// up logging exactly as `main` does (global subscriber, real stderr, real environment) and
    /// logs a known key.
    #[test]
    #[ignore = "run as a child process by the init_logging tests"]
    fn logging_child_process() {
        let Ok(mode) = std::env::var(CHILD_ENV) else {
            return;
        };
        let format = match mode.as_str() {
            "auto" => None,
            other => Some(other.parse().unwrap()),
        };
        init_logging(format, "info").unwrap();
        redact_secret(KEY);
        leak_key_everywhere();
        tracing::info!(
            campaign = "spring-sale",
            sender = "sac",
            contact = "9f86d081884c7d65",
            outcome = "accepted",
            "sent"
        );
        tracing::debug!("debug line");
        // A reload with a new config level: applies unless RUST_LOG is set.
        set_level("debug").unwrap();
        tracing::debug!("debug after reload");
        assert!(set_level("inof").is_err());
        tracing::debug!("debug after a bad reload");
        assert!(matches!(
            init_logging(None, "info"),
            Err(LoggingError::AlreadyInitialised(_))
        ));
    }

    /// Runs [`logging_child_process`] in a new process with stderr going to a file, and
    /// returns that file's content. `journal`: set JOURNAL_STREAM to that file (as journald
    /// does for its stream), or to some other file's identity.
    fn run_child(mode: &str, journal: Option<bool>, rust_log: Option<&str>) -> String {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr");
        let file = std::fs::File::create(&path).unwrap();
        let m = file.metadata().unwrap();
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "logging::tests::logging_child_process",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, mode)
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdout(std::process::Stdio::null())
        .stderr(file);
        match journal {
            Some(true) => cmd.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino())),
            Some(false) => cmd.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino() + 1)),
            None => &mut cmd,
        };
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let status = cmd.status().unwrap();
        let out = std::fs::read_to_string(&path).unwrap();
        assert!(status.success(), "child failed: {status}\n{out}");
        out
    }

    #[test]
    fn under_journald_a_run_logs_json_lines_without_the_key() {
        let out = run_child("auto", Some(true), None);
        assert_eq!(out.lines().count(), 6, "{out}");
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["level"].is_string(), "{line}");
        }
        assert!(!out.contains(KEY), "the key leaked: {out}");
        assert!(out.contains("[redacted]"), "{out}");
        let sent: serde_json::Value = serde_json::from_str(out.lines().nth(3).unwrap()).unwrap();
        assert_eq!(sent["message"], "sent", "{out}");
        assert_eq!(sent["campaign"], "spring-sale");
        assert_eq!(sent["outcome"], "accepted");
        assert!(
            !out.contains("debug line"),
            "info is the config level: {out}"
        );
        assert!(
            out.contains("debug after reload"),
            "set_level applies: {out}"
        );
        assert!(
            out.contains("debug after a bad reload"),
            "a bad level keeps the current one: {out}"
        );
    }

    #[test]
    fn off_the_journal_a_run_logs_human_lines_without_the_key() {
        // JOURNAL_STREAM inherited but naming another stream: not the journal.
        let out = run_child("auto", Some(false), None);
        assert!(serde_json::from_str::<serde_json::Value>(out.lines().next().unwrap()).is_err());
        assert!(
            out.contains(" INFO ") && out.contains("campaign=\"spring-sale\""),
            "{out}"
        );
        assert!(!out.contains(KEY), "the key leaked: {out}");
        assert!(!out.contains('\u{1b}'), "no colour off a terminal: {out}");
    }

    #[test]
    fn log_format_flag_and_rust_log_apply_to_a_run() {
        // The config says info, RUST_LOG says debug except for tierpace (the test's target).
        let out = run_child("json", None, Some("debug,tierpace=warn"));
        assert!(out.contains("send failed"), "{out}");
        assert!(
            !out.contains("\"sent\""),
            "RUST_LOG wins over the config: {out}"
        );
        assert!(
            !out.contains("debug after reload"),
            "RUST_LOG wins over a reloaded config level too: {out}"
        );
        for line in out.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(!out.contains(KEY), "the key leaked: {out}");
    }

    #[test]
    fn json_is_chosen_only_when_journal_stream_is_stderr() {
        assert_eq!(choose_format(None, true), LogFormat::Json);
        assert_eq!(choose_format(None, false), LogFormat::Human);
        assert_eq!(
            choose_format(Some(LogFormat::Human), true),
            LogFormat::Human
        );

        use std::os::unix::fs::MetadataExt;
        let file = tempfile::tempfile().unwrap();
        let m = file.metadata().unwrap();
        let id = Some((m.dev(), m.ino()));
        let stream = format!("{}:{}", m.dev(), m.ino());
        assert!(journal_stream_matches(&stream, id));
        assert!(!journal_stream_matches(
            &format!("{}:{}", m.dev(), m.ino() + 1),
            id
        ));
        assert!(!journal_stream_matches("garbage", id));
        assert!(!journal_stream_matches(&stream, None));
    }
}
