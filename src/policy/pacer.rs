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
//!    `Pacer::ramp_accrual`) is split among them by priority, then weight, then age. Steady
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
use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::brake::{BrakeSettings, BrakeState};
use super::growth::{self, Carry, DayBudget, Due, PacingMode, Spread};
use super::rate::Gcra;
use super::share::{share, Claim};

/// Pacing settings (`[pacing]` in the daemon config); all optional, defaults below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacerSettings {
    /// Share of the tier limit tierpace may use in any 24 h (guarantee 1). Default 0.95.
    pub safety_share: f64,
    /// Unique customers per 24 h kept free for agents' manual messages. Default 0.
    pub reserve: u64,
    /// A template's first this-many sends go at `warmup_share` of the pace. Default 1000.
    pub warmup_sends: u64,
    /// A template in warm-up sends at most `warmup_share x max_mps` a second, in (0, 1]. It
    /// slows the rate only: the day's budget and a grow campaign's crossing are not cut
    /// (DESIGN.md §3). Default 0.5.
    pub warmup_share: f64,
    /// Grow mode crosses the next tier's threshold over this much open time from the moment the
    /// tier allows it (the open of the day, or the new limit taking effect), never faster than
    /// `max_mps`, then spreads the rest of the allowance over the rest of the open day
    /// (DESIGN.md §3, issue #14). Shorter crosses earlier; longer leaves more time for early
    /// complaints to brake before the rest. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub cross_within: StdDuration,
    /// The longest gap between two ticks that is paid out (after a pause or a Redis outage the
    /// first tick is not a catch-up burst). Must be longer than the dispatcher's tick, or the
    /// pace falls behind. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub catch_up: StdDuration,
    /// Guard for the jitter between a send's start and its arrival at the provider: starts are
    /// spaced `(1 s + arrival_jitter) / max_mps` apart (`dispatch/timeline.rs`), so no second of
    /// arrivals goes over `max_mps` and the achieved rate is `max_mps / (1 + jitter)`.
    /// Default `5ms` (99.5 % of the cap).
    #[serde(with = "humantime_serde")]
    pub arrival_jitter: StdDuration,
    /// When spam failures brake a sender.
    pub brakes: BrakeSettings,
}

impl Default for PacerSettings {
    fn default() -> Self {
        Self {
            safety_share: 0.95,
            reserve: 0,
            warmup_sends: 1000,
            warmup_share: 0.5,
            cross_within: StdDuration::from_secs(3600),
            catch_up: StdDuration::from_secs(5),
            arrival_jitter: StdDuration::from_millis(5),
            brakes: BrakeSettings::default(),
        }
    }
}

/// A pacing setting that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pacing.{key}: {problem}")]
pub struct SettingsError {
    pub key: &'static str,
    pub problem: String,
}

