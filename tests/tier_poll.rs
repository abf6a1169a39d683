//! Polling the provider for the tier and quality (issue 12 §2), against fake Graph API and
//! Gupshup Partner endpoints over HTTP: answers, errors and timeouts. A failing poll never
//! blocks sending and never raises a limit; a lower provider limit takes effect at once, a
//! higher one is accepted; the ledger's counts are never reset by a poll.
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::free_port;
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::{CampaignStatus, SenderStatus};
use tierpace::policy::tier::{Quality, Tier};
use tierpace::provider::tier_source::{
    GupshupTierSource, MetaTierSource, PollError, TierSource, META_FIELDS,
};
use tierpace::secret::Secret;

/// What the fake answers next, and what it saw.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

#[derive(Clone, Default)]
struct Fake {
    answer: Arc<Mutex<Option<Answer>>>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Fake {
    fn set(&self, status: u16, body: &str, delay: Duration) {
        *self.answer.lock().unwrap() = Some(Answer {
            status,
            body: body.to_string(),
            delay,
        });
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(fake: &Fake, what: String, headers: &HeaderMap) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    fake.seen.lock().unwrap().push((what, auth));
    let a = fake.answer.lock().unwrap().clone().unwrap_or(Answer {
        status: 500,
        body: "{}".into(),
        delay: Duration::ZERO,
    });
    tokio::time::sleep(a.delay).await;
    (
        StatusCode::from_u16(a.status).unwrap(),
        [("content-type", "application/json")],
        a.body,
    )
        .into_response()
}

/// A fake Graph API (`GET /{phone_number_id}?fields=..`) and Partner API
/// (`GET /partner/app/{appId}/ratings`) on one port.
async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new()
        .route(
            "/partner/app/{app}/ratings",
            get(
                |State(f): State<Fake>, Path(app): Path<String>, h: HeaderMap| async move {
                    answer(&f, format!("partner:{app}"), &h).await
                },
            ),
        )
        .route(
            "/{phone}",
            get(
                |State(f): State<Fake>,
                 Path(phone): Path<String>,
                 q: axum::extract::RawQuery,
                 h: HeaderMap| async move {
                    answer(&f, format!("graph:{phone}?{}", q.0.unwrap_or_default()), &h).await
                },
            ),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, url)
}

fn client() -> reqwest::Client {
    tierpace::provider::http_client(Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn meta_graph_poll_reads_the_business_limit_and_quality_with_the_token() {
    let (fake, url) = start_fake().await;
    let source = MetaTierSource::new(
        &url,
        "100000000000001",
        Secret::new("graph-token"),
        client(),
        Duration::from_millis(500),
    );
    fake.set(
        200,
        r#"{"quality_rating":"GREEN","messaging_limit_tier":"TIER_1K","whatsapp_business_manager_messaging_limit":"TIER_UNLIMITED","id":"100000000000001"}"#,
        Duration::ZERO,
    );
    let view = source.poll().await.unwrap();
    assert_eq!(view.tier, Some(Tier::Unlimited));
    assert_eq!(view.quality, Some(Quality::High));
    assert_eq!(
        fake.seen(),
        vec![(
            format!("graph:100000000000001?fields={META_FIELDS}"),
            "Bearer graph-token".to_string()
        )]
    );
    // Errors and timeouts are errors, never a tier.
    fake.set(
        400,
        r#"{"error":{"code":190,"message":"bad token"}}"#,
        Duration::ZERO,
    );
    assert!(matches!(
        source.poll().await,
        Err(PollError::Status { status: 400, .. })
    ));
    fake.set(200, r#"{"quality_rating":"GREEN"}"#, Duration::from_secs(2));
    assert!(matches!(source.poll().await, Err(PollError::Transport(_))));
}

#[tokio::test]
async fn gupshup_partner_poll_reads_the_ratings_with_the_app_token() {
    let (fake, url) = start_fake().await;
    let source = GupshupTierSource::new(
        &url,
        "app-123",
        Secret::new("partner-token"),
        client(),
        Duration::from_millis(500),
    );
    fake.set(
        200,
        r#"{"status":"success","ratings":{"currentLimit":"TIER_10K","event":"UPGRADE","eventTime":1796000000,"oldLimit":"TIER_1K"}}"#,
        Duration::ZERO,
    );
    assert_eq!(source.poll().await.unwrap().tier, Some(Tier::T10K));
    assert_eq!(
        fake.seen(),
        vec![("partner:app-123".to_string(), "partner-token".to_string())]
    );
    fake.set(200, r#"{"status":"success"}"#, Duration::ZERO);
    assert!(matches!(source.poll().await, Err(PollError::Unreadable(_))));
    fake.set(503, "unavailable", Duration::ZERO);
    assert!(matches!(
        source.poll().await,
        Err(PollError::Status { status: 503, .. })
    ));
    fake.set(200, "{}", Duration::from_secs(2));
    assert!(matches!(source.poll().await, Err(PollError::Transport(_))));
}

async fn get_json<T: serde::de::DeserializeOwned>(url: String) -> Option<T> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

async fn refresh(s: &scenario::Scenario) -> Vec<SenderStatus> {
    reqwest::Client::new()
        .post(s.url("/api/v1/senders/refresh"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_polls_reconciles_and_keeps_sending_when_a_poll_fails() {
    let (partner, partner_url) = start_fake().await;
    // The provider says 250 while the model starts on 1K.
    partner.set(
        200,
        r#"{"status":"success","ratings":{"currentLimit":"TIER_250","event":"DOWNGRADE"}}"#,
        Duration::ZERO,
    );
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 30,
        http_port: Some(port),
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::write(root.join("app.id"), "app-123\n").unwrap();
    std::fs::write(root.join("partner.token"), "partner-token\n").unwrap();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "partner_app_id_file = \"{r}/app.id\"\npartner_token_file = \"{r}/partner.token\"\npartner_base_url = \"{partner_url}\"\ntier_poll = \"1h\"\n",
        r = root.display()
    ));
    std::fs::write(&s.config, config).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let sender = || async {
        get_json::<Vec<SenderStatus>>(s.url("/api/v1/senders"))
            .await
            .and_then(|v| v.into_iter().find(|x| x.id == "sac"))
    };
    let campaign = || async {
        get_json::<Vec<CampaignStatus>>(s.url("/api/v1/campaigns"))
            .await
            .and_then(|v| v.into_iter().find(|c| c.id == "bf"))
    };
    // Polled at start: the lower provider limit takes effect at once.
    let mut ok = false;
    for _ in 0..100 {
        if let Some(x) = sender().await {
            if x.tier == "TIER_250" && x.provider_tier.as_deref() == Some("TIER_250") {
                ok = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "{:#?}", sender().await);
    // Sending goes on under the provider's limit.
    let mut delivered = 0;
    for _ in 0..100 {
        delivered = campaign().await.map_or(0, |c| c.totals.delivered);
        if delivered == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered, 30);
    let before = sender().await.unwrap();
    assert_eq!(before.unique_24h, 30);

    // A failing poll (error, then timeout) changes nothing and says so.
    partner.set(500, "{}", Duration::ZERO);
    let after = refresh(&s).await;
    let x = after.iter().find(|x| x.id == "sac").unwrap();
    assert_eq!((x.tier.as_str(), x.unique_24h), ("TIER_250", 30));
    assert!(
        x.provider_poll.as_deref().unwrap_or("").contains("failed"),
        "{x:#?}"
    );
    partner.set(
        200,
        r#"{"ratings":{"currentLimit":"TIER_UNLIMITED"}}"#,
        Duration::from_secs(4),
    );
    let after = refresh(&s).await;
    let x = after.iter().find(|x| x.id == "sac").unwrap();
    assert_eq!(x.tier, "TIER_250", "a timed-out poll never raises a limit");

    // A higher provider limit is accepted; the ledger's counts stay.
    partner.set(
        200,
        r#"{"status":"success","ratings":{"currentLimit":"TIER_10K","event":"UPGRADE"}}"#,
        Duration::ZERO,
    );
    let after = refresh(&s).await;
    let x = after.iter().find(|x| x.id == "sac").unwrap();
    assert_eq!(x.provider_tier.as_deref(), Some("TIER_10K"));
    // The model's tier shows from the dispatcher's next tick.
    let mut x = x.clone();
    for _ in 0..50 {
        if x.tier == "TIER_10K" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        x = sender().await.unwrap();
    }
    assert_eq!(x.tier, "TIER_10K", "{x:#?}");
    assert_eq!(x.unique_24h, 30, "a poll never resets the ledger's counts");
    let metrics = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"tierpace_group_tier_reconciles_total{group="sac",result="provider_lower"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tierpace_sender_tier_polls_total{sender="sac",result="error"} 2"#),
        "{metrics}"
    );
    assert!(partner
        .seen()
        .iter()
        .all(|(what, auth)| what == "partner:app-123" && auth == "partner-token"));
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_partner_credentials_status_says_the_tier_is_not_polled() {
    let port = free_port();
    let s = scenario::write(&ScenarioSpec {
        contacts: 1,
        http_port: Some(port),
        ..Default::default()
    });
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let mut said = None;
    for _ in 0..100 {
        let senders = get_json::<Vec<SenderStatus>>(s.url("/api/v1/senders"))
            .await
            .unwrap_or_default();
        said = senders.into_iter().find_map(|x| x.provider_poll);
        if said
            .as_deref()
            .is_some_and(|p| p.starts_with("not configured"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        said.as_deref(),
        Some("not configured: relying on provider callbacks")
    );
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_failing_from_the_start_never_blocks_sending_nor_raises_the_limit() {
    let (partner, partner_url) = start_fake().await;
    // The Partner API hangs past the timeout (with an answer that would raise the limit), then
    // errors: no poll ever succeeds.
    partner.set(
        200,
        r#"{"status":"success","ratings":{"currentLimit":"TIER_UNLIMITED","event":"UPGRADE"}}"#,
        Duration::from_secs(5),
    );
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts: 30,
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::write(root.join("app.id"), "app-123\n").unwrap();
    std::fs::write(root.join("partner.token"), "partner-token\n").unwrap();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "partner_app_id_file = \"{r}/app.id\"\npartner_token_file = \"{r}/partner.token\"\npartner_base_url = \"{partner_url}\"\ntier_poll = \"1h\"\n",
        r = root.display()
    ));
    std::fs::write(&s.config, config).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    // Sending goes on while the first poll hangs.
    assert!(
        support::daemon::wait_for(|| fake.sends().len() == 30, 30).await,
        "sent {} of 30 while the poll failed",
        fake.sends().len()
    );
    partner.set(500, "{}", Duration::ZERO);
    let after = refresh(&s).await;
    let x = after.iter().find(|x| x.id == "sac").unwrap();
    assert_eq!(
        x.tier, "TIER_1K",
        "a failed poll never raises a limit: {x:#?}"
    );
    assert_eq!(x.provider_tier, None, "{x:#?}");
    assert!(
        x.provider_poll.as_deref().unwrap_or("").contains("failed"),
        "{x:#?}"
    );
    assert!(!partner.seen().is_empty(), "the poll was tried");
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}
