//! Consent end to end (issue 11 §2-§3): a running daemon, real HTTP to its webhooks and admin
//! API, the fake Gupshup, and each state backend (memory and a real redis-server).
//!
//! - every opt-out channel and webhook shape (Gupshup v2 message and user-event, Gupshup v3 =
//!   Meta's envelope with messages / statuses / user_preferences, Meta's own messages / statuses /
//!   user_preferences) lands with its scope, and the dispatcher honours the scope by the
//!   campaign's template category;
//! - a callback tierpace cannot read is counted and shown by `tierpace status`;
//! - a late opt-out (after the campaign file was loaded) leaves progress that adds up
//!   (`../shared/field/late-optout-progress/`).
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::daemon::eventually;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, Scenario, ScenarioSpec};
use tierpace::cli::client::{run as cli_run, AdminClient, AdminCommand};
use tierpace::clock::{Clock, SystemClock};
use tierpace::http::admin::OptOutView;
use tierpace::http::meta_webhook::meta_signature;
use tierpace::http::{CampaignStatus, Secret, WebhookHealth};

const TOKEN: &str = "consent-e2e-admin-token";
const META_SECRET: &str = "consent-e2e-meta-app-secret";
const LATE_OPTOUT_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/field/late-optout-progress/contacts.csv"
);

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
}

/// A daemon on a scenario directory, stopped on `stop`.
struct Running {
    s: Scenario,
    fake: FakeGupshup,
    token: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _redis: Option<RedisServer>,
}

impl Running {
    async fn stop(self) {
        self.token.cancel();
        self.task.await.unwrap().unwrap();
    }

    fn url(&self, path: &str) -> String {
        self.s.url(path)
    }

    async fn campaign(&self, id: &str) -> Option<CampaignStatus> {
        get::<Vec<CampaignStatus>>(self.url("/api/v1/campaigns"))
            .await?
            .into_iter()
            .find(|c| c.id == id)
    }

    async fn wait_completed(&self, id: &str) -> CampaignStatus {
        let done = eventually(
            || async {
                self.campaign(id)
                    .await
                    .is_some_and(|c| c.state == "completed")
            },
            40,
        )
        .await;
        let c = self.campaign(id).await;
        assert!(done, "campaign {id} did not complete: {c:?}");
        c.unwrap()
    }

    async fn optout(&self, number: &str) -> OptOutView {
        get::<OptOutView>(self.url(&format!("/api/v1/optouts/{number}")))
            .await
            .expect("GET /api/v1/optouts/{number}")
    }

