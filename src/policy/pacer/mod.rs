//! The pacer: per sender, each tick, how many new unique customers each running campaign may
//! start now (DESIGN.md §3; issue #5, part 3).
//!
//! One [`Pacer`] per sender, called by that sender's dispatcher every tick with plain numbers: a
//! [`SenderView`] (the ledger's counts and the calendar's open time, filled by the caller), the
//! sender's [`BrakeState`] and one [`CampaignView`] per campaign. It returns a [`TickPlan`]: a
//! grant per campaign, or why nothing may go. A grant is a number of sends that may start now;
//! each opens at most one new conversation, so it is also the `budget` of new uniques to pass to
//! the ledger's `admit` for that campaign. A send to a contact that uses no headroom (reached in
//! the last 24 h, or in a service window) still takes a grant: the throughput cap counts sends,
//! not conversations. The pacer is pure: time is `SenderView::now`; its only state is what a pace
//! needs between ticks (fractions carried over, today's grants, the throughput log).
//!
//! Each tick, in this order:
//! 1. **Who may send.** Campaigns with contacts left, open now, not paused by a brake, with
//!    budget left today; the others are `held` with the reason.
//! 2. **Due by pace** ([`growth`]). Grow campaigns share one spread of the sender's grow budget:
//!    this tick's accrual (at least the crossing ramp's while the sender climbs, see
//!    [`grow`]) is split among them by priority, then weight, then age. Steady
//!    campaigns spread their own `daily_max`; asap campaigns accrue `max_mps` per second. Brakes
//!    scale what accrues (`factor`); the campaign's remaining contacts, its `daily_max` left and
//!    the grow budget left cap it, and a new template's warm-up caps its rate.
//! 3. **Shared hard caps.** The headroom (never more than `allowance - unique_24h`, whatever the
//!    ledger says) and the throughput cap ([`Gcra`]: never more than `max_mps` in any one-second
//!    interval) are split by priority, then weight, then age ([`share`]).
//!
//! "Used today" is the larger of the caller's count (`new_uniques_today`, `sent_today`) and the
//! pacer's own grants since `day_start`: a restart or another replica is seen through the
//! caller's numbers, and a grant is counted at once even before the ledger has recorded it. A
//! grant the dispatcher could not use, or used for a contact that took no headroom, is not handed
//! out again today (conservative: the day's budget may be slightly under-used, never over).
//!
//! Spreads pay in arrears for the *open* time elapsed since the previous tick (the calendar's
//! open seconds left, made exact to the nanosecond), so breaks and nights accrue nothing and the
//! first tick of a day pays nothing; asap pays `max_mps` per wall second elapsed. A gap longer
//! than `catch_up` (an outage) is paid as `catch_up`, and the rest is re-spread over the day.
//!
//! What lives here:
//! - this file: [`Pacer`], its state between ticks and the order of each tick ([`Pacer::plan`]);
//! - [`settings`]: [`PacerSettings`] (`[pacing]`), its defaults and its check;
//! - [`view`]: what the pacer sees, [`SenderView`] and [`CampaignView`];
//! - [`tick_plan`]: what it decides, [`TickPlan`] and [`IdleReason`];
//! - [`candidate`]: which campaigns may send this tick and how each is paced;
//! - [`grow`]: the grow budget shared by grow campaigns, and the crossing ramp;
//! - [`elapsed`]: the wall and open time a tick pays for.
mod candidate;
mod elapsed;
mod grow;
mod settings;
mod tick_plan;
mod view;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::policy::brake::BrakeState;
use crate::policy::growth::{self, DayBudget};
use crate::policy::rate::Gcra;
use crate::policy::share::{share, Claim};
use candidate::{candidates, CampaignPace, Pace};
use elapsed::{open_seconds_left_exact, Elapsed};
use grow::GrowPool;
use tick_plan::idle_reason;
use view::claim;

pub use settings::{PacerSettings, SettingsError};
pub use tick_plan::{IdleReason, TickPlan};
pub use view::{CampaignView, SenderView};

/// Paces one sender; see the module docs.
#[derive(Debug, Clone)]
pub struct Pacer {
    settings: PacerSettings,
    throughput: Gcra,
    day_start: Option<DateTime<Utc>>,
    /// The time since the previous tick, wall and open.
    elapsed: Elapsed,
    /// The sender's grow budget, shared by its grow campaigns.
    grow: GrowPool,
    granted_today: u64,
    campaigns: HashMap<String, CampaignPace>,
}

impl Pacer {
    pub fn new(settings: PacerSettings) -> Self {
        Self {
            settings,
            throughput: Gcra::new(0),
            day_start: None,
            elapsed: Elapsed::default(),
            grow: GrowPool::default(),
            granted_today: 0,
            campaigns: HashMap::new(),
        }
    }

    pub fn settings(&self) -> &PacerSettings {
        &self.settings
    }

    /// Replaces the settings (config reload); the pace of today carries on.
    pub fn set_settings(&mut self, settings: PacerSettings) {
        self.settings = settings;
    }

    /// When the throughput cap will next allow a send (for a dispatcher that sleeps until then).
    pub fn next_free(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.throughput.next_free(now)
    }

