//! The daemon's side of the admin API: statuses come from the dispatchers' status board
//! (`views`), operator changes go to the stores (so they hold across replicas) and then wake
//! the dispatchers; readiness is in `readiness`.
use std::sync::Arc;

use crate::campaign::consent::{opt_in_any, ContactKeys, OptOutSource};
use crate::campaign::phone::parse_international;
use crate::campaign::OptOutCounts;
use crate::daemon::{Shared, Trigger};
use crate::dispatch::progress::{Control, RunId};
use crate::dispatch::status::CampaignSnapshot;
use crate::http::admin::OptOutView;
use crate::http::WebhookHealth;
use crate::http::{AdminError, AdminOps, CampaignAction, CampaignStatus, SenderStatus};
use crate::policy::brake::Brake;
use crate::policy::tier::Tier;
use crate::policy::tier_event::TierEvent;

mod readiness;
mod views;

pub use views::refresh_metrics;
use views::{brake_views, campaign_status, refused_status, sender_status, with_template_check};

pub struct Admin(pub Arc<Shared>);

impl Admin {
    fn find_campaign(&self, id: &str) -> Result<CampaignSnapshot, AdminError> {
        self.0
            .board
            .senders()
            .into_iter()
            .flat_map(|s| s.campaigns)
            .find(|c| c.id == id)
            .ok_or_else(|| AdminError::NotFound(format!("campaign {id}")))
    }

    fn sender(&self, id: &str) -> Result<crate::daemon::SenderHandle, AdminError> {
        self.0
            .senders
            .read()
            .ok()
            .and_then(|s| s.get(id).cloned())
            .ok_or_else(|| AdminError::NotFound(format!("sender {id}")))
    }

    fn sender_now(&self, id: &str) -> Result<SenderStatus, AdminError> {
        let snap = self
            .0
            .board
            .senders()
            .into_iter()
            .find(|s| s.sender == id)
            .ok_or_else(|| AdminError::NotFound(format!("sender {id}")))?;
        Ok(sender_status(&self.0, &snap))
    }

    /// Puts the group's ledger figures on the status board at once (a `status` right after an
    /// operator's tier change shows it; the trial saw the old tier for a second or more).
    async fn show_group_now(&self, group: &crate::ledger::LimitGroup) {
        if let Ok(stats) = self.0.ledger.stats(group, self.0.clock.now()).await {
            self.0.board.update_group_stats(&group.0, &stats);
        }
    }

    fn wake(&self) {
        let _ = self.0.reload_tx.try_send(Trigger::Wake);
    }
}

fn unavailable(e: impl std::fmt::Display) -> AdminError {
    AdminError::Unavailable(e.to_string())
}

impl Admin {
    /// A number an operator typed, through the one normaliser, as both keys of its contact.
    fn contact_keys(&self, number: &str) -> Result<ContactKeys, AdminError> {
        let e164 = parse_international(number)
            .map_err(|e| {
                AdminError::Invalid(format!(
                    "{number:?} is not a phone number with country code: {e}"
                ))
            })?
            .number;
        Ok(ContactKeys::of(&self.0.hasher, &e164))
    }
}

#[async_trait::async_trait]
impl AdminOps for Admin {
    async fn senders(&self) -> Result<Vec<SenderStatus>, AdminError> {
        Ok(self
            .0
            .board
            .senders()
            .iter()
            .map(|s| sender_status(&self.0, s))
            .collect())
    }

    async fn campaigns(&self) -> Result<Vec<CampaignStatus>, AdminError> {
        let mut out: Vec<CampaignStatus> = self
            .0
            .board
            .senders()
            .iter()
            .flat_map(|s| s.campaigns.iter().map(campaign_status))
            .map(|c| with_template_check(&self.0, c))
            .collect();
        if let Ok(p) = self.0.campaign_problems.read() {
            // A refused campaign may still have a run on the board from before the reload.
            out.retain(|c| !p.refused.iter().any(|r| r.campaign == c.id));
            out.extend(p.refused.iter().map(refused_status));
        }
        Ok(out)
    }

    async fn campaign_action(
        &self,
        id: &str,
        action: CampaignAction,
    ) -> Result<CampaignStatus, AdminError> {
        let snap = self.find_campaign(id)?;
        let p = &self.0.progress;
        let mut ctl = p.control(id).await.map_err(unavailable)?;
        if action != CampaignAction::RetryFailed {
            ctl.operator_at = Some(self.0.clock.now());
        }
        match action {
            CampaignAction::Pause => {
                ctl.paused = true;
                ctl.pause_reason = None;
            }
            CampaignAction::Resume => {
                if ctl.cancelled {
                    return Err(AdminError::Conflict(format!("campaign {id} is cancelled")));
                }
                ctl.paused = false;
                // After an edited audience: the run reads the file again from the top.
                ctl.audience_changed = false;
                ctl.pause_reason = None;
            }
            CampaignAction::Cancel => ctl.cancelled = true,
            CampaignAction::RetryFailed => {
                // Every failed contact: the operator asked, whatever the code (an account
                // failure fixed since, an unknown code looked at). Invalid numbers and opt-outs
                // are not `failed` (invalid) or are skipped again by the consent check.
                let retryable: Vec<String> = snap
                    .counters
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .filter_map(|(k, _)| k.strip_prefix("failed:"))
                    .map(String::from)
                    .collect();
                let n = p
                    .retry_failed(&RunId(snap.run.clone()), &retryable)
                    .await
                    .map_err(unavailable)?;
                tracing::info!(
                    campaign = id,
                    requeued = n,
                    "retry of failed contacts requested"
                );
            }
        }
        p.set_control(id, Control { ..ctl })
            .await
            .map_err(unavailable)?;
        tracing::info!(campaign = id, action = action.as_str(), "operator action");
        self.wake();
        let mut status = campaign_status(&snap);
        if ctl.cancelled {
            status.state = "cancelled".into();
        } else if ctl.paused {
            status.state = "paused".into();
        }
        Ok(status)
    }

