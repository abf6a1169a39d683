//! The dry-run provider: logs what it would send and accepts it (the embedded default, so the
//! README's first command shows a campaign moving without any account).
//!
//! Only the contact's last four digits are logged (STYLE.md §12: no phone numbers in logs).
use std::sync::atomic::{AtomicU64, Ordering};

use super::{last4, Provider, ProviderKind, SendOutcome, TemplateMessage};

/// Accepts every message and logs it.
#[derive(Debug)]
pub struct DryRunProvider {
    sender: String,
    sent: AtomicU64,
}

impl DryRunProvider {
    pub fn new(sender: &str) -> Self {
        Self {
            sender: sender.to_string(),
            sent: AtomicU64::new(0),
        }
    }

    /// How many messages this provider has "sent" since it was built.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl Provider for DryRunProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DryRun
    }

    async fn send(&self, msg: &TemplateMessage) -> SendOutcome {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let template = msg
            .template
            .id
            .as_deref()
            .or(msg.template.name.as_deref())
            .unwrap_or("-");
        tracing::info!(
            sender = %self.sender,
            to_last4 = last4(&msg.to),
            template,
            params = msg.params.len(),
            media = msg.media.as_ref().map(|m| m.kind.as_str()),
            "dry run: would send template"
        );
        SendOutcome::Accepted {
            message_id: format!("dryrun-{}-{n}", uuid::Uuid::new_v4()),
            wa_id: None,
        }
    }
}
