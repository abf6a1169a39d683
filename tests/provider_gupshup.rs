//! The Gupshup provider against the in-process fake Gupshup: the wire format, each answer, and
//! the retry policy (429/5xx/connect errors retried, a late timeout never retried).
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig, Fault};
use tierpace::clock::ManualClock;
use tierpace::contact::E164;
use tierpace::provider::{
    http_client, Backoff, FailureClass, GupshupConfig, GupshupProvider, Media, MediaKind, Provider,
    ProviderKind, SendOutcome, TemplateMessage, TemplateRef,
};
use tierpace::secret::Secret;

const KEY: &str = "gs-test-key-5f1c";

fn config(base_url: String) -> GupshupConfig {
    GupshupConfig {
        base_url,
        timeout: Duration::from_millis(500),
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        ..GupshupConfig::new("5585999990000", "MinhaEmpresa", Secret::new(KEY))
    }
}

fn provider(cfg: GupshupConfig) -> GupshupProvider {
    GupshupProvider::new(cfg, http_client(Duration::from_millis(200)).unwrap())
}

fn message(to: &str) -> TemplateMessage {
    TemplateMessage {
        to: E164::from_validated_digits(to.to_string()),
        template: TemplateRef {
            id: Some("8f1e2d3c-0000-4000-8000-000000000001".into()),
            ..TemplateRef::default()
        },
        params: vec!["Ana".into(), "sexta, 10h".into()],
        media: None,
        header_params: vec![],
        buttons: vec![],
    }
}

async fn fake() -> FakeGupshup {
    FakeGupshup::start(FakeGupshupConfig {
        api_key: KEY.into(),
        ..FakeGupshupConfig::default()
    })
    .await
}

fn failure(outcome: SendOutcome) -> tierpace::provider::Failure {
    match outcome {
        SendOutcome::Failed(f) => f,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn accepted_send_carries_every_field_of_the_wire_format() {
    let fake = fake().await;
    let p = provider(config(fake.base_url()));
    let mut msg = message("5585988887777");
    msg.media = Some(Media {
        kind: MediaKind::Image,
        link: "https://example.com/promo.png".into(),
        filename: None,
    });

    let outcome = p.send(&msg).await;

    let sends = fake.sends();
    assert_eq!(sends.len(), 1);
    let s = &sends[0];
    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            message_id: s.message_id.clone(),
            wa_id: None,
        }
    );
    assert_eq!(s.source, "5585999990000");
    assert_eq!(s.destination, "5585988887777");
    assert_eq!(s.src_name, "MinhaEmpresa");
    assert_eq!(s.template_id, "8f1e2d3c-0000-4000-8000-000000000001");
    assert_eq!(s.params, vec!["Ana".to_string(), "sexta, 10h".to_string()]);
    let media = s.message.as_ref().expect("media message field");
    assert_eq!(media["type"], "image");
    assert_eq!(media["image"]["link"], "https://example.com/promo.png");
    assert_eq!(p.kind(), ProviderKind::Gupshup);
}

#[tokio::test]
async fn wrong_api_key_is_an_auth_failure_and_not_retried() {
    let fake = fake().await;
    let mut cfg = config(fake.base_url());
    cfg.api_key = Secret::new("wrong-key");
    let f = failure(provider(cfg).send(&message("5585988887777")).await);
    assert_eq!(f.class, FailureClass::Auth);
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 1);
    assert!(fake.sends().is_empty());
}

#[tokio::test]
async fn invalid_destination_fails_without_reaching_whatsapp() {
    let fake = fake().await;
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("12345"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Undeliverable);
    assert_eq!(f.code, "Invalid Destination");
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 1, "a 4xx is final");
}

#[tokio::test]
async fn too_many_requests_is_retried_until_accepted() {
    let fake = fake().await;
    fake.set_fault(Fault::status(429, 2));
    let outcome = provider(config(fake.base_url()))
        .send(&message("5585988887777"))
        .await;
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(fake.requests(), 3);
    assert_eq!(fake.sends().len(), 1);
}

#[tokio::test]
async fn exhausted_retries_on_429_are_throttled_and_release_the_slot() {
    let fake = fake().await;
    fake.set_fault(Fault::status(429, 100));
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Throttled);
    assert_eq!(f.code, "http_429");
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 3, "max_attempts bounds the retries");
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = fake().await;
    fake.set_fault(Fault::status(503, 1));
    fake.set_fault(Fault::status(500, 1));
    let outcome = provider(config(fake.base_url()))
        .send(&message("5585988887777"))
        .await;
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn exhausted_server_errors_are_unavailable() {
    let fake = fake().await;
    fake.set_fault(Fault::status(502, 100));
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Unavailable);
    assert_eq!(f.code, "http_502");
    assert!(!f.reached_whatsapp);
}

