//! The go-live checklist (issue #21) run once in the background at start.
use std::sync::Arc;

use super::Shared;

/// Runs the go-live checklist (issue #21) once, logs each failed item and keeps the items for
/// status and `/readyz`.
pub(super) async fn go_live_at_start(shared: Arc<Shared>) {
    use crate::provider::golive;
    let cfg = match shared.loaded.read() {
        Ok(l) => l.config.clone(),
        Err(_) => return,
    };
    let ctx = match golive::GoLiveContext::for_config(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "go-live check not run: no HTTP client");
            return;
        }
    };
    let items = golive::check_all(&cfg, &ctx).await;
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
