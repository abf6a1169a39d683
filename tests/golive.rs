//! The go-live checklist (issue #21) against fake Gupshup Partner and Graph API endpoints on
//! loopback: every item's ok and failed case (wrong key, number not connected, wrong number,
//! empty wallet, callback pointing elsewhere, unreachable provider, public URL not answering).
//! Every test also asserts that the fakes saw no send.
mod support;

use std::time::Duration;

use serde_json::json;
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig, FakePartnerApp};
use support::fake_meta::{FakeMeta, FakeMetaConfig, FakePhone};
use tierpace::config::SenderConfig;
use tierpace::http::self_proof::SelfProofKey;
use tierpace::provider::golive::{self, GoLiveContext, GoLiveItem, ItemStatus, SelfProofCheck};
use tierpace::provider::template_preflight::{TemplateCatalog, DEFAULT_TTL};

const PUBLIC: &str = "https://tp.example.com";
const SOURCE: &str = "15550100";

fn ctx(public_url: Option<&str>) -> GoLiveContext {
    GoLiveContext {
        public_url: public_url.map(str::to_string),
        http: tierpace::provider::http_client(Duration::from_secs(2)).unwrap(),
        min_balance: 10.0,
        price_per_message: Some(0.01),
        campaigns: Vec::new(),
        templates: std::sync::Arc::new(TemplateCatalog::new(DEFAULT_TTL).unwrap()),
        self_proof: SelfProofCheck::Key(SelfProofKey::random()),
    }
}

/// A Gupshup sender on the fake, its secrets in env vars named after `tag`.
fn gupshup_sender(base: &str, tag: &str, partner_token: &str) -> SenderConfig {
    std::env::set_var(format!("GOLIVE_{tag}_KEY"), "test-gupshup-key");
    std::env::set_var(format!("GOLIVE_{tag}_APP"), "app-1");
    std::env::set_var(format!("GOLIVE_{tag}_PTOKEN"), partner_token);
    toml::from_str(&format!(
        r#"provider = "gupshup"
source = "{SOURCE}"
app_name = "acme"
api_key_env = "GOLIVE_{tag}_KEY"
partner_app_id_env = "GOLIVE_{tag}_APP"
partner_token_env = "GOLIVE_{tag}_PTOKEN"
base_url = "{base}"
partner_base_url = "{base}"
timeout = "2s"
"#
    ))
    .unwrap()
}

fn meta_sender(base: &str, tag: &str, token: &str, phone_number_id: &str) -> SenderConfig {
    std::env::set_var(format!("GOLIVE_{tag}_TOKEN"), token);
    toml::from_str(&format!(
        r#"provider = "meta"
phone_number_id = "{phone_number_id}"
api_key_env = "GOLIVE_{tag}_TOKEN"
base_url = "{base}"
timeout = "2s"
"#
    ))
    .unwrap()
}

fn item<'a>(items: &'a [GoLiveItem], name: &str) -> &'a ItemStatus {
    &items
        .iter()
        .find(|i| i.item == name)
        .unwrap_or_else(|| panic!("no {name} item in {items:?}"))
        .status
}

fn is_ok(s: &ItemStatus) -> bool {
    matches!(s, ItemStatus::Ok { .. })
}

fn failed_why(s: &ItemStatus) -> String {
    match s {
        ItemStatus::Failed { why, .. } => why.clone(),
        other => panic!("expected failed, got {other:?}"),
    }
}

