//! `tierpace init DIR`: writes a production skeleton an operator edits rather than a blank page
//! (issue #20): a daemon config on Redis state with one Gupshup sender, a freshly generated hash
//! key in a credentials file (mode 0600), an example campaign with its audience, and the systemd
//! override that hands the secrets to the unit as credentials. Never overwrites a file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;

use crate::daemon::MIN_HASH_KEY_LEN;

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Some of the files `init` writes are already there: nothing was written.
    #[error("{} already exist(s), nothing written: init never overwrites files (choose an empty folder)", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Exists(Vec<PathBuf>),
    /// A folder or file could not be created.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The secret files the skeleton names (relative to the config's folder, or systemd credential
/// names under `$CREDENTIALS_DIRECTORY`). Only the hash key is generated; the others are the
/// operator's to fill in, so `check` names them until they exist.
pub const HASH_KEY_FILE: &str = "hash-key";
pub const GUPSHUP_KEY_FILE: &str = "gupshup-api-key";
pub const GUPSHUP_WEBHOOK_SECRET_FILE: &str = "gupshup-webhook-secret";

/// Writes the skeleton into `dir` (created if missing) and returns the "next steps" text.
/// Errors: any target file exists ([`InitError::Exists`], nothing written), or IO.
pub fn run(dir: &Path) -> Result<String, InitError> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let files: Vec<(PathBuf, String, u32)> = vec![
        (abs.join("tierpace.toml"), config_text(), 0o644),
        (abs.join(HASH_KEY_FILE), hash_key(), 0o600),
        (abs.join("campaigns/welcome.toml"), CAMPAIGN.into(), 0o644),
        (
            abs.join("campaigns/contacts/welcome.csv"),
            AUDIENCE.into(),
            0o644,
        ),
        (abs.join("override.conf"), override_text(&abs), 0o644),
    ];
    let existing: Vec<PathBuf> = files
        .iter()
        .filter(|(p, _, _)| p.exists())
        .map(|(p, _, _)| p.clone())
        .collect();
    if !existing.is_empty() {
        return Err(InitError::Exists(existing));
    }
    for (path, text, mode) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| InitError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        write_new(path, text, *mode).map_err(|source| InitError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let d = abs.display();
    let mut out = String::new();
    for (path, _, mode) in &files {
        let _ = writeln!(out, "wrote {} (mode {:o})", path.display(), mode);
    }
    let _ = write!(
        out,
        "\nNext steps:\n\
         1. Fill in [senders.sac] in {d}/tierpace.toml: `source` (your business number, digits only) and `app_name` (the Gupshup app),\n   \
            `http.public_url` (the https URL Gupshup reaches this host at), and the template id in {d}/campaigns/welcome.toml.\n\
         2. Put the Gupshup API key in {d}/{GUPSHUP_KEY_FILE} and a long random webhook secret in {d}/{GUPSHUP_WEBHOOK_SECRET_FILE} (both mode 0600);\n   \
            point the app's callback at https://YOUR-HOST/webhooks/gupshup/<that secret>.\n\
         3. Start Redis with maxmemory-policy noeviction, then: tierpace check --config {d}/tierpace.toml --online\n\
         4. Under systemd (init into /etc/tierpace for the unit to read it): install the unit (`make install`), then copy {d}/override.conf to /etc/systemd/system/tierpace.service.d/override.conf.\n\
         Keep {d}/{HASH_KEY_FILE}: every replica and every restart must use the same key.\n"
    );
    Ok(out)
}

/// Creates `path` (it must not exist) with `mode` from the start, so a secret is never readable
/// by others even for a moment.
fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// 32 random bytes as 64 hex digits (256 bits; `run` requires at least
/// [`MIN_HASH_KEY_LEN`] characters).
fn hash_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    debug_assert!(key.len() >= MIN_HASH_KEY_LEN);
    key + "\n"
}

fn config_text() -> String {
    format!(
        r#"# tierpace daemon config written by `tierpace init`. Every key: docs/configuration.md.
# Relative secret files are read from $CREDENTIALS_DIRECTORY under systemd (see override.conf),
# else from this file's folder.

state = "redis"
redis_url = "redis://127.0.0.1:6379/"     # Redis must run with maxmemory-policy noeviction
key_prefix = "tierpace"
hash_key_file = "{HASH_KEY_FILE}"             # generated by init: keep it, the same on every replica
campaigns_dir = "campaigns"

[http]
listen = "127.0.0.1:9464"
gupshup_secret_file = "{GUPSHUP_WEBHOOK_SECRET_FILE}"   # callbacks go to https://YOUR-HOST/webhooks/gupshup/SECRET
# public_url = "https://YOUR-HOST"        # FILL IN: lets `check --online` compare the provider's callback URL

[calendars.comercial]
timezone = "America/Sao_Paulo"
mon = ["08:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-18:00"]
sat = ["09:00-13:00"]
breaks = ["12:00-13:00"]
holiday_sets = ["BR"]

[senders.sac]
provider = "gupshup"
source = "{PLACEHOLDER_SOURCE}"                 # FILL IN: the business number, digits only
app_name = "{PLACEHOLDER_APP_NAME}"            # FILL IN: the Gupshup app name
api_key_file = "{GUPSHUP_KEY_FILE}"          # FILL IN: put the API key in this file (mode 0600)
initial_tier = "1k"
max_mps = 20
"#
    )
}

fn override_text(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "# systemd drop-in written by `tierpace init`: copy to\n\
         #   /etc/systemd/system/tierpace.service.d/override.conf\n\
         # then `systemctl daemon-reload && systemctl restart tierpace`. Each LoadCredential= file\n\
         # must exist (a missing one fails the unit with 243/CREDENTIALS); tierpace reads it as\n\
         # $CREDENTIALS_DIRECTORY/<name>, the names tierpace.toml uses.\n\
         [Service]\n\
         LoadCredential={HASH_KEY_FILE}:{d}/{HASH_KEY_FILE}\n\
         LoadCredential={GUPSHUP_KEY_FILE}:{d}/{GUPSHUP_KEY_FILE}\n\
         LoadCredential={GUPSHUP_WEBHOOK_SECRET_FILE}:{d}/{GUPSHUP_WEBHOOK_SECRET_FILE}\n\
         ExecStart=\n\
         ExecStart=/usr/local/bin/tierpace run --config {d}/tierpace.toml\n"
    )
}

/// What `init` writes for a sender's `source`; `check` refuses it while it is left in.
pub const PLACEHOLDER_SOURCE: &str = "5500000000000";
/// What `init` writes for a sender's `app_name`; `check` refuses it while it is left in.
pub const PLACEHOLDER_APP_NAME: &str = "FILL-IN-APP-NAME";
/// The example campaign's template id; `check` refuses it while it is left in.
pub const PLACEHOLDER_TEMPLATE_ID: &str = "00000000-0000-0000-0000-000000000000";

const CAMPAIGN: &str = r#"# An example campaign written by `tierpace init`. Every key: docs/campaign.md.
# Replace the template id with one approved in your Gupshup app, and the audience with yours.
id = "welcome"
sender = "sac"

[template]
id = "00000000-0000-0000-0000-000000000000"   # FILL IN: the Gupshup template id
category = "marketing"
params = ["{{name}}"]

[audience]
file = "contacts/welcome.csv"
default_ddi = "55"

[schedule]
calendar = "comercial"

[pacing]
mode = "grow"
"#;

const AUDIENCE: &str = "name,ddi,phone,opt_in\nAna Souza,55,(85) 99812-3401,sim\n";
