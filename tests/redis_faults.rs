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

/// A daemon on `redis` sending `contacts` contacts to a fresh fake Gupshup at `max_mps`.
async fn running(
    redis: &RedisServer,
    contacts: usize,
    max_mps: u32,
) -> (
    FakeGupshup,
    scenario::Scenario,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts,
        max_mps,
        ..Default::default()
    });
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    (fake, s, token, daemon)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_stops_sends_fails_readiness_and_sends_resume_after() {
    let redis = RedisServer::start();
    let (fake, s, token, daemon) = running(&redis, 400, 20).await;
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

/// `/readyz`'s body (its reasons), or "" when it does not answer.
async fn ready_body(s: &scenario::Scenario) -> String {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return String::new();
    };
    match client.get(s.url("/readyz")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn config_set(redis: &RedisServer, key: &str, value: &str) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
}

async fn metric(s: &scenario::Scenario, line_start: &str) -> Option<String> {
    let body = reqwest::get(s.url("/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    body.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicting_redis_gets_no_send_until_it_is_noeviction() {
    // Issue #16: a Redis that may evict keys can lose who was reached; tierpace refuses it.
    let redis = RedisServer::start();
    config_set(&redis, "maxmemory-policy", "allkeys-lru").await;
    let (fake, s, token, daemon) = running(&redis, 100, 50).await;
    let mut body = String::new();
    for _ in 0..40 {
        body = ready_body(&s).await;
        if body.contains("maxmemory-policy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        body.contains("`allkeys-lru`") && body.contains("noeviction"),
        "readiness names the setting and the fix: {body}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.sends().len(), 0, "nothing sent on an evicting Redis");
    assert_eq!(
        metric(&s, "tierpace_redis_refusing{reason=\"eviction_policy\"}")
            .await
            .as_deref(),
        Some("tierpace_redis_refusing{reason=\"eviction_policy\"} 1")
    );

    config_set(&redis, "maxmemory-policy", "noeviction").await;
    assert!(
        wait_until(|| fake.sends().len() >= 100, 30).await,
        "sends start once the policy is fixed: {}",
        fake.sends().len()
    );
    assert!(matches!(ready(&s).await, Some(200)));
    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_refusing_writes_stops_sends_says_why_and_resumes() {
    let redis = RedisServer::start();
    let (fake, s, token, daemon) = running(&redis, 400, 20).await;
    assert!(wait_until(|| fake.sends().len() >= 40, 30).await);

    // noeviction with a 1-byte cap: every write is answered OOM.
    config_set(&redis, "maxmemory", "1").await;
    let mut body = String::new();
    for _ in 0..40 {
        body = ready_body(&s).await;
        if body.contains("refuses writes") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(body.contains("refuses writes (OOM)"), "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = fake.sends().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.sends().len(),
        stopped_at,
        "no sends while writes are refused"
    );

    config_set(&redis, "maxmemory", "0").await;
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
    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_an_evicting_redis_as_an_error() {
    let redis = RedisServer::start();
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["check", "--config"])
            .arg(&s.config)
            .output()
            .unwrap()
    };
    let ok = check();
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(text.contains("redis: ok"), "{text}");
    assert_eq!(ok.status.code(), Some(0), "{text}");

    config_set(&redis, "maxmemory-policy", "volatile-lru").await;
    let bad = check();
    let text = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert!(
        text.contains("error: redis maxmemory-policy is `volatile-lru`"),
        "{text}"
    );
    assert_eq!(bad.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_on_redis_state_without_a_hash_key() {
    // `run` refuses to start on Redis without the hash key: check must say so first.
    let redis = RedisServer::start();
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    let text = std::fs::read_to_string(&s.config).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("hash_key_file"))
        .unwrap()
        .to_string();
    std::fs::write(
        &s.config,
        text.replace(&line, "hash_key_env = \"TIERPACE_TEST_NO_SUCH_HASH_KEY\""),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["check", "--config"])
        .arg(&s.config)
        .env_remove("TIERPACE_TEST_NO_SUCH_HASH_KEY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("hash key") && text.contains("TIERPACE_TEST_NO_SUCH_HASH_KEY"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
}
