//! The webhook routes over real HTTP on 127.0.0.1: what reaches the sink, what the provider
//! gets back, and what is counted (issue #6 §1-§2, §4).

mod http_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use http_support::*;
use tierpace::http::meta_webhook::meta_signature;
use tierpace::http::{DeliveryStatus, ProviderEvent, Secret, WebhookSource};

async fn post_gupshup(server: &TestServer, path: &str, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST gupshup")
}

async fn post_meta(
    server: &TestServer,
    body: Vec<u8>,
    signature: Option<String>,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}/webhooks/meta", server.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    req.send().await.expect("POST meta")
}

#[tokio::test]
async fn every_gupshup_callback_type_reaches_the_sink() {
    let server = TestServer::start(full_config()).await;
    let files = [
        "gupshup_message_event_enqueued.json",
        "gupshup_message_event_sent.json",
        "gupshup_message_event_delivered.json",
        "gupshup_message_event_read.json",
        "gupshup_message_event_failed.json",
        "gupshup_message_text.json",
        "gupshup_user_event_opted_out.json",
        "gupshup_user_event_opted_in.json",
        "gupshup_account_tier_upgrade.json",
        "gupshup_template_paused.json",
    ];
    for file in files {
        let resp = post_gupshup(&server, GUPSHUP_HOOK, fixture(file)).await;
        assert_eq!(resp.status(), 200, "{file}");
    }
    let kinds: Vec<&str> = server.sink.take().iter().map(ProviderEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            "message_status",
            "message_status",
            "message_status",
            "message_status",
            "message_status",
            "inbound",
            "opt_out",
            "opt_in",
            "tier",
            "template"
        ]
    );
    assert_eq!(
        webhook_count(&server.url, "gupshup", "message_status", "ok").await,
        5.0
    );
}

#[tokio::test]
async fn gupshup_sender_is_named_by_the_app() {
    let server = TestServer::start(full_config()).await;
    post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_event_read.json"),
    )
    .await;
    let events = server.sink.events();
    assert_eq!(
        events[0].0,
        WebhookSource::Gupshup {
            app: Some("AcmeSAC".into())
        }
    );
}

#[tokio::test]
async fn optout_keyword_reply_opens_the_window_and_opts_out() {
    let server = TestServer::start(full_config()).await;
    let resp = post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_optout.json"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let events = server.sink.take();
    assert!(matches!(&events[0], ProviderEvent::Inbound { from, .. } if from == "5585999990003"));
    assert_eq!(
        events[1],
        ProviderEvent::KeywordOptOut {
            phone: "5585999990003".into()
        }
    );
    // A quick-reply button saying PARAR opts out too; an ordinary message does not.
    post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_quick_reply.json"),
    )
    .await;
    assert_eq!(server.sink.take().len(), 2);
    post_gupshup(&server, GUPSHUP_HOOK, fixture("gupshup_message_text.json")).await;
    assert_eq!(server.sink.take().len(), 1);
}

#[tokio::test]
async fn configured_keywords_replace_the_defaults() {
    let config = tierpace::http::HttpConfig {
        optout_keywords: vec!["BAJA".into()],
        ..full_config()
    };
    let server = TestServer::start(config).await;
    post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_optout.json"),
    )
    .await;
    assert_eq!(server.sink.take().len(), 1, "SAIR is no keyword any more");
}

#[tokio::test]
async fn the_same_callback_twice_is_answered_and_delivered_alike() {
    // Gupshup retries; the sink (the daemon) makes the second one a no-op. Here: the HTTP layer
    // neither swallows nor alters the repeat, so the sink sees two identical events.
    let server = TestServer::start(full_config()).await;
    for _ in 0..2 {
        let resp = post_gupshup(
            &server,
            GUPSHUP_HOOK,
            fixture("gupshup_message_event_failed.json"),
        )
        .await;
        assert_eq!(resp.status(), 200);
    }
    let events = server.sink.take();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], events[1]);
    assert!(matches!(
        &events[0],
        ProviderEvent::MessageStatus {
            status: DeliveryStatus::Failed {
                code: Some(code),
                ..
            },
            ..
        } if code == "1002"
    ));
}