fn is_unknown(s: &ItemStatus) -> bool {
    matches!(s, ItemStatus::Unknown { .. })
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

async fn gupshup_fake() -> FakeGupshup {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    fake.set_partner(FakePartnerApp::live(
        "app-1",
        "partner-token",
        SOURCE,
        &format!("{PUBLIC}/webhooks/gupshup"),
    ));
    fake
}

fn assert_nothing_sent(fake: &FakeGupshup) {
    assert_eq!(fake.requests(), 0, "a go-live check sent a message");
    assert!(fake.sends().is_empty());
}

#[tokio::test]
async fn a_live_gupshup_app_passes_every_item_it_can_read() {
    let fake = gupshup_fake().await;
    let sc = gupshup_sender(&fake.base_url(), "GOK", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    for name in [
        "credentials",
        "api_key",
        "identity",
        "number",
        "balance",
        "callbacks",
        "network",
    ] {
        assert!(is_ok(item(&items, name)), "{name}: {items:?}");
    }
    match item(&items, "number") {
        ItemStatus::Ok { detail } => assert!(detail.contains("TIER_10K"), "{detail}"),
        _ => unreachable!(),
    }
    // 100 USD at 10k/day × 0.01 = 1 day.
    match item(&items, "balance") {
        ItemStatus::Ok { detail } => assert!(detail.contains("about 1 days"), "{detail}"),
        _ => unreachable!(),
    }
    // No documented read of the opt-in setting; no campaign, so no template to verify.
    assert!(is_unknown(item(&items, "opt_in")));
    assert!(is_ok(item(&items, "templates")), "{items:?}");
    assert_eq!(golive::exit_code(&items), 2);
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn a_wrong_api_key_or_app_name_fails_the_api_key_item_without_a_send() {
    let fake = FakeGupshup::start(FakeGupshupConfig {
        app_name: Some("acme".into()),
        ..Default::default()
    })
    .await;
    let sc = gupshup_sender(&fake.base_url(), "GAK1", "partner-token");
    std::env::set_var("GOLIVE_GAK1_KEY", "a-key-of-another-account");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    let why = failed_why(item(&items, "api_key"));
    assert!(
        why.contains("API key refused") && why.contains("Authentication Failed"),
        "{why}"
    );

    // The field file `gupshup-invalid-app-details`: the right key, another app's name.
    let mut sc = gupshup_sender(&fake.base_url(), "GAK2", "partner-token");
    sc.app_name = Some("Acme".into());
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    let why = failed_why(item(&items, "api_key"));
    assert!(
        why.contains("app name `Acme`") && why.contains("Invalid App Details"),
        "{why}"
    );

    let sc = gupshup_sender(&fake.base_url(), "GAK3", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(is_ok(item(&items, "api_key")), "{items:?}");
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn an_unknown_app_id_fails_identity_and_proves_no_credentials() {
    let fake = gupshup_fake().await;
    let sc = gupshup_sender(&fake.base_url(), "GAPP", "partner-token");
    std::env::set_var("GOLIVE_GAPP_APP", "app-of-nobody");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "identity")).contains("app-of-nobody"));
    // The token was never accepted for a read: not "ok" (a fresh operator's trial found it so).
    assert!(is_unknown(item(&items, "credentials")), "{items:?}");
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn a_wrong_partner_token_fails_credentials() {
    let fake = gupshup_fake().await;
    let sc = gupshup_sender(&fake.base_url(), "GKEY", "wrong-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "credentials")).contains("Unauthorized Access"));
    assert!(is_unknown(item(&items, "number")));
    assert_eq!(golive::exit_code(&items), 1);
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn a_number_not_connected_or_of_another_source_fails() {
    let fake = gupshup_fake().await;
    let mut app = FakePartnerApp::live("app-1", "partner-token", "15550199", "x");
    app.waba_info["dockerStatus"] = json!("DISCONNECTED");
    app.subscriptions = json!([]);
    fake.set_partner(app);
    let sc = gupshup_sender(&fake.base_url(), "GNUM", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "number")).contains("DISCONNECTED"));
    assert!(failed_why(item(&items, "identity")).contains("15550199"));
    assert!(failed_why(item(&items, "callbacks")).contains("no subscription"));
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn an_empty_wallet_fails_balance() {
    let fake = gupshup_fake().await;
    let mut app = FakePartnerApp::live(
        "app-1",
        "partner-token",
        SOURCE,
        &format!("{PUBLIC}/webhooks/gupshup"),
    );
    app.wallet = json!({"currency":"USD","currentBalance":0.0,"overDraftLimit":0});
    fake.set_partner(app);
    let sc = gupshup_sender(&fake.base_url(), "GBAL", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "balance")).contains("wallet empty"));
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn a_callback_pointing_elsewhere_fails_and_public_url_unset_fails() {
    let fake = gupshup_fake().await;
    fake.set_partner(FakePartnerApp::live(
        "app-1",
        "partner-token",
        SOURCE,
        "https://old-crm.example.com/gupshup",
    ));
    let sc = gupshup_sender(&fake.base_url(), "GCB", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "callbacks")).contains("old-crm.example.com"));
    let items = golive::check_sender("sac", &sc, &ctx(None)).await;
    assert!(failed_why(item(&items, "callbacks")).contains("http.public_url is not set"));
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn gupshup_opt_in_is_judged_where_the_answer_carries_it() {
    let fake = gupshup_fake().await;
    let mut app = FakePartnerApp::live("app-1", "partner-token", SOURCE, "x");
    app.waba_info["optinEnabled"] = json!(true);
    fake.set_partner(app.clone());
    let sc = gupshup_sender(&fake.base_url(), "GOPT", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "opt_in")).contains("opt-in handling is on"));
    app.waba_info["optinEnabled"] = json!(false);
    fake.set_partner(app);
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(is_ok(item(&items, "opt_in")));
    assert_nothing_sent(&fake);
}

