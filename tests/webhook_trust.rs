//! Webhook trust (issue #22), through the daemon's real listener and a real redis-server:
//! forged, unauthenticated, replayed and out-of-order callbacks to both webhooks change nothing
//! and are counted; the same callbacks with the secret or signature apply, and a tier raise
//! only once confirmed.
mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use support::daemon::eventually;
use support::fake_meta::signature;
use support::redis_server::RedisServer;
use support::scenario::{self, number, Scenario, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::admin::OptOutView;
use tierpace::http::{CampaignStatus, SenderStatus};

const TOKEN: &str = "trust-admin-token";
const APP_SECRET: &str = "trust-meta-app-secret";
/// 2026-01-01T00:00:00Z in milliseconds: callback times well before the test runs.
const T0_MS: i64 = 1_767_225_600_000;

/// A scenario (Gupshup sender `sac`, campaign `bf`) plus a Meta sender `cloud`, with `extra`
/// keys in `[http]`.
fn scenario(redis: &RedisServer, extra: &str) -> Scenario {
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        contacts: 5,
        admin_token: Some(TOKEN),
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::write(root.join("app.secret"), format!("{APP_SECRET}\n")).unwrap();
    std::fs::write(root.join("meta.token"), "meta-access-token\n").unwrap();
    let text = std::fs::read_to_string(&s.config).unwrap().replacen(
        "[http]\n",
        &format!(
            "[http]\nmeta_app_secret_file = \"{}/app.secret\"\n{extra}\n",
            root.display()
        ),
        1,
    ) + &format!(
        r#"
[senders.cloud]
provider = "meta"
phone_number_id = "100000000000001"
api_key_file = "{}/meta.token"
base_url = "http://127.0.0.1:9"
initial_tier = "1k"
"#,
        root.display()
    );
    std::fs::write(&s.config, text).unwrap();
    s
}

async fn post(s: &Scenario, path: &str, body: &Value, headers: &[(&str, String)]) -> u16 {
    let body = body.to_string();
    let mut req = reqwest::Client::new()
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn post_meta(s: &Scenario, body: &Value, secret: &str) -> u16 {
    let sig = signature(secret, body.to_string().as_bytes());
    post(s, "/webhooks/meta", body, &[("X-Hub-Signature-256", sig)]).await
}

async fn get<T: serde::de::DeserializeOwned>(s: &Scenario, path: &str) -> Option<T> {
    reqwest::get(s.url(path)).await.ok()?.json().await.ok()
}

async fn sender(s: &Scenario, id: &str) -> Option<SenderStatus> {
    get::<Vec<SenderStatus>>(s, "/api/v1/senders")
        .await?
        .into_iter()
        .find(|x| x.id == id)
}

async fn opted_out(s: &Scenario, n: &str) -> bool {
    get::<OptOutView>(s, &format!("/api/v1/optouts/{n}"))
        .await
        .expect("optout view")
        .opted_out
}

async fn campaign_paused(s: &Scenario) -> bool {
    get::<Vec<CampaignStatus>>(s, "/api/v1/campaigns")
        .await
        .unwrap_or_default()
        .iter()
        .any(|c| c.id == "bf" && c.state == "paused")
}

/// `tierpace_http_refused_total{door,reason}` from `/metrics`.
async fn refused(s: &Scenario, door: &str, reason: &str) -> f64 {
    let text = reqwest::get(s.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let prefix = format!("tierpace_http_refused_total{{door=\"{door}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn confirm(s: &Scenario, group: &str) -> u16 {
    reqwest::Client::new()
        .post(s.url(&format!("/api/v1/groups/{group}/tier/confirm")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn until_started(s: &Scenario) {
    assert!(
        eventually(
            || async { sender(s, "sac").await.is_some() && sender(s, "cloud").await.is_some() },
            20
        )
        .await,
        "daemon did not start"
    );
}

fn gupshup(kind: &str, ms: i64, payload: Value) -> Value {
    json!({"app":"TierpaceTest","timestamp":ms,"version":2,"type":kind,"payload":payload})
}

fn tier_event(ms: i64, event: &str, new: &str) -> Value {
    gupshup(
        "account-event",
        ms,
        json!({"type":"tier-event","payload":{"event":event,"currentTier":"TIER_1K","newTier":new}}),
    )
}

fn user_event(ms: i64, kind: &str, phone: &str) -> Value {
    gupshup("user-event", ms, json!({"phone":phone,"type":kind}))
}

fn template_paused(ms: i64) -> Value {
    gupshup(
        "template-event",
        ms,
        json!({"id":"6f1c2a3b-0000-4000-8000-000000000001","status":"paused"}),
    )
}

fn delivered(ms: i64) -> Value {
    gupshup(
        "message-event",
        ms,
        json!({"id":"forged-id","gsId":"forged-gs-id","type":"delivered","destination":number(1),"payload":{"ts":1}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gupshup_callbacks_need_the_secret_replays_change_nothing_and_raises_wait_for_confirmation()
{
    let redis = RedisServer::start();
    let s = scenario(&redis, "");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    until_started(&s).await;
    let customer = number(0);

    // Forged: no secret, or a wrong one, in the path or the header.
    let forged = [
        tier_event(T0_MS, "UPGRADE", "TIER_UNLIMITED"),
        user_event(T0_MS, "opted-out", &customer),
        template_paused(T0_MS),
        delivered(T0_MS),
    ];
    for body in &forged {
        assert_eq!(post(&s, "/webhooks/gupshup", body, &[]).await, 401);
        assert_eq!(post(&s, "/webhooks/gupshup/guess", body, &[]).await, 401);
        let header = [("X-Tierpace-Webhook-Secret", "guess".to_string())];
        assert_eq!(post(&s, "/webhooks/gupshup", body, &header).await, 401);
    }
    assert_eq!(refused(&s, "gupshup", "bad_secret").await, 12.0);
    let sac = sender(&s, "sac").await.unwrap();
    assert_eq!(
        (sac.tier.as_str(), sac.reported_tier.as_deref()),
        ("TIER_1K", None)
    );
    assert!(!opted_out(&s, &customer).await);
    assert!(!campaign_paused(&s).await);

    let hook = scenario::GUPSHUP_HOOK;
    // Consent: opt-out at T+2; an opt-in from T+1 arriving late is stale; one from T+3 lifts
    // it; the T+2 opt-out replayed after that is stale too; duplicates are idempotent.
    let t = |s: i64| T0_MS + s * 1000;
    assert_eq!(
        post(&s, hook, &user_event(t(2), "opted-out", &customer), &[]).await,
        200
    );
    assert!(opted_out(&s, &customer).await);
    assert_eq!(
        post(&s, hook, &user_event(t(1), "opted-in", &customer), &[]).await,
        200
    );
    assert!(
        opted_out(&s, &customer).await,
        "an older opt-in undoes no newer opt-out"
    );
    assert_eq!(refused(&s, "gupshup", "stale").await, 1.0);
    assert_eq!(
        post(&s, hook, &user_event(t(3), "opted-in", &customer), &[]).await,
        200
    );
    assert!(!opted_out(&s, &customer).await);
    for _ in 0..2 {
        assert_eq!(
            post(&s, hook, &user_event(t(2), "opted-out", &customer), &[]).await,
            200
        );
        assert!(
            !opted_out(&s, &customer).await,
            "a replayed opt-out undoes no newer opt-in"
        );
    }
    assert_eq!(refused(&s, "gupshup", "stale").await, 3.0);
    assert_eq!(
        post(&s, hook, &user_event(t(3), "opted-in", &customer), &[]).await,
        200
    );
    assert!(
        !opted_out(&s, &customer).await,
        "a duplicate stays idempotent"
    );

    // Tier: an UPGRADE at T+10 is held; the limit stays until an operator confirms.
    assert_eq!(
        post(&s, hook, &tier_event(t(10), "UPGRADE", "TIER_10K"), &[]).await,
        200
    );
    assert!(
        eventually(
            || async {
                sender(&s, "sac").await.is_some_and(|x| {
                    x.tier == "TIER_1K" && x.reported_tier.as_deref() == Some("TIER_10K")
                })
            },
            10
        )
        .await,
        "{:#?}",
        sender(&s, "sac").await
    );
    // A DOWNGRADE sent before it (T+5) arrives late: stale, nothing changes.
    let stale_before = refused(&s, "gupshup", "stale").await;
    assert_eq!(
        post(&s, hook, &tier_event(t(5), "DOWNGRADE", "TIER_250"), &[]).await,
        200
    );
    assert_eq!(refused(&s, "gupshup", "stale").await, stale_before + 1.0);
    assert_eq!(confirm(&s, "sac").await, 200);
    assert!(
        eventually(
            || async {
                sender(&s, "sac")
                    .await
                    .is_some_and(|x| x.tier == "TIER_10K" && x.reported_tier.is_none())
            },
            10
        )
        .await
    );
    // A lowering applies at once.
    assert_eq!(
        post(&s, hook, &tier_event(t(20), "DOWNGRADE", "TIER_1K"), &[]).await,
        200
    );
    assert!(
        eventually(
            || async { sender(&s, "sac").await.is_some_and(|x| x.tier == "TIER_1K") },
            10
        )
        .await
    );

    // Template pause with the secret applies.
    assert_eq!(post(&s, hook, &template_paused(t(30)), &[]).await, 200);
    assert!(eventually(|| async { campaign_paused(&s).await }, 10).await);

    // The operator resumes; the same pause replayed (dated before the resume) changes nothing.
    let resumed = reqwest::Client::new()
        .post(s.url("/api/v1/campaigns/bf/resume"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(resumed, 200);
    assert!(eventually(|| async { !campaign_paused(&s).await }, 10).await);
    let stale_before = refused(&s, "gupshup", "stale").await;
    assert_eq!(post(&s, hook, &template_paused(t(30)), &[]).await, 200);
    assert_eq!(refused(&s, "gupshup", "stale").await, stale_before + 1.0);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !campaign_paused(&s).await,
        "a replayed pause paused the campaign again"
    );

    token.cancel();
    daemon.await.unwrap().unwrap();
}

fn meta(time: i64, field: &str, value: Value) -> Value {
    json!({"object":"whatsapp_business_account","entry":[{"id":"880000000000001","time":time,
        "changes":[{"field":field,"value":value}]}]})
}

fn preference(time: i64, wa_id: &str, value: &str) -> Value {
    meta(
        time,
        "user_preferences",
        json!({"metadata":{"display_phone_number":"5585999990000","phone_number_id":"100000000000001"},
            "user_preferences":[{"wa_id":wa_id,"category":"marketing_messages","value":value,"timestamp":time}]}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_callbacks_need_the_signature_and_a_capability_raise_waits_for_confirmation() {
    let redis = RedisServer::start();
    let s = scenario(&redis, "");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    until_started(&s).await;
    let field: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/field/meta-capability-unlimited/meta-webhook.json"
        ))
        .or_else(|_| {
            std::fs::read_to_string(
                "/work/shared/field/meta-capability-unlimited/meta-webhook.json",
            )
        })
        .expect("field file"),
    )
    .unwrap();
    let customer = number(1);
    let t0 = T0_MS / 1000;

    // Unsigned and wrongly signed: refused and counted.
    for body in [&field, &preference(t0, &customer, "stop")] {
        assert_eq!(post(&s, "/webhooks/meta", body, &[]).await, 401);
        assert_eq!(post_meta(&s, body, "not-the-app-secret").await, 401);
    }
    assert_eq!(refused(&s, "meta", "bad_signature").await, 4.0);
    let cloud = sender(&s, "cloud").await.unwrap();
    assert_eq!(
        (cloud.tier.as_str(), cloud.reported_tier.as_deref()),
        ("TIER_1K", None)
    );
    assert!(!opted_out(&s, &customer).await);

    // Signed: the field file's unlimited is held, then confirmed by an operator.
    assert_eq!(post_meta(&s, &field, APP_SECRET).await, 200);
    assert!(
        eventually(
            || async {
                sender(&s, "cloud").await.is_some_and(|x| {
                    x.tier == "TIER_1K" && x.reported_tier.as_deref() == Some("TIER_UNLIMITED")
                })
            },
            10
        )
        .await,
        "{:#?}",
        sender(&s, "cloud").await
    );
    assert_eq!(
        sender(&s, "sac").await.unwrap().reported_tier,
        None,
        "another group is untouched"
    );
    assert_eq!(confirm(&s, "cloud").await, 200);
    assert!(
        eventually(
            || async {
                sender(&s, "cloud")
                    .await
                    .is_some_and(|x| x.tier == "TIER_UNLIMITED")
            },
            10
        )
        .await
    );
    // An older capability update (before the field file's time) is stale.
    let old = meta(
        1_796_000_000,
        "business_capability_update",
        json!({"max_daily_conversations_per_business":250}),
    );
    assert_eq!(post_meta(&s, &old, APP_SECRET).await, 200);
    assert_eq!(refused(&s, "meta", "stale").await, 1.0);

    // Marketing preference: stop at t+2; a resume from t+1 is stale; resume at t+3 applies.
    assert_eq!(
        post_meta(&s, &preference(t0 + 2, &customer, "stop"), APP_SECRET).await,
        200
    );
    assert!(opted_out(&s, &customer).await);
    assert_eq!(
        post_meta(&s, &preference(t0 + 1, &customer, "resume"), APP_SECRET).await,
        200
    );
    assert!(opted_out(&s, &customer).await);
    assert_eq!(refused(&s, "meta", "stale").await, 2.0);
    assert_eq!(
        post_meta(&s, &preference(t0 + 3, &customer, "resume"), APP_SECRET).await,
        200
    );
    assert!(!opted_out(&s, &customer).await);

    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowlists_trusted_proxies_and_rate_limits_refuse_and_count() {
    let redis = RedisServer::start();
    let s = scenario(
        &redis,
        "gupshup_allow = [\"192.0.2.0/24\"]\ntrusted_proxies = [\"127.0.0.1\"]\n\
         webhook_rate_per_source = 0.001\nwebhook_burst_per_source = 2",
    );
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    until_started(&s).await;
    let hook = scenario::GUPSHUP_HOOK;
    let body = user_event(T0_MS, "opted-out", &number(2));
    // From 127.0.0.1 itself (a trusted proxy, but no X-Forwarded-For): not in the allowlist.
    assert_eq!(post(&s, hook, &body, &[]).await, 403);
    assert_eq!(refused(&s, "gupshup", "source_not_allowed").await, 1.0);
    assert!(!opted_out(&s, &number(2)).await);
    // Through the trusted proxy from an allowed client: two in the burst, then 429.
    let via = [("X-Forwarded-For", "203.0.113.9, 192.0.2.5".to_string())];
    assert_eq!(post(&s, hook, &body, &via).await, 200);
    assert!(opted_out(&s, &number(2)).await);
    assert_eq!(post(&s, hook, &body, &via).await, 200);
    assert_eq!(post(&s, hook, &body, &via).await, 429);
    assert_eq!(refused(&s, "gupshup", "rate_limited").await, 1.0);
    // The client a proxy says is outside the list is refused.
    let outside = [("X-Forwarded-For", "198.51.100.1".to_string())];
    assert_eq!(post(&s, hook, &body, &outside).await, 403);
    assert_eq!(refused(&s, "gupshup", "source_not_allowed").await, 2.0);
    token.cancel();
    daemon.await.unwrap().unwrap();
}

/// `tierpace check` on the scenario's config (on a thread of its own: it runs its own runtime).
fn check(s: &Scenario, now: chrono::DateTime<chrono::Utc>) -> i32 {
    let config = s.config.clone();
    std::thread::spawn(move || tierpace::cli::check::run(&config, now).unwrap())
        .join()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_the_gupshup_webhook_is_closed_unless_opened_for_development() {
    let redis = RedisServer::start();
    let s = scenario(&redis, "");
    let text = std::fs::read_to_string(&s.config).unwrap();
    let closed: String = text
        .lines()
        .filter(|l| !l.starts_with("gupshup_secret_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    let now = tierpace::clock::Clock::now(&SystemClock);
    assert_eq!(check(&s, now), 0, "with the secret");
    std::fs::write(&s.config, &closed).unwrap();
    assert_eq!(
        check(&s, now),
        1,
        "`tierpace check` fails for a Gupshup sender without a secret"
    );
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    until_started(&s).await;
    let body = user_event(T0_MS, "opted-out", &number(3));
    assert_eq!(post(&s, "/webhooks/gupshup", &body, &[]).await, 401);
    assert_eq!(refused(&s, "gupshup", "no_secret").await, 1.0);
    assert!(!opted_out(&s, &number(3)).await);
    // Closed: no trust warning (go-live items, issue #21, may warn about other things).
    let ready: Value = get(&s, "/readyz").await.unwrap();
    let open_warning = ready["warnings"].as_array().is_some_and(|w| {
        w.iter()
            .any(|x| x.as_str().unwrap_or("").contains("insecure_open_webhooks"))
    });
    assert!(!open_warning, "{ready}");
    token.cancel();
    daemon.await.unwrap().unwrap();

    // The development switch opens it, and says so in /readyz and the webhooks status.
    std::fs::write(
        &s.config,
        closed.replacen("[http]\n", "[http]\ninsecure_open_webhooks = true\n", 1),
    )
    .unwrap();
    assert_eq!(check(&s, now), 0, "a warning only");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    until_started(&s).await;
    assert_eq!(post(&s, "/webhooks/gupshup", &body, &[]).await, 200);
    assert!(opted_out(&s, &number(3)).await);
    let ready: Value = get(&s, "/readyz").await.unwrap();
    assert!(ready["warnings"][0]
        .as_str()
        .unwrap()
        .contains("insecure_open_webhooks"));
    let hooks: Value = get(&s, "/api/v1/webhooks").await.unwrap();
    assert!(hooks["warnings"][0]
        .as_str()
        .unwrap()
        .contains("insecure_open_webhooks"));
    token.cancel();
    daemon.await.unwrap().unwrap();
}
