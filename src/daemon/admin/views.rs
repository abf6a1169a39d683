//! What the admin API and the metrics show of the daemon: the status board's senders and
//! campaigns turned into the API's [`SenderStatus`] and [`CampaignStatus`], with what the
//! provider said last, the go-live failures and the campaigns the daemon refused.
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::daemon::Shared;
use crate::dispatch::status::{CampaignSnapshot, SenderSnapshot};
use crate::http::admin::{Brake as ApiBrake, CampaignTotals, LadderStep};
use crate::http::{CampaignStatus, SenderStatus};
use crate::policy::brake::Brake;

pub(super) fn sender_status(shared: &Shared, snap: &SenderSnapshot) -> SenderStatus {
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
        brakes: brake_views(&snap.brakes),
        rate_per_second: snap.campaigns.iter().map(|c| c.rate_per_second).sum(),
        rate_limit_mps: snap.rate_limit_mps,
        max_mps: snap.max_mps,
        sends_in_flight: snap.sends_in_flight as u64,
        in_flight_limit: snap.in_flight_limit as u64,
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

pub(super) fn campaign_status(c: &CampaignSnapshot) -> CampaignStatus {
    let n = |k: &str| c.counters.get(k).copied().unwrap_or(0).max(0) as u64;
    let skipped = by_prefix(&c.counters, "skipped:");
    let failed_by_code = by_prefix(&c.counters, "failed:");
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
pub(super) fn with_template_check(shared: &Shared, mut status: CampaignStatus) -> CampaignStatus {
    status.template_check = shared
        .campaign_problems
        .read()
        .ok()
        .and_then(|p| p.unverified.get(&status.id).cloned());
    status
}

/// A valid campaign file the daemon refused, as a campaign in state `refused`.
pub(super) fn refused_status(r: &crate::daemon::template_gate::RefusedCampaign) -> CampaignStatus {
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

/// A sender's active brakes as the API shows them.
pub(super) fn brake_views(active: &[(Brake, chrono::DateTime<chrono::Utc>)]) -> Vec<ApiBrake> {
    active
        .iter()
        .map(|(brake, since)| ApiBrake {
            reason: brake.to_string(),
            since: Some(*since),
            effect: brake.effect().into(),
        })
        .collect()
}

/// The counters named `PREFIX<name>` with a positive count, by name (`skipped:opted_out`).
fn by_prefix(counters: &BTreeMap<String, i64>, prefix: &str) -> BTreeMap<String, u64> {
    counters
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .map(|r| (r.to_string(), (*v).max(0) as u64))
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}
