//! What paces a sender is shared by replicas and kept across restarts (issue 12 §3): a
//! campaign's sends today (`daily_max`) and a template's warm-up count live in Redis, so a
//! restarted daemon, or a second daemon on the same Redis, goes on from them instead of from
//! zero. (The spam brake's side of it: `provider_reactions.rs`,
//! `a_spam_brake_reaches_a_replica_and_survives_a_restart`.)
//!
//! Real `redis-server`, the fake Gupshup over HTTP, daemons in process.
mod support;

use std::sync::Arc;
use std::time::Duration;

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, Scenario, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::CampaignStatus;

const DAILY_MAX: usize = 20;

async fn campaigns(port_url: &str) -> Vec<CampaignStatus> {
    match reqwest::get(format!("{port_url}/api/v1/campaigns")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Waits until one of the daemons at `urls` shows campaign `id` in a state `ok` accepts.
async fn until_any(urls: &[String], id: &str, what: &str, ok: impl Fn(&CampaignStatus) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = Vec::new();
        for u in urls {
            for c in campaigns(u).await.into_iter().filter(|c| c.id == id) {
                if ok(&c) {
                    return;
                }
                seen.push(c);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn budget_spent(c: &CampaignStatus) -> bool {
    c.state == "waiting_limit"
        && c.why
            .as_deref()
            .is_some_and(|w| w.contains("today's pacing budget is spent"))
}

/// Sets the daemon's warm-up (`[pacing]`) in the scenario's config.
fn with_warmup(s: &Scenario, share: &str) {
    let text = std::fs::read_to_string(&s.config).unwrap();
    let text = match text.find("\n[pacing]") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    std::fs::write(
        &s.config,
        format!("{text}\n[pacing]\nwarmup_sends = 20\nwarmup_share = {share}\n"),
    )
    .unwrap();
}

/// A second campaign on the same template, with its own 30-contact audience.
fn add_second_campaign(s: &Scenario) {
    let dir = s.dir.path().join("campaigns");
    let mut csv = String::from("name,ddi,phone,email,opt_in\n");
    for i in 0..30 {
        csv.push_str(&format!("Novo {i},55,8598{:07},,sim\n", 1_000_000 + i));
    }
    std::fs::write(dir.join("contacts/novos.csv"), csv).unwrap();
    let text = std::fs::read_to_string(dir.join("bf.toml"))
        .unwrap()
        .replace("id = \"bf\"", "id = \"novos\"")
        .replace("contacts/audience.csv", "contacts/novos.csv")
        .replace(&format!("daily_max = {DAILY_MAX}\n"), "");
    std::fs::write(dir.join("novos.toml"), text).unwrap();
}

async fn redis_count(redis: &RedisServer, pattern: &str) -> u64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "one key for {pattern}: {keys:?}");
    let v: Option<u64> = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    v.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_max_and_warm_up_count_survive_a_restart_and_are_shared_by_two_daemons() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 100,
        tier: "unlimited",
        ..Default::default()
    });
    let bf = s.dir.path().join("campaigns/bf.toml");
    let text = std::fs::read_to_string(&bf).unwrap().replace(
        "mode = \"asap\"",
        &format!("mode = \"asap\"\ndaily_max = {DAILY_MAX}"),
    );
    std::fs::write(&bf, text).unwrap();
    // First process: warm-up counted but not slowing (share 1), so its 20 sends go at once.
    with_warmup(&s, "1.0");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let first = vec![s.url("")];
    until_any(&first, "bf", "budget spent after 20 sends", budget_spent).await;
    assert_eq!(fake.sends().len(), DAILY_MAX);
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;

    // Restart, and a replica beside it on the same Redis. Warm-up now crawls (share 0.001:
    // one send every few seconds), so a template whose count restarted from 0 would crawl; and a
    // second campaign on that template starts.
    with_warmup(&s, "0.001");
    add_second_campaign(&s);
    let (t1, d1) = support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let (replica_cfg, replica_port) = s.replica_config();
    let (t2, d2) = support::daemon::start_in_process(replica_cfg, Arc::new(SystemClock));
    let both = vec![s.url(""), format!("http://127.0.0.1:{replica_port}")];
    // bf: whichever daemon holds it knows today's 20 sends were made, and sends no more.
    until_any(
        &both,
        "bf",
        "budget still spent after the restart",
        budget_spent,
    )
    .await;
    // novos: its template is past its 20 warm-up sends (counted by the first process), so its
    // 30 contacts go at full pace.
    until_any(&both, "novos", "second campaign completed", |c| {
        c.state == "completed"
    })
    .await;
    let bf_sends = fake
        .sends()
        .iter()
        .filter(|x| x.destination.starts_with("558590"))
        .count();
    assert_eq!(
        bf_sends, DAILY_MAX,
        "no send of bf over daily_max after the restart"
    );
    assert_eq!(fake.sends().len(), DAILY_MAX + 30);
    // The counts as Redis holds them: today's for bf, the template's across both campaigns.
    assert_eq!(
        redis_count(&redis, "tp:{camp:bf}:sent:*").await,
        DAILY_MAX as u64
    );
    assert_eq!(
        redis_count(&redis, "tp:{tpl:*}:sends").await,
        (DAILY_MAX + 30) as u64
    );
    t1.cancel();
    t2.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), d1).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), d2).await;
}
