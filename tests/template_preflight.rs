//! Issue #18: `tierpace check` fetches a Meta sender's template from the business account
//! (the fake's `GET /{waba_id}/message_templates`) and verifies it; a mismatch names the
//! campaign file's line, and without a `waba_id` it says what it could not verify.
mod support;

use std::process::Command;

use serde_json::json;
use support::fake_meta::{FakeMeta, FakeMetaConfig};

const TEMPLATE: &str = "[template]\nname = \"oferta_bf\"\nlanguage = \"pt_BR\"\ncategory = \"marketing\"\nheader = { type = \"image\", link = \"https://cdn.example.com/{{img}}\" }\nbody = [\"{{name}}\", \"{{cupom}}\"]\nbuttons = [{ type = \"copy_code\", index = 1, code = \"{{cupom}}\" }]\n";

fn check(base_url: &str, waba_id: Option<&str>, template: &str) -> (String, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    std::fs::write(root.join("meta.key"), "tok\n").unwrap();
    let waba = waba_id
        .map(|w| format!("waba_id = \"{w}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        root.join("tierpace.toml"),
        format!(
            "state = \"memory\"\ncampaigns_dir = \"campaigns\"\n[senders.loja]\nprovider = \"meta\"\nphone_number_id = \"1098\"\n{waba}api_key_file = \"{}/meta.key\"\nbase_url = \"{base_url}\"\n",
            root.display()
        ),
    )
    .unwrap();
    check_one_campaign(root, "loja", template)
}

fn meta_template(status: &str, body: &str) -> serde_json::Value {
    json!({
        "name": "oferta_bf", "language": "pt_BR", "status": status, "category": "MARKETING",
        "components": [
            { "type": "HEADER", "format": "IMAGE" },
            { "type": "BODY", "text": body },
            { "type": "BUTTONS", "buttons": [
                { "type": "QUICK_REPLY", "text": "Parar" },
                { "type": "COPY_CODE", "example": "BF10" } ] } ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_verifies_the_template_with_the_business_account() {
    let fake = FakeMeta::start(FakeMetaConfig {
        access_token: "tok".into(),
        templates: vec![meta_template("APPROVED", "Olá {{1}}, seu cupom: {{2}}")],
        ..FakeMetaConfig::default()
    })
    .await;
    let url = fake.base_url();
    let (text, code) = tokio::task::spawn_blocking(move || check(&url, Some("555"), TEMPLATE))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("not verified"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_does_not_fit_is_an_error_at_the_files_line() {
    let fake = FakeMeta::start(FakeMetaConfig {
        access_token: "tok".into(),
        templates: vec![meta_template("PAUSED", "Olá {{1}}")],
        ..FakeMetaConfig::default()
    })
    .await;
    let url = fake.base_url();
    let (text, code) = tokio::task::spawn_blocking(move || check(&url, Some("555"), TEMPLATE))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(
            "bf.toml:3: template.name: template `oferta_bf` is PAUSED, expected APPROVED"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "bf.toml:7: template.body: the template's body takes 1 parameter(s), the file gives 2"
        ),
        "{text}"
    );
    let missing = TEMPLATE.replace("oferta_bf", "outra");
    let url = fake.base_url();
    let (text, code) = tokio::task::spawn_blocking(move || check(&url, Some("555"), &missing))
        .await
        .unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bf.toml:3: template.name: template `outra` in pt_BR does not exist in business account 555"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_waba_id_check_says_what_it_could_not_verify() {
    let (text, code) =
        tokio::task::spawn_blocking(|| check("http://127.0.0.1:9/v21.0", None, TEMPLATE))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("note: campaign bf: template `oferta_bf` not verified (exists, APPROVED, category, language, parameters): senders.loja.waba_id is not set"),
        "{text}"
    );
}

// ---- Gupshup: the app's template list through the Partner API (issue #18) ----

use support::fake_gupshup::{gupshup_template, FakeGupshup, FakeGupshupConfig, FakePartnerApp};

const GS_ID: &str = "6f1c2a3b-0000-4000-8000-000000000001";

/// A Gupshup campaign: image header, two body parameters, a URL button 0 and a coupon at 2.
fn gs_template(id: &str) -> String {
    format!("[template]\nid = \"{id}\"\ncategory = \"marketing\"\nheader = {{ type = \"image\", link = \"https://cdn.example.com/{{{{img}}}}\" }}\nbody = [\"{{{{name}}}}\", \"{{{{cupom}}}}\"]\nbuttons = [\n  {{ type = \"url\", index = 0, param = \"{{{{cupom}}}}\" }},\n  {{ type = \"copy_code\", index = 2, code = \"{{{{cupom}}}}\" }},\n]\n")
}

fn gs_buttons() -> serde_json::Value {
    json!([{"type":"URL","text":"Ver","url":"https://loja.example/{{1}}"},
           {"type":"QUICK_REPLY","text":"Parar"},
           {"type":"COPY_CODE","text":"Copiar","example":"BF10"}])
}

fn gs_approved() -> serde_json::Value {
    gupshup_template(
        GS_ID,
        "oferta_bf",
        "APPROVED",
        "MARKETING",
        "IMAGE",
        "Olá {{1}}, seu cupom: {{2}}",
        gs_buttons(),
    )
}

/// The real `check` binary on a Gupshup sender whose Partner API is the fake's.
fn gs_check(base_url: &str, template: &str) -> (String, Option<i32>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    for (f, v) in [
        ("gs.key", "test-gupshup-key"),
        ("app.id", "app-1"),
        ("partner.token", "partner-token"),
        ("hook.secret", "s3cret"),
    ] {
        std::fs::write(root.join(f), format!("{v}\n")).unwrap();
    }
    let r = root.display();
    std::fs::write(
        root.join("tierpace.toml"),
        format!(
            "state = \"memory\"\ncampaigns_dir = \"campaigns\"\n[http]\ngupshup_secret_file = \"{r}/hook.secret\"\n[senders.sac]\nprovider = \"gupshup\"\nsource = \"15550100\"\napp_name = \"acme\"\napi_key_file = \"{r}/gs.key\"\npartner_app_id_file = \"{r}/app.id\"\npartner_token_file = \"{r}/partner.token\"\nbase_url = \"{base_url}\"\npartner_base_url = \"{base_url}\"\ntimeout = \"2s\"\n"
        ),
    )
    .unwrap();
    check_one_campaign(root, "sac", template)
}

async fn gs_fake(templates: serde_json::Value) -> FakeGupshup {
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let mut app = FakePartnerApp::live("app-1", "partner-token", "15550100", "x");
    app.templates = templates;
    fake.set_partner(app);
    fake
}

async fn gs_check_on(fake: &FakeGupshup, template: String) -> (String, Option<i32>) {
    let url = fake.base_url();
    tokio::task::spawn_blocking(move || gs_check(&url, &template))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_verifies_a_gupshup_template_by_its_id_in_the_apps_list() {
    let fake = gs_fake(json!([gs_approved()])).await;
    let (text, code) = gs_check_on(&fake, gs_template(GS_ID)).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("not verified"), "{text}");
    assert_eq!(fake.template_reads(), 1);
    assert_eq!(fake.requests(), 0, "check sent a message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gupshup_mismatch_is_an_error_at_the_files_line() {
    // Not approved, with Gupshup's reason.
    let mut rejected = gs_approved();
    rejected["status"] = json!("REJECTED");
    rejected["reason"] = json!("Template body has too many variables");
    let fake = gs_fake(json!([rejected])).await;
    let (text, code) = gs_check_on(&fake, gs_template(GS_ID)).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bf.toml:3: template.id: template `oferta_bf` is REJECTED, expected APPROVED (the provider says: Template body has too many variables)"), "{text}");

    // Another category.
    let mut utility = gs_approved();
    utility["category"] = json!("UTILITY");
    fake.set_partner({
        let mut app = FakePartnerApp::live("app-1", "partner-token", "15550100", "x");
        app.templates = json!([utility]);
        app
    });
    let (text, code) = gs_check_on(&fake, gs_template(GS_ID)).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bf.toml:4: template.category: the provider has category utility, the file says marketing"), "{text}");

    // Other parameter counts: one body parameter, a text header, no coupon button.
    let other = gupshup_template(
        GS_ID,
        "oferta_bf",
        "APPROVED",
        "MARKETING",
        "TEXT",
        "Olá {{1}}",
        json!([{"type":"URL","text":"Ver","url":"https://loja.example/{{1}}"}]),
    );
    fake.set_partner({
        let mut app = FakePartnerApp::live("app-1", "partner-token", "15550100", "x");
        app.templates = json!([other]);
        app
    });
    let (text, code) = gs_check_on(&fake, gs_template(GS_ID)).await;
    assert_eq!(code, Some(1), "{text}");
    for want in [
        "bf.toml:5: template.header: the template's header is none with 0 parameter(s), the file gives IMAGE with 1",
        "bf.toml:6: template.body: the template's body takes 1 parameter(s), the file gives 2",
        "bf.toml:7: template.buttons: the file gives button 2 (copy_code), the template has no such button taking a value",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }

    // Missing: the app has no template with this id.
    let (text, code) =
        gs_check_on(&fake, gs_template("6f1c2a3b-0000-4000-8000-0000000000ff")).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bf.toml:3: template.id: template 6f1c2a3b-0000-4000-8000-0000000000ff does not exist in Gupshup app app-1"), "{text}");
    assert_eq!(fake.requests(), 0, "check sent a message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_partner_api_is_a_note_not_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let (text, code) = tokio::task::spawn_blocking(move || gs_check(&url, &gs_template(GS_ID)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("note: campaign bf: cannot reach the provider"),
        "{text}"
    );
}

/// Writes a second campaign `name` beside the scenario's `bf` naming template `id`.
fn write_campaign(dir: &std::path::Path, name: &str, id: &str) {
    std::fs::write(
        dir.join(format!("campaigns/{name}.toml")),
        format!("id = \"{name}\"\nsender = \"sac\"\n[template]\nid = \"{id}\"\ncategory = \"marketing\"\nparams = [\"{{{{name}}}}\"]\n[audience]\nfile = \"contacts/audience.csv\"\ndefault_ddi = \"55\"\n[schedule]\ncalendar = \"always\"\n[pacing]\nmode = \"asap\"\n"),
    )
    .unwrap();
}

async fn campaigns(client: &reqwest::Client, url: &str) -> Vec<serde_json::Value> {
    let Ok(r) = client.get(url).bearer_auth("admin-t").send().await else {
        return Vec::new();
    };
    r.json::<Vec<serde_json::Value>>().await.unwrap_or_default()
}

/// The daemon runs the pre-flight at load: a campaign whose Gupshup template is REJECTED is
/// refused with the file's line in status, the campaign beside it sends; both are one read of
/// the app's list, and a reload within the cache's life reads nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_refuses_only_the_campaign_whose_template_does_not_fit() {
    use support::scenario::{self, ScenarioSpec};
    const BAD: &str = "6f1c2a3b-0000-4000-8000-000000000002";
    let mut rejected = gupshup_template(
        BAD,
        "outra",
        "REJECTED",
        "MARKETING",
        "TEXT",
        "Oi {{1}}",
        json!([]),
    );
    rejected["reason"] = json!("Promotional content in a utility template");
    let fits = gupshup_template(
        GS_ID,
        "oferta_bf",
        "APPROVED",
        "MARKETING",
        "TEXT",
        "Olá {{1}}",
        json!([]),
    );
    let fake = gs_fake(json!([fits, rejected])).await;
    let url = fake.base_url();
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &url,
        contacts: 3,
        admin_token: Some("admin-t"),
        ..Default::default()
    });
    let root = s.dir.path();
    std::fs::write(root.join("app.id"), "app-1\n").unwrap();
    std::fs::write(root.join("partner.token"), "partner-token\n").unwrap();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "partner_app_id_file = \"{r}/app.id\"\npartner_token_file = \"{r}/partner.token\"\npartner_base_url = \"{url}\"\n",
        r = root.display()
    ));
    std::fs::write(&s.config, config).unwrap();
    write_campaign(root, "bf2", BAD);
    let (token, task) = support::daemon::start_in_process(
        s.config.clone(),
        std::sync::Arc::new(tierpace::clock::SystemClock),
    );
    let client = reqwest::Client::new();
    let list_url = s.url("/api/v1/campaigns");
    let done = support::daemon::eventually(
        || {
            let (client, list_url) = (client.clone(), list_url.clone());
            async move {
                let list = campaigns(&client, &list_url).await;
                list.iter()
                    .any(|c| c["id"] == "bf2" && c["state"] == "refused")
                    && list
                        .iter()
                        .any(|c| c["id"] == "bf" && c["state"] == "completed")
            }
        },
        30,
    )
    .await;
    let list = campaigns(&client, &list_url).await;
    assert!(done, "{list:#?}");
    let bf2 = list.iter().find(|c| c["id"] == "bf2").unwrap();
    let why = bf2["why"].as_str().unwrap();
    assert!(
        why.contains("bf2.toml:4: template.id: template `outra` is REJECTED, expected APPROVED (the provider says: Promotional content in a utility template)"),
        "{why}"
    );
    let bf = list.iter().find(|c| c["id"] == "bf").unwrap();
    assert!(bf.get("template_check").is_none(), "{bf}");
    // Every send went to bf's template; none to the refused one.
    let sends = fake.sends();
    assert_eq!(sends.len(), 3);
    assert!(sends.iter().all(|x| x.template_id == GS_ID));
    // Two campaigns (and the go-live templates item) on one app: one read of its list.
    assert_eq!(fake.template_reads(), 1);
    // A reload (file change) within the cache's life asks Gupshup nothing new.
    write_campaign(root, "bf3", BAD);
    let refused_again = support::daemon::eventually(
        || {
            let (client, list_url) = (client.clone(), list_url.clone());
            async move {
                campaigns(&client, &list_url)
                    .await
                    .iter()
                    .any(|c| c["id"] == "bf3" && c["state"] == "refused")
            }
        },
        20,
    )
    .await;
    assert!(refused_again);
    assert_eq!(fake.template_reads(), 1);
    assert_eq!(fake.sends().len(), 3);
    token.cancel();
    let _ = task.await;
}

/// Without the Partner API keys the template cannot be verified: the campaign runs and status
/// says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_template_runs_and_status_says_so() {
    use support::scenario::{self, ScenarioSpec};
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let url = fake.base_url();
    let s = scenario::write(&ScenarioSpec {
        gupshup_url: &url,
        contacts: 2,
        admin_token: Some("admin-t"),
        ..Default::default()
    });
    let (token, task) = support::daemon::start_in_process(
        s.config.clone(),
        std::sync::Arc::new(tierpace::clock::SystemClock),
    );
    let client = reqwest::Client::new();
    let list_url = s.url("/api/v1/campaigns");
    let seen = support::daemon::eventually(
        || {
            let (client, list_url) = (client.clone(), list_url.clone());
            async move {
                campaigns(&client, &list_url).await.iter().any(|c| {
                    c["id"] == "bf"
                        && c["state"] == "completed"
                        && c["template_check"]
                            .as_str()
                            .is_some_and(|w| w.contains("partner_app_id_env"))
                })
            }
        },
        30,
    )
    .await;
    assert!(seen, "{:#?}", campaigns(&client, &list_url).await);
    assert_eq!(fake.sends().len(), 2);
    token.cancel();
    let _ = task.await;
}

/// Writes `campaigns/bf.toml` for `sender` with `template` (TOML lines) and a one-row audience
/// beside `root/tierpace.toml`, runs the real `tierpace check` on it: (stdout + stderr, exit code).
fn check_one_campaign(
    root: &std::path::Path,
    sender: &str,
    template: &str,
) -> (String, Option<i32>) {
    std::fs::write(
        root.join("campaigns/contacts.csv"),
        "name,phone,opt_in,img,cupom\nAna,85999990001,sim,a.jpg,ANA10\n",
    )
    .unwrap();
    std::fs::write(
        root.join("campaigns/bf.toml"),
        format!("sender = \"{sender}\"\n{template}[audience]\nfile = \"contacts.csv\"\n[schedule]\ncalendar = \"always\"\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args([
            "check",
            "--config",
            root.join("tierpace.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.code())
}
