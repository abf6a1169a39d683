//! `tierpace check`'s template pre-flight (issue #18): with a Meta sender's `waba_id` and
//! token, fetch the campaign's template and verify it ([`crate::provider::template_catalog`]);
//! a mismatch is an error naming the campaign file's line. Without them, say what was not
//! verified.
use std::path::Path;
use std::time::Duration;

use crate::campaign::file::{Campaign, TemplateRef};
use crate::config::{LoadedConfig, ProviderChoice};
use crate::provider::template_catalog::{fetch_meta, verify};

/// Meta's Graph API when the sender gives no `base_url`.
const META_BASE_URL: &str = "https://graph.facebook.com/v21.0";

/// The report lines for one campaign; sets `failed` on a mismatch or a missing template.
pub fn check_template(loaded: &LoadedConfig, c: &Campaign, failed: &mut bool) -> String {
    let Some(sender) = loaded.config.senders.get(&c.sender) else {
        return String::new();
    };
    let shown = c
        .file
        .strip_prefix(loaded.campaigns_dir())
        .unwrap_or(&c.file)
        .to_path_buf();
    let (name, language) = match (&sender.provider, &c.template.template) {
        (ProviderChoice::Meta, TemplateRef::Name { name, language }) => (name, language),
        (ProviderChoice::Gupshup, _) => {
            return format!(
                "note: campaign {}: template not verified with Gupshup (its template list is not read yet)\n",
                c.id
            )
        }
        _ => return String::new(),
    };
    let Some(waba_id) = sender.waba_id.as_deref().filter(|w| !w.is_empty()) else {
        return format!(
            "note: campaign {}: template `{name}` not verified (exists, APPROVED, category, language, parameters): senders.{}.waba_id is not set\n",
            c.id, c.sender
        );
    };
    let token = crate::secret::SecretSource::from_keys(
        sender.api_key_env.clone(),
        sender.api_key_file.clone(),
        "api_key_env",
        "api_key_file",
    )
    .and_then(|s| s.load());
    let Ok(token) = token else {
        return format!(
            "note: campaign {}: template `{name}` not verified: no access token for senders.{}\n",
            c.id, c.sender
        );
    };
    let base = sender.base_url.as_deref().unwrap_or(META_BASE_URL);
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            let http =
                crate::provider::http_client(Duration::from_secs(10)).map_err(|e| e.to_string())?;
            rt.block_on(fetch_meta(&http, base, waba_id, &token, name))
                .map_err(|e| e.to_string())
        });
    let text = std::fs::read_to_string(&c.file).unwrap_or_default();
    match fetched {
        Err(e) => format!(
            "note: campaign {}: template `{name}` not verified: {e}\n",
            c.id
        ),
        Ok(found) => {
            let Some(t) = found.iter().find(|t| &t.language == language) else {
                *failed = true;
                return format!(
                    "{}: template.name: template `{name}` in {language} does not exist in business account {waba_id}\n",
                    place(&shown, &text, "template.name")
                );
            };
            let mismatches = verify(&c.template.parts, c.template.category, language, t);
            *failed |= !mismatches.is_empty();
            mismatches
                .iter()
                .map(|m| format!("{}: {m}\n", place(&shown, &text, m.key)))
                .collect()
        }
    }
}

/// `file:line` of `key` (`template.body`) in the file's `[template]` table, or the file alone.
fn place(shown: &Path, text: &str, key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    let mut in_template = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_template = l == "[template]";
            continue;
        }
        let k = l.split('=').next().unwrap_or("").trim();
        let hit =
            k == last || (last == "body" && k == "params") || (last == "header" && k == "media");
        if in_template && hit {
            return format!("{}:{}", shown.display(), i + 1);
        }
    }
    shown.display().to_string()
}
