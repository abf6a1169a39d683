//! Templates: every campaign's template exists at the provider, is approved and takes the
//! campaign's parameters. That read is the template pre-flight of issue #18
//! (`provider/template_catalog.rs`), which `tierpace check` runs per campaign for Meta senders
//! with a `waba_id`; it is not yet called from here, so this item says where to look and never
//! claims the templates are fine.
use super::GoLiveItem;
use crate::config::SenderConfig;

/// The template item for one sender. The one call site is in [`super::check_sender`].
pub fn check(id: &str, _sc: &SenderConfig) -> GoLiveItem {
    // TODO(#18): call the template pre-flight here (one item per campaign template).
    GoLiveItem::unknown(
        id,
        "templates",
        "not checked here: `tierpace check` verifies each campaign's template for Meta senders with a waba_id (Gupshup templates are not verified yet)",
    )
}
