//! The Meta Cloud API provider against the in-process fake: the JSON body, Bearer auth, Meta's
//! error JSON through the classification table, and the same retry policy as Gupshup.
mod support;

use std::time::Duration;

use support::fake_meta::{signature, FakeMeta, FakeMetaConfig, Fault};
use tierpace::contact::E164;
use tierpace::provider::{
    http_client, Backoff, Failure, FailureClass, Media, MediaKind, MetaConfig, MetaProvider,
    Provider, ProviderKind, SendOutcome, TemplateMessage, TemplateRef,
};
use tierpace::secret::Secret;

const TOKEN: &str = "EAAG-test-token-93ab";
const PHONE_ID: &str = "109876543210";

fn config(base_url: String) -> MetaConfig {
    MetaConfig {
        base_url,
        timeout: Duration::from_millis(500),
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        ..MetaConfig::new(PHONE_ID, Secret::new(TOKEN))
    }
}

fn provider(cfg: MetaConfig) -> MetaProvider {
    MetaProvider::new(cfg, http_client(Duration::from_millis(200)).unwrap())
}

fn message(to: &str) -> TemplateMessage {
    TemplateMessage {
        to: E164::from_validated_digits(to.to_string()),
        template: TemplateRef {
            id: None,
            name: Some("promo_novembro".into()),
            language: Some("pt_BR".into()),
        },
        params: vec!["Ana".into()],
        media: None,
        header_params: vec![],
        buttons: vec![],
    }
}

async fn fake() -> FakeMeta {
    FakeMeta::start(FakeMetaConfig {
        access_token: TOKEN.into(),
        ..FakeMetaConfig::default()
    })
    .await
}

fn failure(outcome: SendOutcome) -> Failure {
    match outcome {
        SendOutcome::Failed(f) => f,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn accepted_send_carries_template_language_params_and_media() {
    let fake = fake().await;
    let p = provider(config(fake.base_url()));
    let mut msg = message("5585988887777");
    msg.media = Some(Media {
        kind: MediaKind::Document,
        link: "https://example.com/boleto.pdf".into(),
        filename: Some("boleto.pdf".into()),
    });

    let outcome = p.send(&msg).await;

    let sends = fake.sends();
    assert_eq!(sends.len(), 1);
    let s = &sends[0];
    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            message_id: s.message_id.clone(),
            wa_id: Some(s.to.clone()),
        }
    );
    assert!(s.message_id.starts_with("wamid."));
    assert_eq!(s.phone_number_id, PHONE_ID);
    assert_eq!(s.to, "5585988887777");
    assert_eq!(s.template_name, "promo_novembro");
    assert_eq!(s.language, "pt_BR");
    assert_eq!(s.params, vec!["Ana".to_string()]);
    let header = s.header.as_ref().expect("header media");
    assert_eq!(header["type"], "document");
    assert_eq!(header["document"]["filename"], "boleto.pdf");
    assert_eq!(p.kind(), ProviderKind::Meta);
}

