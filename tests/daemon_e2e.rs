//! End to end: the daemon with a private redis-server and the fake Gupshup over real HTTP.
//! Each test checks a guarantee of DESIGN.md §2 from what the fake provider recorded.
mod support;

use support::daemon::{start_in_process, wait_for};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::{Clock, ManualClock, SystemClock};
use tierpace::http::CampaignStatus;

async fn campaigns(s: &scenario::Scenario) -> Vec<CampaignStatus> {
    match reqwest::get(s.url("/api/v1/campaigns")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

fn destinations(fake: &FakeGupshup) -> Vec<String> {
    fake.sends().into_iter().map(|s| s.destination).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_250_tier_with_400_contacts_sends_exactly_the_allowance_then_waits() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        tier_limit: Some(250),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        tier: "250",
        contacts: 400,
        ..Default::default()
    });
    let (token, task) = start_in_process(s.config.clone(), Arc::new(SystemClock));
    // 250 x 0.95 = 237 new conversations may start in the rolling 24 h.
    let enough = wait_for(|| fake.sends().len() >= 237, 30).await;
    assert!(
        enough,
        "only {} sent; {:?}",
        fake.sends().len(),
        campaigns(&s).await
    );
    let mut waiting = false;
    for _ in 0..40 {
        let cs = campaigns(&s).await;
        if cs
            .iter()
            .any(|c| c.id == "bf" && c.state == "waiting_limit")
        {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waiting,
        "campaign should say it waits for the limit: {:?}",
        campaigns(&s).await
    );
    assert_eq!(fake.sends().len(), 237, "never more than the allowance");
    assert_eq!(fake.over_limit_sends(), 0);
    let d = destinations(&fake);
    assert_eq!(
        d.iter().collect::<HashSet<_>>().len(),
        d.len(),
        "no contact twice"
    );
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_redis_never_send_a_contact_twice() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let a = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        tier: "1k",
        contacts: 300,
        max_mps: 100,
        ..Default::default()
    });
    let (replica, _) = a.replica_config();
    let (ta, ja) = start_in_process(a.config.clone(), Arc::new(SystemClock));
    let (tb, jb) = start_in_process(replica, Arc::new(SystemClock));
    assert!(
        wait_for(|| fake.sends().len() >= 300, 40).await,
        "sent {}",
        fake.sends().len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = destinations(&fake);
    assert_eq!(d.len(), 300, "every contact exactly once");
    assert_eq!(d.iter().collect::<HashSet<_>>().len(), 300);
    ta.cancel();
    tb.cancel();
    ja.await.unwrap().unwrap();
    jb.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_stop_when_the_calendar_closes() {
    // Virtual time: the daemon and the fake share a clock that runs at real speed from
    // 11:59:55 UTC on a Friday; the calendar closes at 12:00.
    let start = Utc.with_ymd_and_hms(2026, 11, 27, 11, 59, 55).unwrap();
    let clock = ManualClock::new(start);
    let fake = FakeGupshup::start(FakeGupshupConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        tier: "unlimited",
        contacts: 2000,
        max_mps: 40,
        calendar: Some("timezone = \"UTC\"\nfri = [\"08:00-12:00\"]\n"),
        ..Default::default()
    });
    let ticker = {
        let clock = clock.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                clock.advance(chrono::Duration::milliseconds(20));
            }
        })
    };
    let (token, task) = start_in_process(s.config.clone(), Arc::new(clock.clone()));
    assert!(wait_for(|| clock.now() > start + chrono::Duration::seconds(9), 30).await);
    let close = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let sends = fake.sends();
    assert!(!sends.is_empty(), "it sent while open");
    assert!(sends.len() < 2000);
    let last = sends
        .iter()
        .map(|s| chrono::DateTime::<Utc>::from(s.at))
        .max()
        .unwrap();
    assert!(
        last < close + chrono::Duration::milliseconds(200),
        "a send started after closing: {last}"
    );
    let cs = campaigns(&s).await;
    assert!(cs.iter().any(|c| c.state == "waiting_hours"), "{cs:?}");
    ticker.abort();
    token.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_file_dropped_in_while_running_is_picked_up_and_status_shows_it() {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 30,
        ..Default::default()
    });
    let (token, task) = start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(wait_for(|| fake.sends().len() >= 30, 30).await);

    // A second campaign on another audience, written the way editors do: temp file, rename.
    let dir = s.dir.path().join("campaigns");
    let mut csv = String::from("name,ddi,phone,email,opt_in\n");
    for i in 0..10 {
        csv.push_str(&format!("Novo {i},55,8598{:07},,yes\n", 1_000_000 + i));
    }
    std::fs::write(dir.join("contacts/novos.csv"), csv).unwrap();
    let text = std::fs::read_to_string(dir.join("bf.toml"))
        .unwrap()
        .replace("id = \"bf\"", "id = \"novos\"")
        .replace("contacts/audience.csv", "contacts/novos.csv");
    std::fs::write(dir.join(".novos.toml.swp"), &text).unwrap();
    std::fs::rename(dir.join(".novos.toml.swp"), dir.join("novos.toml")).unwrap();
    assert!(
        wait_for(|| fake.sends().len() >= 40, 30).await,
        "the new campaign was not picked up"
    );

    // The CLI against the running daemon.
    let url = s.url("");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["status", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("novos") && text.contains("bf") && text.contains("TIER_1K"),
        "{text}"
    );
    token.cancel();
    task.await.unwrap().unwrap();

    // And a clear message, with a distinct exit code, when no daemon listens.
    let url = s.url("");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["status", "--url", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sighup_reloads_the_config_and_a_bad_config_keeps_the_old_one() {
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig::default());
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 5,
        ..Default::default()
    });
    let log = s.dir.path().join("daemon.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config"])
        .arg(&s.config)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_log = |needle: &str, count: usize| {
        for _ in 0..200 {
            if read_log().matches(needle).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    let hup = || {
        std::process::Command::new("kill")
            .arg("-HUP")
            .arg(child.id().to_string())
            .status()
            .unwrap();
    };
    assert!(wait_log("tierpace ready", 1), "{}", read_log());
    hup();
    assert!(wait_log("config reloaded", 1), "{}", read_log());
    // A broken config on reload: refused, the daemon keeps running on the old one.
    let good = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        good.replace("max_mps = 200", "max_mps = \"fast\""),
    )
    .unwrap();
    hup();
    assert!(wait_log("config reload refused", 1), "{}", read_log());
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon survived a bad reload"
    );
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "graceful stop exits 0: {status:?}\n{}",
        read_log()
    );
}
