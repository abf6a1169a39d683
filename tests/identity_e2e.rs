//! One customer, one identity, end to end: a running daemon with a real Redis, its real webhooks
//! over HTTP and a fake Gupshup. A Brazilian mobile that opts out in one spelling (the 12-digit
//! WhatsApp id from before the 9th digit, or today's 13 digits) is never sent the campaign in the
//! other, whichever side (audience row, Gupshup, Meta, admin API) uses which form.
//! (Unit and property tests of the rule: `campaign::phone`, `contact`; stored keys of older
//! versions: `tests/campaign_consent.rs`.)
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::daemon::eventually;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::{free_port, RedisServer};
use support::scenario::{self, Scenario, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::meta_webhook::meta_signature;
use tierpace::http::CampaignStatus;

const TOKEN: &str = "admin-token-for-identity";
const META_SECRET: &str = "meta-app-secret-for-identity";

fn field(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/field")
        .join(path)
}

/// How the customer says stop, in the test's chosen spelling of the number.
enum OptOut {
    /// A Gupshup v2 callback body, posted to `/webhooks/gupshup`.
    Gupshup(Vec<u8>),
    /// A Meta webhook body, signed and posted to `/webhooks/meta`.
    Meta(serde_json::Value),
    /// `POST /api/v1/optouts/{number}`.
    Admin(&'static str),
}

struct Outcome {
    /// Destinations the fake Gupshup was sent to.
    sent_to: Vec<String>,
    status: CampaignStatus,
}

/// Starts the daemon with `audience` as the campaign's CSV, records the opt-out over HTTP before
/// the campaign file appears, then lets the campaign run until `sendable` contacts are sent and
/// one is skipped as opted out.
async fn run(
    redis: Option<&RedisServer>,
    audience: &str,
    optout: OptOut,
    sendable: u64,
) -> Outcome {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let port = free_port();
    let redis_url = redis.map(RedisServer::url);
    let s = scenario::write(&ScenarioSpec {
        redis_url: redis_url.as_deref(),
        gupshup_url: &fake.base_url(),
        contacts: 0,
        http_port: Some(port),
        admin_token: Some(TOKEN),
        key_prefix: "idtest",
        ..Default::default()
    });
    std::fs::write(
        s.dir.path().join("campaigns/contacts/audience.csv"),
        audience,
    )
    .unwrap();
    let secret = s.dir.path().join("meta.secret");
    std::fs::write(&secret, format!("{META_SECRET}\n")).unwrap();
    let config = std::fs::read_to_string(&s.config).unwrap().replace(
        "[http]\n",
        &format!("[http]\nmeta_app_secret_file = \"{}\"\n", secret.display()),
    );
    std::fs::write(&s.config, config).unwrap();
    // The campaign is held back until the opt-out is recorded.
    let campaign = s.dir.path().join("campaigns/bf.toml");
    let held = s.dir.path().join("bf.toml.held");
    std::fs::rename(&campaign, &held).unwrap();

    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let http = reqwest::Client::new();
    assert!(
        eventually(
            || async { http.get(s.url("/healthz")).send().await.is_ok() },
            20
        )
        .await,
        "daemon up"
    );
    let status = match optout {
        OptOut::Gupshup(body) => http
            .post(s.url(scenario::GUPSHUP_HOOK))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status(),
        OptOut::Meta(body) => {
            let bytes = serde_json::to_vec(&body).unwrap();
            http.post(s.url("/webhooks/meta"))
                .header("content-type", "application/json")
                .header(
                    "x-hub-signature-256",
                    meta_signature(META_SECRET.as_bytes(), &bytes),
                )
                .body(bytes)
                .send()
                .await
                .unwrap()
                .status()
        }
        OptOut::Admin(number) => http
            .post(s.url(&format!("/api/v1/optouts/{number}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
    };
    assert_eq!(status.as_u16(), 200, "the opt-out is accepted");
    assert!(
        eventually(|| async { optouts(redis).await == Some(1) }, 10).await,
        "the opt-out is recorded"
    );

    std::fs::rename(&held, &campaign).unwrap();
    // The directory watcher may start after the HTTP server: write the file again until the
    // daemon has loaded it.
    let text = std::fs::read_to_string(&campaign).unwrap();
    for _ in 0..10 {
        if eventually(|| async { campaign_status(&s, &http).await.is_some() }, 3).await {
            break;
        }
        std::fs::write(&campaign, &text).unwrap();
    }
    let done = eventually(
        || async {
            campaign_status(&s, &http).await.is_some_and(|c| {
                c.totals.sent >= sendable && c.totals.skipped.get("opted_out") == Some(&1)
            })
        },
        30,
    )
    .await;
    // A moment more, so a wrong send would have happened.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Some(status) = campaign_status(&s, &http).await else {
        let all = http.get(s.url("/api/v1/campaigns")).send().await.unwrap();
        panic!("no campaign status: {}", all.text().await.unwrap());
    };
    assert!(done, "campaign did not finish: {status:?}");
    token.cancel();
    let _ = daemon.await;
    Outcome {
        sent_to: fake.sends().into_iter().map(|r| r.destination).collect(),
        status,
    }
}

async fn campaign_status(s: &Scenario, http: &reqwest::Client) -> Option<CampaignStatus> {
    let all: Vec<CampaignStatus> = http
        .get(s.url("/api/v1/campaigns"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    all.into_iter().find(|c| c.id == "bf")
}

/// Opt-outs in the Redis store (HLEN of the opt-out hash); the memory store is not visible from
/// outside, and its webhook answers after the sink wrote it, so it counts as recorded.
async fn optouts(redis: Option<&RedisServer>) -> Option<u64> {
    let Some(redis) = redis else { return Some(1) };
    let client = redis::Client::open(redis.url()).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("HLEN")
        .arg("idtest:{optout}")
        .query_async(&mut conn)
        .await
        .ok()
}

/// `../shared/field/ninth-digit-optout/`: the audience lists 55 85 9 9999-0001, the customer
/// replies SAIR from the WhatsApp id 55 85 9999-0001. The campaign goes to the three others only.
async fn field_ninth_digit_optout(redis: Option<&RedisServer>) {
    let audience = std::fs::read_to_string(field("ninth-digit-optout/contacts.csv")).unwrap();
    let sair = std::fs::read(field("ninth-digit-optout/gupshup-inbound-sair.json")).unwrap();
    let out = run(redis, &audience, OptOut::Gupshup(sair), 3).await;
    let mut sent = out.sent_to.clone();
    sent.sort();
    assert_eq!(
        sent,
        ["5585999990003", "5585999990005", "5585999990009"],
        "{:?}",
        out.status
    );
    assert_eq!(out.status.totals.skipped.get("opted_out"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_ninth_digit_optout_sair_from_the_old_id_stops_the_contact_redis() {
    let redis = RedisServer::start();
    field_ninth_digit_optout(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_ninth_digit_optout_sair_from_the_old_id_stops_the_contact_memory() {
    field_ninth_digit_optout(None).await;
}

/// The reverse: the opt-out names today's 13-digit number (Gupshup `user-event`), the audience
/// row is the old 8-digit mobile. Old-form rows go out in today's form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optout_in_todays_form_stops_an_audience_row_written_the_old_way() {
    let redis = RedisServer::start();
    let audience =
        "name,phone,opt_in\nT1,(85) 9999-0001,sim\nT3,(85) 9999-0003,sim\nT5,85 3222-0005,sim\n";
    let event = json!({"app":"TierpaceTest","timestamp":1796060000000u64,"version":2,"type":"user-event",
        "payload":{"phone":"5585999990001","type":"opted-out"}});
    let out = run(
        Some(&redis),
        audience,
        OptOut::Gupshup(serde_json::to_vec(&event).unwrap()),
        2,
    )
    .await;
    let mut sent = out.sent_to;
    sent.sort();
    assert_eq!(sent, ["558532220005", "5585999990003"]);
}

/// Meta names the customer in the old form (`messages[].from`, and `contacts[].wa_id`, which
/// tierpace does not read: `from` is the sender).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_from_in_the_old_form_stops_the_13_digit_contact() {
    let redis = RedisServer::start();
    let audience = std::fs::read_to_string(field("ninth-digit-optout/contacts.csv")).unwrap();
    let body = json!({"object":"whatsapp_business_account","entry":[{"id":"waba-1","changes":[{
        "field":"messages","value":{"messaging_product":"whatsapp",
        "metadata":{"display_phone_number":"5585999990000","phone_number_id":"pn-1"},
        "contacts":[{"profile":{"name":"Cliente Um"},"wa_id":"558599990001"}],
        "messages":[{"from":"558599990001","id":"wamid.in1","timestamp":"1796060000",
            "type":"text","text":{"body":"SAIR"}}]}}]}]});
    let out = run(Some(&redis), &audience, OptOut::Meta(body), 3).await;
    assert!(
        !out.sent_to
            .iter()
            .any(|d| d == "5585999990001" || d == "558599990001"),
        "{:?}",
        out.sent_to
    );
    assert_eq!(out.sent_to.len(), 3);
}

/// An operator types the old form into the admin API; the 13-digit audience row is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_optout_of_the_old_form_stops_the_13_digit_contact() {
    let redis = RedisServer::start();
    let audience = std::fs::read_to_string(field("ninth-digit-optout/contacts.csv")).unwrap();
    let out = run(
        Some(&redis),
        &audience,
        OptOut::Admin("+55 85 9999-0001"),
        3,
    )
    .await;
    assert!(!out.sent_to.iter().any(|d| d.ends_with("99990001")));
    assert_eq!(out.sent_to.len(), 3);
}