#[tokio::test]
async fn an_unreachable_provider_fails_network_and_leaves_the_rest_unknown() {
    let base = format!("http://127.0.0.1:{}", closed_port().await);
    let sc = gupshup_sender(&base, "GNET", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "network")).contains("did not answer"));
    for name in ["credentials", "identity", "number", "balance", "callbacks"] {
        assert!(is_unknown(item(&items, name)), "{name}: {items:?}");
    }
    // A plain-http provider URL off loopback is refused without asking.
    let sc = gupshup_sender("http://api.gupshup.io", "GNET2", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "network")).contains("not https"));
}

async fn meta_fake() -> FakeMeta {
    let fake = FakeMeta::start(FakeMetaConfig::default()).await;
    fake.set_phone(FakePhone::live("1001", &format!("{PUBLIC}/webhooks/meta")));
    fake
}

#[tokio::test]
async fn a_live_meta_number_passes_and_balance_is_unknown_with_why() {
    let fake = meta_fake().await;
    let sc = meta_sender(&fake.base_url(), "MOK", "test-meta-token", "1001");
    let items = golive::check_sender("meta1", &sc, &ctx(Some(PUBLIC))).await;
    for name in ["credentials", "identity", "number", "callbacks", "network"] {
        assert!(is_ok(item(&items, name)), "{name}: {items:?}");
    }
    match item(&items, "number") {
        // The business-portfolio limit wins, as in tier polling.
        ItemStatus::Ok { detail } => assert!(detail.contains("TIER_2K"), "{detail}"),
        _ => unreachable!(),
    }
    match item(&items, "balance") {
        ItemStatus::Unknown { why } => assert!(why.contains("payment method")),
        other => panic!("{other:?}"),
    }
    assert!(!items.iter().any(|i| i.item == "opt_in"));
    assert_eq!(fake.requests(), 0);
    assert!(fake.sends().is_empty());
}