#[tokio::test]
async fn unknown_and_malformed_bodies_get_200_and_a_counter() {
    let server = TestServer::start(full_config()).await;
    for body in [
        fixture("gupshup_unknown_type.json"),
        fixture("gupshup_malformed.json"),
        b"this is not json".to_vec(),
        Vec::new(),
    ] {
        let resp = post_gupshup(&server, GUPSHUP_HOOK, body).await;
        assert_eq!(resp.status(), 200);
    }
    assert!(server.sink.events().is_empty());
    assert_eq!(
        webhook_count(&server.url, "gupshup", "unsupported", "ignored").await,
        1.0
    );
    assert_eq!(
        webhook_count(&server.url, "gupshup", "malformed", "ignored").await,
        3.0
    );
}

#[tokio::test]
async fn a_body_over_64_kib_gets_413() {
    let server = TestServer::start(full_config()).await;
    let mut big = br#"{"app":"x","type":"message","payload":{"text":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend(br#""}}"#);
    let resp = post_gupshup(&server, GUPSHUP_HOOK, big.clone()).await;
    assert_eq!(resp.status(), 413);
    let resp = post_meta(&server, big, None).await;
    assert_eq!(
        resp.status(),
        413,
        "the limit applies before the signature check"
    );
    // Just under the limit still goes through.
    let mut fits = fixture("gupshup_message_text.json");
    fits.extend(std::iter::repeat_n(b' ', 64 * 1024 - fits.len()));
    assert_eq!(
        post_gupshup(&server, GUPSHUP_HOOK, fits).await.status(),
        200
    );
    assert!(server.sink.take().len() == 1);
}

#[tokio::test]
async fn gupshup_secret_in_path_or_header() {
    let config = tierpace::http::HttpConfig {
        gupshup_secret: Some(Secret::new(GUPSHUP_SECRET)),
        ..full_config()
    };
    let server = TestServer::start(config).await;
    let body = || fixture("gupshup_message_event_read.json");
    assert_eq!(
        post_gupshup(&server, "/webhooks/gupshup", body())
            .await
            .status(),
        401
    );
    assert_eq!(
        post_gupshup(&server, "/webhooks/gupshup/wrong-secret", body())
            .await
            .status(),
        401
    );
    let with_wrong_header = client()
        .post(format!("{}/webhooks/gupshup", server.url))
        .header("X-Tierpace-Webhook-Secret", "nope")
        .body(body())
        .send()
        .await
        .expect("post");
    assert_eq!(with_wrong_header.status(), 401);
    assert!(server.sink.events().is_empty());

    let path = format!("/webhooks/gupshup/{GUPSHUP_SECRET}");
    assert_eq!(post_gupshup(&server, &path, body()).await.status(), 200);
    let with_header = client()
        .post(format!("{}/webhooks/gupshup", server.url))
        .header("X-Tierpace-Webhook-Secret", GUPSHUP_SECRET)
        .body(body())
        .send()
        .await
        .expect("post");
    assert_eq!(with_header.status(), 200);
    assert_eq!(server.sink.take().len(), 2);
    assert_eq!(
        webhook_count(&server.url, "gupshup", "request", "unauthorized").await,
        3.0
    );
}

