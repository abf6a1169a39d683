//! Redis trouble mid-run (DESIGN.md §2.5, issue #8): while Redis does not answer, nothing is
//! sent and readiness says so; sends resume by themselves when it is back. A Redis that comes
//! back empty must not reset the limits to zero.
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::SystemClock;

async fn ready(s: &scenario::Scenario) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    Some(
        client
            .get(s.url("/readyz"))
            .send()
            .await
            .ok()?
            .status()
            .as_u16(),
    )
}

async fn wait_until<F: FnMut() -> bool>(mut f: F, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_stops_sends_fails_readiness_and_sends_resume_after() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 400,
        max_mps: 20,
        ..Default::default()
    });
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(wait_until(|| fake.sends().len() >= 40, 30).await);
    assert!(matches!(ready(&s).await, Some(200)));

    redis.freeze(true);
    // Sends already admitted may finish; after that nothing more goes out.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frozen_at = fake.sends().len();
    let mut saw_unready = false;
    for _ in 0..30 {
        if matches!(ready(&s).await, Some(503)) {
            saw_unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(saw_unready, "/readyz must fail while Redis is down");
    assert_eq!(
        fake.sends().len(),
        frozen_at,
        "no sends while Redis does not answer"
    );

    redis.freeze(false);
    assert!(
        wait_until(|| fake.sends().len() >= 400, 60).await,
        "sends resume: {}",
        fake.sends().len()
    );
    let d: Vec<String> = fake.sends().into_iter().map(|s| s.destination).collect();
    assert_eq!(
        d.iter().collect::<HashSet<_>>().len(),
        d.len(),
        "no contact twice"
    );
    let mut back = false;
    for _ in 0..40 {
        if matches!(ready(&s).await, Some(200)) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(back, "ready again");
    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_does_not_reset_the_limit() {
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
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(wait_until(|| fake.sends().len() >= 237, 30).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.sends().len(), 237);

    // Redis dies and comes back with nothing: no ledger, no progress.
    redis.restart();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        fake.sends().len(),
        237,
        "an empty Redis must not hand out a fresh 24 h allowance"
    );
    assert_eq!(fake.over_limit_sends(), 0);
    token.cancel();
    daemon.await.unwrap().unwrap();
}