impl PacerSettings {
    /// Checks every setting and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut share = |key: &'static str, value: f64| {
            if !(value > 0.0 && value <= 1.0) {
                errors.push(SettingsError {
                    key,
                    problem: format!("must be a share in (0, 1], got {value}"),
                });
            }
        };
        share("safety_share", self.safety_share);
        share("warmup_share", self.warmup_share);
        if self.cross_within.is_zero() {
            errors.push(SettingsError {
                key: "cross_within",
                problem: "must be longer than zero".into(),
            });
        }
        if self.catch_up.is_zero() {
            errors.push(SettingsError {
                key: "catch_up",
                problem: "must be longer than zero".into(),
            });
        }
        if self.brakes.spam_window.is_zero() {
            errors.push(SettingsError {
                key: "brakes.spam_window",
                problem: "must be longer than zero".into(),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// What the pacer needs to know about the sender this tick (from the ledger and the calendar).
#[derive(Debug, Clone, PartialEq)]
pub struct SenderView {
    pub now: DateTime<Utc>,
    /// The current tier limit; `None` is unlimited.
    pub limit: Option<u64>,
    /// The ledger's headroom (`allowance - unique_24h`); `None` is unlimited.
    pub headroom: Option<u64>,
    /// Unique customers reached in the rolling 24 h.
    pub unique_24h: u64,
    /// Unique customers reached in the trailing 7 days.
    pub unique_7d: u64,
    /// `limit x upgrade_share`; `None` at the top of the ladder.
    pub upgrade_threshold: Option<u64>,
    /// When a pending upgrade takes effect, if one is pending.
    pub upgrade_at: Option<DateTime<Utc>>,
    /// When the next slot leaves the 24 h window (for "limit reached until").
    pub limit_frees_at: Option<DateTime<Utc>>,
    /// Start of the local calendar day `now` is in: grants and budgets reset when it changes.
    pub day_start: DateTime<Utc>,
    /// Open seconds left today, breaks excluded (`Calendar::open_seconds_left_today`, rounded
    /// down), in the calendar the sender's campaigns run on: day budgets are spread over it. With
    /// campaigns on different calendars, use the one of the campaign that should set the pace
    /// (the highest-priority grow or steady one); a campaign closed while this calendar is open
    /// loses that time's share.
    pub open_seconds_left_today: i64,
    /// Whether that calendar is open at `now`.
    pub open_now: bool,
    /// New unique customers this sender reached since `day_start`.
    pub new_uniques_today: u64,
    /// The sender's throughput cap.
    pub max_mps: u32,
    /// This sender's share of its limit group's grow budget and crossing, in (0, 1]: its
    /// `weight` over the weights of the senders in the group (a Meta portfolio shares one
    /// limit). 1 for a sender alone in its group.
    pub group_share: f64,
    /// Sends the sender's timeline can still start before the next decision
    /// (`SendTimeline::room`, which spaces every start): replaces the pacer's own per-second
    /// count of grants. `None`: the pacer counts grants per second itself (the forecast).
    pub throughput_room: Option<u64>,
}

impl SenderView {
    /// Where the sender stands on the tier ladder (for status and logs).
    pub fn growth_phase(&self) -> growth::GrowthPhase {
        growth::phase(
            self.limit,
            self.unique_7d,
            self.upgrade_threshold,
            self.upgrade_at,
        )
    }
}

/// What the pacer needs to know about one campaign on the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignView {
    pub id: String,
    /// Lower is served first.
    pub priority: u32,
    /// Share among campaigns of the same priority.
    pub weight: u32,
    /// Lower is older; breaks ties.
    pub age_rank: u64,
    pub mode: PacingMode,
    /// Marketing templates are the ones spam and quality brakes pause.
    pub marketing: bool,
    /// At most this many new uniques a local day.
    pub daily_max: Option<u64>,
    /// New uniques this campaign reached since `day_start`.
    pub sent_today: u64,
    /// Sends of this campaign's template so far (for the warm-up).
    pub template_sends: u64,
    /// Contacts not yet sent.
    pub remaining: u64,
    /// Whether the campaign's calendar is open now (not in a break, holiday, or closed hours).
    pub open_now: bool,
}

/// Why nothing (or, per campaign, nothing for that campaign) goes this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum IdleReason {
    /// No campaign has contacts left.
    NothingToDo,
    /// Outside business hours.
    Closed,
    /// A brake pauses it.
    Braked,
    /// Today's budget (grow allowance or `daily_max`) is spent.
    BudgetSpent,
    /// The tier's 24 h limit is reached; a slot frees up at `until` if known.
    LimitReached { until: Option<DateTime<Utc>> },
}

impl IdleReason {
    /// How far a campaign got before it was stopped; the sender reports the furthest.
    fn rank(self) -> u8 {
        match self {
            IdleReason::NothingToDo => 0,
            IdleReason::Closed => 1,
            IdleReason::Braked => 2,
            IdleReason::BudgetSpent => 3,
            IdleReason::LimitReached { .. } => 4,
        }
    }
}

/// The pacer's decision for one tick.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TickPlan {
    /// Sends each campaign may start now (= its `admit` budget of new uniques); only campaigns
    /// with a grant above zero, in the order of `campaigns`.
    pub grants: Vec<(String, u32)>,
    /// Why nothing goes, when `grants` is empty and something stops it (`None` when the pace
    /// simply has no whole send due yet, or the throughput cap is full: try next tick).
    pub reason_idle: Option<IdleReason>,
    /// Campaigns with contacts left that get nothing, and why (for their `waiting_*` states).
    pub held: Vec<(String, IdleReason)>,
}

