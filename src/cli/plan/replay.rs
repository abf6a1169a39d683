//! `tierpace plan --sends 500,500,...`: the replay of given day totals through the real
//! in-memory ledger on virtual time, so it applies exactly the rules the daemon applies (policy,
//! safety share, reserve). Every send goes to a new customer. Sends the limit refuses are not
//! clipped silently: the day is flagged with how many were refused, and `plan` exits 1 so a
//! pre-flight script notices (glific/glific#3541 in DESIGN.md §7).
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::PlanArgs;
use crate::cli::table::{self, PlanDay, TableHeading};
use crate::clock::{Clock, SystemClock};
use crate::contact::ContactKey;
use crate::ledger::{AdmitDecision, Ledger, LedgerSettings, LimitGroup, MemoryLedger};
use crate::policy::profile::{Policy, PROFILE_NAMES};
use crate::policy::tier::Tier;
use crate::policy::tier_state::PendingUpgrade;

/// The validated inputs of a replay.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub policy: Policy,
    pub tier: Tier,
    pub sends: Vec<u64>,
    pub start: NaiveDate,
    pub at: Option<NaiveTime>,
    pub timezone: Tz,
    pub safety_share: f64,
    pub reserve: u64,
}

impl PlanInput {
    /// The table's first line.
    pub fn heading(&self) -> TableHeading {
        TableHeading {
            profile: self.policy.profile.clone(),
            tier: self.tier,
            safety_share: self.safety_share,
            reserve: self.reserve,
            timezone: self.timezone,
        }
    }
}

/// The flags of a replay, checked.
pub fn validate(args: &PlanArgs) -> Result<PlanInput> {
    let profile = args.profile.as_deref().unwrap_or("legacy");
    let policy = Policy::by_name(profile).ok_or_else(|| {
        anyhow!("--profile: unknown profile {profile:?}; accepted: {PROFILE_NAMES}")
    })?;
    let timezone: Tz = args.timezone.parse().map_err(|_| {
        anyhow!(
            "--timezone: unknown time zone {:?}; accepted: IANA names like UTC or America/Sao_Paulo",
            args.timezone
        )
    })?;
    let safety_share = args.safety_share.unwrap_or(0.95);
    if !(safety_share > 0.0 && safety_share <= 1.0) {
        bail!(
            "--safety-share: {safety_share} is out of range; accepted: a number in (0, 1], e.g. 0.95"
        );
    }
    if args.sends.is_empty() {
        bail!("--sends: give at least one day, e.g. --sends 500,500");
    }
    let start = match args.start {
        Some(d) => d,
        None => SystemClock.now().with_timezone(&timezone).date_naive(),
    };
    Ok(PlanInput {
        policy,
        tier: args.tier.unwrap_or(Tier::T1K),
        sends: args.sends.clone(),
        start,
        at: args.at,
        timezone,
        safety_share,
        reserve: args.reserve.unwrap_or(0),
    })
}

/// The instant a local date and time of day fall on (the earlier one in a DST overlap, the
/// first valid minute after a DST gap).
fn local(tz: Tz, date: NaiveDate, time: NaiveTime) -> Result<DateTime<Utc>> {
    let naive = date.and_time(time);
    for shift in 0..=180 {
        if let Some(t) = tz
            .from_local_datetime(&(naive + Duration::minutes(shift)))
            .earliest()
        {
            return Ok(t.with_timezone(&Utc));
        }
    }
    Err(anyhow!("{date} {time} does not exist in {tz}"))
}

/// Runs the days through an in-memory ledger on virtual time.
pub fn simulate(input: &PlanInput) -> Result<Vec<PlanDay>> {
    let group = LimitGroup::new("plan");
    let settings = LedgerSettings {
        policy: input.policy.clone(),
        safety_share: input.safety_share,
        reserve: input.reserve,
        initial_tiers: [(group.clone(), input.tier)].into_iter().collect(),
    };
    let ledger = MemoryLedger::new(settings);
    let mut next_contact: u128 = 0;
    let mut last_pending: Option<PendingUpgrade> = None;
    let mut days = Vec::new();
    for (i, &n) in input.sends.iter().enumerate() {
        let date = input.start + Duration::days(i as i64);
        let day_start = local(input.timezone, date, NaiveTime::MIN)?;
        let day_end = local(input.timezone, date + Duration::days(1), NaiveTime::MIN)?;
        let mut day = PlanDay {
            day: i + 1,
            date,
            new_conversations: 0,
            refused: 0,
            unique_7d: 0,
            tier_at_end: input.tier,
            limit_at_end: None,
            crossed: Vec::new(),
            upgraded: Vec::new(),
        };
        // (time, how many) batches: all at --at, or one send every (day / n).
        let batches: Vec<(DateTime<Utc>, u64)> = match input.at {
            Some(at) => vec![(local(input.timezone, date, at)?, n)],
            None => {
                let span = (day_end - day_start).num_milliseconds();
                (0..n)
                    .map(|k| {
                        let offset =
                            (i128::from(span) * i128::from(k) / i128::from(n.max(1))) as i64;
                        (day_start + Duration::milliseconds(offset), 1)
                    })
                    .collect()
            }
        };
        for (at, count) in batches {
            let mut left = count;
            while left > 0 {
                let chunk = left.min(10_000);
                let contacts: Vec<ContactKey> = (0..chunk)
                    .map(|k| ContactKey(next_contact + u128::from(k)))
                    .collect();
                next_contact += u128::from(chunk);
                left -= chunk;
                let decisions = block_on(ledger.admit(&group, at, &contacts, chunk as u32))
                    .context("simulated ledger")?;
                for d in decisions {
                    match d {
                        AdmitDecision::Admitted { .. } => day.new_conversations += 1,
                        _ => day.refused += 1,
                    }
                }
            }
            let stats = block_on(ledger.stats(&group, at)).context("simulated ledger")?;
            if let Some(p) = stats.pending_upgrade {
                if last_pending != Some(p) {
                    day.crossed.push(p);
                    last_pending = Some(p);
                }
            }
        }
        let end = block_on(ledger.stats(&group, day_end - Duration::seconds(1)))
            .context("simulated ledger")?;
        // Upgrades whose time came inside this day.
        if let Some(p) = last_pending {
            if p.effective_at < day_end && end.pending_upgrade != Some(p) {
                day.upgraded.push(p);
                last_pending = None;
            }
        }
        if let Some(p) = end.pending_upgrade {
            if last_pending != Some(p) {
                day.crossed.push(p);
                last_pending = Some(p);
            }
        }
        day.unique_7d = end.unique_7d;
        day.tier_at_end = end.tier;
        day.limit_at_end = end.limit;
        days.push(day);
    }
    Ok(days)
}