/// Gupshup v3 callbacks (Meta's envelope) on Gupshup's route: the Gupshup secret rules apply,
/// no Meta signature is asked for, and every v3 field reaches the sink.
#[tokio::test]
async fn gupshup_v3_callbacks_take_the_gupshup_route_and_its_secret() {
    let config = tierpace::http::HttpConfig {
        gupshup_secret: Some(Secret::new(GUPSHUP_SECRET)),
        ..full_config()
    };
    let server = TestServer::start(config).await;
    let files = [
        "gupshup_v3_message.json",
        "gupshup_v3_status_failed.json",
        "gupshup_v3_user_preferences.json",
    ];
    for file in files {
        assert_eq!(
            post_gupshup(&server, "/webhooks/gupshup", fixture(file))
                .await
                .status(),
            401,
            "{file} without the secret"
        );
    }
    assert!(server.sink.events().is_empty());
    let path = format!("/webhooks/gupshup/{GUPSHUP_SECRET}");
    for file in files {
        assert_eq!(
            post_gupshup(&server, &path, fixture(file)).await.status(),
            200,
            "{file}"
        );
    }
    let events = server.sink.events();
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.kind()).collect();
    // The SAIR reply is an inbound message and an opt-out.
    assert_eq!(
        kinds,
        ["inbound", "opt_out", "message_status", "marketing_opt_out"]
    );
    assert!(events
        .iter()
        .all(|(s, _)| *s == WebhookSource::Gupshup { app: None }));
}

#[tokio::test]
async fn meta_user_preferences_reach_the_sink() {
    let server = TestServer::start(full_config()).await;
    let body = fixture("meta_user_preferences.json");
    let sig = meta_signature(META_APP_SECRET.as_bytes(), &body);
    assert_eq!(post_meta(&server, body, Some(sig)).await.status(), 200);
    let kinds: Vec<&str> = server.sink.take().iter().map(ProviderEvent::kind).collect();
    assert_eq!(kinds, ["marketing_opt_out", "marketing_opt_in"]);
}

#[tokio::test]
async fn unreadable_bodies_are_counted_by_source_and_reason() {
    let server = TestServer::start(full_config()).await;
    for body in [
        &b"{"[..],
        br#"{"app":"x","payload":{}}"#,
        br#"{"type":"nope","payload":{}}"#,
    ] {
        assert_eq!(
            post_gupshup(&server, GUPSHUP_HOOK, body.to_vec())
                .await
                .status(),
            200
        );
    }
    let text = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for (series, want) in [
        (
            "tierpace_webhook_unreadable_total{source=\"gupshup\",reason=\"malformed\"} ",
            "2",
        ),
        (
            "tierpace_webhook_unreadable_total{source=\"gupshup\",reason=\"unsupported\"} ",
            "1",
        ),
        (
            "tierpace_webhook_unreadable_total{source=\"meta\",reason=\"malformed\"} ",
            "0",
        ),
    ] {
        let got = text.lines().find_map(|l| l.strip_prefix(series));
        assert_eq!(got.map(str::trim), Some(want), "{series}\n{text}");
    }
}

#[tokio::test]
async fn a_failing_sink_gets_503_so_the_provider_retries() {
    let server = TestServer::start(full_config()).await;
    server.sink.fail.store(true, Ordering::SeqCst);
    let resp = post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_event_read.json"),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(
        webhook_count(&server.url, "gupshup", "message_status", "error").await,
        1.0
    );
    server.sink.fail.store(false, Ordering::SeqCst);
    let resp = post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_event_read.json"),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_slow_sink_still_gets_the_provider_a_200_and_finishes() {
    let config = tierpace::http::HttpConfig {
        sink_timeout: Duration::from_millis(50),
        ..full_config()
    };
    let server = TestServer::start(config).await;
    *server.sink.delay.lock().expect("lock") = Some(Duration::from_millis(400));
    let resp = post_gupshup(
        &server,
        GUPSHUP_HOOK,
        fixture("gupshup_message_event_read.json"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        webhook_count(&server.url, "gupshup", "request", "timeout").await,
        1.0
    );
    // The work goes on in the background and lands (poll; no timing assertion).
    for _ in 0..400 {
        if !server.sink.events().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.sink.events().len(), 1);
}