#[tokio::test]
async fn meta_wrong_token_wrong_id_not_connected_and_callback_elsewhere_fail() {
    let fake = meta_fake().await;
    let sc = meta_sender(&fake.base_url(), "MKEY", "expired-token", "1001");
    let items = golive::check_sender("meta1", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "credentials")).contains("Invalid OAuth access token"));

    let sc = meta_sender(&fake.base_url(), "MID", "test-meta-token", "9999");
    let items = golive::check_sender("meta1", &sc, &ctx(Some(PUBLIC))).await;
    assert!(is_ok(item(&items, "credentials")));
    assert!(failed_why(item(&items, "identity")).contains("9999"));

    let mut phone = FakePhone::live("1001", "https://elsewhere.example.com/hook");
    phone.node["status"] = json!("DISCONNECTED");
    fake.set_phone(phone);
    let sc = meta_sender(&fake.base_url(), "MNUM", "test-meta-token", "1001");
    let items = golive::check_sender("meta1", &sc, &ctx(Some(PUBLIC))).await;
    assert!(failed_why(item(&items, "number")).contains("DISCONNECTED"));
    assert!(failed_why(item(&items, "callbacks")).contains("elsewhere.example.com"));

    // A Graph version without webhook_configuration: unknown, not failed.
    let mut phone = FakePhone::live("1001", "x");
    phone.webhook_configuration = None;
    fake.set_phone(phone);
    let items = golive::check_sender("meta1", &sc, &ctx(Some(PUBLIC))).await;
    assert!(is_unknown(item(&items, "callbacks")));
    assert_eq!(fake.requests(), 0);
    assert!(fake.sends().is_empty());
}

/// Serves `/healthz` on loopback as a daemon with `key` would (`None`: a server that answers a
/// plain `ok`, as any health endpoint does); returns its URL.
async fn healthz_server(key: Option<SelfProofKey>) -> String {
    use std::collections::HashMap;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| {
                let key = key.clone();
                async move {
                    match (key, q.get("nonce")) {
                        (Some(k), Some(n)) => format!("ok tierpace-proof={}\n", k.prove(n)),
                        _ => "ok\n".to_string(),
                    }
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn the_public_url_self_call_must_reach_this_daemon() {
    let mine = SelfProofKey::random();
    let mut c = ctx(Some(&healthz_server(Some(mine.clone())).await));
    c.self_proof = SelfProofCheck::Key(mine.clone());
    let ok = golive::self_call::check(&c).await;
    assert!(is_ok(&ok.status), "{ok:?}");

    // Another tierpace (another key) answering at the public URL: failed.
    c.public_url = Some(healthz_server(Some(SelfProofKey::random())).await);
    let other = golive::self_call::check(&c).await;
    assert!(
        failed_why(&other.status).contains("another tierpace daemon"),
        "{other:?}"
    );
    // Any other server answering a plain ok: failed.
    c.public_url = Some(healthz_server(None).await);
    let plain = golive::self_call::check(&c).await;
    assert!(
        failed_why(&plain.status).contains("without tierpace's proof"),
        "{plain:?}"
    );

    // `check --online` compares with the daemon at http.listen.
    let listen: std::net::SocketAddr = healthz_server(Some(mine.clone()))
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut cli = ctx(Some(&healthz_server(Some(mine)).await));
    cli.self_proof = SelfProofCheck::Listen(listen);
    assert!(is_ok(&golive::self_call::check(&cli).await.status));
    cli.public_url = Some(healthz_server(Some(SelfProofKey::random())).await);
    assert!(golive::self_call::check(&cli).await.is_failed());

    let down = format!("http://127.0.0.1:{}", closed_port().await);
    let failed = golive::self_call::check(&ctx(Some(&down))).await;
    assert!(failed.is_failed());
    let failed = golive::self_call::check(&ctx(Some("http://tp.example.com"))).await;
    assert!(failed_why(&failed.status).contains("not https"));
    assert!(golive::self_call::check(&ctx(None)).await.is_failed());
}

/// The daemon runs the checklist at start in the background: failed items show in `/readyz`
/// warnings (still 200) and in the senders' status; it starts and nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_shows_failed_items_without_refusing_to_start() {
    use support::scenario::{self, ScenarioSpec};
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let url = fake.base_url();
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &url,
        contacts: 0,
        admin_token: Some("admin-t"),
        ..Default::default()
    });
    // No campaign: this test is about the start only.
    std::fs::remove_file(s.dir.path().join("campaigns/bf.toml")).unwrap();
    let (token, task) = support::daemon::start_in_process(
        s.config.clone(),
        std::sync::Arc::new(tierpace::clock::SystemClock),
    );
    let base = format!("http://127.0.0.1:{}", s.http_port);
    let client = reqwest::Client::new();
    let last = std::sync::Arc::new(std::sync::Mutex::new((0u16, serde_json::Value::Null)));
    let seen = support::daemon::eventually(
        || {
            let (client, base, last) = (client.clone(), base.clone(), last.clone());
            async move {
                let Ok(r) = client.get(format!("{base}/readyz")).send().await else {
                    return false;
                };
                let code = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let found = body["warnings"].as_array().is_some_and(|w| {
                    w.iter()
                        .any(|x| x.as_str().unwrap_or("").contains("public_url"))
                });
                *last.lock().unwrap() = (code, body);
                found
            }
        },
        20,
    )
    .await;
    let last = last.lock().unwrap().clone();
    assert!(seen, "no go-live warning in /readyz: {last:?}");
    assert_eq!(
        last.0, 200,
        "a failed go-live item must not make /readyz 503"
    );
    let senders: serde_json::Value = client
        .get(format!("{base}/api/v1/senders"))
        .bearer_auth("admin-t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed = senders[0]["go_live_failed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        failed
            .iter()
            .any(|f| f.as_str().unwrap().contains("public_url")),
        "{senders}"
    );
    token.cancel();
    let _ = task.await;
    assert_eq!(fake.requests(), 0);
}

