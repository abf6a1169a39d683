//! Templates: every campaign's template exists at the provider, is approved and takes the
//! campaign's parameters. This is the template pre-flight of issue #18
//! ([`crate::provider::template_preflight`]), the same read and verdict the daemon applies when
//! it loads a campaign: one item per campaign of the sender.
//! - fits: ok, with what the provider has;
//! - does not fit: failed, with the provider's words (status and reason) and the campaign
//!   file's `file:line` to fix;
//! - not verified: unknown, with why (no `waba_id` / Partner API keys, provider unreachable).
use super::{GoLiveContext, GoLiveItem};
use crate::config::SenderConfig;
use crate::provider::template_preflight::{placed, Verdict};

/// The template items for sender `id`: one per campaign that sends through it.
pub async fn check(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> Vec<GoLiveItem> {
    let mine: Vec<_> = ctx
        .campaigns
        .iter()
        .filter(|c| c.sender == id)
        .cloned()
        .collect();
    if mine.is_empty() {
        return vec![GoLiveItem::ok(
            id,
            "templates",
            "no campaign sends through this sender",
        )];
    }
    let senders = [(id.to_string(), sc.clone())].into_iter().collect();
    let verdicts = ctx.templates.verify_all(&senders, &mine).await;
    verdicts
        .into_iter()
        .map(|(campaign, verdict)| match verdict {
            Verdict::Fits(detail) => {
                GoLiveItem::ok(id, "templates", format!("campaign {campaign}: {detail}"))
            }
            Verdict::NotVerified(why) => {
                GoLiveItem::unknown(id, "templates", format!("campaign {campaign}: {why}"))
            }
            Verdict::Mismatch(m) => {
                let file = mine
                    .iter()
                    .find(|c| c.id == campaign)
                    .map(|c| c.file.clone())
                    .unwrap_or_default();
                let at = placed(&file, &file, &m);
                GoLiveItem::failed(
                    id,
                    "templates",
                    format!(
                        "campaign {campaign}: {}",
                        m.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                    ),
                    format!(
                        "make the campaign file and the template at the provider agree ({}); the daemon refuses this campaign until they do",
                        at.iter()
                            .map(|l| l.split(": ").next().unwrap_or_default().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        })
        .collect()
}
