//! Importing the configured opt-out file (`optout_file`) into the consent store at start and on
//! reload (guarantee 3).
use std::sync::Arc;

use crate::campaign::consent::OptOutSource;
use crate::config::LoadedConfig;

use super::Shared;

pub(super) async fn import_optout_file(shared: &Arc<Shared>, loaded: &LoadedConfig) {
    let Some(path) = &loaded.config.optout_file else {
        return;
    };
    let path = loaded.resolve(path);
    let ddi = loaded.config.default_ddi.clone();
    let hasher = shared.hasher.clone();
    let read = tokio::task::spawn_blocking(move || {
        crate::campaign::consent::read_optout_file(&path, &ddi, &hasher).map_err(|e| e.to_string())
    })
    .await;
    match read {
        Ok(Ok((keys, bad))) => {
            for b in bad {
                tracing::warn!(problem = %b, "opt-out file line skipped");
            }
            let now = shared.clock.now();
            let mut n = 0;
            for k in keys {
                if shared
                    .consent
                    .opt_out(k, OptOutSource::File, now)
                    .await
                    .is_ok()
                {
                    n += 1;
                }
            }
            tracing::info!(count = n, "opt-out file imported");
        }
        Ok(Err(e)) => tracing::error!(error = %e, "opt-out file not read"),
        Err(e) => tracing::error!(error = %e, "opt-out file task failed"),
    }
}
