//! `tierpace check`'s template pre-flight (issue #18): every campaign's template asked of its
//! provider ([`crate::provider::template_preflight`]: Meta with `waba_id`, Gupshup through the
//! Partner API); a mismatch is an error naming the campaign file's line, and what could not be
//! verified is a note.
use crate::campaign::file::Campaign;
use crate::config::LoadedConfig;
use crate::provider::template_preflight::{placed, TemplateCatalog, Verdict, DEFAULT_TTL};

/// The report lines for `campaigns`; sets `failed` on a mismatch or a missing template.
pub fn check_templates(loaded: &LoadedConfig, campaigns: &[Campaign], failed: &mut bool) -> String {
    let verdicts = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            let catalog = TemplateCatalog::new(DEFAULT_TTL).map_err(|e| e.to_string())?;
            Ok(rt.block_on(catalog.verify_all(&loaded.config.senders, campaigns)))
        });
    let verdicts = match verdicts {
        Ok(v) => v,
        Err(e) => return format!("note: templates not verified: {e}\n"),
    };
    let mut out = String::new();
    for (id, verdict) in verdicts {
        let Some(c) = campaigns.iter().find(|c| c.id == id) else {
            continue;
        };
        match verdict {
            Verdict::Fits(_) => {}
            Verdict::NotVerified(why) => out.push_str(&format!("note: campaign {id}: {why}\n")),
            Verdict::Mismatch(m) => {
                *failed = true;
                let shown = c
                    .file
                    .strip_prefix(loaded.campaigns_dir())
                    .unwrap_or(&c.file);
                for line in placed(&c.file, shown, &m) {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        }
    }
    out
}
