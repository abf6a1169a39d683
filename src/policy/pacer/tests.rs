use std::time::Duration as StdDuration;

use super::*;
use crate::policy::brake::{Brake, BrakeState};
use crate::policy::growth::PacingMode;
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
fn run(pacer: &mut Pacer, brakes: &BrakeState, campaigns: &[CampaignView], ticks: i64) -> Vec<u64> {
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
