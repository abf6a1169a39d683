//! The pacer: per sender, each tick, how many new unique customers each running campaign may
//! start now (DESIGN.md §3; issue #5, part 3).
//!
//! One [`Pacer`] per sender, called by that sender's dispatcher every tick with plain numbers: a
//! [`SenderView`] (the ledger's counts and the calendar's open time, filled by the caller), the
//! sender's [`BrakeState`] and one [`CampaignView`] per campaign. It returns a [`TickPlan`]: a
//! grant per campaign (use it as the ledger `admit` budget of new uniques for that campaign), or
//! why nothing may go. It is pure: time is `SenderView::now`; its only state is what a pace needs
//! between ticks (fractions carried over, today's grants, the throughput log).
//!
//! Each tick, in this order:
//! 1. **Due by pace.** Each campaign's share of its day budget for this tick ([`growth`]):
//!    grow campaigns pace the sender's grow budget (shared: their total is capped by the pool's
//!    own pace), steady ones their `daily_max`, asap ones `max_mps`. Brakes and the new-template
//!    warm-up scale the pace (`factor`); `daily_max` and the campaign's remaining contacts cap it.
//! 2. **Shared hard caps.** The headroom (never more than `allowance - unique_24h`) and the
//!    throughput cap ([`Gcra`]: never more than `max_mps` in any one-second interval) are split by
//!    priority, then weight, then age ([`share`]).
//!
//! "Used today" is the larger of the caller's count (`new_uniques_today`, `sent_today`) and the
//! pacer's own grants since `day_start`: a restart or another replica is seen through the
//! caller's numbers, and a grant is counted at once even before the ledger has recorded it. A
//! grant the dispatcher could not use is not handed out again today (conservative).
use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::brake::{BrakeSettings, BrakeState};
use super::growth::{self, DayBudget, PacingMode, Spread};
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
    /// The pace during a template's warm-up, in (0, 1]. Default 0.5.
    pub warmup_share: f64,
    /// The longest gap between two ticks that is paid out (after a pause, a closed period or a
    /// Redis outage the first tick is not a catch-up burst). Default `2s`.
    #[serde(with = "humantime_serde")]
    pub catch_up: StdDuration,
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
            catch_up: StdDuration::from_secs(2),
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
    /// Open seconds left today in the sender's calendar, breaks excluded.
    pub open_seconds_left_today: i64,
    /// New unique customers this sender reached since `day_start`.
    pub new_uniques_today: u64,
    /// The sender's throughput cap.
    pub max_mps: u32,
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
    /// New uniques each campaign may start now; only campaigns with a grant above zero.
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
    spread: Spread,
    granted_today: u64,
}

/// Paces one sender; see the module docs.
#[derive(Debug, Clone)]
pub struct Pacer {
    settings: PacerSettings,
    throughput: Gcra,
    day_start: Option<DateTime<Utc>>,
    last_tick: Option<DateTime<Utc>>,
    /// The grow pool of the sender: caps the sum of its grow campaigns' grants.
    pool: Spread,
    granted_today: u64,
    campaigns: HashMap<String, CampaignPace>,
}

/// One campaign's place in this tick's computation.
struct Candidate {
    index: usize,
    grow: bool,
    want: u64,
    due: Option<growth::Due>,
}

