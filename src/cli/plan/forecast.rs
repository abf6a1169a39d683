//! The forecast behind `tierpace plan --audience N` / `--campaign ID` and the deadline warning of
//! `tierpace check` (issue #5, part 7; DESIGN.md §7: "warn when an audience exceeds what the tier
//! allows before the deadline, and say when it will finish", glific/glific#3541).
//!
//! It runs the daemon's own decisions on virtual time: the pure [`Pacer`] decides each tick what
//! may go, and the in-memory ledger ([`MemoryLedger`]) admits it and moves the tier exactly as the
//! daemon's ledger would (policy, safety share, reserve, upgrade delay). Nothing is re-derived
//! here, so a forecast can only disagree with the daemon where the world does: every send is
//! assumed to reach a new unique customer, nothing fails, no brake fires, quality stays good
//! enough for every upgrade, and the tier is the one given (not read from a live ledger).
//!
//! Time moves in ticks of `tick` (60 s by default; the daemon ticks every second or so). Two
//! settings keep a coarse tick from changing the pace: the pacer's `catch_up` is set to the tick,
//! so every tick's open time is paid in full, and the throughput cap handed to the pacer is
//! `max_mps x tick` per tick. The pacer measures that cap over one second and ticks are a whole
//! tick apart, so each tick may send `max_mps x tick`: the same rate, granted in tick-sized steps.
//! Day budgets, headroom and upgrade times do not depend on the tick beyond its length (an
//! upgrade crossed inside a tick is stamped at that tick).
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::{Forecast, ForecastInput};
use crate::cli::table::{self, thousands, PlanDay, TableHeading};
use crate::contact::ContactKey;
use crate::ledger::{AdmitDecision, Ledger, LedgerSettings, LedgerStats, LimitGroup, MemoryLedger};
use crate::policy::brake::BrakeState;
use crate::policy::growth::PacingMode;
use crate::policy::pacer::{CampaignView, Pacer, PacerSettings, SenderView};
use crate::policy::tier::Tier;
use crate::policy::tier_state::PendingUpgrade;

/// Keeps the day rows while the ticks go by.
struct Days {
    rows: Vec<PlanDay>,
    /// Where each row's local day starts.
    starts: Vec<DateTime<Utc>>,
    tier: Tier,
    last_pending: Option<PendingUpgrade>,
    tiers: Vec<(Tier, DateTime<Utc>)>,
}

impl Days {
    /// Records what the ledger says at `at`: a new pending upgrade (crossed this day), a tier
    /// change (the pending upgrade took effect, in the row of the day it took effect).
    fn observe(&mut self, stats: &LedgerStats) {
        if stats.tier != self.tier {
            if let Some(p) = self.last_pending.take() {
                // The day it took effect: usually today, yesterday if it came between the last
                // tick of a day and midnight.
                let index = self.starts.iter().rposition(|s| *s <= p.effective_at);
                if let Some(row) = index.and_then(|i| self.rows.get_mut(i)) {
                    row.upgraded.push(p);
                }
                self.tiers.push((stats.tier, p.effective_at));
            }
            self.tier = stats.tier;
        }
        if let Some(p) = stats.pending_upgrade {
            if self.last_pending != Some(p) {
                if let Some(row) = self.rows.last_mut() {
                    row.crossed.push(p);
                }
                self.last_pending = Some(p);
            }
        }
    }

    /// `sent_7d`: contacts reached in the 7 days before the day's end, from the forecast's own
    /// count; at the unlimited tier the ledger is no longer fed, so its count stops there.
    fn close_day(&mut self, stats: &LedgerStats, sent_7d: u64) {
        self.observe(stats);
        if let Some(row) = self.rows.last_mut() {
            row.unique_7d = if stats.limit.is_none() {
                sent_7d
            } else {
                stats.unique_7d
            };
            row.tier_at_end = stats.tier;
            row.limit_at_end = stats.limit;
        }
    }
}

