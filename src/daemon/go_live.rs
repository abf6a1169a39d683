//! The go-live checklist (issue #21), run in the background at start and after every reload.
use std::sync::Arc;

use super::Shared;

/// Runs the go-live checklist (issue #21) once, logs each failed item and keeps the items for
/// status and `/readyz`, unless a later run started meanwhile (runs follow reloads).
pub(super) async fn go_live_run(shared: Arc<Shared>) {
    use crate::provider::golive;
    use std::sync::atomic::Ordering;
    let run = shared.go_live_runs.fetch_add(1, Ordering::SeqCst) + 1;
    let cfg = match shared.loaded.read() {
        Ok(l) => l.config.clone(),
        Err(_) => return,
    };
    let mut ctx = match golive::GoLiveContext::for_config(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "go-live check not run: no HTTP client");
            return;
        }
    };
    ctx.campaigns = shared
        .loaded_campaigns
        .read()
        .map(|l| l.clone())
        .unwrap_or_default();
    ctx.templates = shared.templates.clone();
    ctx.self_proof = golive::SelfProofCheck::Key(shared.self_proof.clone());
    let items = golive::check_all(&cfg, &ctx).await;
    if shared.go_live_runs.load(Ordering::SeqCst) != run {
        return;
    }
    for item in items.iter().filter(|i| i.is_failed()) {
        tracing::warn!(sender = %item.sender, item = item.item, "go-live check failed: {}", item.line());
    }
    tracing::info!(
        failed = items.iter().filter(|i| i.is_failed()).count(),
        items = items.len(),
        "go-live check done (tierpace check --online shows every item)"
    );
    if let Ok(mut g) = shared.go_live.write() {
        *g = items;
    }
}
