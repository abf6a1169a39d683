//! Nothing lost, nothing doubled after kill -9 (DESIGN.md §2, guarantees 4 and 5): the daemon
//! binary runs against a private Redis and the fake Gupshup, is killed with SIGKILL at random
//! moments, restarted, and finally left to finish. The fake's record must show every contact at
//! most once, and the run's per-contact states must account for every contact.
//!
//! `TIERPACE_CRASH_LOOPS` sets the number of kills (default 3 in the normal run; the documented
//! longer run uses 50).
mod support;

use support::daemon::terminate;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, ScenarioSpec};
use tierpace::http::CampaignStatus;

fn spawn(config: &std::path::Path, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the tierpace binary")
}

fn campaign(s: &scenario::Scenario) -> Option<CampaignStatus> {
    let body = reqwest::blocking::get(s.url("/api/v1/campaigns"))
        .ok()?
        .text()
        .ok()?;
    let list: Vec<CampaignStatus> = serde_json::from_str(&body).ok()?;
    list.into_iter().find(|c| c.id == "bf")
}

#[test]
fn kill_9_at_random_moments_never_doubles_or_loses_a_contact() {
    let loops: usize = std::env::var("TIERPACE_CRASH_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        tier_limit: Some(1000),
        latency: Duration::from_millis(5),
        ..Default::default()
    });
    let contacts = 150 + 50 * loops;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        tier: "1k",
        contacts,
        max_mps: 40,
        ..Default::default()
    });
    let log = s.dir.path().join("daemon.log");
    let mut rng = rand::thread_rng();
    for _ in 0..loops {
        let mut child = spawn(&s.config, &log);
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..2500)));
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        child.wait().unwrap();
    }
    let mut child = spawn(&s.config, &log);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = None;
    while Instant::now() < deadline {
        last = campaign(&s);
        if last.as_ref().is_some_and(|c| c.state == "completed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    terminate(&mut child);
    let c = last.expect("the daemon answered its admin API");
    assert_eq!(
        c.state,
        "completed",
        "{c:?}\nlog:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    let sends = fake.sends();
    let destinations: Vec<&str> = sends.iter().map(|s| s.destination.as_str()).collect();
    let unique: HashSet<&str> = destinations.iter().copied().collect();
    assert_eq!(
        unique.len(),
        destinations.len(),
        "a contact received the campaign twice"
    );
    let t = &c.totals;
    let diag = {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*states").query(&mut conn).unwrap();
        let mut kinds = std::collections::BTreeMap::new();
        for k in &keys {
            let vals: Vec<String> = redis::cmd("HVALS").arg(k).query(&mut conn).unwrap();
            for v in vals {
                *kinds.entry(v.chars().next().unwrap_or('?')).or_insert(0) += 1;
            }
        }
        let metas: Vec<String> = redis::cmd("KEYS").arg("*meta").query(&mut conn).unwrap();
        let meta: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(&metas[0])
            .query(&mut conn)
            .unwrap();
        format!("state keys {keys:?}, kinds {kinds:?}, meta {meta:?}")
    };
    assert_eq!(
        t.sent + t.delivered + t.read + t.unknown + t.failed,
        contacts as u64,
        "every contact accounted for: {t:?}\n{diag}"
    );
    // Unknown contacts may or may not have reached the provider; sent ones certainly did.
    assert!(
        sends.len() as u64 >= t.sent && sends.len() as u64 <= t.sent + t.unknown,
        "{} sends vs {t:?}",
        sends.len()
    );
    assert_eq!(fake.over_limit_sends(), 0);
    eprintln!(
        "crash loop: {loops} kills, {contacts} contacts, {} sent, {} unknown",
        t.sent, t.unknown
    );
}
