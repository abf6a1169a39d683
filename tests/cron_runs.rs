//! Cron campaigns in the daemon, on virtual time: the wake-up comes at the firing in the
//! calendar's zone, a firing missed before the campaign was loaded is not sent late, and a run
//! that had started resumes after a restart.
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use support::daemon::{start_in_process, wait_for};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::ManualClock;
use tierpace::http::CampaignStatus;

/// Open all week in Sao Paulo, so only the cron decides when sends start.
const SAO_PAULO: &str = "timezone = \"America/Sao_Paulo\"\nmon = [\"00:00-23:59\"]\ntue = [\"00:00-23:59\"]\nwed = [\"00:00-23:59\"]\nthu = [\"00:00-23:59\"]\nfri = [\"00:00-23:59\"]\n";

fn with_cron(s: &scenario::Scenario, cron: &str) {
    let path = s.dir.path().join("campaigns/bf.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[schedule]\n", &format!("[schedule]\ncron = \"{cron}\"\n"));
    std::fs::write(path, text).unwrap();
}

async fn status(s: &scenario::Scenario) -> Option<CampaignStatus> {
    let r = reqwest::get(s.url("/api/v1/campaigns")).await.ok()?;
    let list: Vec<CampaignStatus> = r.json().await.ok()?;
    list.into_iter().find(|c| c.id == "bf")
}

/// Polls the status until `done` holds for it (5 s at most); the last status seen.
async fn wait_status(
    s: &scenario::Scenario,
    done: impl Fn(&CampaignStatus) -> bool,
) -> Option<CampaignStatus> {
    let mut last = None;
    for _ in 0..100 {
        last = status(s).await;
        if last.as_ref().is_some_and(&done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// Virtual time that runs at real speed (the pacer needs time to pass), and can be set ahead.
fn tick(clock: &ManualClock) -> tokio::task::JoinHandle<()> {
    let clock = clock.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.advance(chrono::Duration::milliseconds(20));
        }
    })
}

fn utc(d: u32, h: u32, m: u32, sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, d, h, m, sec).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_day_at_nine_in_sao_paulo_starts_at_nine_local_not_before() {
    // Tuesday 2026-12-01, 08:59:50 in Sao Paulo (UTC-3): yesterday's 09:00 firing is a day old.
    let clock = ManualClock::new(utc(1, 11, 59, 50));
    let fake = FakeGupshup::start(FakeGupshupConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 5,
        calendar: Some(SAO_PAULO),
        ..Default::default()
    });
    with_cron(&s, "0 9 * * *");
    let ticker = tick(&clock);
    let (token, task) = start_in_process(s.config.clone(), Arc::new(clock.clone()));
    assert!(
        wait_status(&s, |_| true).await.is_some(),
        "the campaign never showed in status"
    );
    // Yesterday's run is not sent late; the campaign waits for today's 09:00.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.sends().len(), 0, "sent before 09:00 local");
    let st = status(&s).await.unwrap();
    assert_eq!(st.state, "scheduled", "{st:?}");
    assert_eq!(st.until, Some(utc(1, 12, 0, 0)), "{st:?}");
    // 09:00 in Sao Paulo is 12:00 UTC: the wake-up comes then and the run starts.
    clock.set(utc(1, 12, 0, 0));
    let sent = wait_for(|| fake.sends().len() >= 5, 15).await;
    assert!(sent, "only {} sent after 09:00 local", fake.sends().len());
    token.cancel();
    task.await.unwrap().unwrap();
    ticker.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weekly_run_that_had_started_resumes_after_a_restart_days_later() {
    let redis = RedisServer::start();
    // Monday 2026-11-30 09:00:05 in Sao Paulo: the Monday run starts and completes.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 5).unwrap());
    let fake = FakeGupshup::start(FakeGupshupConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 3,
        calendar: Some(SAO_PAULO),
        ..Default::default()
    });
    with_cron(&s, "0 9 * * Mon");
    let ticker = tick(&clock);
    let (token, task) = start_in_process(s.config.clone(), Arc::new(clock.clone()));
    assert!(wait_for(|| fake.sends().len() >= 3, 15).await);
    token.cancel();
    task.await.unwrap().unwrap();

    // Thursday: the Monday run had started, so it is the run in force (completed), not a new
    // one and not "scheduled for next Monday".
    clock.set(utc(3, 15, 0, 0));
    let (token, task) = start_in_process(s.config.clone(), Arc::new(clock.clone()));
    let last = wait_status(&s, |c| c.state == "completed").await;
    assert_eq!(
        last.as_ref().map(|c| c.state.as_str()),
        Some("completed"),
        "{last:?}"
    );
    assert_eq!(fake.sends().len(), 3, "nobody is sent twice");
    token.cancel();
    task.await.unwrap().unwrap();
    ticker.abort();
}
