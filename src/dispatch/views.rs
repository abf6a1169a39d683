//! What the dispatcher shows: the sender as the pacer sees it ([`SenderView`]), a campaign's
//! pacing mode in the pacer's terms, and the snapshot published to the status board.
use chrono::{DateTime, Utc};

use super::dispatcher::Dispatcher;
use super::status::SenderSnapshot;
use crate::campaign::file::TemplateRef as CampaignTemplate;
use crate::ledger::LedgerStats;
use crate::policy::pacer::{CampaignView, SenderView};

impl Dispatcher {
    pub(super) fn sender_view(
        &self,
        stats: &LedgerStats,
        now: DateTime<Utc>,
        views: &[CampaignView],
    ) -> SenderView {
        // The open time left today is the most generous among the open campaigns' calendars:
        // each campaign is gated by its own calendar before it gets here.
        let (day_start, open_left, open_now) = self
            .runners
            .values()
            .filter(|r| views.iter().any(|v| v.id == r.id()))
            .map(|r| {
                let (start, _) = r.live.calendar.local_day_bounds(now);
                (
                    start,
                    r.live.calendar.open_seconds_left_today(now),
                    r.live.calendar.is_open(now),
                )
            })
            .max_by_key(|(_, s, _)| *s)
            .unwrap_or((now, 0, false));
        SenderView {
            now,
            limit: stats.limit,
            headroom: stats.headroom,
            unique_24h: stats.unique_24h,
            unique_7d: stats.unique_7d,
            upgrade_threshold: stats.upgrade_threshold,
            upgrade_at: stats.pending_upgrade.as_ref().map(|p| p.effective_at),
            limit_frees_at: stats.next_slot_at,
            day_start,
            open_seconds_left_today: open_left,
            open_now,
            new_uniques_today: self.new_uniques_today,
            // max_mps, lowered after throughput errors (AIMD, policy/throughput.rs).
            max_mps: self
                .deps
                .rate
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .current()
                .min(self.deps.max_mps),
            group_share: self.deps.group_share,
            // Set by the tick from the timeline.
            throughput_room: None,
        }
    }

    pub(super) fn publish(&mut self, now: DateTime<Utc>) {
        let mut campaigns = Vec::new();
        for r in self.runners.values_mut() {
            let rate = r.rate(now);
            campaigns.push(super::status::CampaignSnapshot {
                id: r.id().to_string(),
                sender: self.deps.sender_id.clone(),
                run: r.live.run.0.clone(),
                status: r.status.clone(),
                counters: r.meta.counters.clone(),
                valid_contacts: r.live.valid_contacts,
                total_rows: r.live.total_rows,
                remaining: r.remaining(),
                rate_per_second: rate,
                template: match &r.live.campaign.template.template {
                    CampaignTemplate::Id(id) => id.clone(),
                    CampaignTemplate::Name { name, .. } => name.clone(),
                },
            });
        }
        let brakes = self
            .deps
            .brakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active();
        let rate = self
            .deps
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.deps.board.publish(SenderSnapshot {
            rate_limit_mps: rate.current().min(self.deps.max_mps),
            max_mps: self.deps.max_mps,
            sends_in_flight: self.sends_in_flight(),
            in_flight_limit: self.in_flight_limit(self.lookahead),
            sender: self.deps.sender_id.clone(),
            group: self.deps.group.0.clone(),
            ledger_ok: self.ledger_ok,
            stats: self.last_stats.clone(),
            brakes,
            replica: self.deps.ownership.replica.clone(),
            sent_by: self.hold.holder().map(str::to_string),
            sending_here: self.hold.held(now),
            campaigns,
            at: now,
        });
    }
}