impl TickPlan {
    /// The total granted this tick.
    pub fn total(&self) -> u64 {
        self.grants.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Per-campaign state kept between ticks.
#[derive(Debug, Clone, Default)]
struct CampaignPace {
    /// Accrued pace not yet a whole send.
    carry: Carry,
    /// The spread of a steady campaign's `daily_max` (grow campaigns share the sender's).
    spread: Spread,
    granted_today: u64,
    /// The warm-up's rate cap: `warmup_share x max_mps` in any one-second interval.
    warmup: Option<Gcra>,
}

/// Grow mode's crossing ramp: while the sender climbs toward its next tier, the grow budget
/// pays what the threshold needs over `cross_within` of open time from the moment the tier
/// allows it, like a spread with that deadline: sends the throughput cap held back are paid
/// later in the ramp, not lost.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ramp {
    /// The limit and threshold the ramp was set for: a new limit starts a new ramp.
    limit: Option<u64>,
    threshold: Option<u64>,
    /// This sender's share of what the threshold needed when the ramp started.
    target: f64,
    /// The sender's grants today when the ramp started.
    granted_before: u64,
    /// Open seconds left today when the ramp should be done (0: at the close).
    ends_at_open_left: f64,
}

/// Paces one sender; see the module docs.
#[derive(Debug, Clone)]
pub struct Pacer {
    settings: PacerSettings,
    throughput: Gcra,
    day_start: Option<DateTime<Utc>>,
    last_tick: Option<DateTime<Utc>>,
    /// Exact open seconds left today at the previous tick (spreads pay for the open time since).
    last_open_left: Option<f64>,
    /// The spread of the sender's grow budget, shared by its grow campaigns.
    pool: Spread,
    /// The crossing ramp in force, while climbing.
    ramp: Option<Ramp>,
    granted_today: u64,
    campaigns: HashMap<String, CampaignPace>,
}

/// How a campaign's pace is computed this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// A share of the sender's grow budget.
    Grow,
    /// Its own `daily_max`.
    Steady,
    /// `max_mps` per second (asap, and grow at the unlimited tier).
    Rate,
}

/// A campaign that may send this tick, and how much.
struct Candidate {
    index: usize,
    pace: Pace,
    /// What brakes leave of the pace, in [0, 1]: a share of the budget.
    factor: f64,
    /// The warm-up's cap on the rate, in sends a second (a new template); not a budget cut.
    warmup_rate: Option<u32>,
    /// Remaining contacts, `daily_max` left and (grow) the grow budget left.
    cap: u64,
    /// What a steady campaign spreads: its `daily_max` left.
    daily_left: DayBudget,
    due: Option<Due>,
    /// `min(due, cap)`: what it asks of the shared caps.
    want: u64,
}