    async fn post_gupshup(&self, body: &[u8]) -> u16 {
        reqwest::Client::new()
            .post(self.url(scenario::GUPSHUP_HOOK))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn post_meta(&self, body: &Value) -> u16 {
        let bytes = serde_json::to_vec(body).unwrap();
        reqwest::Client::new()
            .post(self.url("/webhooks/meta"))
            .header("content-type", "application/json")
            .header(
                "X-Hub-Signature-256",
                meta_signature(META_SECRET.as_bytes(), &bytes),
            )
            .body(bytes)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn get<T: serde::de::DeserializeOwned>(url: String) -> Option<T> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

/// The value of one metric series (exact labels), 0 when absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A scenario whose campaign `bf` (marketing) starts `delay` from now, with a Meta app secret,
/// an admin token, and `extra` applied to the directory before the daemon starts.
async fn start(
    backend: Backend,
    contacts: usize,
    delay: Duration,
    extra: impl FnOnce(&std::path::Path),
) -> Running {
    let redis = match backend {
        Backend::Memory => None,
        Backend::Redis => Some(RedisServer::start()),
    };
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let redis_url = redis.as_ref().map(|r| r.url());
    let s = scenario::write(&ScenarioSpec {
        redis_url: redis_url.as_deref(),
        gupshup_url: &fake.base_url(),
        contacts,
        admin_token: Some(TOKEN),
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::write(root.join("meta.secret"), format!("{META_SECRET}\n")).unwrap();
    let config = std::fs::read_to_string(&s.config).unwrap().replace(
        "[http]\n",
        &format!(
            "[http]\nmeta_app_secret_file = \"{}/meta.secret\"\n",
            root.display()
        ),
    );
    std::fs::write(&s.config, config).unwrap();
    let at = (SystemClock.now() + chrono::Duration::from_std(delay).unwrap()).to_rfc3339();
    let bf = root.join("campaigns/bf.toml");
    let text = std::fs::read_to_string(&bf)
        .unwrap()
        .replace("[schedule]\n", &format!("[schedule]\nstart = \"{at}\"\n"));
    std::fs::write(&bf, text).unwrap();
    extra(root);
    let (token, task) = support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let running = Running {
        s,
        fake,
        token,
        task,
        _redis: redis,
    };
    assert!(
        eventually(|| async { running.campaign("bf").await.is_some() }, 20).await,
        "campaign bf never showed up"
    );
    running
}

// --- late opt-out: progress adds up (field file) -------------------------------------------

async fn late_optout_progress_adds_up(backend: Backend) {
    let csv = std::fs::read_to_string(LATE_OPTOUT_CSV).expect("field file late-optout-progress");
    let d = start(backend, 0, Duration::from_secs(4), |root| {
        std::fs::write(root.join("campaigns/contacts/audience.csv"), &csv).unwrap();
    })
    .await;
    let loaded = d.campaign("bf").await.unwrap();
    assert_eq!(loaded.state, "scheduled", "{loaded:?}");
    assert_eq!(loaded.totals.total, 2, "{loaded:?}");

    // The second contact opts out through the admin API after the campaign file was loaded.
    let second = csv.lines().nth(2).unwrap().split(',').nth(1).unwrap();
    let resp = reqwest::Client::new()
        .post(d.url(&format!("/api/v1/optouts/{second}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer, json!({"optout": true, "scope": "all"}));

    let done = d.wait_completed("bf").await;
    let t = &done.totals;
    assert_eq!((t.total, t.pending, t.in_flight), (2, 0, 0), "{done:?}");
    assert_eq!(t.sent + t.delivered + t.read, 1, "{done:?}");
    assert_eq!(t.skipped.get("opted_out"), Some(&1), "{done:?}");
    assert_eq!(
        t.done(),
        t.total,
        "every contact in exactly one final state"
    );
    assert_eq!(d.fake.sends().len(), 1);
    // The skip is counted once, by campaign and reason (campaign::metrics).
    assert_eq!(
        metric(
            &d.metrics().await,
            r#"tierpace_audience_skips_total{campaign="bf",reason="opted_out"}"#
        ),
        1.0
    );

    // `tierpace status` over HTTP: the campaign ends at 100 %.
    let client = AdminClient::new(&d.url(""), Some(Secret::new(TOKEN))).unwrap();
    let text = cli_run(&client, &AdminCommand::Status, false, SystemClock.now())
        .await
        .unwrap();
    let line = text.lines().find(|l| l.contains("bf")).unwrap().to_string();
    assert!(line.contains("[####################] 100%"), "{text}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_optout_progress_adds_up_in_memory() {
    late_optout_progress_adds_up(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_optout_progress_adds_up_in_redis() {
    late_optout_progress_adds_up(Backend::Redis).await;
}

// --- every opt-out channel and webhook shape ------------------------------------------------

fn gupshup_v2_message(from: &str, text: &str) -> Value {
    json!({"app":"TierpaceTest","timestamp":1_764_500_000_000_i64,"version":2,"type":"message",
        "payload":{"id":"in-1","source":from,"type":"text","payload":{"text":text},
        "sender":{"phone":from,"name":"Cliente"}}})
}

fn gupshup_v2_user_event(phone: &str, kind: &str) -> Value {
    json!({"app":"TierpaceTest","timestamp":1_764_500_000_000_i64,"version":2,"type":"user-event",
        "payload":{"phone":phone,"type":kind}})
}

/// Meta's envelope; with `gs_app_id` it is a Gupshup v3 callback.
fn envelope(field: &str, value: Value, gupshup_v3: bool) -> Value {
    let mut body = json!({"object":"whatsapp_business_account","entry":[{"id":"WABA-1",
        "changes":[{"field":field,"value":value}]}]});
    if gupshup_v3 {
        body["gs_app_id"] = json!("82ed52f4-30c0-4f12-81b4-e7ad07bd41de");
    }
    body
}

fn metadata() -> Value {
    json!({"display_phone_number":"5585999990000","phone_number_id":"PNID-1"})
}

fn preference(wa_id: &str, value: &str, gupshup_v3: bool) -> Value {
    envelope(
        "user_preferences",
        json!({"messaging_product":"whatsapp","metadata":metadata(),
            "contacts":[{"profile":{"name":"Cliente"},"wa_id":wa_id}],
            "user_preferences":[{"wa_id":wa_id,"detail":"User requested to stop marketing messages",
                "category":"marketing_messages","value":value,"timestamp":1_764_500_000}]}),
        gupshup_v3,
    )
}

fn inbound(from: &str, text: &str, gupshup_v3: bool) -> Value {
    envelope(
        "messages",
        json!({"messaging_product":"whatsapp","metadata":metadata(),
            "contacts":[{"profile":{"name":"Cliente"},"wa_id":from}],
            "messages":[{"from":from,"id":"wamid.in","timestamp":"1764500000","type":"text",
                "text":{"body":text}}]}),
        gupshup_v3,
    )
}

/// A status as Gupshup v3 sends it: `gs_id` is Gupshup's messageId (the one our send got back),
/// `id` WhatsApp's; timestamps in milliseconds.
fn v3_status(gs_id: &str, status: &str, code: Option<i64>) -> Value {
    let mut s = json!({"gs_id":gs_id,"id":format!("wamid.{gs_id}"),"recipient_id":"5585",
        "status":status,"timestamp":1_764_500_000_000_i64});
    if let Some(code) = code {
        s["errors"] = json!([{"code":code,"title":"Message failed to send"}]);
    }
    envelope(
        "messages",
        json!({"messaging_product":"whatsapp","statuses":[s]}),
        true,
    )
}

fn meta_status(id: &str, status: &str) -> Value {
    envelope(
        "messages",
        json!({"messaging_product":"whatsapp","metadata":metadata(),
            "statuses":[{"id":id,"status":status,"timestamp":"1764500000","recipient_id":"5585"}]}),
        false,
    )
}

async fn every_webhook_shape_lands_with_its_scope(backend: Backend) {
    let n = scenario::number;
    // A utility campaign on the same audience, starting with `bf`.
    let d = start(backend, 6, Duration::from_secs(5), |root| {
        let bf = std::fs::read_to_string(root.join("campaigns/bf.toml")).unwrap();
        let util = bf
            .replace("id = \"bf\"", "id = \"util\"")
            .replace("category = \"marketing\"", "category = \"utility\"");
        std::fs::write(root.join("campaigns/util.toml"), util).unwrap();
    })
    .await;

    // Before the campaigns start: marketing stops from Gupshup v3 and from Meta, a stop then
    // resume (v3), and a SAIR keyword reply (Gupshup v2).
    let ok = |code: u16| assert_eq!(code, 200);
    ok(
        d.post_gupshup(&serde_json::to_vec(&preference(&n(0), "stop", true)).unwrap())
            .await,
    );
    ok(d.post_meta(&preference(&n(1), "stop", false)).await);
    ok(
        d.post_gupshup(&serde_json::to_vec(&preference(&n(2), "stop", true)).unwrap())
            .await,
    );
    ok(
        d.post_gupshup(&serde_json::to_vec(&preference(&n(2), "resume", true)).unwrap())
            .await,
    );
    ok(
        d.post_gupshup(&serde_json::to_vec(&gupshup_v2_message(&n(3), "Sair")).unwrap())
            .await,
    );
    for (i, scope, source) in [
        (0, Some("marketing"), Some("marketing_preference")),
        (1, Some("marketing"), Some("marketing_preference")),
        (2, None, None),
        (3, Some("all"), Some("keyword")),
    ] {
        let v = d.optout(&n(i)).await;
        assert_eq!(
            (
                v.scope.map(|s| s.as_str()),
                v.source.as_deref(),
                v.opted_out
            ),
            (scope, source, scope.is_some()),
            "contact {i}"
        );
    }

    // The marketing campaign skips both kinds of opt-out; the utility one only SAIR.
    let bf = d.wait_completed("bf").await;
    let util = d.wait_completed("util").await;
    assert_eq!(
        bf.totals.skipped.get("opted_out_marketing"),
        Some(&2),
        "{bf:?}"
    );
    assert_eq!(bf.totals.skipped.get("opted_out"), Some(&1), "{bf:?}");
    assert_eq!(bf.totals.sent, 3, "{bf:?}");
    assert_eq!(util.totals.skipped.get("opted_out"), Some(&1), "{util:?}");
    assert_eq!(
        util.totals.skipped.get("opted_out_marketing"),
        None,
        "{util:?}"
    );
    assert_eq!(util.totals.sent, 5, "{util:?}");
    for c in [&bf, &util] {
        assert_eq!((c.totals.total, c.totals.pending), (6, 0), "{c:?}");
    }
    let sent_to = |i: usize| {
        d.fake
            .sends()
            .iter()
            .filter(|s| s.destination == n(i))
            .count()
    };
    assert_eq!(
        (0..6).map(sent_to).collect::<Vec<_>>(),
        [1, 1, 2, 0, 2, 2],
        "utility still reaches marketing opt-outs; SAIR stops both"
    );

    // Statuses: Gupshup v3 (matched by gs_id) delivered, Meta read, v3 failed 131050 (the
    // provider says the customer opted out: everything stops).
    let sends = d.fake.sends();
    let of = |i: usize| sends.iter().find(|s| s.destination == n(i)).unwrap();
    ok(d.post_gupshup(
        &serde_json::to_vec(&v3_status(&of(0).message_id, "delivered", None)).unwrap(),
    )
    .await);
    ok(d.post_meta(&meta_status(&of(1).message_id, "read")).await);
    ok(d.post_gupshup(
        &serde_json::to_vec(&v3_status(&of(5).message_id, "failed", Some(131050))).unwrap(),
    )
    .await);
    let moved = eventually(
        || async {
            let (b, u) = (
                d.campaign("bf").await.unwrap(),
                d.campaign("util").await.unwrap(),
            );
            b.totals.delivered + u.totals.delivered == 1
                && b.totals.read + u.totals.read == 1
                && b.totals.failed + u.totals.failed == 1
        },
        15,
    )
    .await;
    assert!(
        moved,
        "{:?} {:?}",
        d.campaign("bf").await,
        d.campaign("util").await
    );

    // Inbound keywords: Meta messages and Gupshup v3 messages; Gupshup v2 user-events.
    ok(d.post_meta(&inbound(&n(4), "STOP", false)).await);
    ok(
        d.post_gupshup(&serde_json::to_vec(&inbound("5585988887777", "parar", true)).unwrap())
            .await,
    );
    ok(d.post_gupshup(
        &serde_json::to_vec(&gupshup_v2_user_event("5585977776666", "opted-out")).unwrap(),
    )
    .await);
    for (number, source) in [
        (n(4), "keyword"),
        ("5585988887777".to_string(), "keyword"),
        ("5585977776666".to_string(), "provider"),
        (n(5), "provider"),
    ] {
        let v = d.optout(&number).await;
        assert_eq!(
            (v.scope.map(|s| s.as_str()), v.source.as_deref()),
            (Some("all"), Some(source)),
            "{number}"
        );
    }
    ok(d.post_gupshup(
        &serde_json::to_vec(&gupshup_v2_user_event("5585977776666", "opted-in")).unwrap(),
    )
    .await);
    assert!(!d.optout("5585977776666").await.opted_out);
    // Meta's resume does not lift an opt-out of everything.
    ok(d.post_meta(&preference(&n(3), "resume", false)).await);
    assert_eq!(d.optout(&n(3)).await.scope.map(|s| s.as_str()), Some("all"));

    // Metrics show opt-outs by scope (refreshed on the health tick).
    let scoped = eventually(
        || async {
            let m = d.metrics().await;
            metric(&m, "tierpace_optouts{scope=\"marketing\"}") == 2.0
                && metric(&m, "tierpace_optouts{scope=\"all\"}") == 4.0
        },
        20,
    )
    .await;
    assert!(scoped, "{}", d.metrics().await);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_shape_lands_with_its_scope_in_memory() {
    every_webhook_shape_lands_with_its_scope(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_shape_lands_with_its_scope_in_redis() {
    every_webhook_shape_lands_with_its_scope(Backend::Redis).await;
}

// --- unreadable callbacks -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_callbacks_are_counted_and_shown_by_status() {
    let d = start(Backend::Redis, 1, Duration::ZERO, |_| {}).await;
    let client = AdminClient::new(&d.url(""), Some(Secret::new(TOKEN))).unwrap();
    let status = || async {
        cli_run(&client, &AdminCommand::Status, false, SystemClock.now())
            .await
            .unwrap()
    };
    assert!(status().await.contains("every callback read"));

    // Not JSON; a v2 body without `type`; an unknown v2 type; a Meta body without `entry`.
    assert_eq!(d.post_gupshup(b"SAIR").await, 200);
    assert_eq!(
        d.post_gupshup(br#"{"app":"TierpaceTest","payload":{"phone":"5585999990001"}}"#)
            .await,
        200
    );
    assert_eq!(
        d.post_gupshup(br#"{"app":"TierpaceTest","type":"sandbox-start","payload":{}}"#)
            .await,
        200
    );
    assert_eq!(
        d.post_meta(&json!({"object":"whatsapp_business_account"}))
            .await,
        200
    );

    let m = d.metrics().await;
    for (series, want) in [
        (
            "tierpace_webhook_unreadable_total{source=\"gupshup\",reason=\"malformed\"}",
            2.0,
        ),
        (
            "tierpace_webhook_unreadable_total{source=\"gupshup\",reason=\"unsupported\"}",
            1.0,
        ),
        (
            "tierpace_webhook_unreadable_total{source=\"meta\",reason=\"malformed\"}",
            1.0,
        ),
        (
            "tierpace_webhook_unreadable_total{source=\"meta\",reason=\"unsupported\"}",
            0.0,
        ),
    ] {
        assert_eq!(metric(&m, series), want, "{series}\n{m}");
    }
    let health: WebhookHealth = get(d.url("/api/v1/webhooks")).await.unwrap();
    assert_eq!(
        (health.unreadable_last_hour, health.unreadable_since_start),
        (4, 4)
    );
    let text = status().await;
    assert!(
        text.contains(
            "WARNING: callbacks dropped as unreadable: 4 in the last hour, 4 since start"
        ),
        "{text}"
    );
    assert!(
        text.contains("gupshup malformed: 2 in the last hour, 2 since start"),
        "{text}"
    );
    let json_text = cli_run(&client, &AdminCommand::Status, true, SystemClock.now())
        .await
        .unwrap();
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["webhooks"]["unreadable_since_start"], json!(4));
    d.stop().await;
}
