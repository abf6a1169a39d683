//! The WhatsApp id Meta resolves a number to (issue 11: "when Meta's send answer carries
//! `contacts[].wa_id`, record it"), end to end: a running daemon with a Meta sender, the fake
//! Cloud API answering a send to the Mexican `52 55 1234 5678` with `wa_id` `5215512345678`
//! (the old mobile `1`), real signed webhooks to `/webhooks/meta`, and each state backend.
//!
//! The customer answers STOP from the WhatsApp id, not from the audience's number: the opt-out
//! must still reach the audience contact, so the next campaign skips it and the admin API shows
//! the audience number opted out.
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_meta::{signature, FakeMeta, FakeMetaConfig};
use support::redis_server::{free_port, RedisServer};
use tierpace::clock::SystemClock;
use tierpace::http::admin::OptOutView;
use tierpace::http::CampaignStatus;

const ADMIN_TOKEN: &str = "wa-id-alias-admin-token";
const APP_SECRET: &str = "wa-id-alias-meta-app-secret";
const PHONE_ID: &str = "100000000000001";
/// The audience's number (Mexico City, as numbers are written since 2019).
const AUDIENCE_MX: &str = "525512345678";
/// The WhatsApp id Meta answers for it.
const WA_ID_MX: &str = "5215512345678";
/// A Brazilian contact WhatsApp knows as sent: the control.
const AUDIENCE_BR: &str = "5585999990001";

const AUDIENCE_CSV: &str =
    "name,ddi,phone,opt_in\nLuis,52,55 1234 5678,sim\nAna,55,85 99999-0001,sim\n";

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

