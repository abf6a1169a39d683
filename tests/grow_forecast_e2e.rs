//! The forecast and the daemon share one pacer (issue #14): a two-rung climb, legacy 1K -> 10K ->
//! 100K, run by the real daemon on virtual time against the fake Gupshup, crosses each threshold
//! when `tierpace plan`'s forecast says, rung by rung, within three ticks (see the tolerance).
//!
//! Virtual time: one clock, shared by the daemon and the fake, runs 400x real time while the
//! calendar (08:00-10:00 UTC every day) is open and skips the closed hours in minute steps. The
//! daemon ticks every 50 ms of real time, so every 20 s of virtual time; the pacer's `catch_up`
//! is raised so each tick's open time is paid in full, as the forecast does with its own tick.
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Timelike, Utc};
use support::daemon::{start_in_process, wait_for};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::scenario::{self, ScenarioSpec};
use tierpace::cli::plan::forecast::simulate;
use tierpace::cli::plan::ForecastInput;
use tierpace::clock::{Clock, ManualClock};
use tierpace::policy::calendar_config::CalendarConfig;
use tierpace::policy::growth::PacingMode;
use tierpace::policy::pacer::PacerSettings;
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::Tier;

const CALENDAR: &str = "timezone = \"UTC\"\nmon = [\"08:00-10:00\"]\ntue = [\"08:00-10:00\"]\n\
wed = [\"08:00-10:00\"]\nthu = [\"08:00-10:00\"]\nfri = [\"08:00-10:00\"]\n\
sat = [\"08:00-10:00\"]\nsun = [\"08:00-10:00\"]\n";
const MAX_MPS: u32 = 100;
const CONTACTS: usize = 12_000;
/// Virtual time per real 5 ms while open: the daemon's 50 ms tick is 20 s of virtual time.
const OPEN_STEP_MS: i64 = 2_000;

/// When the `n`-th send (1-based) arrived at the fake: every contact is a new unique customer,
/// so this is when the trailing 7 days first held `n` uniques.
fn nth_send(sends: &[DateTime<Utc>], n: usize) -> Option<DateTime<Utc>> {
    sends.get(n - 1).copied()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_climbs_two_rungs_when_the_forecast_says() {
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 7, 59, 0).unwrap();
    let clock = ManualClock::new(start);
    let fake = FakeGupshup::start(FakeGupshupConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        tier: "1k",
        contacts: CONTACTS,
        max_mps: MAX_MPS,
        calendar: Some(CALENDAR),
        mode: "grow",
        ..Default::default()
    });
    // A tick of 20 virtual seconds may start up to 20 s of sends: room in flight for them.
    let mut config = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("timeout = \"2s\"", "timeout = \"2s\"\nconcurrency = 512");
    config.push_str("\n[pacing]\ncatch_up = \"60s\"\n");
    std::fs::write(&s.config, config).unwrap();

    // The forecast of the same campaign: same calendar, tier, cap, a new template (0 sends
    // before), the daemon's pacing settings, and a tick of the daemon's virtual tick.
    let calendar = toml::from_str::<CalendarConfig>(CALENDAR)
        .unwrap()
        .build("hours")
        .unwrap()
        .0;
    let tick = Duration::from_millis(OPEN_STEP_MS as u64 * 10);
    let forecast = simulate(&ForecastInput {
        policy: Policy::legacy(),
        safety_share: 0.95,
        reserve: 0,
        tier: Tier::T1K,
        calendar,
        start,
        audience: CONTACTS as u64,
        mode: PacingMode::Grow,
        daily_max: None,
        marketing: true,
        template_sends: 0,
        max_mps: MAX_MPS,
        pacing: PacerSettings::default(),
        tick,
        horizon: chrono::Duration::days(5),
    })
    .unwrap();
    let at_100k = forecast
        .reached(Tier::T100K)
        .expect("the forecast reaches 100K");
    let at_10k = forecast
        .reached(Tier::T10K)
        .expect("the forecast reaches 10K");

    // Virtual time: fast while open, minute steps (never across an opening) while closed.
    let stop = at_100k + chrono::Duration::minutes(5);
    let ticker = {
        let clock = clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let now = clock.now();
                // Slow down over the last seconds before closing, so sends reserved just
                // before 10:00 start before it rather than being put back for the next day.
                let closing = now.hour() == 9 && now.minute() == 59 && now.second() >= 50;
                if closing {
                    clock.advance(chrono::Duration::milliseconds(20));
                } else if now.hour() >= 8 && now.hour() < 10 {
                    clock.advance(chrono::Duration::milliseconds(OPEN_STEP_MS));
                } else {
                    let opening = (now + chrono::Duration::minutes(1))
                        .with_second(0)
                        .and_then(|t| t.with_nanosecond(0))
                        .unwrap();
                    clock.set(opening);
                }
            }
        })
    };
    let (token, task) = start_in_process(s.config.clone(), Arc::new(clock.clone()));
    assert!(
        wait_for(|| clock.now() >= stop, 240).await,
        "virtual time stalled at {}",
        clock.now()
    );
    ticker.abort();
    token.cancel();
    task.await.unwrap().unwrap();

    let mut sends: Vec<DateTime<Utc>> = fake.sends().iter().map(|r| r.at.into()).collect();
    sends.sort();
    // The rules: each upgrade 24 h after the conversation that crossed half the limit.
    let crossed_1k = nth_send(&sends, 500).expect("crossed 1K's threshold");
    let crossed_10k = nth_send(&sends, 5_000).expect("crossed 10K's threshold");
    let daemon = [
        (Tier::T10K, crossed_1k + chrono::Duration::hours(24)),
        (Tier::T100K, crossed_10k + chrono::Duration::hours(24)),
    ];
    let forecast_rungs = [(Tier::T10K, at_10k), (Tier::T100K, at_100k)];
    // Within three ticks: one tick is 20 s of virtual time but only 50 ms of real time, and on a
    // busy 2-core machine the in-process daemon loses a tick or two to the scheduler (measured
    // 8-10 s apart on an idle CI machine, 27-54 s with builds running beside it). A rule off by
    // an hour or a day, the faults this test is for, is still far outside.
    let tolerance = 3 * tick.as_millis() as i64;
    for ((tier, got), (_, want)) in daemon.iter().zip(forecast_rungs) {
        let off = (*got - want).num_milliseconds().abs();
        eprintln!("{tier}: daemon {got}, forecast {want}, {off} ms apart");
        assert!(
            off <= tolerance,
            "{tier}: the daemon reached it at {got}, the forecast says {want} ({off} ms apart)"
        );
    }
    // Nothing outside the calendar, and day by day what the forecast sends (within a tick's worth).
    assert!(
        sends.iter().all(|t| t.hour() >= 8 && t.hour() < 10),
        "a send outside 08:00-10:00"
    );
    // The days the daemon ran in full (it stops a few minutes after 100K).
    for row in forecast.days.iter().filter(|d| d.date < stop.date_naive()) {
        let sent = sends.iter().filter(|t| t.date_naive() == row.date).count() as u64;
        let slack = (f64::from(MAX_MPS) * tick.as_secs_f64()).ceil() as u64;
        assert!(
            sent.abs_diff(row.new_conversations) <= slack.min(row.new_conversations / 20 + 2),
            "{}: daemon {sent}, forecast {}",
            row.date,
            row.new_conversations
        );
    }
}
