//! Issue #18: templates as businesses write them, from the campaign file through the audience
//! to the provider's wire, against the in-process fakes. Each kind is sent to two contacts with
//! different values, and the body the fake received is compared whole with the documented shape
//! (Meta: the Cloud API's `template` object with header / body / button components; Gupshup:
//! `template` {id, params}, `message` and `postbackTexts`).
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::fake_meta::{FakeMeta, FakeMetaConfig};
use tierpace::campaign::audience::AudienceReader;
use tierpace::campaign::validate::parse_campaign;
use tierpace::campaign::{CampaignContext, TemplateRef as FileTemplate};
use tierpace::contact::ContactHasher;
use tierpace::provider::{
    http_client, GupshupConfig, GupshupProvider, MetaConfig, MetaProvider, Provider, ProviderKind,
    SendOutcome, TemplateMessage, TemplateRef,
};
use tierpace::secret::Secret;

const CSV: &str = "name,phone,opt_in,img,cupom,valor,valor_mil,data,arquivo\n\
Ana,85999990001,sim,ana.jpg,ANA10,\"10,50\",10500,27/11,boleto-ana.pdf\n\
Bruno,85999990002,sim,bruno.jpg,BRU20,\"1.200,00\",1200000,28/11,boleto-bruno.pdf\n";

/// Parses the campaign (`[template]` given), reads both contacts and returns their messages.
fn messages(provider: ProviderKind, template: &str) -> Vec<TemplateMessage> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("contacts.csv"), CSV).unwrap();
    let text = format!(
        "sender = \"s\"\n[template]\n{template}\n[audience]\nfile = \"contacts.csv\"\n[schedule]\ncalendar = \"always\"\n"
    );
    let ctx = CampaignContext {
        senders: BTreeSet::from(["s".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: BTreeMap::from([("s".to_string(), provider)]),
    };
    let c = parse_campaign(&dir.path().join("bf.toml"), &text, &ctx)
        .unwrap_or_else(|p| panic!("{p:?}"));
    let template = match &c.template.template {
        FileTemplate::Id(id) => TemplateRef {
            id: Some(id.clone()),
            ..TemplateRef::default()
        },
        FileTemplate::Name { name, language } => TemplateRef {
            name: Some(name.clone()),
            language: Some(language.clone()),
            id: None,
        },
    };
    AudienceReader::open(&c.audience, &c.template.params, &ContactHasher::new(b"t"))
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let f = c.template.parts.fill(&row.params);
            TemplateMessage {
                to: row.number,
                template: template.clone(),
                params: f.params,
                media: f.media,
                header_params: f.header_params,
                buttons: f.buttons,
            }
        })
        .collect()
}

const META: &str = "name = \"oferta_bf\"\nlanguage = \"pt_BR\"\ncategory = \"marketing\"";
const GUPSHUP: &str = "id = \"6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f\"\ncategory = \"marketing\"";

/// Sends each message through Meta's fake; the `template` objects it received.
async fn meta_templates(template: &str) -> Vec<Value> {
    let fake = FakeMeta::start(FakeMetaConfig {
        access_token: "tok".into(),
        ..FakeMetaConfig::default()
    })
    .await;
    let p = MetaProvider::new(
        MetaConfig {
            base_url: fake.base_url(),
            max_attempts: 1,
            ..MetaConfig::new("1098", Secret::new("tok"))
        },
        http_client(Duration::from_secs(2)).unwrap(),
    );
    let msgs = messages(ProviderKind::Meta, &format!("{META}\n{template}"));
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        let outcome = p.send(m).await;
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    fake.sends().into_iter().map(|s| s.template).collect()
}

