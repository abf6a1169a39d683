//! Every row of DOMAIN.md §3 through the real daemon and the real fake Gupshup over HTTP: a
//! send answer or a `failed` callback with the row's code, then the contact's final state and
//! the sender's state as the admin API and /metrics show them. One place decides
//! (`dispatch/react.rs`); these tests check that what it decides happens end to end.
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig, Fault};
use support::redis_server::free_port;
use support::scenario::{self, number, Scenario, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::{CampaignStatus, SenderStatus};

const TOKEN: &str = "reactions-admin-token";

/// Short retry ladders so the rows' retries happen within a test.
const RETRIES: &str = r#"
[retries]
marketing_cap = "3s"
[retries.pair_rate]
first = "200ms"
factor = 2
attempts = 2
cap = "10s"
[retries.maintenance]
first = "300ms"
factor = 2
attempts = 3
cap = "10s"
[retries.throttled]
first = "300ms"
factor = 2
attempts = 3
cap = "10s"
"#;

struct Rig {
    fake: FakeGupshup,
    s: Scenario,
    token: tokio_util::sync::CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A daemon with one Gupshup sender and a 20-contact campaign (asap, always open), its
/// callbacks wired to the fake; `faults` are set before the daemon starts.
async fn rig(contacts: usize, faults: Vec<Fault>) -> Rig {
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        ..Default::default()
    })
    .await;
    for f in faults {
        fake.set_fault(f);
    }
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &fake.base_url(),
        contacts,
        http_port: Some(port),
        admin_token: Some(TOKEN),
        max_mps: 40,
        ..Default::default()
    });
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(RETRIES);
    std::fs::write(&s.config, config).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    Rig {
        fake,
        s,
        token,
        daemon,
    }
}

impl Rig {
    async fn campaign(&self) -> Option<CampaignStatus> {
        get::<Vec<CampaignStatus>>(self.s.url("/api/v1/campaigns"))
            .await?
            .into_iter()
            .find(|c| c.id == "bf")
    }

    async fn sender(&self) -> Option<SenderStatus> {
        get::<Vec<SenderStatus>>(self.s.url("/api/v1/senders"))
            .await?
            .into_iter()
            .find(|s| s.id == "sac")
    }