    /// Decides this tick's grants. Call once per tick per sender; the grants are taken from the
    /// throughput cap, so they should be sent now.
    pub fn plan(
        &mut self,
        sender: &SenderView,
        brakes: &BrakeState,
        campaigns: &[CampaignView],
    ) -> TickPlan {
        let now = sender.now;
        self.roll_day(sender.day_start, campaigns);
        let catch_up = self.settings.catch_up;
        let elapsed = self.elapsed.wall(now, catch_up);
        let open_left =
            open_seconds_left_exact(now, sender.open_seconds_left_today, sender.open_now);
        let (open_before, open_elapsed) = self.elapsed.open(open_left, catch_up);
        self.throughput.set_per_second(sender.max_mps);

        let allowance = growth::allowance(
            sender.limit,
            self.settings.safety_share,
            self.settings.reserve,
        );
        let headroom = DayBudget::from_option(sender.headroom)
            .min(DayBudget::from_option(allowance).left(sender.unique_24h));
        let pool_left = growth::grow_budget(allowance, sender.group_share)
            .left(sender.new_uniques_today.max(self.granted_today));

        let (mut candidates, mut held) = candidates(
            &self.settings,
            &mut self.campaigns,
            brakes,
            campaigns,
            pool_left,
            sender.max_mps,
        );

        // 1. Due by pace.
        let max_mps = f64::from(sender.max_mps);
        for candidate in &mut candidates {
            let campaign = &campaigns[candidate.index];
            let pace = self.campaigns.entry(campaign.id.clone()).or_default();
            match candidate.pace {
                Pace::Rate => {
                    candidate.due = Some(pace.carry.pay(max_mps * candidate.factor * elapsed));
                }
                Pace::Steady => {
                    let accrued = pace.spread.accrue(
                        candidate.daily_left,
                        pace.carry.get(),
                        open_before,
                        open_elapsed,
                    );
                    pace.spread.hold_back(accrued * (1.0 - candidate.factor));
                    candidate.due = Some(pace.carry.pay(accrued * candidate.factor));
                }
                // Grow campaigns share the sender's grow budget: paced together below.
                Pace::Grow => {}
            }
        }
        self.grow.pace(
            &mut self.campaigns,
            &mut candidates,
            campaigns,
            (sender, pool_left, self.granted_today),
            (open_before, open_elapsed),
            self.settings.cross_within,
        );
        for candidate in &mut candidates {
            candidate.want = candidate.due.map_or(0, |due| due.whole.min(candidate.cap));
            if let Some(per_second) = candidate.warmup_rate {
                // Measured like the throughput cap, so it means the same in the forecast's
                // long ticks (where `max_mps` is per tick) as in the daemon's short ones.
                let pace = self
                    .campaigns
                    .entry(campaigns[candidate.index].id.clone())
                    .or_default();
                let gcra = pace.warmup.get_or_insert_with(|| Gcra::new(per_second));
                gcra.set_per_second(per_second);
                candidate.want = candidate.want.min(u64::from(gcra.available(now)));
            }
        }

        // 2. Headroom and throughput are hard and shared by everyone.
        // The daemon's timeline spaces every start and says how many fit (`throughput_room`);
        // without one (the forecast) the pacer's own cap counts grants per second.
        let throughput = match sender.throughput_room {
            Some(room) => room,
            None => u64::from(self.throughput.available(now)),
        };
        let hard = match headroom {
            DayBudget::Unlimited => throughput,
            DayBudget::Up(n) => n.min(throughput),
        };
        let claims: Vec<Claim> = candidates
            .iter()
            .map(|c| claim(&campaigns[c.index], c.want))
            .collect();
        let given = share(hard, &claims);

        let mut plan = TickPlan::default();
        for (candidate, got) in candidates.iter().zip(given) {
            let campaign = &campaigns[candidate.index];
            let pace = self.campaigns.entry(campaign.id.clone()).or_default();
            if let Some(due) = candidate.due {
                match candidate.pace {
                    // Asap: a send due but given to another campaign this tick stays due for
                    // the next (one at most, so nothing is banked): campaigns sharing a sender
                    // take turns. Without it six asap campaigns accruing half a send a tick in
                    // step all lost their turn every other tick, and the sender got one send per
                    // two ticks whatever its cap (issue #19: 9.0/s at `max_mps = 10`).
                    Pace::Rate => pace.carry.settle_keeping(due, got, 1),
                    _ => pace.carry.settle(due),
                }
            }
            // Grants are u32 on the wire to the dispatcher; a tick never comes near that.
            let got = u32::try_from(got).unwrap_or(u32::MAX);
            if let Some(gcra) = pace.warmup.as_mut().filter(|_| got > 0) {
                gcra.try_take(now, got);
            }
            if got > 0 {
                pace.granted_today += u64::from(got);
                plan.grants.push((campaign.id.clone(), got));
            } else if headroom == DayBudget::Up(0) {
                held.push((
                    campaign.id.clone(),
                    IdleReason::LimitReached {
                        until: sender.limit_frees_at,
                    },
                ));
            }
        }
        let total = plan.total();
        if sender.throughput_room.is_none() {
            let taken = self
                .throughput
                .try_take(now, u32::try_from(total).unwrap_or(u32::MAX));
            debug_assert_eq!(
                u64::from(taken),
                total,
                "grants were capped by availability"
            );
        }
        self.granted_today += total;

        if plan.grants.is_empty() {
            plan.reason_idle = idle_reason(campaigns, &held);
        }
        plan.held = held;
        plan
    }

    /// Resets today's counters when the local day changes, and forgets campaigns that are gone.
    fn roll_day(&mut self, day_start: DateTime<Utc>, campaigns: &[CampaignView]) {
        if self.day_start != Some(day_start) {
            self.day_start = Some(day_start);
            self.granted_today = 0;
            self.elapsed.new_day();
            self.grow = GrowPool::default();
            self.campaigns.clear();
        }
        if self.campaigns.len() > campaigns.len() {
            self.campaigns
                .retain(|id, _| campaigns.iter().any(|c| &c.id == id));
        }
    }
}

#[cfg(test)]
mod tests;