impl Pacer {
    pub fn new(settings: PacerSettings) -> Self {
        Self {
            settings,
            throughput: Gcra::new(0),
            day_start: None,
            last_tick: None,
            pool: Spread::default(),
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
        self.throughput.set_per_second(sender.max_mps);

        let allowance = growth::allowance(
            sender.limit,
            self.settings.safety_share,
            self.settings.reserve,
        );
        let headroom = DayBudget::from_option(sender.headroom)
            .min(DayBudget::from_option(allowance).left(sender.unique_24h));
        let open_left = sender.open_seconds_left_today;
        let pool_left =
            growth::grow_budget(allowance).left(sender.new_uniques_today.max(self.granted_today));
        let pool_due = match pool_left {
            DayBudget::Unlimited => self.pool.due_at_rate(f64::from(sender.max_mps), elapsed),
            left => self.pool.due(left, open_left, elapsed, 1.0),
        };

        let mut held = Vec::new();
        let mut candidates = Vec::new();
        for (index, campaign) in campaigns.iter().enumerate() {
            if campaign.remaining == 0 {
                continue;
            }
            let hold = |reason| (campaign.id.clone(), reason);
            if !campaign.open_now || open_left <= 0 {
                held.push(hold(IdleReason::Closed));
                continue;
            }
            let factor = brakes.factor(campaign.marketing) * self.warmup_factor(campaign);
            if factor <= 0.0 {
                held.push(hold(IdleReason::Braked));
                continue;
            }
            let pace = self.campaigns.entry(campaign.id.clone()).or_default();
            let daily_left = DayBudget::from_option(campaign.daily_max)
                .left(campaign.sent_today.max(pace.granted_today));
            let grow = campaign.mode == PacingMode::Grow
                || (campaign.mode == PacingMode::Steady && campaign.daily_max.is_none());
            let due = match (campaign.mode, grow, pool_left) {
                (PacingMode::Asap, _, _) | (_, true, DayBudget::Unlimited) => pace
                    .spread
                    .due_at_rate(f64::from(sender.max_mps) * factor, elapsed),
                (_, true, left) => pace.spread.due(left, open_left, elapsed, factor),
                (_, false, _) => pace.spread.due(daily_left, open_left, elapsed, factor),
            };
            let mut cap = campaign.remaining;
            if let DayBudget::Up(n) = daily_left {
                cap = cap.min(n);
            }
            if grow {
                if let DayBudget::Up(n) = pool_left {
                    cap = cap.min(n);
                }
            }
            if cap == 0 {
                held.push(hold(IdleReason::BudgetSpent));
                continue;
            }
            candidates.push(Candidate {
                index,
                grow,
                want: due.whole.min(cap),
                due: Some(due),
            });
        }

        // The grow pool's pace caps what all grow campaigns take together.
        let grow_claims: Vec<(usize, Claim)> = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.grow)
            .map(|(k, c)| (k, claim(&campaigns[c.index], c.want)))
            .collect();
        if !grow_claims.is_empty() {
            let claims: Vec<Claim> = grow_claims.iter().map(|(_, c)| *c).collect();
            for ((k, _), got) in grow_claims.iter().zip(share(pool_due.whole, &claims)) {
                candidates[*k].want = got;
            }
            self.pool.settle(pool_due);
        }

        // Headroom and throughput are hard and shared by everyone.
        let throughput = u64::from(self.throughput.available(now));
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
        for (candidate, got) in candidates.iter_mut().zip(given) {
            let campaign = &campaigns[candidate.index];
            let pace = self.campaigns.entry(campaign.id.clone()).or_default();
            if let Some(due) = candidate.due.take() {
                pace.spread.settle(due);
            }
            // Grants are u32 on the wire to the dispatcher; a tick never comes near that.
            let got = u32::try_from(got).unwrap_or(u32::MAX);
            if got > 0 {
                pace.granted_today += u64::from(got);
                plan.grants.push((campaign.id.clone(), got));
            } else if headroom == DayBudget::Up(0) {
                plan.held.push((
                    campaign.id.clone(),
                    IdleReason::LimitReached {
                        until: sender.limit_frees_at,
                    },
                ));
            }
        }
        let total = plan.total();
        let taken = self
            .throughput
            .try_take(now, u32::try_from(total).unwrap_or(u32::MAX));
        debug_assert_eq!(
            u64::from(taken),
            total,
            "grants were capped by availability"
        );
        self.granted_today += total;

        plan.held.extend(held);
        if plan.grants.is_empty() {
            plan.reason_idle = idle_reason(campaigns, &plan.held);
        }
        plan
    }

    /// Resets today's counters when the local day changes, and forgets campaigns that are gone.
    fn roll_day(&mut self, day_start: DateTime<Utc>, campaigns: &[CampaignView]) {
        if self.day_start != Some(day_start) {
            self.day_start = Some(day_start);
            self.granted_today = 0;
            self.pool = Spread::default();
            self.campaigns.clear();
        }
        if self.campaigns.len() > campaigns.len() {
            self.campaigns
                .retain(|id, _| campaigns.iter().any(|c| &c.id == id));
        }
    }

    /// Seconds since the previous tick, at most `catch_up`; zero on the first tick.
    fn elapsed(&mut self, now: DateTime<Utc>) -> f64 {
        let elapsed = self.last_tick.map_or(0.0, |last| {
            let nanos = (now - last).num_nanoseconds().unwrap_or(i64::MAX);
            (nanos as f64 / 1e9).clamp(0.0, self.settings.catch_up.as_secs_f64())
        });
        self.last_tick = Some(self.last_tick.map_or(now, |last| last.max(now)));
        elapsed
    }

    fn warmup_factor(&self, campaign: &CampaignView) -> f64 {
        if campaign.template_sends < self.settings.warmup_sends {
            self.settings.warmup_share
        } else {
            1.0
        }
    }
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