/// `tierpace check --online --json`: the items as JSON and the exit code of the worst (here a
/// missing `http.public_url`: 1).
#[test]
fn check_online_prints_json_and_exits_by_the_worst_item() {
    use support::scenario::{self, ScenarioSpec};
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig::default());
    let url = fake.base_url();
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &url,
        contacts: 0,
        ..Default::default()
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["check", "--online", "--json", "-c"])
        .arg(&s.config)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["exit"], 1);
    let items = v["items"].as_array().unwrap();
    let find = |name: &str| items.iter().find(|i| i["item"] == name).unwrap().clone();
    assert_eq!(find("public_url")["status"], "failed");
    assert_eq!(find("network")["status"], "ok");
    // The scenario's campaign is on a Gupshup sender without Partner API keys: not verified.
    assert_eq!(find("templates")["status"], "unknown");
    assert!(find("templates")["why"]
        .as_str()
        .unwrap()
        .contains("partner_app_id_env"));
    assert!(v["callback_sources"][0]
        .as_str()
        .unwrap()
        .contains("34.202.224.208"));
    assert_eq!(fake.requests(), 0);
}

/// A Gupshup campaign on sender `sac` naming template `id`, parsed from a file in `dir`.
fn campaign(dir: &std::path::Path, name: &str, id: &str) -> tierpace::campaign::file::Campaign {
    use std::collections::{BTreeMap, BTreeSet};
    use tierpace::campaign::file::CampaignContext;
    std::fs::write(
        dir.join("a.csv"),
        "name,phone,opt_in\nAna,85999990001,sim\n",
    )
    .unwrap();
    let text = format!("sender = \"sac\"\n[template]\nid = \"{id}\"\ncategory = \"marketing\"\nbody = [\"{{{{name}}}}\"]\n[audience]\nfile = \"a.csv\"\n[schedule]\ncalendar = \"always\"\n");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, &text).unwrap();
    let ctx = CampaignContext {
        senders: BTreeSet::from(["sac".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: BTreeMap::from([("sac".to_string(), tierpace::provider::ProviderKind::Gupshup)]),
    };
    tierpace::campaign::validate::parse_campaign(&path, &text, &ctx).unwrap()
}

const FITS: &str = "6f1c2a3b-0000-4000-8000-000000000001";
const PAUSED: &str = "6f1c2a3b-0000-4000-8000-000000000002";

fn app_with_templates() -> FakePartnerApp {
    use support::fake_gupshup::gupshup_template;
    let mut app = FakePartnerApp::live(
        "app-1",
        "partner-token",
        SOURCE,
        &format!("{PUBLIC}/webhooks/gupshup"),
    );
    let mut paused = gupshup_template(
        PAUSED,
        "pausado",
        "PAUSED",
        "MARKETING",
        "TEXT",
        "Oi {{1}}",
        json!([]),
    );
    paused["reason"] = json!("Low quality");
    app.templates = json!([
        gupshup_template(
            FITS,
            "oferta",
            "APPROVED",
            "MARKETING",
            "TEXT",
            "Olá {{1}}",
            json!([])
        ),
        paused
    ]);
    app
}

#[tokio::test]
async fn the_templates_item_is_the_pre_flight_one_line_per_campaign() {
    let fake = gupshup_fake().await;
    fake.set_partner(app_with_templates());
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(Some(PUBLIC));
    c.campaigns = vec![
        campaign(dir.path(), "ok", FITS),
        campaign(dir.path(), "paused", PAUSED),
    ];
    let sc = gupshup_sender(&fake.base_url(), "GTPL", "partner-token");
    let items = golive::check_sender("sac", &sc, &c).await;
    let templates: Vec<&GoLiveItem> = items.iter().filter(|i| i.item == "templates").collect();
    assert_eq!(templates.len(), 2, "{items:?}");
    match &templates[0].status {
        ItemStatus::Ok { detail } => assert!(
            detail.starts_with("campaign ok: template `oferta`"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    match &templates[1].status {
        ItemStatus::Failed { why, fix } => {
            assert!(why.contains("campaign paused: template.id: template `pausado` is PAUSED, expected APPROVED (the provider says: Low quality)"), "{why}");
            assert!(fix.contains("paused.toml:3"), "{fix}");
        }
        other => panic!("{other:?}"),
    }
    // Both campaigns: one read of the app's list.
    assert_eq!(fake.template_reads(), 1);
    // Without the Partner API keys: unknown, and why.
    let mut sc = sc.clone();
    sc.partner_token_env = None;
    let items = golive::check_sender("sac", &sc, &c).await;
    assert!(items.iter().filter(|i| i.item == "templates").all(
        |i| matches!(&i.status, ItemStatus::Unknown { why } if why.contains("partner_token_env"))
    ));
    assert_nothing_sent(&fake);
}

/// The daemon reruns the checklist on reload: a campaign file with a paused template shows as a
/// failed templates item in `/readyz`; removing the file clears it. Its public URL is the
/// daemon's own address, so the nonce self-call passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reruns_the_checklist_on_reload() {
    use support::scenario::{self, ScenarioSpec};
    let fake = gupshup_fake().await;
    fake.set_partner(app_with_templates());
    let url = fake.base_url();
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &url,
        contacts: 0,
        admin_token: Some("admin-t"),
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::remove_file(root.join("campaigns/bf.toml")).unwrap();
    std::fs::write(root.join("app.id"), "app-1\n").unwrap();
    std::fs::write(root.join("partner.token"), "partner-token\n").unwrap();
    let config = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace(
            "[http]\n",
            &format!("[http]\npublic_url = \"http://127.0.0.1:{}\"\n", s.http_port),
        )
        + &format!(
            "partner_app_id_file = \"{r}/app.id\"\npartner_token_file = \"{r}/partner.token\"\npartner_base_url = \"{url}\"\n",
            r = root.display()
        );
    std::fs::write(&s.config, config).unwrap();
    std::fs::write(
        root.join("campaigns/paused.toml"),
        format!("id = \"paused\"\nsender = \"sac\"\n[template]\nid = \"{PAUSED}\"\ncategory = \"marketing\"\nparams = [\"{{{{name}}}}\"]\n[audience]\nfile = \"contacts/audience.csv\"\ndefault_ddi = \"55\"\n[schedule]\ncalendar = \"always\"\n"),
    )
    .unwrap();
    let (token, task) = support::daemon::start_in_process(
        s.config.clone(),
        std::sync::Arc::new(tierpace::clock::SystemClock),
    );
    let client = reqwest::Client::new();
    let readyz = s.url("/readyz");
    let warnings = |client: reqwest::Client, readyz: String| async move {
        let Ok(r) = client.get(readyz).send().await else {
            return Vec::new();
        };
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        body["warnings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|w| w.as_str().unwrap_or("").to_string())
            .collect::<Vec<String>>()
    };
    let failed = support::daemon::eventually(
        || {
            let w = warnings(client.clone(), readyz.clone());
            async move {
                w.await
                    .iter()
                    .any(|w| w.contains("templates: campaign paused"))
            }
        },
        20,
    )
    .await;
    let seen = warnings(client.clone(), readyz.clone()).await;
    assert!(failed, "{seen:?}");
    assert!(!seen.iter().any(|w| w.contains("public_url")), "{seen:?}");
    std::fs::remove_file(root.join("campaigns/paused.toml")).unwrap();
    let cleared = support::daemon::eventually(
        || {
            let w = warnings(client.clone(), readyz.clone());
            async move { !w.await.iter().any(|w| w.contains("templates")) }
        },
        20,
    )
    .await;
    assert!(
        cleared,
        "{:?}",
        warnings(client.clone(), readyz.clone()).await
    );
    token.cancel();
    let _ = task.await;
    assert_nothing_sent(&fake);
}

/// `[..]` in `pattern` matches any text within the line.
fn matches_doc_line(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    let mut rest = match line.strip_prefix(parts[0]) {
        Some(r) => r,
        None => return false,
    };
    for (n, part) in parts.iter().enumerate().skip(1) {
        if n == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// docs/golive.md shows `check --online` output as an illustration (the docs test has no provider
/// account): the same lines, in the same order, from the fake Gupshup (issue #20). `[..]` stands
/// for what differs between the fake and the illustration (app id, number, quality, host, port,
/// latency). The templates lines are `the_templates_item_is_the_pre_flight_one_line_per_campaign`'s.
#[tokio::test]
async fn the_go_live_lines_docs_golive_shows_come_from_the_fake_gupshup() {
    let fake = gupshup_fake().await;
    let mut app = FakePartnerApp::live(
        "app-1",
        "partner-token",
        SOURCE,
        &format!("{PUBLIC}/webhooks/gupshup"),
    );
    app.wallet = json!({"currency":"USD","currentBalance":4.2,"overDraftLimit":0});
    fake.set_partner(app);
    let sc = gupshup_sender(&fake.base_url(), "GDOC", "partner-token");
    let items = golive::check_sender("sac", &sc, &ctx(Some(PUBLIC))).await;
    let lines: Vec<String> = items
        .iter()
        .map(|i| i.line())
        .filter(|l| !l.contains(" templates "))
        .collect();
    let doc = [
        "ok      sac         credentials Partner API app token accepted (the api_key item checks the API key)",
        "ok      sac         identity    app [..] (acme) sends from [..], as source says",
        "ok      sac         number      account ACTIVE, number CONNECTED, limit TIER_10K, quality [..]",
        "ok      sac         api_key     API key accepted for app `acme` (its template list was read)",
        "FAILED  sac         balance     4.20 USD (overdraft 0.00) is under the warning threshold 10.00 -> fix: top up the Gupshup wallet (Partner Portal > Wallet, or the app's dashboard)",
        "ok      sac         callbacks   https://tp.example.com/webhooks/gupshup[..], v2, modes SENT,DELIVERED,READ,FAILED,TEMPLATE,ACCOUNT,MESSAGE",
        "unknown sac         opt_in      Gupshup documents no read of the app's opt-in setting (only PUT /partner/app/{appId}/optinMessagePreference); check in the Gupshup app's Settings > Opt-in that the automated opt-in message and any opt-in gate are off",
        "ok      sac         network     [..] answered HTTP 404 over [..] in [..] ms (timeout [..])",
    ];
    assert_eq!(lines.len(), doc.len(), "{lines:#?}");
    for (want, got) in doc.iter().zip(&lines) {
        assert!(
            matches_doc_line(want, got),
            "docs/golive.md shows\n  {want}\nthe fake gives\n  {got}"
        );
    }
    assert_nothing_sent(&fake);
}