    async fn optout(&self, number: &str, add: bool) -> Result<(), AdminError> {
        let keys = self.contact_keys(number)?;
        let key = keys.key;
        let now = self.0.clock.now();
        if add {
            self.0
                .consent
                .opt_out(key, OptOutSource::Admin, now)
                .await
                .map_err(unavailable)?;
        } else {
            opt_in_any(self.0.consent.as_ref(), keys, now)
                .await
                .map_err(unavailable)?;
        }
        tracing::info!(contact = %key, add, "opt-out changed by an operator");
        Ok(())
    }

    async fn optout_view(&self, number: &str) -> Result<OptOutView, AdminError> {
        // Both keys: an opt-out stored by an older version under the pre-9th-digit spelling.
        let keys = self.contact_keys(number)?;
        let mut record = None;
        for key in std::iter::once(keys.key).chain(keys.legacy) {
            record = self.0.consent.lookup(key).await.map_err(unavailable)?;
            if record.is_some() {
                break;
            }
        }
        Ok(OptOutView {
            opted_out: record.is_some(),
            scope: record.map(|r| r.scope),
            source: record
                .and_then(|r| r.source)
                .map(|s| s.as_str().to_string()),
            since: record.and_then(|r| r.since),
        })
    }

    async fn optout_counts(&self) -> Result<OptOutCounts, AdminError> {
        self.0.consent.counts().await.map_err(unavailable)
    }

    async fn webhooks(&self) -> Result<WebhookHealth, AdminError> {
        let now = self.0.clock.now();
        Ok(self
            .0
            .unreadable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .summary(now))
    }

    async fn set_tier(&self, sender: &str, tier: &str) -> Result<SenderStatus, AdminError> {
        let h = self.sender(sender)?;
        let tier: Tier = tier
            .parse()
            .map_err(|e: crate::policy::tier::UnknownTier| AdminError::Invalid(e.to_string()))?;
        self.0
            .ledger
            .apply_tier_event(&h.group, self.0.clock.now(), TierEvent::OperatorSet(tier))
            .await
            .map_err(unavailable)?;
        tracing::info!(sender, %tier, "tier set by an operator");
        self.show_group_now(&h.group).await;
        self.wake();
        self.sender_now(sender)
    }

    async fn confirm_tier(&self, group: &str) -> Result<Vec<SenderStatus>, AdminError> {
        let handles: Vec<crate::daemon::SenderHandle> = self
            .0
            .senders
            .read()
            .map(|s| s.values().filter(|h| h.group.0 == group).cloned().collect())
            .unwrap_or_default();
        let Some(h) = handles.first() else {
            return Err(AdminError::NotFound(format!("limit group {group}")));
        };
        let now = self.0.clock.now();
        let before = self
            .0
            .ledger
            .stats(&h.group, now)
            .await
            .map_err(unavailable)?;
        let Some(raise) = before.reported_raise else {
            return Err(AdminError::Conflict(format!(
                "limit group {group} has no reported raise to confirm (tier {})",
                before.tier.provider_name()
            )));
        };
        let state = self
            .0
            .ledger
            .apply_tier_event(&h.group, now, TierEvent::ConfirmReported)
            .await
            .map_err(unavailable)?;
        tracing::warn!(group, to = %raise.to, tier = %state.tier, "reported raise confirmed by an operator");
        self.0
            .metrics
            .group_tier_reconciles
            .get_or_create(&crate::http::metrics::ReconcileLabels {
                group: group.to_string(),
                result: "operator_confirmed".into(),
            })
            .inc();
        self.show_group_now(&h.group).await;
        self.wake();
        // The board refreshes on the dispatcher's next tick: answer the confirmed tier now.
        Ok(handles
            .iter()
            .filter_map(|h| self.sender_now(&h.id).ok())
            .map(|mut s| {
                s.tier = state.tier.provider_name().to_string();
                s.limit = state.tier.limit();
                s.reported_tier = None;
                s.reported_at = None;
                s
            })
            .collect())
    }

    async fn refresh_tiers(&self) -> Result<(), AdminError> {
        crate::daemon::tier_poll::refresh_all(&self.0).await;
        Ok(())
    }

    async fn set_brake(
        &self,
        sender: &str,
        on: bool,
        reason: Option<String>,
    ) -> Result<SenderStatus, AdminError> {
        let h = self.sender(sender)?;
        let now = self.0.clock.now();
        let active = {
            let mut b = h.brakes.lock().unwrap_or_else(|e| e.into_inner());
            if on {
                b.set(
                    Brake::Operator(reason.clone().unwrap_or_else(|| "operator".into())),
                    now,
                );
            } else {
                // Lifting by an operator lifts every brake: they looked and decided.
                for (brake, _) in b.active() {
                    b.lift(&brake);
                }
            }
            b.active()
        };
        // Saved for every replica and the next start (the dispatchers read it each tick).
        self.0
            .pacing
            .set_brakes(sender, &active)
            .await
            .map_err(unavailable)?;
        tracing::info!(
            sender,
            on,
            reason = reason.as_deref().unwrap_or(""),
            "brake changed by an operator"
        );
        self.wake();
        // The board refreshes on the dispatcher's next tick: answer the brakes just saved, not
        // the snapshot's (a lift's answer listed the lifted brake, issue #20 trial).
        let mut status = self.sender_now(sender)?;
        status.brakes = brake_views(&active);
        Ok(status)
    }
}
