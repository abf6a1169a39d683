//! The tier as Meta reports it in webhooks (DOMAIN.md §7, issue 12 §2): through the daemon's
//! real `/webhooks/meta` with a valid `X-Hub-Signature-256`, `business_capability_update`'s
//! `max_daily_conversations_per_business` sets the group's limit (-1 = unlimited), and
//! `phone_number_quality_update` without `current_limit` reads that field and never guesses.
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_meta::signature;
use support::redis_server::free_port;
use tierpace::clock::SystemClock;
use tierpace::http::{parse_meta, ProviderEvent, SenderStatus};

const APP_SECRET: &str = "meta-app-secret-for-tests";

fn field_file() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/field/meta-capability-unlimited/meta-webhook.json"
    );
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn tier_of(body: &Value) -> Vec<Option<String>> {
    parse_meta(body.to_string().as_bytes())
        .map(|events| {
            events
                .into_iter()
                .filter_map(|e| match e.event {
                    ProviderEvent::Tier { new, .. } => Some(new),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn capability(limit: Value) -> Value {
    json!({"object":"whatsapp_business_account","entry":[{"id":"880000000000001","time":1796060000,
        "changes":[{"value":{"max_daily_conversations_per_business":limit},"field":"business_capability_update"}]}]})
}

fn quality(value: Value) -> Value {
    json!({"object":"whatsapp_business_account","entry":[{"id":"880000000000001","time":1796060000,
        "changes":[{"value":value,"field":"phone_number_quality_update"}]}]})
}

#[test]
fn capability_limits_read_as_their_tiers() {
    let field: Value = serde_json::from_slice(&field_file()).unwrap();
    assert_eq!(tier_of(&field), vec![Some("TIER_UNLIMITED".to_string())]);
    for (limit, tier) in [
        (json!(250), "TIER_250"),
        (json!(2000), "TIER_2K"),
        (json!(10000), "TIER_10K"),
        (json!(100000), "TIER_100K"),
        (json!(-1), "TIER_UNLIMITED"),
        (json!("-1"), "TIER_UNLIMITED"),
    ] {
        assert_eq!(
            tier_of(&capability(limit.clone())),
            vec![Some(tier.to_string())],
            "{limit}"
        );
    }
}

#[test]
fn quality_update_without_current_limit_reads_the_new_field_and_never_guesses() {
    let with_new_field = quality(
        json!({"display_phone_number":"5585999990000","event":"UPGRADE",
        "max_daily_conversations_per_business":10000}),
    );
    assert_eq!(tier_of(&with_new_field), vec![Some("TIER_10K".to_string())]);
    let old_form = quality(
        json!({"display_phone_number":"5585999990000","event":"UPGRADE",
        "current_limit":"TIER_100K"}),
    );
    assert_eq!(tier_of(&old_form), vec![Some("TIER_100K".to_string())]);
    // No limit at all: no tier event (the ledger would otherwise step one rung on a guess).
    let bare = quality(json!({"display_phone_number":"5585999990000","event":"UPGRADE"}));
    assert!(tier_of(&bare).is_empty());
    // FLAGGED needs no limit: it still arrives.
    let flagged = quality(json!({"display_phone_number":"5585999990000","event":"FLAGGED"}));
    assert_eq!(tier_of(&flagged), vec![None]);
}

/// The quality ratings an event sets (issue 12 §3: the quality update sets quality, not only
/// the tier).
fn qualities_of(body: &Value) -> Vec<String> {
    parse_meta(body.to_string().as_bytes())
        .map(|events| {
            events
                .into_iter()
                .filter_map(|e| match e.event {
                    ProviderEvent::Quality { quality, .. } => Some(quality),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn flagged_sets_quality_low_and_unflagged_medium_other_events_none() {
    let q = |event: &str| {
        qualities_of(&quality(
            json!({"display_phone_number":"5585999990000","event":event}),
        ))
    };
    assert_eq!(q("FLAGGED"), ["LOW"]);
    assert_eq!(q("UNFLAGGED"), ["MEDIUM"]);
    assert!(q("ONBOARDING").is_empty());
    let upgrade = quality(
        json!({"display_phone_number":"5585999990000","event":"UPGRADE",
        "max_daily_conversations_per_business":10000}),
    );
    assert!(qualities_of(&upgrade).is_empty());
}

const ADMIN_TOKEN: &str = "meta-tier-admin-token";

struct Daemon {
    port: u16,
    _dir: tempfile::TempDir,
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A daemon with one Meta sender on 1K and no campaigns.
fn start() -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    std::fs::write(root.join("token"), "meta-access-token\n").unwrap();
    std::fs::write(root.join("app.secret"), format!("{APP_SECRET}\n")).unwrap();
    std::fs::write(root.join("admin.token"), format!("{ADMIN_TOKEN}\n")).unwrap();
    let port = free_port();
    let config = format!(
        r#"state = "memory"
campaigns_dir = "campaigns"

[http]
listen = "127.0.0.1:{port}"
meta_app_secret_file = "{root}/app.secret"
admin_token_file = "{root}/admin.token"

[senders.cloud]
provider = "meta"
phone_number_id = "100000000000001"
api_key_file = "{root}/token"
base_url = "http://127.0.0.1:9"
initial_tier = "1k"
"#,
        root = root.display()
    );
    let path = root.join("tierpace.toml");
    std::fs::write(&path, config).unwrap();
    let (token, task) = support::daemon::start_in_process(path, Arc::new(SystemClock));
    Daemon {
        port,
        _dir: dir,
        token,
        task,
    }
}

impl Daemon {
    async fn sender(&self) -> Option<SenderStatus> {
        reqwest::get(format!("http://127.0.0.1:{}/api/v1/senders", self.port))
            .await
            .ok()?
            .json::<Vec<SenderStatus>>()
            .await
            .ok()?
            .into_iter()
            .find(|s| s.id == "cloud")
    }

    async fn post_signed(&self, body: &[u8]) -> u16 {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/webhooks/meta", self.port))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature(APP_SECRET, body))
            .body(body.to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// An operator confirms the raise the callbacks reported (`tierpace tier confirm cloud`).
    async fn confirm(&self) -> u16 {
        reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/api/v1/groups/cloud/tier/confirm",
                self.port
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// The callback's raise is reported and held: the limit stays where it was.
    async fn until_reported(&self, tier: &str, reported: &str) {
        for _ in 0..100 {
            if let Some(s) = self.sender().await {
                if s.tier == tier && s.reported_tier.as_deref() == Some(reported) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sender never held {reported}: {:#?}", self.sender().await);
    }

    async fn until_tier(&self, tier: &str, limit: Option<u64>) {
        for _ in 0..100 {
            if let Some(s) = self.sender().await {
                if s.tier == tier && s.limit == limit {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sender never reached {tier}: {:#?}", self.sender().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_meta_capability_unlimited_makes_the_group_unlimited_once_confirmed() {
    let d = start();
    d.until_tier("TIER_1K", Some(1000)).await;
    assert_eq!(d.post_signed(&field_file()).await, 200);
    // A callback never raises a limit on its own (issue #22): held until confirmed.
    d.until_reported("TIER_1K", "TIER_UNLIMITED").await;
    assert_eq!(d.confirm().await, 200);
    // Shown at once, not after the dispatcher's next tick (a fresh operator's trial saw the
    // old tier for a second after `tier confirm` and thought it had failed).
    let s = d.sender().await.expect("sender status");
    assert_eq!(
        (s.tier.as_str(), s.limit),
        ("TIER_UNLIMITED", None),
        "{s:#?}"
    );
    assert_eq!(s.reported_tier, None, "{s:#?}");
    d.until_tier("TIER_UNLIMITED", None).await;
    assert_eq!(d.confirm().await, 409, "nothing left to confirm");

    // Every documented limit sets that limit: a lower one at once, a higher one once confirmed.
    let body = capability(json!(250)).to_string();
    assert_eq!(d.post_signed(body.as_bytes()).await, 200);
    d.until_tier("TIER_250", Some(250)).await;
    for (limit, tier, n, below) in [
        (2000, "TIER_2K", 2000, "TIER_250"),
        (10000, "TIER_10K", 10_000, "TIER_2K"),
        (100000, "TIER_100K", 100_000, "TIER_10K"),
    ] {
        let body = capability(json!(limit)).to_string();
        assert_eq!(d.post_signed(body.as_bytes()).await, 200);
        d.until_reported(below, tier).await;
        assert_eq!(d.confirm().await, 200);
        d.until_tier(tier, Some(n)).await;
    }

    // A quality update without current_limit reads the new field...
    let body = quality(
        json!({"display_phone_number":"5585999990000","event":"UPGRADE",
        "max_daily_conversations_per_business":-1}),
    )
    .to_string();
    assert_eq!(d.post_signed(body.as_bytes()).await, 200);
    d.until_reported("TIER_100K", "TIER_UNLIMITED").await;
    // ... a lower limit withdraws the held raise and applies at once ...
    let body = capability(json!(2000)).to_string();
    assert_eq!(d.post_signed(body.as_bytes()).await, 200);
    d.until_tier("TIER_2K", Some(2000)).await;
    assert_eq!(d.sender().await.unwrap().reported_tier, None);
    // ... and one with no limit at all changes nothing.
    let bare =
        quality(json!({"display_phone_number":"5585999990000","event":"UPGRADE"})).to_string();
    d.post_signed(bare.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = d.sender().await.unwrap();
    assert_eq!((s.tier.as_str(), s.limit), ("TIER_2K", Some(2000)));

    // A bad signature changes nothing.
    let body = capability(json!(-1)).to_string();
    let status = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/webhooks/meta", d.port))
        .header("X-Hub-Signature-256", signature("wrong", body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(d.sender().await.unwrap().limit, Some(2000));
    d.token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), d.task).await;
}