/// The memory ledger never awaits anything, so a minimal executor drives it.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// Runs the campaign on virtual time; see the module docs.
pub fn simulate(input: &ForecastInput) -> Result<Forecast> {
    let group = LimitGroup::new("forecast");
    let ledger = MemoryLedger::new(LedgerSettings {
        policy: input.policy.clone(),
        safety_share: input.safety_share,
        reserve: input.reserve,
        initial_tiers: [(group.clone(), input.tier)].into_iter().collect(),
    });
    let tick = Duration::from_std(input.tick)
        .ok()
        .filter(|t| *t > Duration::zero())
        .context("the tick must be a positive duration")?;
    let tick_secs = u32::try_from(tick.num_seconds().max(1)).unwrap_or(u32::MAX);
    let mut pacer = Pacer::new(PacerSettings {
        safety_share: input.safety_share,
        reserve: input.reserve,
        catch_up: input.tick,
        ..input.pacing.clone()
    });
    let brakes = BrakeState::default();
    let calendar = &input.calendar;
    let tz = calendar.timezone();
    let horizon = input.start + input.horizon;

    let mut days = Days {
        rows: Vec::new(),
        starts: Vec::new(),
        tier: input.tier,
        last_pending: None,
        tiers: vec![(input.tier, input.start)],
    };
    let mut sent: u64 = 0;
    let mut cumulative = vec![(input.start, 0)];
    let mut finished_at = None;
    let mut day_end = input.start;
    let mut now = input.start;
    while now < horizon && finished_at.is_none() {
        let (day_start, next_day) = calendar.local_day_bounds(now);
        if now >= day_end {
            if !days.rows.is_empty() {
                let stats = block_on(ledger.stats(&group, day_end - Duration::seconds(1)))
                    .context("simulated ledger")?;
                days.close_day(
                    &stats,
                    sent_between(&cumulative, day_end, input.policy.lookback),
                );
            }
            let date = now.with_timezone(&tz).date_naive();
            days.rows.push(PlanDay {
                day: days.rows.len() + 1,
                date,
                new_conversations: 0,
                refused: 0,
                unique_7d: 0,
                tier_at_end: days.tier,
                limit_at_end: None,
                crossed: Vec::new(),
                upgraded: Vec::new(),
            });
            days.starts.push(day_start);
            day_end = next_day;
        }
        let stats = block_on(ledger.stats(&group, now)).context("simulated ledger")?;
        days.observe(&stats);
        let today = days.rows.last().map_or(0, |r| r.new_conversations);
        let open_now = calendar.is_open(now);
        let view = SenderView {
            now,
            limit: stats.limit,
            headroom: stats.headroom,
            unique_24h: stats.unique_24h,
            unique_7d: stats.unique_7d,
            upgrade_threshold: stats.upgrade_threshold,
            upgrade_at: stats.pending_upgrade.map(|p| p.effective_at),
            limit_frees_at: stats.next_slot_at,
            day_start,
            open_seconds_left_today: calendar.open_seconds_left_today(now),
            open_now,
            new_uniques_today: today,
            max_mps: input.max_mps.saturating_mul(tick_secs),
            group_share: 1.0,
            throughput_room: None,
        };
        let campaign = CampaignView {
            id: "forecast".into(),
            priority: 0,
            weight: 1,
            age_rank: 0,
            mode: input.mode,
            marketing: input.marketing,
            daily_max: input.daily_max,
            sent_today: today,
            template_sends: input.template_sends.saturating_add(sent),
            remaining: input.audience - sent,
            open_now,
        };
        let grant = pacer
            .plan(&view, &brakes, std::slice::from_ref(&campaign))
            .total()
            .min(input.audience - sent);
        if grant > 0 {
            let admitted = if stats.limit.is_none() {
                // Unlimited: the ledger admits everything and nothing moves the tier any more
                // (the forecast has no downgrades), so millions of contacts need not be stored.
                grant
            } else {
                let contacts: Vec<ContactKey> = (0..grant)
                    .map(|k| ContactKey(u128::from(sent + k)))
                    .collect();
                let budget = u32::try_from(grant).unwrap_or(u32::MAX);
                let decisions = block_on(ledger.admit(&group, now, &contacts, budget))
                    .context("simulated ledger")?;
                decisions
                    .iter()
                    .filter(|d| matches!(d, AdmitDecision::Admitted { .. }))
                    .count() as u64
            };
            let refused = grant - admitted;
            sent += admitted;
            if let Some(row) = days.rows.last_mut() {
                row.new_conversations += admitted;
                row.refused += refused;
            }
            cumulative.push((now, sent));
            // The ledger may have recorded the crossing conversation just now.
            let after = block_on(ledger.stats(&group, now)).context("simulated ledger")?;
            days.observe(&after);
            if sent >= input.audience {
                finished_at = Some(now);
            }
        }
        now += tick;
    }
    let until = now.min(horizon);
    if !days.rows.is_empty() {
        let stats = block_on(ledger.stats(&group, day_end - Duration::seconds(1)))
            .context("simulated ledger")?;
        days.close_day(
            &stats,
            sent_between(&cumulative, day_end, input.policy.lookback),
        );
    }
    Ok(Forecast {
        days: days.rows,
        tiers: days.tiers,
        finished_at,
        sent,
        cumulative,
        until,
        timezone: tz,
    })
}

/// When each rung is reached at the earliest the rules allow ([`ForecastInput::rules_only`]),
/// the starting tier first: `plan` prints it next to tierpace's own plan (issue #14), so the cost
/// of any setting (a smaller `cross_within`, a reserve, a calendar) is visible.
pub fn earliest_rungs(input: &ForecastInput) -> Result<Vec<(Tier, DateTime<Utc>)>> {
    Ok(simulate(&input.rules_only())?.tiers)
}

