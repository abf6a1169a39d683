//! The daemon's side of the admin API and readiness: statuses come from the dispatchers'
//! status board, changes go to the stores (so they hold across replicas) and then wake the
//! dispatchers.
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Shared, Trigger};
use crate::campaign::consent::{opt_in_any, ContactKeys, OptOutSource};
use crate::campaign::phone::parse_international;
use crate::campaign::OptOutCounts;
use crate::dispatch::progress::{Control, RunId};
use crate::dispatch::status::{CampaignSnapshot, SenderSnapshot};
use crate::http::admin::{Brake as ApiBrake, CampaignTotals, LadderStep, OptOutView};
use crate::http::WebhookHealth;
use crate::http::{AdminError, AdminOps, CampaignAction, CampaignStatus, Readiness, SenderStatus};
use crate::policy::brake::Brake;
use crate::policy::tier::Tier;
use crate::policy::tier_event::TierEvent;

pub struct Admin(pub Arc<Shared>);

fn sender_status(shared: &Shared, snap: &SenderSnapshot) -> SenderStatus {
    let provider = shared
        .senders
        .read()
        .ok()
        .and_then(|s| {
            s.get(&snap.sender)
                .map(|h| format!("{:?}", h.config.provider).to_lowercase())
        })
        .unwrap_or_default();
    let policy = shared
        .loaded
        .read()
        .ok()
        .and_then(|l| l.config.policy.resolve().ok());
    let ladder = policy
        .as_ref()
        .map(|p| {
            p.ladder
                .iter()
                .map(|t| LadderStep {
                    tier: t.provider_name().into(),
                    limit: t.limit(),
                })
                .collect()
        })
        .unwrap_or_default();
    let stats = snap.stats.as_ref();
    let view = shared
        .provider_views
        .read()
        .ok()
        .and_then(|v| v.get(&snap.sender).cloned());
    let go_live_failed = shared
        .go_live
        .read()
        .map(|items| {
            items
                .iter()
                .filter(|i| i.is_failed() && (i.sender == snap.sender || i.sender == "*"))
                .map(|i| i.summary())
                .collect()
        })
        .unwrap_or_default();
    SenderStatus {
        go_live_failed,
        id: snap.sender.clone(),
        limit_group: snap.group.clone(),
        provider,
        tier: stats
            .map(|s| s.tier.provider_name().to_string())
            .unwrap_or_else(|| "unknown".into()),
        limit: stats.and_then(|s| s.limit),
        allowance: stats.and_then(|s| s.allowed),
        unique_24h: stats.map_or(0, |s| s.unique_24h),
        unique_7d: stats.map_or(0, |s| s.unique_7d),
        threshold: stats.and_then(|s| s.upgrade_threshold),
        headroom: stats.map_or(0, |s| s.headroom.unwrap_or(u64::MAX)),
        upgrade_at: stats.and_then(|s| s.pending_upgrade.as_ref().map(|p| p.effective_at)),
        upgrade_to: stats.and_then(|s| {
            s.pending_upgrade
                .as_ref()
                .map(|p| p.to.provider_name().to_string())
        }),
        quality: stats
            .map(|s| s.quality.name().to_uppercase())
            .unwrap_or_else(|| "UNKNOWN".into()),
        brakes: snap
            .brakes
            .iter()
            .map(|(brake, since)| ApiBrake {
                reason: brake.to_string(),
                since: Some(*since),
                effect: brake.effect().into(),
            })
            .collect(),
        rate_per_second: snap.campaigns.iter().map(|c| c.rate_per_second).sum(),
        rate_limit_mps: snap.rate_limit_mps,
        max_mps: snap.max_mps,
        provider_tier: view
            .as_ref()
            .and_then(|v| v.tier)
            .map(|t| t.provider_name().to_string()),
        provider_limit: view.as_ref().and_then(|v| v.tier).and_then(|t| t.limit()),
        provider_quality: view
            .as_ref()
            .and_then(|v| v.quality)
            .map(|q| q.name().to_uppercase()),
        provider_poll: Some(view.map_or_else(|| "not polled yet".to_string(), |v| v.describe())),
        reported_tier: stats
            .and_then(|s| s.reported_raise)
            .map(|r| r.to.provider_name().to_string()),
        reported_at: stats.and_then(|s| s.reported_raise).map(|r| r.at),
        replica: snap.replica.clone(),
        sent_by: snap.sent_by.clone(),
        ladder,
    }
}

