//! Webhooks and the admin API against a running daemon with a real Redis: callbacks move
//! per-contact states (idempotently), inbound keywords opt out, tier events reach the ledger,
//! operators pause and resume, and /metrics exposes it all.
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::daemon::eventually;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::{free_port, RedisServer};
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::{CampaignStatus, SenderStatus};

const TOKEN: &str = "admin-token-for-tests";

async fn get<T: serde::de::DeserializeOwned>(url: String) -> Option<T> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

async fn campaign(s: &scenario::Scenario) -> Option<CampaignStatus> {
    get::<Vec<CampaignStatus>>(s.url("/api/v1/campaigns"))
        .await?
        .into_iter()
        .find(|c| c.id == "bf")
}

async fn post(url: String, body: serde_json::Value) -> u16 {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_keywords_tier_events_and_operator_actions_take_effect() {
    let redis = RedisServer::start();
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 20,
        http_port: Some(port),
        admin_token: Some(TOKEN),
        ..Default::default()
    });
    // A second campaign that starts in the far future, for the operator actions.
    let later = std::fs::read_to_string(s.dir.path().join("campaigns/bf.toml"))
        .unwrap()
        .replace("id = \"bf\"", "id = \"later\"")
        .replace(
            "[schedule]\n",
            "[schedule]\nstart = \"2099-01-01T00:00:00Z\"\n",
        );
    std::fs::write(s.dir.path().join("campaigns/later.toml"), later).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));

    // Delivery callbacks from the fake move every contact to delivered.
    assert!(
        eventually(
            || async { campaign(&s).await.is_some_and(|c| c.totals.delivered == 20) },
            30
        )
        .await,
        "{:?}",
        campaign(&s).await
    );

    // The same callback again changes nothing (Gupshup retries).
    let first = fake.sends()[0].clone();
    let read = json!({"app":"TierpaceTest","timestamp":1,"version":2,"type":"message-event",
        "payload":{"id":"wa-x","gsId":first.message_id,"type":"read","destination":first.destination,"payload":{"ts":1}}});
    assert_eq!(post(s.url(scenario::GUPSHUP_HOOK), read.clone()).await, 200);
    assert_eq!(post(s.url(scenario::GUPSHUP_HOOK), read).await, 200);
    assert!(
        eventually(
            || async {
                campaign(&s)
                    .await
                    .is_some_and(|c| c.totals.read == 1 && c.totals.delivered == 19)
            },
            10
        )
        .await
    );

    // An inbound "Sair" opts the customer out globally: stored in Redis as a keyed hash only.
    let inbound = json!({"app":"TierpaceTest","timestamp":2,"version":2,"type":"message",
        "payload":{"id":"in-1","source":first.destination,"type":"text","payload":{"text":" Sair "},
        "sender":{"phone":first.destination,"name":"Cliente"}}});
    assert_eq!(post(s.url(scenario::GUPSHUP_HOOK), inbound).await, 200);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut stored = false;
    for _ in 0..50 {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("tp:*optout*")
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut n = 0u64;
        for k in &keys {
            n += redis::cmd("HLEN")
                .arg(k)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap_or(0);
        }
        if n == 1 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the opt-out is in Redis");
    let dump: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for k in dump {
        let t: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        let text: String = match t.as_str() {
            "hash" => format!(
                "{:?}",
                redis::cmd("HGETALL")
                    .arg(&k)
                    .query_async::<Vec<Vec<u8>>>(&mut conn)
                    .await
                    .unwrap()
            ),
            "string" => format!(
                "{:?}",
                redis::cmd("GET")
                    .arg(&k)
                    .query_async::<Vec<u8>>(&mut conn)
                    .await
                    .unwrap()
            ),
            _ => String::new(),
        };
        assert!(
            !holds_number(&text, &first.destination) && !holds_number(&k, &first.destination),
            "raw number in Redis key {k}"
        );
    }

    // A tier event from Gupshup reaches the ledger as a reported raise: held, the limit stays,
    // until an operator confirms it (issue #22).
    let upgrade = json!({"app":"TierpaceTest","timestamp":3,"version":2,"type":"account-event",
        "payload":{"type":"tier-event","payload":{"event":"UPGRADE","currentTier":"TIER_1K","newTier":"TIER_10K"}}});
    assert_eq!(post(s.url(scenario::GUPSHUP_HOOK), upgrade).await, 200);
    assert!(
        eventually(
            || async {
                get::<Vec<SenderStatus>>(s.url("/api/v1/senders"))
                    .await
                    .is_some_and(|v| {
                        v.iter().any(|x| {
                            x.id == "sac"
                                && x.tier == "TIER_1K"
                                && x.reported_tier.as_deref() == Some("TIER_10K")
                        })
                    })
            },
            10
        )
        .await
    );
    let confirmed = reqwest::Client::new()
        .post(s.url("/api/v1/groups/sac/tier/confirm"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("confirm");
    assert_eq!(confirmed.status(), 200);
    assert!(
        eventually(
            || async {
                get::<Vec<SenderStatus>>(s.url("/api/v1/senders"))
                    .await
                    .is_some_and(|v| {
                        v.iter().any(|x| {
                            x.id == "sac" && x.tier == "TIER_10K" && x.reported_tier.is_none()
                        })
                    })
            },
            10
        )
        .await
    );

    // Operators: no token -> 401; with the token, pause shows and resume lifts it.
    let http = reqwest::Client::new();
    let later = || async {
        get::<Vec<CampaignStatus>>(s.url("/api/v1/campaigns"))
            .await?
            .into_iter()
            .find(|c| c.id == "later")
    };
    assert!(
        eventually(
            || async { later().await.is_some_and(|c| c.state == "scheduled") },
            10
        )
        .await
    );
    let no_token = http
        .post(s.url("/api/v1/campaigns/later/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    let paused = http
        .post(s.url("/api/v1/campaigns/later/pause"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status().as_u16(), 200);
    assert!(
        eventually(
            || async { later().await.is_some_and(|c| c.state == "paused") },
            10
        )
        .await
    );
    let resumed = http
        .post(s.url("/api/v1/campaigns/later/resume"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status().as_u16(), 200);
    assert!(
        eventually(
            || async { later().await.is_some_and(|c| c.state == "scheduled") },
            10
        )
        .await
    );
    assert_eq!(
        campaign(&s).await.map(|c| c.state),
        Some("completed".to_string())
    );

    // Metrics: the families operators alert on, with no phone number anywhere.
    let metrics = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "tierpace_group_tier_limit",
        "tierpace_group_unique_customers_24h",
        "tierpace_campaign_contacts",
        "tierpace_webhook_events",
    ] {
        let exact = metrics.lines().any(|l| {
            l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family}_total{{"))
        });
        assert!(exact, "{family} missing from /metrics:\n{metrics}");
    }
    assert!(
        !holds_number(&metrics, &first.destination),
        "a phone number in /metrics:\n{metrics}"
    );
    // Ready (a functional wait: on a loaded machine a health tick may lag a moment).
    let mut last = (0, String::new());
    for _ in 0..50 {
        let r = reqwest::get(s.url("/readyz")).await.unwrap();
        last = (r.status().as_u16(), r.text().await.unwrap_or_default());
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(last.0, 200, "/readyz: {}", last.1);

    token.cancel();
    daemon.await.unwrap().unwrap();
}

/// Whether `text` holds the phone number `e164` (digits only, e.g. `5585900000003`) in any
/// written form: with or without the country code or the area code, as a whole number (not
/// digits inside a longer one: a float such as 0.9000000000000001 holds `900000000` by chance).
fn holds_number(text: &str, e164: &str) -> bool {
    let forms = [e164, &e164[2..], &e164[4..]];
    forms.iter().any(|form| {
        text.match_indices(form).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + form.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit())
        })
    })
}