struct Running {
    dir: tempfile::TempDir,
    port: u16,
    fake: FakeMeta,
    redis: Option<RedisServer>,
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn campaign_toml(id: &str) -> String {
    format!(
        r#"id = "{id}"
sender = "cloud"
[template]
name = "promo_novembro"
language = "pt_BR"
category = "marketing"
params = ["{{{{name}}}}"]
[audience]
file = "contacts/audience.csv"
default_ddi = "55"
[schedule]
calendar = "always"
[pacing]
mode = "asap"
"#
    )
}

async fn start(backend: Backend) -> Running {
    let redis = match backend {
        Backend::Memory => None,
        Backend::Redis => Some(RedisServer::start()),
    };
    let fake = FakeMeta::start(FakeMetaConfig {
        wa_ids: HashMap::from([(AUDIENCE_MX.to_string(), WA_ID_MX.to_string())]),
        ..FakeMetaConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns/contacts")).unwrap();
    std::fs::write(
        root.join("hash.key"),
        "wa-id-hash-key-0123456789abcdef0123456789\n",
    )
    .unwrap();
    std::fs::write(
        root.join("meta.token"),
        format!("{}\n", FakeMetaConfig::default().access_token),
    )
    .unwrap();
    std::fs::write(root.join("app.secret"), format!("{APP_SECRET}\n")).unwrap();
    std::fs::write(root.join("admin.token"), format!("{ADMIN_TOKEN}\n")).unwrap();
    std::fs::write(root.join("campaigns/contacts/audience.csv"), AUDIENCE_CSV).unwrap();
    let state = match &redis {
        Some(r) => format!("state = \"redis\"\nredis_url = \"{}\"\n", r.url()),
        None => "state = \"memory\"\n".to_string(),
    };
    let port = free_port();
    let config = format!(
        r#"{state}key_prefix = "waid"
hash_key_file = "{root}/hash.key"
campaigns_dir = "campaigns"
lease_ttl = "2s"
drain_timeout = "3s"

[http]
listen = "127.0.0.1:{port}"
meta_app_secret_file = "{root}/app.secret"
admin_token_file = "{root}/admin.token"

[senders.cloud]
provider = "meta"
phone_number_id = "{PHONE_ID}"
api_key_file = "{root}/meta.token"
base_url = "{url}"
initial_tier = "1k"
max_mps = 50
timeout = "2s"
"#,
        root = root.display(),
        url = fake.base_url(),
    );
    let path = root.join("tierpace.toml");
    std::fs::write(&path, config).unwrap();
    std::fs::write(root.join("campaigns/first.toml"), campaign_toml("first")).unwrap();
    let (token, task) = support::daemon::start_in_process(path, Arc::new(SystemClock));
    Running {
        dir,
        port,
        fake,
        redis,
        token,
        task,
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn campaign(&self, id: &str) -> Option<CampaignStatus> {
        reqwest::Client::new()
            .get(self.url("/api/v1/campaigns"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?
            .json::<Vec<CampaignStatus>>()
            .await
            .ok()?
            .into_iter()
            .find(|c| c.id == id)
    }

    /// Waits for campaign `id` to complete, writing its file again while the daemon has not
    /// loaded it (the directory watcher may start after the HTTP server).
    async fn completed(&self, id: &str) -> CampaignStatus {
        let file = self.dir.path().join(format!("campaigns/{id}.toml"));
        for _ in 0..10 {
            if eventually(|| async { self.campaign(id).await.is_some() }, 3).await {
                break;
            }
            std::fs::write(&file, campaign_toml(id)).unwrap();
        }
        let done = eventually(
            || async {
                self.campaign(id)
                    .await
                    .is_some_and(|c| c.state == "completed")
            },
            40,
        )
        .await;
        let status = self.campaign(id).await;
        assert!(done, "campaign {id} did not complete: {status:?}");
        status.unwrap()
    }

    async fn optout(&self, number: &str) -> Option<OptOutView> {
        reqwest::Client::new()
            .get(self.url(&format!("/api/v1/optouts/{number}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn post_meta(&self, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        reqwest::Client::new()
            .post(self.url("/webhooks/meta"))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", signature(APP_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    fn sends_to(&self, number: &str) -> usize {
        self.fake.sends().iter().filter(|s| s.to == number).count()
    }

    /// The stored aliases (HLEN of the alias hash); `None` for the memory backend.
    async fn aliases(&self) -> Option<u64> {
        let redis = self.redis.as_ref()?;
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("HLEN")
            .arg("waid:{optout}:alias")
            .query_async(&mut conn)
            .await
            .ok()
    }

    /// Contacts with an open service window (ZCARD of the sender's `svc` set); `None` for the
    /// memory backend.
    async fn service_windows(&self) -> Option<u64> {
        let redis = self.redis.as_ref()?;
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("waid:*:svc")
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut n = 0;
        for k in keys {
            let c: u64 = redis::cmd("ZCARD")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            n += c;
        }
        Some(n)
    }

    async fn stop(self) {
        self.token.cancel();
        self.task.await.unwrap().unwrap();
    }
}

async fn eventually<F, Fut>(mut check: F, secs: u64) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A Meta `messages` webhook: one text from `from`, to our phone number id.
fn inbound(from: &str, text: &str) -> Value {
    json!({"object":"whatsapp_business_account","entry":[{"id":"WABA-1","changes":[{
        "field":"messages",
        "value":{"messaging_product":"whatsapp",
            "metadata":{"display_phone_number":"5585999990000","phone_number_id":PHONE_ID},
            "contacts":[{"profile":{"name":"Luis"},"wa_id":from}],
            "messages":[{"from":from,"id":"wamid.in-1","timestamp":"1764500000","type":"text",
                "text":{"body":text}}]}}]}]})
}

async fn stop_from_the_whatsapp_id_reaches_the_audience_contact(backend: Backend) {
    let d = start(backend).await;
    let first = d.completed("first").await;
    assert_eq!(first.totals.sent, 2, "{first:?}");
    assert_eq!(d.sends_to(AUDIENCE_MX), 1, "sent to the audience's number");
    if let Some(n) = d.aliases().await {
        // Only the Mexican number resolved to another id; the Brazilian one is its own.
        assert_eq!(n, 1, "one alias stored");
    }
    // Before the reply, the audience number is not opted out.
    let before = d.optout(AUDIENCE_MX).await.expect("GET optout");
    assert!(!before.opted_out, "{before:?}");

    assert_eq!(d.post_meta(&inbound(WA_ID_MX, "STOP")).await, 200);
    assert!(
        eventually(
            || async { d.optout(AUDIENCE_MX).await.is_some_and(|v| v.opted_out) },
            10
        )
        .await,
        "STOP from the WhatsApp id never reached the audience number: {:?}",
        d.optout(AUDIENCE_MX).await
    );
    let view = d.optout(AUDIENCE_MX).await.unwrap();
    assert_eq!(view.source.as_deref(), Some("keyword"), "{view:?}");
    if let Some(redis) = &d.redis {
        // The WhatsApp id itself is opted out too: two opt-outs, one for each key (the admin
        // API cannot show it: `521...` is not a number Mexico's plan accepts).
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let n: u64 = redis::cmd("HLEN")
            .arg("waid:{optout}")
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 2);
        // The reply opened the service window of the WhatsApp id and of the audience contact.
        assert!(
            eventually(|| async { d.service_windows().await == Some(2) }, 10).await,
            "service windows: {:?}",
            d.service_windows().await
        );
    }
    // The control contact is untouched.
    assert!(!d.optout(AUDIENCE_BR).await.unwrap().opted_out);

    std::fs::write(
        d.dir.path().join("campaigns/second.toml"),
        campaign_toml("second"),
    )
    .unwrap();
    let second = d.completed("second").await;
    assert_eq!(
        second.totals.skipped.get("opted_out"),
        Some(&1),
        "{second:?}"
    );
    assert_eq!(second.totals.sent, 1, "{second:?}");
    assert_eq!(d.sends_to(AUDIENCE_MX), 1, "never sent again after STOP");
    assert_eq!(d.sends_to(AUDIENCE_BR), 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_from_the_whatsapp_id_reaches_the_audience_contact_in_memory() {
    stop_from_the_whatsapp_id_reaches_the_audience_contact(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_from_the_whatsapp_id_reaches_the_audience_contact_in_redis() {
    stop_from_the_whatsapp_id_reaches_the_audience_contact(Backend::Redis).await;
}