/// Sends each message through Gupshup's fake; (template, message, postbackTexts) it received.
async fn gupshup_forms(template: &str) -> Vec<(Value, Option<Value>, Option<Value>)> {
    let fake = FakeGupshup::start(FakeGupshupConfig {
        api_key: "key".into(),
        ..FakeGupshupConfig::default()
    })
    .await;
    let p = GupshupProvider::new(
        GupshupConfig {
            base_url: fake.base_url(),
            max_attempts: 1,
            ..GupshupConfig::new("5585999990000", "Loja", Secret::new("key"))
        },
        http_client(Duration::from_secs(2)).unwrap(),
    );
    let msgs = messages(ProviderKind::Gupshup, &format!("{GUPSHUP}\n{template}"));
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        let outcome = p.send(m).await;
        assert!(
            matches!(outcome, SendOutcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    fake.sends()
        .into_iter()
        .map(|s| (s.template, s.message, s.postback_texts))
        .collect()
}

#[tokio::test]
async fn meta_image_header_link_is_filled_per_contact_with_positional_body() {
    let sent = meta_templates(
        "header = { type = \"image\", link = \"https://cdn.example.com/{{img}}\" }\nbody = [\"{{name}}\", \"{{valor}}\"]",
    )
    .await;
    for (t, (img, name, valor)) in sent.iter().zip([
        ("ana.jpg", "Ana", "10,50"),
        ("bruno.jpg", "Bruno", "1.200,00"),
    ]) {
        assert_eq!(
            t,
            &json!({
                "name": "oferta_bf", "language": { "code": "pt_BR" },
                "components": [
                    { "type": "header", "parameters": [
                        { "type": "image", "image": { "link": format!("https://cdn.example.com/{img}") } } ] },
                    { "type": "body", "parameters": [
                        { "type": "text", "text": name }, { "type": "text", "text": valor } ] },
                ]
            })
        );
    }
}

#[tokio::test]
async fn meta_document_header_carries_its_filled_filename() {
    let sent = meta_templates(
        "header = { type = \"document\", link = \"https://cdn.example.com/{{arquivo}}\", filename = \"{{arquivo}}\" }",
    )
    .await;
    for (t, file) in sent.iter().zip(["boleto-ana.pdf", "boleto-bruno.pdf"]) {
        assert_eq!(
            t["components"],
            json!([{ "type": "header", "parameters": [{ "type": "document", "document": {
                "link": format!("https://cdn.example.com/{file}"), "filename": file } }] }])
        );
    }
}

#[tokio::test]
async fn meta_text_header_and_named_body_carry_parameter_names() {
    let sent = meta_templates(
        "header = { type = \"text\", params = [\"{{name}}\"] }\nbody = { first_name = \"{{name}}\", cupom = \"{{cupom}}\" }",
    )
    .await;
    for (t, (name, cupom)) in sent.iter().zip([("Ana", "ANA10"), ("Bruno", "BRU20")]) {
        assert_eq!(
            t["components"],
            json!([
                { "type": "header", "parameters": [{ "type": "text", "text": name }] },
                { "type": "body", "parameters": [
                    { "type": "text", "parameter_name": "first_name", "text": name },
                    { "type": "text", "parameter_name": "cupom", "text": cupom } ] },
            ])
        );
    }
}

#[tokio::test]
async fn meta_currency_and_date_time_follow_the_component_reference() {
    let sent = meta_templates(
        "body = [{ currency = { code = \"BRL\", amount_1000 = \"{{valor_mil}}\", fallback = \"R$ {{valor}}\" } }, { date_time = { fallback = \"{{data}}\" } }]",
    )
    .await;
    for (t, (amount, valor, data)) in sent
        .iter()
        .zip([(10500, "10,50", "27/11"), (1200000, "1.200,00", "28/11")])
    {
        assert_eq!(
            t["components"],
            json!([{ "type": "body", "parameters": [
                { "type": "currency", "currency": {
                    "fallback_value": format!("R$ {valor}"), "code": "BRL", "amount_1000": amount } },
                { "type": "date_time", "date_time": { "fallback_value": data } } ] }])
        );
    }
}

const BUTTONS: &str = "body = [\"{{name}}\"]\nbuttons = [\n  { type = \"url\", index = 0, param = \"{{cupom}}\" },\n  { type = \"quick_reply\", index = 1, payload = \"PARAR_PROMO\" },\n  { type = \"copy_code\", index = 2, code = \"{{cupom}}\" },\n]";

#[tokio::test]
async fn meta_buttons_are_components_with_sub_type_and_index() {
    let sent = meta_templates(BUTTONS).await;
    for (t, (name, cupom)) in sent.iter().zip([("Ana", "ANA10"), ("Bruno", "BRU20")]) {
        assert_eq!(
            t["components"],
            json!([
                { "type": "body", "parameters": [{ "type": "text", "text": name }] },
                { "type": "button", "sub_type": "url", "index": "0",
                  "parameters": [{ "type": "text", "text": cupom }] },
                { "type": "button", "sub_type": "quick_reply", "index": "1",
                  "parameters": [{ "type": "payload", "payload": "PARAR_PROMO" }] },
                { "type": "button", "sub_type": "copy_code", "index": "2",
                  "parameters": [{ "type": "coupon_code", "coupon_code": cupom }] },
            ])
        );
    }
}

#[tokio::test]
async fn meta_authentication_template_sends_its_code_in_body_and_url_button() {
    // Authentication templates take the one-time code as the body parameter and again in the
    // button (Meta's authentication-templates page: a `url` sub_type button at index 0).
    let sent = meta_templates(
        "body = [\"{{cupom}}\"]\nbuttons = [{ type = \"url\", index = 0, param = \"{{cupom}}\" }]",
    )
    .await;
    for (t, code) in sent.iter().zip(["ANA10", "BRU20"]) {
        assert_eq!(
            t["components"],
            json!([
                { "type": "body", "parameters": [{ "type": "text", "text": code }] },
                { "type": "button", "sub_type": "url", "index": "0",
                  "parameters": [{ "type": "text", "text": code }] },
            ])
        );
    }
}

#[tokio::test]
async fn gupshup_media_goes_in_message_and_texts_in_params_order() {
    let sent = gupshup_forms(
        "header = { type = \"document\", link = \"https://cdn.example.com/{{arquivo}}\", filename = \"{{arquivo}}\" }\nbody = [\"{{name}}\", { currency = { code = \"BRL\", amount_1000 = \"{{valor_mil}}\", fallback = \"R$ {{valor}}\" } }]",
    )
    .await;
    for ((template, message, postbacks), (name, valor, file)) in sent.iter().zip([
        ("Ana", "10,50", "boleto-ana.pdf"),
        ("Bruno", "1.200,00", "boleto-bruno.pdf"),
    ]) {
        assert_eq!(
            template,
            &json!({ "id": "6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f",
                     "params": [name, format!("R$ {valor}")] })
        );
        assert_eq!(
            message.as_ref().unwrap(),
            &json!({ "type": "document", "document": {
                "link": format!("https://cdn.example.com/{file}"), "filename": file } })
        );
        assert_eq!(postbacks, &None);
    }
}

#[tokio::test]
async fn gupshup_text_header_body_and_buttons_map_to_params_and_postback_texts() {
    let sent = gupshup_forms(&format!(
        "header = {{ type = \"text\", params = [\"{{{{data}}}}\"] }}\n{BUTTONS}"
    ))
    .await;
    for ((template, message, postbacks), (data, name, cupom)) in sent
        .iter()
        .zip([("27/11", "Ana", "ANA10"), ("28/11", "Bruno", "BRU20")])
    {
        assert_eq!(
            template["params"],
            json!([data, name, cupom, cupom]),
            "header, body, url suffix, copy code"
        );
        assert_eq!(message, &None);
        assert_eq!(
            postbacks.as_ref().unwrap(),
            &json!([{ "index": 1, "text": "PARAR_PROMO" }])
        );
    }
}
