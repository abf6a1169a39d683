//! The CLI client against a running router on 127.0.0.1: `status` (tables and `--json`),
//! `pause`/`resume`/`cancel`/`retry`, `optout add|remove`, and the two errors operators hit most
//! — the daemon is not running, the token is wrong (issue #6 §6).

mod http_support;

use chrono::TimeZone;
use http_support::*;
use tierpace::cli::client::{run, AdminClient, AdminCommand, ClientError, OptoutAction};
use tierpace::cli::status::StatusReport;
use tierpace::http::Secret;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn admin_client(server: &TestServer, token: Option<&str>) -> AdminClient {
    AdminClient::new(&server.url, token.map(Secret::new)).expect("client")
}

#[tokio::test]
async fn status_prints_senders_and_campaigns() {
    let server = TestServer::start(full_config()).await;
    let out = run(
        &admin_client(&server, None),
        &AdminCommand::Status,
        false,
        now(),
    )
    .await
    .expect("status");
    assert!(
        out.contains("SENDERS") && out.contains("CAMPAIGNS"),
        "{out}"
    );
    assert!(out.contains("412/1000 (41%)"), "{out}");
    assert!(out.contains("730/500"), "{out}");
    assert!(out.contains("black-friday"), "{out}");
    // 340 sent/delivered/read + 30 failed + 2 unknown + 18 skipped of 1000.
    assert!(out.contains("39%"), "{out}");
}

#[tokio::test]
async fn status_json_reads_back_as_the_api_types() {
    let server = TestServer::start(full_config()).await;
    let out = run(
        &admin_client(&server, None),
        &AdminCommand::Status,
        true,
        now(),
    )
    .await
    .expect("status");
    let report: StatusReport = serde_json::from_str(&out).expect("json");
    assert_eq!(report.senders, vec![sample_sender()]);
    assert_eq!(report.campaigns, vec![sample_campaign("black-friday")]);
}

#[tokio::test]
async fn pause_and_resume_a_campaign() {
    let server = TestServer::start(full_config()).await;
    let client = admin_client(&server, Some(ADMIN_TOKEN));
    let pause = AdminCommand::Pause {
        campaign: "black-friday".into(),
    };
    let out = run(&client, &pause, false, now()).await.expect("pause");
    assert_eq!(out, "campaign black-friday: paused (operator)");
    let resume = AdminCommand::Resume {
        campaign: "black-friday".into(),
    };
    let out = run(&client, &resume, false, now()).await.expect("resume");
    assert_eq!(out, "campaign black-friday: running");
    let retry = AdminCommand::Retry {
        campaign: "black-friday".into(),
        failed: true,
    };
    let out = run(&client, &retry, true, now()).await.expect("retry");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["totals"]["failed"], 0);
    let cancel = AdminCommand::Cancel {
        campaign: "black-friday".into(),
    };
    run(&client, &cancel, false, now()).await.expect("cancel");
    assert_eq!(
        server.admin.calls(),
        [
            "pause black-friday",
            "resume black-friday",
            "retry-failed black-friday",
            "cancel black-friday"
        ]
    );
}

#[tokio::test]
async fn optout_add_and_remove() {
    let server = TestServer::start(full_config()).await;
    let client = admin_client(&server, Some(ADMIN_TOKEN));
    let add = AdminCommand::Optout {
        action: OptoutAction::Add {
            number: "+55 85 99999-0001".into(),
        },
    };
    run(&client, &add, false, now()).await.expect("add");
    assert_eq!(
        *server.admin.optouts.lock().expect("lock"),
        ["5585999990001"]
    );
    let remove = AdminCommand::Optout {
        action: OptoutAction::Remove {
            number: "5585999990001".into(),
        },
    };
    run(&client, &remove, false, now()).await.expect("remove");
    assert!(server.admin.optouts.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_named_as_such() {
    let server = TestServer::start(full_config()).await;
    let pause = AdminCommand::Pause {
        campaign: "black-friday".into(),
    };
    for token in [None, Some("wrong")] {
        let err = run(&admin_client(&server, token), &pause, false, now())
            .await
            .expect_err("refused");
        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
        assert!(err.to_string().contains("TIERPACE_ADMIN_TOKEN"), "{err}");
    }
    assert!(server.admin.calls().is_empty());
}

#[tokio::test]
async fn api_errors_keep_the_daemons_message() {
    let server = TestServer::start(full_config()).await;
    let pause = AdminCommand::Pause {
        campaign: "no-such".into(),
    };
    let err = run(
        &admin_client(&server, Some(ADMIN_TOKEN)),
        &pause,
        false,
        now(),
    )
    .await
    .expect_err("not found");
    match err {
        ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!((status, code.as_str()), (404, "not_found"));
            assert!(message.contains("no-such"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_daemon_that_is_not_running_is_named_as_such() {
    // Take a free port and close it again: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let client = AdminClient::new(&url, None).expect("client");
    let err = run(&client, &AdminCommand::Status, false, now())
        .await
        .expect_err("not running");
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    assert!(err.to_string().contains("not running"), "{err}");
}