/// The day table of a replay.
pub fn render(input: &PlanInput, days: &[PlanDay]) -> String {
    table::render(&input.heading(), days)
}

/// The memory ledger never awaits anything, so a minimal executor drives it.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::plan::parse_hh_mm;
    use std::time::Duration as StdDuration;

    fn input(tier: Tier, sends: &[u64], at: Option<&str>) -> PlanInput {
        PlanInput {
            policy: Policy::legacy(),
            tier,
            sends: sends.to_vec(),
            start: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            at: at.map(|s| parse_hh_mm(s).unwrap()),
            timezone: chrono_tz::UTC,
            safety_share: 1.0,
            reserve: 0,
        }
    }

    fn utc(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
    }

    #[test]
    fn seed_table_500_500_on_1k_gives_10k_from_15h_day_2() {
        let i = input(Tier::T1K, &[500, 500], Some("15:00"));
        let days = simulate(&i).unwrap();
        assert_eq!(
            (
                days[0].new_conversations,
                days[0].unique_7d,
                days[0].limit_at_end
            ),
            (500, 500, Some(1_000))
        );
        assert_eq!(days[0].crossed.len(), 1);
        assert_eq!(
            (
                days[0].crossed[0].crossed_at,
                days[0].crossed[0].effective_at
            ),
            (utc(2, 15), utc(3, 15))
        );
        assert_eq!(
            (
                days[1].new_conversations,
                days[1].unique_7d,
                days[1].limit_at_end
            ),
            (500, 1_000, Some(10_000))
        );
        assert_eq!(days[1].upgraded.len(), 1);
        let table = render(&i, &days);
        assert!(
            table.contains("threshold hit 15:00, 10K from 2026-03-03 15:00"),
            "{table}"
        );
        assert!(table.contains("10K from 15:00"), "{table}");
        assert!(table.contains("1,000       10,000"), "{table}");
    }

    #[test]
    fn days_over_the_limit_are_flagged_not_clipped() {
        let i = PlanInput {
            safety_share: 0.95,
            ..input(Tier::T1K, &[1_200], Some("09:00"))
        };
        let days = simulate(&i).unwrap();
        assert_eq!((days[0].new_conversations, days[0].refused), (950, 250));
        assert!(render(&i, &days).contains("OVER LIMIT: 250 of 1,200 sends refused"));
    }

    #[test]
    fn spread_sends_cross_when_the_500th_goes_out() {
        // 500 over the day: one every 172.8 s, the 500th at 23:57:07.2.
        let days = simulate(&input(Tier::T1K, &[500, 0], None)).unwrap();
        let p = days[0].crossed[0];
        assert_eq!(
            p.crossed_at,
            utc(2, 0) + Duration::milliseconds(499 * 172_800)
        );
        assert_eq!(days[1].tier_at_end, Tier::T10K);
    }

    #[test]
    fn meta_2025_upgrade_comes_six_hours_later_on_the_same_day() {
        let i = PlanInput {
            policy: Policy::meta_2025(),
            ..input(Tier::T2K, &[1_000], Some("09:00"))
        };
        let days = simulate(&i).unwrap();
        assert_eq!(days[0].tier_at_end, Tier::T10K);
        assert_eq!(days[0].upgraded[0].effective_at, utc(2, 15));
        assert!(render(&i, &days).contains("threshold hit 09:00, 10K from 15:00\n"));
    }

    #[test]
    fn bad_flags_name_the_flag_and_accepted_values() {
        let args = PlanArgs {
            profile: Some("meta".into()),
            tier: Some(Tier::T1K),
            sends: vec![1],
            start: None,
            at: None,
            timezone: "UTC".into(),
            safety_share: Some(0.95),
            reserve: Some(0),
            config: None,
            campaign: None,
            audience: None,
            calendar: None,
            mode: None,
            daily_max: None,
            max_mps: None,
            template_sends: None,
            cross_within: None,
            tick: StdDuration::from_secs(60),
            days: 90,
            svg: None,
        };
        let e = validate(&args).unwrap_err().to_string();
        assert!(e.contains("--profile") && e.contains("meta-2025"), "{e}");
        let e = validate(&PlanArgs {
            profile: Some("legacy".into()),
            timezone: "Mars/Base".into(),
            ..args
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("--timezone"), "{e}");
        assert!(parse_hh_mm("25:00").is_err());
    }
}