    async fn metrics(&self) -> String {
        match reqwest::get(self.s.url("/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until /metrics (refreshed on the daemon's health tick) has `line`.
    async fn until_metric(&self, line: &str, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.metrics().await;
            if m.lines().any(|l| l == line) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no {line:?} in /metrics:\n{m}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn admin(&self, path: &str, body: Value) -> u16 {
        reqwest::Client::new()
            .post(self.s.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn until<F>(&self, what: &str, secs: u64, mut check: F)
    where
        F: FnMut(&CampaignStatus, &SenderStatus) -> bool,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let (Some(c), Some(s)) = (self.campaign().await, self.sender().await) {
                if check(&c, &s) {
                    return;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!("{what}: campaign {c:#?}\nsender {s:#?}");
                }
            } else if tokio::time::Instant::now() > deadline {
                panic!("{what}: daemon not answering");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.daemon).await;
    }
}

async fn get<T: serde::de::DeserializeOwned>(url: String) -> Option<T> {
    reqwest::get(url).await.ok()?.json().await.ok()
}

fn field_answer(folder: &str) -> (u16, String) {
    let path = format!(
        "{}/../shared/field/{folder}/send-answer.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    (
        v["status"].as_u64().unwrap() as u16,
        v["body"].as_str().unwrap().to_string(),
    )
}

fn account_braked(s: &SenderStatus) -> bool {
    s.brakes.iter().any(|b| b.reason.starts_with("account: "))
}

fn answer(i: usize, status: u16, body: Value, times: usize) -> Fault {
    Fault::AnswerDestination {
        destination: number(i),
        status,
        body: body.to_string(),
        times,
    }
}

fn fail(i: usize, code: &str) -> Fault {
    Fault::FailDestination {
        destination: number(i),
        code: code.into(),
    }
}

/// A send answer from the field (401 or 400 "Invalid App Details"): the sender pauses at the
/// first answer, no contact is used up, and after the operator lifts the brake all are sent.
async fn account_answer_pauses_sender_and_contacts_stay_pending(folder: &str) {
    let (status, body) = field_answer(folder);
    let rig = rig(
        20,
        vec![Fault::Answer {
            status,
            body,
            times: usize::MAX,
        }],
    )
    .await;
    rig.until("sender paused at the first answer", 20, |_, s| {
        account_braked(s)
    })
    .await;
    // Sends already in flight may answer the same, but nothing more is tried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tried = rig.fake.requests();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rig.fake.requests(), tried, "a paused sender sends nothing");
    assert!(tried < 20, "paused at the first answers, not after all 20");
    let c = rig.campaign().await.unwrap();
    assert_eq!(
        (c.totals.failed, c.totals.pending, c.totals.sent),
        (0, 20, 0),
        "no contact used up: {c:#?}"
    );
    assert_eq!(c.state, "braked", "{c:#?}");
    // The operator fixes the key / app name and lifts the brake: every contact goes.
    rig.fake.clear_faults();
    assert_eq!(
        rig.admin("/api/v1/senders/sac/brake", json!({"on": false}))
            .await,
        200
    );
    rig.until("all sent after the brake was lifted", 30, |c, s| {
        c.totals.delivered == 20 && s.brakes.is_empty()
    })
    .await;
    assert_eq!(rig.fake.sends().len(), 20);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_gupshup_401_pauses_the_sender_and_no_contact_fails() {
    account_answer_pauses_sender_and_contacts_stay_pending("gupshup-401").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_gupshup_invalid_app_details_pauses_the_sender_and_no_contact_fails() {
    account_answer_pauses_sender_and_contacts_stay_pending("gupshup-invalid-app-details").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_callback_with_wallet_empty_pauses_the_sender_and_the_contact_returns() {
    // 1003 "wallet balance low" arrives in a `failed` callback for the first contact.
    let rig = rig(20, vec![fail(0, "1003")]).await;
    rig.until("sender paused by the callback", 20, |_, s| {
        account_braked(s)
    })
    .await;
    rig.until(
        "the contact is back to pending, never failed",
        10,
        |c, _| c.totals.failed == 0 && c.totals.pending >= 1,
    )
    .await;
    rig.fake.clear_faults();
    assert_eq!(
        rig.admin("/api/v1/senders/sac/brake", json!({"on": false}))
            .await,
        200
    );
    rig.until(
        "every contact delivered after the brake was lifted",
        30,
        |c, _| c.totals.delivered == 20 && c.totals.failed == 0,
    )
    .await;
    assert_eq!(
        rig.fake.tries_to(&number(0)),
        2,
        "sent again after the lift"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_level_rows_end_in_their_state_and_others_go_on() {
    let err = |code: u64| json!({"status": "error", "code": code, "message": "injected"});
    let rig = rig(
        20,
        vec![
            // 131056 pair rate, always: retried after 200 ms and 400 ms, then failed.
            answer(0, 400, err(131056), usize::MAX),
            // 131057 maintenance once: retried, then delivered.
            answer(1, 400, err(131057), 1),
            // 131049 marketing cap once: deferred (3 s here), then delivered.
            answer(2, 400, err(131049), 1),
            // 1002 undeliverable in a callback: invalid, never retried.
            fail(3, "1002"),
            // "Invalid Destination" in the send answer: invalid too.
            answer(
                4,
                400,
                json!({"status": "error", "message": "Invalid Destination"}),
                usize::MAX,
            ),
            // 131050 opted out, in a callback: failed, opt-out stored.
            fail(5, "131050"),
            // An unknown code in a callback: failed by code, counted for an alert.
            fail(6, "999999"),
            // A 2xx whose body says error: a refusal with its message.
            answer(
                7,
                200,
                json!({"status": "error", "message": "Something odd"}),
                1,
            ),
            // 130429 throughput in the send answer: the sender slows down, the contact retries.
            answer(8, 400, err(130429), 1),
        ],
    )
    .await;
    // The marketing cap shows as deferred (status and metrics), never failed.
    rig.until("131049 deferred", 20, |c, _| c.totals.deferred == 1)
        .await;
    rig.until_metric(
        r#"tierpace_campaign_contacts{campaign="bf",state="deferred"} 1"#,
        10,
    )
    .await;
    // Throughput error: the sender's rate cap is halved, visible in status and metrics.
    rig.until("rate lowered after 130429", 20, |_, s| {
        s.rate_limit_mps < s.max_mps
    })
    .await;
    rig.until_metric(
        r#"tierpace_sender_max_messages_per_second{sender="sac"} 40"#,
        10,
    )
    .await;
    let m = rig.metrics().await;
    assert!(
        m.contains(r#"tierpace_sender_rate_limit_messages_per_second{sender="sac"} 2"#),
        "halved from 40 to 20 (climbing back a little): {m}"
    );
    // The sender's in-flight limit reaches the metrics from the dispatcher (issue #15): at
    // least the floor of 16, at most the default `concurrency`.
    let limit = m
        .lines()
        .find_map(|l| l.strip_prefix(r#"tierpace_sender_in_flight_limit{sender="sac"} "#))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(
        limit.is_some_and(|l| (16..=1024).contains(&l)),
        "in-flight limit {limit:?}: {m}"
    );
    assert!(m.contains(r#"tierpace_sender_sends_in_flight{sender="sac"} "#));
    rig.until("every row settled", 40, |c, _| {
        c.totals.retrying == 0
            && c.totals.deferred == 0
            && c.totals.pending == 0
            && c.totals.in_flight == 0
            && c.totals.delivered == 14
    })
    .await;
    let c = rig.campaign().await.unwrap();
    let codes = &c.totals.failed_by_code;
    assert_eq!(codes.get("131056"), Some(&1), "{c:#?}");
    assert_eq!(codes.get("131050"), Some(&1), "{c:#?}");
    assert_eq!(codes.get("999999"), Some(&1), "{c:#?}");
    assert_eq!(codes.get("http_200"), Some(&1), "{c:#?}");
    assert_eq!(c.totals.failed, 4, "{c:#?}");
    assert_eq!(c.totals.invalid, 2, "{c:#?}");
    // Tries per contact: pair rate 1 + 2 retries; maintenance, cap and throughput 1 + 1;
    // undeliverable and the others once.
    assert_eq!(rig.fake.tries_to(&number(0)), 3);
    assert_eq!(rig.fake.tries_to(&number(1)), 2);
    assert_eq!(rig.fake.tries_to(&number(2)), 2);
    assert_eq!(rig.fake.tries_to(&number(8)), 2);
    for i in [3, 4, 5, 6, 7] {
        assert_eq!(rig.fake.tries_to(&number(i)), 1, "contact {i}");
    }
    // None of these brakes the sender.
    let s = rig.sender().await.unwrap();
    assert!(s.brakes.is_empty(), "{s:#?}");
    rig.until_metric(
        r#"tierpace_sender_unknown_failure_codes_total{sender="sac",code="999999"} 1"#,
        10,
    )
    .await;

    // `retry --failed` brings back every failed contact (the unknown code and the odd 2xx
    // included); invalid ones stay invalid and opted-out ones are skipped.
    rig.fake.clear_faults();
    assert_eq!(
        rig.admin("/api/v1/campaigns/bf/retry-failed", json!({}))
            .await,
        200
    );
    rig.until("failed contacts sent again", 30, |c, _| {
        c.totals.failed == 0 && c.totals.delivered == 17
    })
    .await;
    let c = rig.campaign().await.unwrap();
    assert_eq!(c.totals.invalid, 2);
    assert_eq!(c.totals.skipped.get("opted_out"), Some(&1), "{c:#?}");
    assert_eq!(rig.fake.tries_to(&number(3)), 1, "invalid: never retried");
    assert_eq!(rig.fake.tries_to(&number(5)), 1, "opted out: never retried");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam_failures_brake_marketing_and_template_errors_pause_the_campaign() {
    let rig = rig(
        20,
        vec![fail(0, "131048"), fail(1, "131048"), fail(2, "131048")],
    )
    .await;
    rig.until("spam brake on after three 131048", 20, |c, s| {
        s.brakes.iter().any(|b| b.reason == "spam rate (131048)")
            && c.totals.failed_by_code.get("131048") == Some(&3)
    })
    .await;
    // `tierpace status` says it in words, not in Rust's Debug form.
    let url = rig.s.url("");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["status", "--url", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("spam rate (131048) (pause)"), "{text}");
    assert!(!text.contains("SpamRate"), "{text}");
    rig.stop().await;

    let rig = rig_template().await;
    rig.until("campaign paused by the template error", 20, |c, _| {
        c.state == "paused" && c.totals.failed == 0 && c.totals.pending >= 1
    })
    .await;
    // Status says the provider paused it, with the provider's message (issue #18).
    let c = rig.campaign().await.unwrap();
    assert_eq!(
        c.why.as_deref(),
        Some("paused by the provider: template error 1005: Template params mismatch"),
        "{c:#?}"
    );
    rig.stop().await;
}

/// A campaign whose first send answers 1005 (template params wrong).
async fn rig_template() -> Rig {
    rig(
        20,
        vec![answer(
            0,
            400,
            json!({"status": "error", "code": 1005, "message": "Template params mismatch"}),
            usize::MAX,
        )],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_brake_reaches_a_replica_and_survives_a_restart() {
    let redis = support::redis_server::RedisServer::start();
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        ..Default::default()
    })
    .await;
    for i in 0..3 {
        fake.set_fault(fail(i, "131048"));
    }
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 10,
        http_port: Some(port),
        admin_token: Some(TOKEN),
        ..Default::default()
    });
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let braked = |url: String| async move {
        get::<Vec<SenderStatus>>(url)
            .await
            .unwrap_or_default()
            .iter()
            .any(|s| s.brakes.iter().any(|b| b.reason == "spam rate (131048)"))
    };
    let mut on = false;
    for _ in 0..200 {
        if braked(s.url("/api/v1/senders")).await {
            on = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(on, "spam brake set by the callbacks");
    // A replica that received none of the callbacks holds the sender back too.
    let (replica_cfg, replica_port) = s.replica_config();
    let (rtoken, replica) = support::daemon::start_in_process(replica_cfg, Arc::new(SystemClock));
    let replica_url = format!("http://127.0.0.1:{replica_port}/api/v1/senders");
    let mut seen = false;
    for _ in 0..100 {
        if braked(replica_url.clone()).await {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the replica sees the brake");
    rtoken.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), replica).await;
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;

    // After a restart the brake is still on.
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    let mut still = false;
    for _ in 0..100 {
        if braked(s.url("/api/v1/senders")).await {
            still = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(still, "the spam brake survives a restart");
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_template_pauses_the_campaign_and_uses_no_contact() {
    // Gupshup 1004 (template paused or disabled for quality): a campaign problem, not the
    // contact's: the campaign pauses, the contact goes back to pending.
    let rig = rig(
        20,
        vec![answer(
            0,
            400,
            json!({"status": "error", "code": 1004, "message": "Template is disabled"}),
            usize::MAX,
        )],
    )
    .await;
    rig.until("campaign paused by the disabled template", 20, |c, _| {
        c.state == "paused" && c.totals.failed == 0 && c.totals.pending >= 1
    })
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_5xx_retries_the_contact_instead_of_failing_it() {
    // Five 503 answers to one contact: more than the send's own quick retries, so the contact
    // goes `retrying` and is sent on a later try; nothing fails.
    let rig = rig(
        20,
        vec![answer(
            0,
            503,
            json!({"status": "error", "message": "Service Unavailable"}),
            5,
        )],
    )
    .await;
    rig.until("every contact sent, none failed", 40, |c, _| {
        c.totals.sent + c.totals.delivered + c.totals.read == 20 && c.totals.failed == 0
    })
    .await;
    rig.stop().await;
}

fn fail_once(i: usize, code: &str) -> Fault {
    Fault::FailDestinationTimes {
        destination: number(i),
        code: code.into(),
        times: 1,
    }
}

fn error_body(code: u64, message: &str) -> String {
    json!({"status": "error", "code": code, "message": message}).to_string()
}

/// DOMAIN.md §3's contact-level rows, each by send answer and by `failed` callback where the
/// provider may report it either way: throughput, pair rate, maintenance and marketing cap are
/// retried by themselves and then delivered; undeliverable is invalid and never retried;
/// opted out fails and stores the opt-out; an unknown code fails by code. A later campaign on
/// the same audience skips the invalid and opted-out contacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contact_row_by_answer_and_by_callback_ends_in_its_state() {
    let once = |i: usize, status: u16, code: u64| Fault::AnswerDestination {
        destination: number(i),
        status,
        body: error_body(code, "injected"),
        times: 1,
    };
    let always = |i: usize, code: u64| Fault::AnswerDestination {
        destination: number(i),
        status: 400,
        body: error_body(code, "injected"),
        times: usize::MAX,
    };
    let rig = rig(
        20,
        vec![
            // Throughput: HTTP 429, code 4 in an answer, 80007 and 130429 in callbacks.
            Fault::AnswerDestination {
                destination: number(0),
                status: 429,
                body: json!({"status": "error", "message": "Too Many Requests"}).to_string(),
                times: 1,
            },
            once(1, 400, 4),
            fail_once(2, "80007"),
            fail_once(11, "130429"),
            // Undeliverable: 131026 answer and callback, Gupshup 1002 answer.
            always(3, 131026),
            fail(4, "131026"),
            always(5, 1002),
            // Opted out: 1012 answer and callback, 131050 answer.
            always(6, 1012),
            fail(7, "1012"),
            always(8, 131050),
            // Marketing cap in a callback: deferred (3 s here), then delivered.
            fail_once(9, "131049"),
            // An unknown code in an answer: failed by its HTTP status (gupshup.rs keeps
            // unknown answer codes out of metric labels; a callback's unknown code is kept, see
            // contact_level_rows_end_in_their_state_and_others_go_on).
            once(10, 400, 777777),
            // Pair rate and maintenance in callbacks: retried, then delivered.
            fail_once(12, "131056"),
            fail_once(13, "131057"),
        ],
    )
    .await;
    rig.until("131049 by callback shows as deferred", 20, |c, _| {
        c.totals.deferred == 1
    })
    .await;
    rig.until("every row settled", 60, |c, _| {
        c.totals.retrying == 0
            && c.totals.deferred == 0
            && c.totals.pending == 0
            && c.totals.in_flight == 0
            && c.totals.delivered == 13
    })
    .await;
    let c = rig.campaign().await.unwrap();
    assert_eq!(c.totals.invalid, 3, "{c:#?}");
    assert_eq!(c.totals.failed, 4, "{c:#?}");
    let codes = &c.totals.failed_by_code;
    for code in ["1012", "131050", "http_400"] {
        assert!(codes.contains_key(code), "{code}: {c:#?}");
    }
    assert_eq!(codes.get("1012"), Some(&2), "{c:#?}");
    for i in [1, 2, 9, 11, 12, 13] {
        assert_eq!(rig.fake.tries_to(&number(i)), 2, "contact {i}: one retry");
    }
    assert!(rig.fake.tries_to(&number(0)) >= 2, "429 retried");
    for i in [3, 4, 5, 6, 7, 8, 10] {
        assert_eq!(
            rig.fake.tries_to(&number(i)),
            1,
            "contact {i}: never retried"
        );
    }
    rig.until_metric(
        r#"tierpace_sender_unknown_failure_codes_total{sender="sac",code="http_400"} 1"#,
        10,
    )
    .await;
    // None of these rows touches the sender.
    assert!(rig.sender().await.unwrap().brakes.is_empty());

    // A later campaign on the same audience: the undeliverable and opted-out contacts are
    // skipped, never tried again; the unknown code's contact is sent.
    let dir = rig.s.dir.path().join("campaigns");
    let text = std::fs::read_to_string(dir.join("bf.toml"))
        .unwrap()
        .replace("id = \"bf\"", "id = \"later\"");
    std::fs::write(dir.join(".later.toml.tmp"), text).unwrap();
    std::fs::rename(dir.join(".later.toml.tmp"), dir.join("later.toml")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    // Completed means every contact has a final state, `sent` included; the fake's delivery
    // callbacks may land a moment later, so wait for them too (until the deadline, then the
    // assertions below say what was missing).
    let later = loop {
        let found = get::<Vec<CampaignStatus>>(rig.s.url("/api/v1/campaigns"))
            .await
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.id == "later" && c.state == "completed");
        match found {
            Some(c) if c.totals.delivered >= 14 => break c,
            Some(c) if tokio::time::Instant::now() >= deadline => break c,
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "later campaign never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        later.totals.skipped.get("opted_out"),
        Some(&6),
        "{later:#?}"
    );
    assert_eq!(later.totals.delivered, 14, "{later:#?}");
    for i in [3, 4, 5, 6, 7, 8] {
        assert_eq!(
            rig.fake.tries_to(&number(i)),
            1,
            "contact {i} skipped later"
        );
    }
    assert_eq!(
        rig.fake.tries_to(&number(10)),
        2,
        "unknown code: not barred"
    );
    rig.stop().await;
}

/// How a code reaches tierpace in the tests below.
#[derive(Debug, Clone, Copy)]
enum Via {
    Answer,
    Callback,
}

fn fault_for(via: Via, code: &str) -> Vec<Fault> {
    match via {
        // Every send is answered with the code (as an account refuses everything).
        Via::Answer => vec![Fault::Answer {
            status: 400,
            body: json!({"status": "error", "code": code.parse::<u64>().unwrap(), "message": "injected"})
                .to_string(),
            times: usize::MAX,
        }],
        // The first contact's send is accepted, then fails in a callback.
        Via::Callback => vec![fail(0, code)],
    }
}

/// Account rows (131042 payment, 131031 locked, 368 policy block, Gupshup 1003/4001 wallet):
/// by answer or callback, the sender pauses, no contact is used up, and when the operator lifts
/// the brake every contact goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_codes_by_answer_and_by_callback_pause_the_sender_and_use_no_contact() {
    for (via, code) in [
        (Via::Answer, "131042"),
        (Via::Callback, "131042"),
        (Via::Answer, "131031"),
        (Via::Callback, "131031"),
        (Via::Answer, "368"),
        (Via::Callback, "368"),
        (Via::Answer, "4001"),
        (Via::Callback, "4001"),
        (Via::Answer, "1003"),
    ] {
        let rig = rig(10, fault_for(via, code)).await;
        rig.until(&format!("{via:?} {code}: sender paused"), 20, |_, s| {
            account_braked(s)
        })
        .await;
        let s = rig.sender().await.unwrap();
        let reason = &s.brakes[0].reason;
        assert!(
            reason.starts_with("account: ") && reason.contains(code),
            "{via:?} {code}: {reason}"
        );
        rig.until(&format!("{via:?} {code}: contacts pending"), 10, |c, _| {
            c.totals.failed == 0 && c.totals.pending >= 1 && c.state == "braked"
        })
        .await;
        rig.fake.clear_faults();
        assert_eq!(
            rig.admin("/api/v1/senders/sac/brake", json!({"on": false}))
                .await,
            200
        );
        rig.until(
            &format!("{via:?} {code}: all sent after the lift"),
            30,
            |c, _| c.totals.delivered == 10 && c.totals.failed == 0,
        )
        .await;
        rig.stop().await;
    }
}

/// Template rows (132000/132001/132012, Gupshup 1005/4003: params, name or format wrong;
/// 132015/132016, Gupshup 1004/4005: paused or disabled for quality): by answer or callback the
/// campaign pauses and the contact is not used up. 131048 by answer brakes marketing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_codes_by_answer_and_by_callback_pause_the_campaign_and_use_no_contact() {
    for (via, code) in [
        (Via::Answer, "132000"),
        (Via::Callback, "132001"),
        (Via::Answer, "132012"),
        (Via::Callback, "4003"),
        (Via::Answer, "132015"),
        (Via::Callback, "132016"),
        (Via::Answer, "4005"),
        (Via::Callback, "1005"),
    ] {
        let rig = rig(10, fault_for(via, code)).await;
        rig.until(&format!("{via:?} {code}: campaign paused"), 20, |c, s| {
            c.state == "paused"
                && c.totals.failed == 0
                && c.totals.pending >= 1
                && s.brakes.is_empty()
        })
        .await;
        rig.stop().await;
    }
    let rig = rig(10, fault_for(Via::Answer, "131048")).await;
    rig.until("131048 answers: spam brake", 20, |c, s| {
        s.brakes.iter().any(|b| b.reason == "spam rate (131048)")
            && c.totals.failed_by_code.get("131048") >= Some(&3)
    })
    .await;
    rig.stop().await;
}