/// Contacts reached in `(end - lookback, end]`, from the cumulative series.
fn sent_between(
    cumulative: &[(DateTime<Utc>, u64)],
    end: DateTime<Utc>,
    lookback: Duration,
) -> u64 {
    let upto = |t: DateTime<Utc>| {
        cumulative
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |(_, n)| *n)
    };
    upto(end).saturating_sub(upto(end - lookback))
}

/// A local date and time in the calendar's zone, for the summary lines.
fn local(tz: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The lines under the day table: when each tier took effect (with the earliest the rules allow,
/// from [`earliest_rungs`], when given), the pending upgrade if any, and when the campaign
/// finishes (or how far it got).
pub fn render_summary(
    input: &ForecastInput,
    f: &Forecast,
    earliest: &[(Tier, DateTime<Utc>)],
) -> String {
    use std::fmt::Write as _;
    let tz = f.timezone;
    let day = |t: DateTime<Utc>| {
        f.day_of(t)
            .map_or_else(String::new, |(n, _)| format!(" (day {n})"))
    };
    let mut out = String::new();
    let _ = writeln!(out, "tiers:");
    for (i, (tier, at)) in f.tiers.iter().enumerate() {
        let note = if i == 0 {
            ", at the start".to_string()
        } else {
            earliest
                .iter()
                .find(|(t, _)| t == tier)
                .map_or_else(String::new, |(_, rules)| {
                    let late = (*at - *rules).num_minutes();
                    let cost = if late > 0 {
                        format!(", {}h{:02} later", late / 60, late % 60)
                    } else {
                        String::new()
                    };
                    format!("; earliest the rules allow {}{cost}", local(tz, *rules))
                })
        };
        let _ = writeln!(
            out,
            "  {:<9} from {}{}{note}",
            tier.to_string(),
            local(tz, *at),
            day(*at)
        );
    }
    let pending = f
        .days
        .iter()
        .flat_map(|d| d.crossed.iter())
        .rfind(|p| f.reached(p.to).is_none());
    if let Some(p) = pending {
        let _ = writeln!(
            out,
            "  {:<9} from {} (threshold hit {}, after the last send)",
            p.to.to_string(),
            local(tz, p.effective_at),
            local(tz, p.crossed_at)
        );
    }
    let audience = thousands(input.audience);
    match f.finished_at {
        Some(at) => {
            let _ = writeln!(
                out,
                "campaign: all {audience} contacts reached by {}{}",
                local(tz, at),
                day(at)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "campaign: NOT FINISHED by {}: {} of {audience} contacts reached",
                local(tz, f.until),
                thousands(f.sent)
            );
        }
    }
    out
}

/// The day table (the plan's own format) and the summary lines.
pub fn render(input: &ForecastInput, f: &Forecast, earliest: &[(Tier, DateTime<Utc>)]) -> String {
    let heading = TableHeading {
        profile: input.policy.profile.clone(),
        tier: input.tier,
        safety_share: input.safety_share,
        reserve: input.reserve,
        timezone: f.timezone,
    };
    let mode = match input.mode {
        PacingMode::Grow => "grow",
        PacingMode::Steady => "steady",
        PacingMode::Asap => "asap",
    };
    let mut out = format!(
        "forecast: {} contacts, {mode} mode{}, {} calendar, max {}/s, template sends before {}, tick {}\n",
        thousands(input.audience),
        input
            .daily_max
            .map_or_else(String::new, |m| format!(" (at most {}/day)", thousands(m))),
        input.calendar.name(),
        input.max_mps,
        input.template_sends,
        humantime::format_duration(input.tick)
    );
    out.push_str(&table::render(&heading, &f.days));
    out.push_str(&render_summary(input, f, earliest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::calendar::Calendar;
    use crate::policy::calendar_config::CalendarConfig;
    use crate::policy::profile::Policy;
    use chrono::NaiveDate;
    use chrono::TimeZone;
    use std::time::Duration as StdDuration;

    /// Monday 2 March 2026, 00:00 UTC.
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn input(audience: u64) -> ForecastInput {
        ForecastInput {
            policy: Policy::legacy(),
            safety_share: 0.95,
            reserve: 0,
            tier: Tier::T1K,
            calendar: Calendar::always(),
            start: monday(),
            audience,
            mode: PacingMode::Grow,
            daily_max: None,
            marketing: true,
            template_sends: 1_000,
            max_mps: 20,
            pacing: PacerSettings::default(),
            tick: StdDuration::from_secs(60),
            horizon: Duration::days(30),
        }
    }

    fn weekdays_8_to_18() -> Calendar {
        let cfg: CalendarConfig = toml::from_str(
            "timezone = \"UTC\"\nmon = [\"08:00-18:00\"]\ntue = [\"08:00-18:00\"]\n\
             wed = [\"08:00-18:00\"]\nthu = [\"08:00-18:00\"]\nfri = [\"08:00-18:00\"]\n",
        )
        .unwrap();
        cfg.build("weekdays").unwrap().0
    }

    fn tier_days(f: &Forecast) -> Vec<(Tier, usize)> {
        f.tiers
            .iter()
            .map(|(t, at)| (*t, f.day_of(*at).unwrap().0))
            .collect()
    }

    #[test]
    fn from_1k_on_a_24_7_calendar_each_upgrade_comes_a_day_after_the_previous() {
        let f = simulate(&input(300_000)).unwrap();
        assert_eq!(
            tier_days(&f),
            vec![
                (Tier::T1K, 1),
                (Tier::T10K, 2),
                (Tier::T100K, 3),
                (Tier::Unlimited, 4)
            ]
        );
        // Never over the allowance on any day (the ledger refuses nothing the pacer grants).
        assert!(f.days.iter().all(|d| d.refused == 0), "{:?}", f.days);
        // The last open minute is paid by a tick on the next day: within one of the allowance.
        assert!((949..=950).contains(&f.days[0].new_conversations));
        println!("{}", render_summary(&input(300_000), &f, &[]));
    }

    #[test]
    fn a_weekend_closed_calendar_shifts_the_upgrades_past_the_weekend() {
        // Start on Friday 6 March: the 10K limit arrives on Saturday but nothing is sent
        // before Monday, so 100K comes on Tuesday and unlimited on Wednesday.
        let f = simulate(&ForecastInput {
            calendar: weekdays_8_to_18(),
            start: monday() + Duration::days(4),
            ..input(300_000)
        })
        .unwrap();
        let dates: Vec<(Tier, NaiveDate)> = f
            .tiers
            .iter()
            .map(|(t, at)| (*t, at.date_naive()))
            .collect();
        let d = |day: u32| NaiveDate::from_ymd_opt(2026, 3, day).unwrap();
        assert_eq!(
            dates,
            vec![
                (Tier::T1K, d(6)),
                (Tier::T10K, d(7)),
                (Tier::T100K, d(10)),
                (Tier::Unlimited, d(11))
            ]
        );
        assert_eq!(f.days[1].new_conversations, 0, "Saturday is closed");
    }

    #[test]
    fn the_audience_finishes_on_the_day_the_limit_allows() {
        // 2,000 contacts on 1K: 950 on day 1, then 10K from day 2 lets the rest go that day.
        let f = simulate(&input(2_000)).unwrap();
        let (day, _) = f.day_of(f.finished_at.unwrap()).unwrap();
        assert_eq!(day, 2);
        assert_eq!(f.sent, 2_000);
        let total: u64 = f.days.iter().map(|d| d.new_conversations).sum();
        assert_eq!(total, 2_000);
    }

    #[test]
    fn unique_in_7_days_keeps_counting_at_the_unlimited_tier() {
        let f = simulate(&input(300_000)).unwrap();
        let last = f.days.last().unwrap();
        assert_eq!(last.limit_at_end, None);
        // Every send is a new customer and the climb takes 4 days: all of them are in the 7 days.
        assert_eq!(last.unique_7d, f.sent);
    }

    #[test]
    fn a_new_template_warms_up_its_rate_only() {
        // Grow: the crossing is far under the warm-up's rate, so the climb is the same.
        let warm = simulate(&input(20_000)).unwrap();
        let cold = simulate(&ForecastInput {
            template_sends: 0,
            ..input(20_000)
        })
        .unwrap();
        assert_eq!(cold.tiers, warm.tiers);
        // Asap on an unlimited tier: the first 1,000 sends go at half of max_mps.
        let asap = |template_sends| {
            simulate(&ForecastInput {
                tier: Tier::Unlimited,
                mode: PacingMode::Asap,
                template_sends,
                ..input(2_000)
            })
            .unwrap()
            .finished_at
            .unwrap()
        };
        assert!(asap(0) > asap(1_000), "{} vs {}", asap(0), asap(1_000));
    }

    #[test]
    fn an_audience_too_large_for_the_horizon_is_not_finished() {
        let f = simulate(&ForecastInput {
            horizon: Duration::days(1),
            ..input(5_000)
        })
        .unwrap();
        assert_eq!(f.finished_at, None);
        assert!((949..=950).contains(&f.sent), "{}", f.sent);
        assert!(render_summary(&input(5_000), &f, &[]).contains("NOT FINISHED"));
    }
}