impl Pacer {
    pub fn new(settings: PacerSettings) -> Self {
        Self {
            settings,
            throughput: Gcra::new(0),
            day_start: None,
            last_tick: None,
            last_open_left: None,
            pool: Spread::default(),
            ramp: None,
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
        let elapsed = self.elapsed(now);
        let open_left =
            open_seconds_left_exact(now, sender.open_seconds_left_today, sender.open_now);
        let (open_before, open_elapsed) = self.open_elapsed(open_left);
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

        let (mut candidates, mut held) =
            self.candidates(brakes, campaigns, pool_left, sender.max_mps);

        // 1. Due by pace.
        let max_mps = f64::from(sender.max_mps);
        let mut grow = Vec::new();
        for (k, candidate) in candidates.iter_mut().enumerate() {
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
                Pace::Grow => grow.push(k),
            }
        }
        self.pace_grow(
            &mut candidates,
            &grow,
            campaigns,
            (sender, pool_left),
            (open_before, open_elapsed),
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

    /// Sorts the campaigns with contacts left into those that may send this tick and those held
    /// (closed, braked, budget spent). A held campaign's carried fraction goes back to its budget.
    fn candidates(
        &mut self,
        brakes: &BrakeState,
        campaigns: &[CampaignView],
        pool_left: DayBudget,
        max_mps: u32,
    ) -> (Vec<Candidate>, Vec<(String, IdleReason)>) {
        let mut held = Vec::new();
        let mut candidates = Vec::new();
        for (index, campaign) in campaigns.iter().enumerate() {
            if campaign.remaining == 0 {
                continue;
            }
            let factor = brakes.factor(campaign.marketing);
            let warmup_rate = self.warmup_rate(campaign, max_mps);
            let pace = self.campaigns.entry(campaign.id.clone()).or_default();
            let daily_left = DayBudget::from_option(campaign.daily_max)
                .left(campaign.sent_today.max(pace.granted_today));
            let kind = match (campaign.mode, campaign.daily_max, pool_left) {
                (PacingMode::Asap, _, _) => Pace::Rate,
                (PacingMode::Steady, Some(_), _) => Pace::Steady,
                (_, _, DayBudget::Unlimited) => Pace::Rate,
                _ => Pace::Grow,
            };
            let mut cap = DayBudget::Up(campaign.remaining).min(daily_left);
            if kind == Pace::Grow {
                cap = cap.min(pool_left);
            }
            let reason = if !campaign.open_now {
                Some(IdleReason::Closed)
            } else if factor <= 0.0 {
                Some(IdleReason::Braked)
            } else if cap == DayBudget::Up(0) {
                Some(IdleReason::BudgetSpent)
            } else {
                None
            };
            if let Some(reason) = reason {
                pace.carry.clear();
                held.push((campaign.id.clone(), reason));
                continue;
            }
            candidates.push(Candidate {
                index,
                pace: kind,
                factor,
                warmup_rate,
                // `cap` is at most `remaining`, so it is never unlimited here.
                cap: match cap {
                    DayBudget::Up(n) => n,
                    DayBudget::Unlimited => campaign.remaining,
                },
                daily_left,
                due: None,
                want: 0,
            });
        }
        (candidates, held)
    }

    /// The grow budget's pace for this tick, split among the grow campaigns by priority, then
    /// weight, then age (in millionths of a send, so a slow pace is split too), each campaign
    /// taking its factor of its split and carrying its own fraction. While climbing, the pace is
    /// at least the crossing ramp's (`ramp`, per open second); what it pays ahead of the even
    /// line leaves the rest of the budget to be spread over the rest of the open day.
    fn pace_grow(
        &mut self,
        candidates: &mut [Candidate],
        grow: &[usize],
        campaigns: &[CampaignView],
        (sender, pool_left): (&SenderView, DayBudget),
        (open_before, open_elapsed): (f64, f64),
    ) {
        const MICRO: f64 = 1e6;
        if grow.is_empty() {
            return;
        }
        let carry_of = |pacer: &Self, k: usize| {
            pacer
                .campaigns
                .get(&campaigns[candidates[k].index].id)
                .map_or(0.0, |p| p.carry.get())
        };
        let carried: f64 = grow.iter().map(|&k| carry_of(self, k)).sum();
        let even = self
            .pool
            .accrue(pool_left, carried, open_before, open_elapsed);
        let ramp = self.ramp_accrual(sender, carried, open_before, open_elapsed);
        let accrued = ramp.map_or(even, |ramp| even.max(ramp));
        let claims: Vec<Claim> = grow
            .iter()
            .map(|&k| {
                let candidate = &candidates[k];
                // Float to int casts saturate.
                let want = (candidate.cap as f64 * MICRO) as u64;
                claim(&campaigns[candidate.index], want)
            })
            .collect();
        let split = share((accrued * MICRO) as u64, &claims);
        for (&k, micro) in grow.iter().zip(split) {
            let candidate = &mut candidates[k];
            let part = micro as f64 / MICRO;
            self.pool.hold_back(part * (1.0 - candidate.factor));
            let pace = self
                .campaigns
                .entry(campaigns[candidate.index].id.clone())
                .or_default();
            candidate.due = Some(pace.carry.pay(part * candidate.factor));
        }
    }

    /// Resets today's counters when the local day changes, and forgets campaigns that are gone.
    fn roll_day(&mut self, day_start: DateTime<Utc>, campaigns: &[CampaignView]) {
        if self.day_start != Some(day_start) {
            self.day_start = Some(day_start);
            self.granted_today = 0;
            self.last_open_left = None;
            self.pool = Spread::default();
            self.ramp = None;
            self.campaigns.clear();
        }
        if self.campaigns.len() > campaigns.len() {
            self.campaigns
                .retain(|id, _| campaigns.iter().any(|c| &c.id == id));
        }
    }

    /// The open time left at the previous tick of this day, and the open time elapsed since then
    /// (at most `catch_up`; zero on the first tick of a day). Open time, not wall time: a break
    /// or the night does not accrue anything.
    fn open_elapsed(&mut self, open_left: f64) -> (f64, f64) {
        let before = self.last_open_left.unwrap_or(open_left);
        self.last_open_left = Some(open_left);
        let elapsed = (before - open_left).clamp(0.0, self.settings.catch_up.as_secs_f64());
        (before, elapsed)
    }

    /// Wall seconds since the previous tick, at most `catch_up`; zero on the first tick.
    fn elapsed(&mut self, now: DateTime<Utc>) -> f64 {
        let elapsed = self.last_tick.map_or(0.0, |last| {
            let nanos = (now - last).num_nanoseconds().unwrap_or(i64::MAX);
            (nanos as f64 / 1e9).clamp(0.0, self.settings.catch_up.as_secs_f64())
        });
        self.last_tick = Some(self.last_tick.map_or(now, |last| last.max(now)));
        elapsed
    }

    /// A new template's rate cap, in sends a second: `warmup_share x max_mps` for its first
    /// `warmup_sends` sends (DESIGN.md §3: the warm-up slows the rate, never the day's budget).
    fn warmup_rate(&self, campaign: &CampaignView, max_mps: u32) -> Option<u32> {
        // A share of 1 switches the warm-up off (README).
        let warming = self.settings.warmup_share < 1.0;
        (warming && campaign.template_sends < self.settings.warmup_sends).then(|| {
            // Float to int casts saturate; at least one a second.
            ((self.settings.warmup_share * f64::from(max_mps)).floor() as u32).max(1)
        })
    }

    /// What the crossing ramp pays for `elapsed` open seconds, while the sender climbs: this
    /// sender's share of what the threshold needed when the climb toward this limit was first
    /// seen today (a new limit or a new day starts a new ramp), less what it granted since, spread
    /// over what is left of `cross_within` (all of it once that has passed). `None` once
    /// crossed, or at the top of the ladder. The throughput cap still bounds every second.
    fn ramp_accrual(
        &mut self,
        sender: &SenderView,
        carried: f64,
        open_before: f64,
        elapsed: f64,
    ) -> Option<f64> {
        let growth::GrowthPhase::Climbing { needed } = sender.growth_phase() else {
            self.ramp = None;
            return None;
        };
        let same = self
            .ramp
            .is_some_and(|r| r.limit == sender.limit && r.threshold == sender.upgrade_threshold);
        if !same {
            self.ramp = Some(Ramp {
                limit: sender.limit,
                threshold: sender.upgrade_threshold,
                target: needed as f64 * sender.group_share.clamp(0.0, 1.0),
                granted_before: self.granted_today,
                ends_at_open_left: (open_before - self.settings.cross_within.as_secs_f64())
                    .max(0.0),
            });
        }
        let ramp = self.ramp?;
        let granted = self.granted_today.saturating_sub(ramp.granted_before) as f64;
        let left = (ramp.target - granted - carried).max(0.0);
        let span = open_before - ramp.ends_at_open_left;
        let part = if span <= 0.0 {
            1.0
        } else {
            (elapsed / span).clamp(0.0, 1.0)
        };
        Some(left * part)
    }
}

/// The open time left today to the nanosecond. The calendar rounds it down to whole seconds and
/// its open stretches begin and end on whole seconds (hours are `HH:MM`, zone offsets whole
/// seconds), so while open the missing fraction is the rest of the current second (and while
/// closed there is none). Without it ticks that do not fall on whole seconds would be paid
/// unevenly, up to twice their share in the last seconds of a day.
fn open_seconds_left_exact(now: DateTime<Utc>, whole: i64, open_now: bool) -> f64 {
    if whole < 0 || (whole == 0 && !open_now) {
        return 0.0;
    }
    if !open_now {
        return whole as f64;
    }
    // Leap seconds show as nanos >= 1e9; they count as the end of the second.
    let nanos = now.timestamp_subsec_nanos().min(999_999_999);
    let rest = if nanos == 0 {
        0.0
    } else {
        f64::from(1_000_000_000 - nanos) / 1e9
    };
    whole as f64 + rest
}

fn claim(campaign: &CampaignView, want: u64) -> Claim {
    Claim {
        priority: campaign.priority,
        weight: campaign.weight,
        age_rank: campaign.age_rank,
        want,
    }
}

/// Why the sender is idle: nothing to do, or the furthest any campaign got before it was held.
/// `None` when some campaign is only waiting for its pace or the throughput cap.
fn idle_reason(campaigns: &[CampaignView], held: &[(String, IdleReason)]) -> Option<IdleReason> {
    let waiting = campaigns.iter().filter(|c| c.remaining > 0).count();
    if waiting == 0 {
        return Some(IdleReason::NothingToDo);
    }
    if held.len() < waiting {
        return None;
    }
    held.iter().map(|(_, r)| *r).max_by_key(|r| r.rank())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::brake::{Brake, BrakeState};
    use chrono::{Duration, TimeZone};

    fn day() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap()
    }

    /// 10:00 on a day open 08:00-18:00, 1K tier, nothing sent yet.
    fn sender(now: DateTime<Utc>) -> SenderView {
        let close = day() + Duration::hours(18);
        SenderView {
            now,
            limit: Some(1000),
            headroom: Some(950),
            unique_24h: 0,
            unique_7d: 0,
            upgrade_threshold: Some(500),
            upgrade_at: None,
            limit_frees_at: None,
            day_start: day(),
            open_seconds_left_today: (close - now).num_seconds().max(0),
            open_now: now < close,
            new_uniques_today: 0,
            max_mps: 20,
            group_share: 1.0,
            throughput_room: None,
        }
    }

    fn campaign(id: &str, mode: PacingMode) -> CampaignView {
        CampaignView {
            id: id.into(),
            priority: 1,
            weight: 1,
            age_rank: 0,
            mode,
            marketing: true,
            daily_max: None,
            sent_today: 0,
            template_sends: 1_000_000,
            remaining: 100_000,
            open_now: true,
        }
    }

    /// Runs `ticks` one-second ticks from 10:00 and returns the total granted per campaign.
    fn run(
        pacer: &mut Pacer,
        brakes: &BrakeState,
        campaigns: &[CampaignView],
        ticks: i64,
    ) -> Vec<u64> {
        let start = day() + Duration::hours(10);
        let mut totals = vec![0; campaigns.len()];
        for k in 0..=ticks {
            let plan = pacer.plan(&sender(start + Duration::seconds(k)), brakes, campaigns);
            for (id, n) in plan.grants {
                let i = campaigns.iter().position(|c| c.id == id).unwrap();
                totals[i] += u64::from(n);
            }
        }
        totals
    }

    /// The sender of [`sender`] with the threshold already crossed today.
    fn crossed(now: DateTime<Utc>) -> SenderView {
        SenderView {
            unique_7d: 500,
            ..sender(now)
        }
    }

    #[test]
    fn grow_spreads_the_allowance_over_the_open_hours_left_once_crossed() {
        // 950 over the 8 h left: 950 / 28800 s, so one hour pays about 118.75.
        let mut pacer = Pacer::new(PacerSettings::default());
        let c = [campaign("a", PacingMode::Grow)];
        let start = day() + Duration::hours(10);
        let total: u64 = (0..=3600)
            .map(|k| {
                let view = crossed(start + Duration::seconds(k));
                pacer.plan(&view, &BrakeState::default(), &c).total()
            })
            .sum();
        assert!((118..=120).contains(&total), "{total}");
    }

    #[test]
    fn grow_crosses_within_cross_within_then_spreads_the_rest() {
        // From 10:00 with 8 open hours left: the 500 the threshold needs go over the first hour
        // (about 0.139 a second, not the even 0.033), the other 450 over the 7 h after it.
        let mut pacer = Pacer::new(PacerSettings::default());
        let c = [campaign("a", PacingMode::Grow)];
        let start = day() + Duration::hours(10);
        let mut sent = 0u64;
        let mut crossed_at = None;
        for k in 0..=8 * 3600 {
            let now = start + Duration::seconds(k);
            let view = SenderView {
                unique_7d: sent,
                unique_24h: sent,
                headroom: Some(950 - sent),
                new_uniques_today: sent,
                ..sender(now)
            };
            sent += pacer.plan(&view, &BrakeState::default(), &c).total();
            if sent >= 500 && crossed_at.is_none() {
                crossed_at = Some(k);
            }
        }
        let crossed_at = crossed_at.expect("crossed");
        assert!(
            (3590..=3601).contains(&crossed_at),
            "crossed after {crossed_at} s"
        );
        // The last open second is paid by a tick after the close, which never comes: within one.
        assert!(
            (949..=950).contains(&sent),
            "the allowance is used by the close: {sent}"
        );
    }

    #[test]
    fn a_shorter_cross_within_crosses_sooner_and_never_above_max_mps() {
        let settings = PacerSettings {
            cross_within: StdDuration::from_secs(10),
            ..PacerSettings::default()
        };
        let mut pacer = Pacer::new(settings);
        let c = [campaign("a", PacingMode::Grow)];
        let start = day() + Duration::hours(10);
        let mut sent = 0u64;
        let mut most = 0u64;
        for k in 0..=60 {
            let view = SenderView {
                unique_7d: sent,
                ..sender(start + Duration::seconds(k))
            };
            let n = pacer.plan(&view, &BrakeState::default(), &c).total();
            most = most.max(n);
            sent += n;
        }
        // 500 in 10 s would be 50/s; max_mps is 20.
        assert!(most <= 20, "{most} in one second");
        assert!((500..=520).contains(&sent), "{sent}");
    }

    #[test]
    fn senders_sharing_a_limit_split_the_grow_budget_and_the_crossing() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let c = [campaign("a", PacingMode::Grow)];
        let start = day() + Duration::hours(10);
        let total: u64 = (0..=3600)
            .map(|k| {
                let view = SenderView {
                    group_share: 0.5,
                    ..sender(start + Duration::seconds(k))
                };
                pacer.plan(&view, &BrakeState::default(), &c).total()
            })
            .sum();
        assert!((249..=251).contains(&total), "half the crossing: {total}");
        assert_eq!(
            growth::grow_budget(Some(950), 0.5),
            DayBudget::Up(475),
            "half the allowance"
        );
    }