fn campaign_status(c: &CampaignSnapshot) -> CampaignStatus {
    let n = |k: &str| c.counters.get(k).copied().unwrap_or(0).max(0) as u64;
    let skipped: BTreeMap<String, u64> = c
        .counters
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("skipped:")
                .map(|r| (r.to_string(), (*v).max(0) as u64))
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    let failed_by_code: BTreeMap<String, u64> = c
        .counters
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("failed:")
                .map(|r| (r.to_string(), (*v).max(0) as u64))
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    // Progress from per-contact state only (issue 11 §3): every audience row ends in exactly
    // one state (sent on, failed, skipped for a reason, unknown), so the total is the rows and
    // pending is what has no state yet. Adding skip counters to the valid contacts counted a
    // contact who opted out after the scan twice (valid at the scan, skipped later).
    let mut totals = CampaignTotals {
        total: c.total_rows,
        pending: 0,
        in_flight: n("in_flight"),
        sent: n("sent"),
        delivered: n("delivered"),
        read: n("read"),
        failed: n("failed"),
        unknown: n("unknown"),
        retrying: n("retrying"),
        deferred: n("deferred"),
        invalid: n("invalid"),
        skipped,
        failed_by_code,
    };
    let busy = totals.in_flight + totals.retrying + totals.deferred;
    totals.total = c.total_rows.max(totals.done() + busy);
    totals.pending = totals.total.saturating_sub(totals.done() + busy);
    CampaignStatus {
        id: c.id.clone(),
        sender: c.sender.clone(),
        template: Some(c.template.clone()),
        state: c.status.state.as_str().to_string(),
        why: Some(c.status.why.clone()),
        until: c.status.until,
        totals,
        rate_per_second: c.rate_per_second,
        eta_seconds: c.eta_seconds().map(|s| s as u64),
        template_check: None,
    }
}

/// A campaign with its template pre-flight warning, when there is one.
fn with_template_check(shared: &Shared, mut status: CampaignStatus) -> CampaignStatus {
    status.template_check = shared
        .campaign_problems
        .read()
        .ok()
        .and_then(|p| p.unverified.get(&status.id).cloned());
    status
}

/// A valid campaign file the daemon refused, as a campaign in state `refused`.
fn refused_status(r: &super::template_gate::RefusedCampaign) -> CampaignStatus {
    CampaignStatus {
        id: r.campaign.clone(),
        sender: r.sender.clone(),
        template: Some(r.template.clone()),
        state: "refused".into(),
        why: Some(r.error.clone()),
        until: None,
        totals: CampaignTotals::default(),
        rate_per_second: 0.0,
        eta_seconds: None,
        template_check: None,
    }
}

/// Pushes the board into the metric families (called from the health tick).
pub async fn refresh_metrics(shared: &Arc<Shared>) {
    let snaps = shared.board.senders();
    let senders: Vec<SenderStatus> = snaps.iter().map(|s| sender_status(shared, s)).collect();
    shared.metrics.observe_senders(&senders);
    for c in snaps.iter().flat_map(|s| &s.campaigns) {
        shared.metrics.observe_campaign(&campaign_status(c));
    }
    match shared.consent.counts().await {
        Ok(counts) => shared.metrics.observe_optouts(&counts),
        Err(e) => tracing::debug!(error = %e, "opt-out counts not refreshed"),
    }
}

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

    fn sender(&self, id: &str) -> Result<super::SenderHandle, AdminError> {
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
        let handles: Vec<super::SenderHandle> = self
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
        super::tier_poll::refresh_all(&self.0).await;
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
        status.brakes = active
            .iter()
            .map(|(brake, since)| ApiBrake {
                reason: brake.to_string(),
                since: Some(*since),
                effect: brake.effect().into(),
            })
            .collect();
        Ok(status)
    }
}

impl Readiness for Admin {
    fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .go_live
            .read()
            .map(|items| {
                items
                    .iter()
                    .filter(|i| i.is_failed())
                    .map(|i| format!("go-live: {}", i.summary()))
                    .collect()
            })
            .unwrap_or_default();
        // A campaign that cannot load is a warning, not a 503: the others run (issue #20).
        if let Ok(p) = self.0.campaign_problems.read() {
            out.extend(
                p.not_loaded()
                    .iter()
                    .map(|e| format!("{}{e}", crate::http::health::CAMPAIGN_NOT_LOADED)),
            );
        }
        out
    }

    fn ready(&self) -> Result<(), Vec<String>> {
        let s = &self.0;
        let mut reasons = Vec::new();
        if !s.started.load(Ordering::SeqCst) {
            reasons.push("starting: config and campaigns not loaded yet".to_string());
        }
        if !s.redis_up.load(Ordering::SeqCst) {
            reasons.push("redis unreachable".to_string());
        } else if let Some(why) = s.store_gate.why() {
            reasons.push(why);
        }
        if let Err(mut r) = s
            .board
            .healthy(s.clock.now(), chrono::Duration::seconds(30))
        {
            reasons.append(&mut r);
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}
