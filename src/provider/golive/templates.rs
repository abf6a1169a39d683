//! Templates: every campaign's template exists at the provider, is approved and takes the
//! campaign's parameters. That read is the template pre-flight of issue #18, built elsewhere;
//! until it is wired here this item says so, and never claims the templates are fine.
use super::GoLiveItem;
use crate::config::SenderConfig;

/// The template item for one sender. The one call site is in [`super::check_sender`].
pub fn check(id: &str, _sc: &SenderConfig) -> GoLiveItem {
    // TODO(#18): call the template pre-flight here (one item per campaign template).
    GoLiveItem::unknown(
        id,
        "templates",
        "template pre-flight not available on this build",
    )
}