    #[test]
    fn asap_goes_at_the_throughput_cap() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let totals = run(
            &mut pacer,
            &BrakeState::default(),
            &[campaign("a", PacingMode::Asap)],
            10,
        );
        assert_eq!(totals[0], 200);
    }

    #[test]
    fn steady_spreads_its_daily_max() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Steady);
        c.daily_max = Some(2880);
        let totals = run(&mut pacer, &BrakeState::default(), &[c], 600);
        assert_eq!(totals[0], 60);
    }

    #[test]
    fn warm_up_halves_a_new_template_s_rate_not_its_budget() {
        // The rate: asap at max_mps 20 goes at 10 a second.
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Asap);
        c.template_sends = 10;
        let totals = run(&mut pacer, &BrakeState::default(), &[c.clone()], 10);
        assert_eq!(totals[0], 100);
        // The budget: steady's 2880 a day still pays 60 in 600 s (0.1 a second, far under 10).
        let mut pacer = Pacer::new(PacerSettings::default());
        c.mode = PacingMode::Steady;
        c.daily_max = Some(2880);
        let totals = run(&mut pacer, &BrakeState::default(), &[c], 600);
        assert_eq!(totals[0], 60);
    }

    #[test]
    fn closed_hours_grant_nothing() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Asap);
        c.open_now = false;
        let plan = pacer.plan(
            &sender(day() + Duration::hours(10)),
            &BrakeState::default(),
            &[c],
        );
        assert_eq!(plan.reason_idle, Some(IdleReason::Closed));
        assert!(plan.grants.is_empty());
    }

    #[test]
    fn no_headroom_means_limit_reached_until_a_slot_frees() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let now = day() + Duration::hours(10);
        let frees = now + Duration::hours(3);
        let mut view = sender(now);
        view.headroom = Some(0);
        view.limit_frees_at = Some(frees);
        let c = [campaign("a", PacingMode::Asap)];
        pacer.plan(&view, &BrakeState::default(), &c);
        view.now += Duration::seconds(1);
        let plan = pacer.plan(&view, &BrakeState::default(), &c);
        assert_eq!(
            plan.reason_idle,
            Some(IdleReason::LimitReached { until: Some(frees) })
        );
    }

    #[test]
    fn the_pacer_checks_the_allowance_itself() {
        // A ledger reporting more headroom than limit x safety_share - unique_24h is not trusted.
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut view = sender(day() + Duration::hours(10));
        view.headroom = Some(5000);
        view.unique_24h = 940;
        let c = [campaign("a", PacingMode::Asap)];
        pacer.plan(&view, &BrakeState::default(), &c);
        view.now += Duration::seconds(1);
        assert_eq!(pacer.plan(&view, &BrakeState::default(), &c).total(), 10);
    }

    #[test]
    fn spam_brake_pauses_marketing_but_not_utility() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut brakes = BrakeState::default();
        brakes.set(Brake::SpamRate, day());
        let mut utility = campaign("otp", PacingMode::Asap);
        utility.marketing = false;
        let promo = campaign("promo", PacingMode::Asap);
        let totals = run(&mut pacer, &brakes, &[promo.clone(), utility], 5);
        assert_eq!(totals, vec![0, 100]);
        let plan = pacer.plan(&sender(day() + Duration::hours(11)), &brakes, &[promo]);
        assert_eq!(plan.reason_idle, Some(IdleReason::Braked));
    }

    #[test]
    fn a_spent_daily_max_is_budget_spent() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Asap);
        c.daily_max = Some(300);
        c.sent_today = 300;
        let plan = pacer.plan(
            &sender(day() + Duration::hours(10)),
            &BrakeState::default(),
            &[c],
        );
        assert_eq!(plan.reason_idle, Some(IdleReason::BudgetSpent));
    }

    #[test]
    fn a_new_day_resets_the_pace() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Asap);
        c.daily_max = Some(30);
        let totals = run(&mut pacer, &BrakeState::default(), &[c.clone()], 5);
        assert_eq!(totals[0], 30);
        let tomorrow = day() + Duration::days(1);
        let mut view = sender(tomorrow + Duration::hours(10));
        view.day_start = tomorrow;
        view.open_seconds_left_today = 8 * 3600;
        // The night is one long gap: only `catch_up` (5 s, 100 sends) of it is paid, of which the
        // throughput cap lets 20 go now; the rest of the new day's 30 follows a second later.
        let first = pacer
            .plan(&view, &BrakeState::default(), &[c.clone()])
            .total();
        view.now += Duration::seconds(1);
        let second = pacer.plan(&view, &BrakeState::default(), &[c]).total();
        assert_eq!((first, second), (20, 10));
    }

    #[test]
    fn the_sender_reports_the_furthest_reason_and_each_campaign_its_own() {
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut brakes = BrakeState::default();
        brakes.set(Brake::QualityLow, day());
        let mut closed = campaign("closed", PacingMode::Asap);
        closed.open_now = false;
        let braked = campaign("braked", PacingMode::Asap);
        let mut done = campaign("done", PacingMode::Asap);
        done.remaining = 0;
        let plan = pacer.plan(
            &sender(day() + Duration::hours(10)),
            &brakes,
            &[closed, braked, done],
        );
        assert_eq!(plan.reason_idle, Some(IdleReason::Braked));
        assert_eq!(
            plan.held,
            vec![
                ("closed".to_string(), IdleReason::Closed),
                ("braked".to_string(), IdleReason::Braked),
            ]
        );
    }

    #[test]
    fn an_outage_is_not_paid_back_as_a_burst() {
        // Steady at 1 a second; ten minutes without ticks pay only `catch_up` (5 s) at once.
        let mut pacer = Pacer::new(PacerSettings::default());
        let mut c = campaign("a", PacingMode::Steady);
        c.daily_max = Some(8 * 3600);
        let start = day() + Duration::hours(10);
        let brakes = BrakeState::default();
        pacer.plan(&sender(start), &brakes, std::slice::from_ref(&c));
        let plan = pacer.plan(
            &sender(start + Duration::minutes(10)),
            &brakes,
            std::slice::from_ref(&c),
        );
        assert_eq!(plan.total(), 5);
    }

    #[test]
    fn settings_validation_reports_every_problem() {
        let settings = PacerSettings {
            safety_share: 1.5,
            warmup_share: 0.0,
            ..PacerSettings::default()
        };
        let errors = settings.validate().unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(PacerSettings::default().validate().is_ok());
    }

    #[test]
    fn settings_read_from_toml_with_humantime_durations() {
        let settings: PacerSettings = toml::from_str(
            "safety_share = 0.9\nreserve = 20\ncatch_up = \"5s\"\n[brakes]\nspam_window = \"30m\"\n",
        )
        .unwrap();
        assert_eq!(settings.reserve, 20);
        assert_eq!(settings.catch_up, StdDuration::from_secs(5));
        assert_eq!(settings.brakes.spam_window, StdDuration::from_secs(1800));
        assert!(toml::from_str::<PacerSettings>("bogus = 1").is_err());
    }
}