#[tokio::test]
async fn meta_handshake_echoes_the_challenge_only_for_our_token() {
    let server = TestServer::start(full_config()).await;
    let get = |mode: &str, token: &str| {
        client()
            .get(format!("{}/webhooks/meta", server.url))
            .query(&[
                ("hub.mode", mode),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = get("subscribe", META_VERIFY).await.expect("get");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("text"), "1158201444");
    assert_eq!(get("subscribe", "wrong").await.expect("get").status(), 403);
    assert_eq!(
        get("unsubscribe", META_VERIFY).await.expect("get").status(),
        403
    );
    let no_query = client()
        .get(format!("{}/webhooks/meta", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(no_query.status(), 403);
}

#[tokio::test]
async fn meta_handshake_is_refused_without_a_configured_token() {
    let config = tierpace::http::HttpConfig {
        meta_verify_token: None,
        ..full_config()
    };
    let server = TestServer::start(config).await;
    let resp = client()
        .get(format!("{}/webhooks/meta", server.url))
        .query(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", ""),
            ("hub.challenge", "1"),
        ])
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn meta_post_needs_a_good_signature() {
    let server = TestServer::start(full_config()).await;
    let body = fixture("meta_statuses.json");
    let good = meta_signature(META_APP_SECRET.as_bytes(), &body);
    let other_key = meta_signature(b"not-the-app-secret", &body);
    let other_body = meta_signature(META_APP_SECRET.as_bytes(), b"{}");

    assert_eq!(post_meta(&server, body.clone(), None).await.status(), 401);
    assert_eq!(
        post_meta(&server, body.clone(), Some(other_key))
            .await
            .status(),
        401
    );
    assert_eq!(
        post_meta(&server, body.clone(), Some(other_body))
            .await
            .status(),
        401
    );
    assert_eq!(
        post_meta(&server, body.clone(), Some("sha256=".into()))
            .await
            .status(),
        401
    );
    assert!(server.sink.events().is_empty());
    assert_eq!(
        webhook_count(&server.url, "meta", "request", "unauthorized").await,
        4.0
    );

    assert_eq!(post_meta(&server, body, Some(good)).await.status(), 200);
    let events = server.sink.events();
    assert_eq!(events.len(), 2);
    assert!(matches!(
        &events[0].0,
        WebhookSource::Meta { phone_number_id: Some(id), .. } if id == "106540352242922"
    ));
}

#[tokio::test]
async fn meta_post_is_refused_when_no_app_secret_is_configured() {
    let config = tierpace::http::HttpConfig {
        meta_app_secret: None,
        ..full_config()
    };
    let server = TestServer::start(config).await;
    let body = fixture("meta_statuses.json");
    let sig = meta_signature(b"", &body);
    assert_eq!(post_meta(&server, body, Some(sig)).await.status(), 401);
}

#[tokio::test]
async fn meta_inbound_stop_opts_out_and_updates_reach_the_sink() {
    let server = TestServer::start(full_config()).await;
    for file in [
        "meta_inbound.json",
        "meta_quality_update.json",
        "meta_business_capability_update.json",
        "meta_template_status_update.json",
        "meta_unknown_field.json",
    ] {
        let body = fixture(file);
        let sig = meta_signature(META_APP_SECRET.as_bytes(), &body);
        assert_eq!(
            post_meta(&server, body, Some(sig)).await.status(),
            200,
            "{file}"
        );
    }
    let kinds: Vec<&str> = server.sink.take().iter().map(ProviderEvent::kind).collect();
    assert_eq!(
        kinds,
        ["inbound", "opt_out", "inbound", "tier", "tier", "template"]
    );
    assert_eq!(
        webhook_count(&server.url, "meta", "unsupported", "ignored").await,
        1.0
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start(full_config()).await;
    let healthz = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(healthz.status(), 200);
    let ready = client()
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(ready.status(), 200);

    *server.readiness.reasons.lock().expect("lock") = vec!["redis unreachable".into()];
    let not_ready = client()
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await.expect("json");
    assert_eq!(body["ready"], false);
    assert_eq!(body["reasons"][0], "redis unreachable");
    // Liveness does not depend on readiness.
    let healthz = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(healthz.status(), 200);
}

#[tokio::test]
async fn serve_stops_when_cancelled() {
    let server = TestServer::start(full_config()).await;
    let url = server.url.clone();
    server.stop().await;
    assert!(client().get(format!("{url}/healthz")).send().await.is_err());
}
