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
    std::fs::write(
        root.join("campaigns/contacts.csv"),
        "name,phone,opt_in,img,cupom\nAna,85999990001,sim,a.jpg,ANA10\n",
    )
    .unwrap();
    std::fs::write(
        root.join("campaigns/bf.toml"),
        format!("sender = \"loja\"\n{template}[audience]\nfile = \"contacts.csv\"\n[schedule]\ncalendar = \"always\"\n"),
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
