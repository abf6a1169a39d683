//! The admin API over real HTTP: bearer auth (none, wrong, right; read tokens), the routes each
//! reach the daemon's `AdminOps`, and errors come back as JSON (issue #6 §5).

mod http_support;

use http_support::*;
use serde_json::Value;
use tierpace::http::{CampaignStatus, HttpConfig, Secret, SenderStatus};

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

use reqwest::Method;

#[tokio::test]
async fn changes_need_the_admin_token() {
    let server = TestServer::start(full_config()).await;
    let path = "/api/v1/campaigns/black-friday/pause";
    let (status, body) = send(&server, Method::POST, path, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("missing")));
    let (status, body) = send(&server, Method::POST, path, Some("wrong"), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "wrong token");
    assert!(
        server.admin.calls().is_empty(),
        "nothing reached the daemon"
    );

    let (status, body) = send(&server, Method::POST, path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200);
    let campaign: CampaignStatus = serde_json::from_value(body).expect("CampaignStatus");
    assert_eq!(campaign.state, "paused");
    assert_eq!(server.admin.calls(), ["pause black-friday"]);
}

#[tokio::test]
async fn the_token_never_comes_back_in_an_answer() {
    let server = TestServer::start(full_config()).await;
    let resp = client()
        .post(format!("{}/api/v1/optouts/5585999990001", server.url))
        .bearer_auth("almost-admin-token")
        .send()
        .await
        .expect("post");
    let text = resp.text().await.expect("text");
    assert!(!text.contains("almost-admin-token"));
    assert!(!text.contains(ADMIN_TOKEN));
}

#[tokio::test]
async fn reads_are_open_until_a_read_token_is_configured() {
    let server = TestServer::start(full_config()).await;
    let (status, body) = send(&server, Method::GET, "/api/v1/senders", None, None).await;
    assert_eq!(status, 200);
    let senders: Vec<SenderStatus> = serde_json::from_value(body).expect("senders");
    assert_eq!(senders[0].id, "sac");
    assert_eq!(senders[0].ladder.len(), 3);

    let config = HttpConfig {
        read_tokens: vec![Secret::new(READ_TOKEN)],
        ..full_config()
    };
    let locked = TestServer::start(config).await;
    for token in [None, Some("wrong")] {
        let (status, _) = send(&locked, Method::GET, "/api/v1/campaigns", token, None).await;
        assert_eq!(status, 401, "{token:?}");
    }
    for token in [READ_TOKEN, ADMIN_TOKEN] {
        let (status, body) =
            send(&locked, Method::GET, "/api/v1/campaigns", Some(token), None).await;
        assert_eq!(status, 200);
        let campaigns: Vec<CampaignStatus> = serde_json::from_value(body).expect("campaigns");
        assert_eq!(campaigns[0].totals.total, 1000);
    }
    // A read token cannot change anything.
    let (status, _) = send(
        &locked,
        Method::POST,
        "/api/v1/campaigns/black-friday/cancel",
        Some(READ_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn without_an_admin_token_configured_changes_are_disabled() {
    let config = HttpConfig {
        admin_tokens: vec![],
        ..full_config()
    };
    let server = TestServer::start(config).await;
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/campaigns/black-friday/pause",
        Some(""),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("no admin token")));
}

#[tokio::test]
async fn campaign_actions_map_to_the_daemon() {
    let server = TestServer::start(full_config()).await;
    for (action, state) in [
        ("pause", "paused"),
        ("resume", "running"),
        ("retry-failed", "running"),
        ("cancel", "cancelled"),
    ] {
        let path = format!("/api/v1/campaigns/black-friday/{action}");
        let (status, body) = send(&server, Method::POST, &path, Some(ADMIN_TOKEN), None).await;
        assert_eq!(status, 200, "{action}");
        assert_eq!(body["state"], state, "{action}");
    }
    assert_eq!(
        server.admin.calls(),
        [
            "pause black-friday",
            "resume black-friday",
            "retry-failed black-friday",
            "cancel black-friday"
        ]
    );
    // Daemon errors keep their meaning: conflict, not found; unknown actions are 404 too.
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/campaigns/black-friday/resume",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/campaigns/nope/pause",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/v1/campaigns/black-friday/explode",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn optouts_are_added_and_lifted_with_digits_only() {
    let server = TestServer::start(full_config()).await;
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/v1/optouts/+5585999990001",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        *server.admin.optouts.lock().expect("lock"),
        ["5585999990001"]
    );
    let (status, _) = send(
        &server,
        Method::DELETE,
        "/api/v1/optouts/5585999990001",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(server.admin.optouts.lock().expect("lock").is_empty());
    for bad in ["abc", "123", "55859999900011234567"] {
        let (status, body) = send(
            &server,
            Method::POST,
            &format!("/api/v1/optouts/{bad}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "invalid");
    }
    let (status, _) = send(
        &server,
        Method::DELETE,
        "/api/v1/optouts/5585999990001",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn operator_sets_tier_and_brakes() {
    let server = TestServer::start(full_config()).await;
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/senders/sac/tier",
        Some(ADMIN_TOKEN),
        Some(serde_json::json!({"tier":"TIER_10K"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["tier"], "TIER_10K");
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/senders/sac/brake",
        Some(ADMIN_TOKEN),
        Some(serde_json::json!({"on":true,"reason":"complaints"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["brakes"][0]["reason"], "complaints");
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/senders/sac/brake",
        Some(ADMIN_TOKEN),
        Some(serde_json::json!({"on":false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["brakes"], serde_json::json!([]));
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/v1/senders/sac/tier",
        Some(ADMIN_TOKEN),
        Some(serde_json::json!({"level":3})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid"))
    );
    let (status, _) = send(
        &server,
        Method::POST,
        "/api/v1/senders/ghost/tier",
        Some(ADMIN_TOKEN),
        Some(serde_json::json!({"tier":"TIER_1K"})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        server.admin.calls(),
        [
            "tier sac TIER_10K",
            "brake sac true complaints",
            "brake sac false ",
            "tier ghost TIER_1K"
        ]
    );
}

#[tokio::test]
async fn unknown_api_paths_answer_json() {
    let server = TestServer::start(full_config()).await;
    let (status, body) = send(&server, Method::GET, "/api/v1/nothing-here", None, None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}