#[tokio::test]
async fn answer_slower_than_the_timeout_is_unknown_and_never_resent() {
    let fake = fake().await;
    fake.set_fault(Fault::Latency(Duration::from_secs(2)));
    let outcome = provider(config(fake.base_url()))
        .send(&message("5585988887777"))
        .await;
    assert!(
        matches!(outcome, SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        fake.requests(),
        1,
        "a timeout after the request was written is not retried"
    );
    assert_eq!(fake.sends().len(), 1, "and the message did go out");
}

#[tokio::test]
async fn connection_refused_is_retried_then_unavailable() {
    // A port that was free a moment ago: nothing listens there.
    let port = support::redis_server::free_port();
    let f = failure(
        provider(config(format!("http://127.0.0.1:{port}")))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Unavailable);
    assert_eq!(f.code, "connect");
    assert!(!f.reached_whatsapp);
}

#[tokio::test]
async fn connection_refused_then_up_is_accepted_on_retry() {
    // Bind the port ourselves, start serving only after the first attempt failed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = config(format!("http://{addr}"));
    cfg.max_attempts = 50;
    cfg.backoff = Backoff {
        base: Duration::from_millis(20),
        max: Duration::from_millis(20),
    };
    let p = provider(cfg);
    let send = tokio::spawn(async move { p.send(&message("5585988887777")).await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/wa/api/v1/template/msg",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({"status":"submitted","messageId":"late-1"}))
            }),
        );
        let _ = axum::serve(listener, app).await;
    });
    let outcome = send.await.unwrap();
    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            message_id: "late-1".into(),
            wa_id: None,
        }
    );
}

#[tokio::test]
async fn missing_template_id_fails_without_a_request() {
    let fake = fake().await;
    let mut msg = message("5585988887777");
    msg.template = TemplateRef {
        id: None,
        name: Some("promo".into()),
        language: Some("pt_BR".into()),
    };
    let f = failure(provider(config(fake.base_url())).send(&msg).await);
    assert_eq!(f.class, FailureClass::TemplateInvalid);
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn the_api_key_never_shows_in_debug_or_failures() {
    let fake = fake().await;
    let cfg = config(fake.base_url());
    assert!(!format!("{cfg:?}").contains(KEY));
    let p = provider(cfg);
    assert!(!format!("{p:?}").contains(KEY));
    fake.set_fault(Fault::status(500, 100));
    let f = failure(p.send(&message("5585988887777")).await);
    assert!(!format!("{f:?}").contains(KEY));
}

#[tokio::test]
async fn fake_counts_sends_over_the_tier_limit_in_a_rolling_day() {
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 11, 27, 12, 0, 0)
        .unwrap();
    let clock = ManualClock::new(start);
    let fake = FakeGupshup::start(FakeGupshupConfig {
        api_key: KEY.into(),
        tier_limit: Some(2),
        clock: Arc::new(clock.clone()),
        ..FakeGupshupConfig::default()
    })
    .await;
    let p = provider(config(fake.base_url()));
    for to in ["5585900000001", "5585900000002", "5585900000001"] {
        assert!(p.send(&message(to)).await.is_accepted());
    }
    assert_eq!(
        fake.over_limit_sends(),
        0,
        "a second send within 24 h opens no conversation"
    );
    assert!(p.send(&message("5585900000003")).await.is_accepted());
    assert_eq!(fake.over_limit_sends(), 1);
    clock.advance(chrono::Duration::hours(24));
    assert!(p.send(&message("5585900000004")).await.is_accepted());
    assert!(p.send(&message("5585900000005")).await.is_accepted());
    assert_eq!(
        fake.over_limit_sends(),
        1,
        "the earlier conversations left the window"
    );
    assert_eq!(
        fake.max_sends_in_any_second("5585999990000"),
        4,
        "four sends at the same virtual instant"
    );
}

#[tokio::test]
async fn fake_posts_failure_callbacks_in_the_v2_format() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/webhooks/gupshup", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/webhooks/gupshup",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(v).await;
                    axum::http::StatusCode::OK
                }
            }),
        );
        let _ = axum::serve(listener, app).await;
    });
    let fake = FakeGupshup::start(FakeGupshupConfig {
        api_key: KEY.into(),
        callback_url: Some(hook),
        ..FakeGupshupConfig::default()
    })
    .await;
    fake.set_fault(Fault::FailDestination {
        destination: "5585900000009".into(),
        code: "1002".into(),
    });
    let SendOutcome::Accepted { message_id, .. } = provider(config(fake.base_url()))
        .send(&message("5585900000009"))
        .await
    else {
        panic!("the fake accepts, then fails by callback");
    };
    let enqueued = rx.recv().await.unwrap();
    assert_eq!(enqueued["payload"]["type"], "enqueued");
    let failed = rx.recv().await.unwrap();
    assert_eq!(failed["version"], 2);
    assert_eq!(failed["type"], "message-event");
    assert_eq!(failed["payload"]["type"], "failed");
    assert_eq!(failed["payload"]["gsId"], message_id.as_str());
    assert_eq!(failed["payload"]["payload"]["code"], 1002);
    let code = failed["payload"]["payload"]["code"].to_string();
    assert_eq!(
        tierpace::provider::classify(ProviderKind::Gupshup, &code),
        FailureClass::Undeliverable
    );
}

#[test]
fn fake_on_its_own_thread_serves_tests_that_are_not_async() {
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        api_key: KEY.into(),
        ..FakeGupshupConfig::default()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = rt.block_on(provider(config(fake.base_url())).send(&message("5585988887777")));
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(fake.sends().len(), 1);
}