#[tokio::test]
async fn wrong_token_is_an_auth_failure_and_not_retried() {
    let fake = fake().await;
    let mut cfg = config(fake.base_url());
    cfg.access_token = Secret::new("expired");
    let f = failure(provider(cfg).send(&message("5585988887777")).await);
    assert_eq!(f.class, FailureClass::Auth);
    assert_eq!(f.code, "190");
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn rejected_recipient_is_undeliverable() {
    let fake = fake().await;
    fake.set_fault(Fault::RejectDestination {
        destination: "5585911112222".into(),
        code: 131026,
    });
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585911112222"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Undeliverable);
    assert_eq!(f.code, "131026");
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn spam_brake_is_final() {
    let fake = fake().await;
    fake.set_fault(Fault::Error {
        status: 400,
        code: 131048,
        times: 1,
    });
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::SpamBrake);
    assert_eq!(
        fake.requests(),
        1,
        "only throughput errors are retried inside send"
    );
}

#[tokio::test]
async fn throughput_error_on_400_is_retried_until_accepted() {
    let fake = fake().await;
    fake.set_fault(Fault::Error {
        status: 400,
        code: 130429,
        times: 1,
    });
    fake.set_fault(Fault::Status {
        status: 429,
        times: 1,
    });
    let outcome = provider(config(fake.base_url()))
        .send(&message("5585988887777"))
        .await;
    assert!(outcome.is_accepted(), "{outcome:?}");
    assert_eq!(fake.requests(), 3);
    assert_eq!(fake.sends().len(), 1);
}

#[tokio::test]
async fn exhausted_429_is_throttled() {
    let fake = fake().await;
    fake.set_fault(Fault::Status {
        status: 429,
        times: 100,
    });
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Throttled);
    assert!(!f.reached_whatsapp);
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable() {
    let fake = fake().await;
    fake.set_fault(Fault::Status {
        status: 500,
        times: 1,
    });
    assert!(provider(config(fake.base_url()))
        .send(&message("5585988887777"))
        .await
        .is_accepted());
    assert_eq!(fake.requests(), 2);

    fake.set_fault(Fault::Status {
        status: 503,
        times: 100,
    });
    let f = failure(
        provider(config(fake.base_url()))
            .send(&message("5585988887777"))
            .await,
    );
    assert_eq!(f.class, FailureClass::Unavailable);
    assert_eq!(f.code, "http_503");
    assert!(
        f.detail.contains("131000"),
        "Meta's own code stays in the detail: {}",
        f.detail
    );
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
    assert_eq!(fake.requests(), 1);
    assert_eq!(fake.sends().len(), 1);
}

#[tokio::test]
async fn missing_template_name_fails_without_a_request() {
    let fake = fake().await;
    let mut msg = message("5585988887777");
    msg.template.language = None;
    let f = failure(provider(config(fake.base_url())).send(&msg).await);
    assert_eq!(f.class, FailureClass::TemplateInvalid);
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn the_token_never_shows_in_debug_or_failures() {
    let fake = fake().await;
    let cfg = config(fake.base_url());
    assert!(!format!("{cfg:?}").contains(TOKEN));
    let p = provider(cfg);
    assert!(!format!("{p:?}").contains(TOKEN));
    fake.set_fault(Fault::Status {
        status: 500,
        times: 100,
    });
    let f = failure(p.send(&message("5585988887777")).await);
    assert!(!format!("{f:?}").contains(TOKEN));
}

#[tokio::test]
async fn fake_posts_signed_failed_status_webhooks() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/webhooks/meta",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let tx = tx.clone();
                    async move {
                        let sig = headers
                            .get("x-hub-signature-256")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let _ = tx.send((sig, body.to_vec())).await;
                        axum::http::StatusCode::OK
                    }
                },
            ),
        );
        let _ = axum::serve(listener, app).await;
    });
    let fake = FakeMeta::start(FakeMetaConfig {
        access_token: TOKEN.into(),
        callback_url: Some(hook),
        app_secret: "s3cr3t".into(),
        ..FakeMetaConfig::default()
    })
    .await;
    fake.set_fault(Fault::FailDestination {
        destination: "5585900000009".into(),
        code: 131049,
    });
    let SendOutcome::Accepted { message_id, .. } = provider(config(fake.base_url()))
        .send(&message("5585900000009"))
        .await
    else {
        panic!("accepted, then failed by webhook");
    };
    let (sig, body) = rx.recv().await.unwrap();
    assert_eq!(sig, signature("s3cr3t", &body));
    assert_ne!(sig, signature("other", &body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let status = &v["entry"][0]["changes"][0]["value"]["statuses"][0];
    assert_eq!(status["id"], message_id.as_str());
    assert_eq!(status["status"], "failed");
    let code = status["errors"][0]["code"].to_string();
    assert_eq!(
        tierpace::provider::classify(ProviderKind::Meta, &code),
        FailureClass::MarketingCap
    );
}

#[tokio::test]
async fn accepted_send_carries_the_wa_id_meta_resolved_the_number_to() {
    let fake = FakeMeta::start(FakeMetaConfig {
        access_token: TOKEN.into(),
        wa_ids: [("525512345678".to_string(), "5215512345678".to_string())].into(),
        ..FakeMetaConfig::default()
    })
    .await;
    let p = provider(config(fake.base_url()));
    let SendOutcome::Accepted { wa_id, .. } = p.send(&message("525512345678")).await else {
        panic!("the fake accepts");
    };
    assert_eq!(wa_id.as_deref(), Some("5215512345678"));
    // A number the fake does not remap is its own WhatsApp id (the fake's default).
    let SendOutcome::Accepted { wa_id, .. } = p.send(&message("5585988887777")).await else {
        panic!("the fake accepts");
    };
    assert_eq!(wa_id.as_deref(), Some("5585988887777"));
}
