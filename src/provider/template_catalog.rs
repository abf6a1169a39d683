//! Template pre-flight (issue #18, reusable by `check --online`, issue #21): what the provider
//! says a template is, and whether the campaign file's `[template]` fits it.
//!
//! Meta lists a business account's templates at
//! `GET {base_url}/{waba_id}/message_templates?name=NAME` (WhatsApp Business Management API,
//! "Message Templates" reference): each entry has `name`, `language`, `status` (`APPROVED`,
//! `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`), `category` and `components` (`HEADER` with a
//! `format`, `BODY` with `{{1}}` or `{{name}}` placeholders, `BUTTONS` with each button's `type`
//! and, for a dynamic URL, a `{{1}}` in its `url`). An authentication template's `OTP` button
//! takes the code as a `url` button does (Meta's "Authentication templates" send example).
//!
//! Gupshup lists an app's templates at `GET {partner_base_url}/partner/app/{appId}/templates`
//! with the Partner API app token in `Authorization`
//! (partner-docs.gupshup.io/reference/get_partner-app-appid-templates): `{"status":"success",
//! "templates":[...]}`, each with `id` (the UUID a campaign names), `elementName`,
//! `languageCode`, `category`, `status`, `templateType` (`TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`,
//! `LOCATION`, ...) and `containerMeta`, a JSON string holding `data` (the body), `header` and
//! `buttons` (`QUICK_REPLY`, `URL`, `PHONE_NUMBER`, `COPY_CODE`, `OTP`; docs.gupshup.io/docs/
//! template-button-list). [`parse_gupshup`] reads it into the same [`ProviderTemplate`].
//!
//! [`verify`], [`parse_meta`] and [`parse_gupshup`] are pure; [`fetch_meta`] and
//! [`fetch_gupshup`] are the only IO here.
use serde_json::Value;

use crate::campaign::file::Category;
use crate::campaign::template_spec::{ButtonKind, HeaderSpec, TemplateParts};
use crate::secret::Secret;

/// One template as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderTemplate {
    /// The provider's id (Gupshup: the template UUID campaigns name; Meta: the numeric id).
    pub id: String,
    pub name: String,
    pub language: String,
    /// As the provider writes it, e.g. `APPROVED`.
    pub status: String,
    /// Lowercase, e.g. `marketing`.
    pub category: String,
    /// `IMAGE`, `VIDEO`, `DOCUMENT` or `TEXT`, when the template has a header.
    pub header_format: Option<String>,
    pub header_params: usize,
    pub body_params: usize,
    /// Buttons that take a value, by index: `url` (dynamic), `quick_reply`, `copy_code`.
    pub buttons: Vec<(u8, &'static str)>,
    /// The provider's reason when it rejected or paused the template, if it gave one.
    pub reason: Option<String>,
}

/// Why the provider's template and the campaign file disagree; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Mismatch {
    /// The campaign-file key to look at, e.g. `template.body`.
    pub key: &'static str,
    pub message: String,
}

/// Why the catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot reach the provider: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the provider answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the provider's answer is not a template list: {0}")]
    Shape(String),
}

/// Placeholders `{{...}}` in a component's text.
fn placeholders(text: &str) -> usize {
    text.matches("{{").count()
}

/// Reads Meta's `message_templates` answer (`{"data": [...]}`).
pub fn parse_meta(answer: &Value) -> Result<Vec<ProviderTemplate>, CatalogError> {
    let data = answer
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| CatalogError::Shape("no `data` array".into()))?;
    Ok(data.iter().map(parse_meta_template).collect())
}

fn parse_meta_template(t: &Value) -> ProviderTemplate {
    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = ProviderTemplate {
        id: s("id"),
        name: s("name"),
        language: s("language"),
        status: s("status"),
        category: s("category").to_lowercase(),
        reason: Some(s("rejected_reason")).filter(|r| !r.is_empty() && r != "NONE"),
        ..ProviderTemplate::default()
    };
    for c in t
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = c.get("text").and_then(Value::as_str).unwrap_or("");
        match c.get("type").and_then(Value::as_str) {
            Some("HEADER") => {
                let format = c.get("format").and_then(Value::as_str).unwrap_or("TEXT");
                out.header_format = Some(format.to_string());
                out.header_params = if format == "TEXT" {
                    placeholders(text)
                } else {
                    1
                };
            }
            Some("BODY") => out.body_params = placeholders(text),
            Some("BUTTONS") => {
                out.buttons = value_buttons(c.get("buttons"));
            }
            _ => {}
        }
    }
    out
}

/// The buttons of a `buttons` array that take a value, by index (same names on both providers).
fn value_buttons(buttons: Option<&Value>) -> Vec<(u8, &'static str)> {
    let mut out = Vec::new();
    for (i, b) in buttons
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = match b.get("type").and_then(Value::as_str) {
            Some("URL")
                if b.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.contains("{{")) =>
            {
                "url"
            }
            Some("QUICK_REPLY") => "quick_reply",
            Some("COPY_CODE") => "copy_code",
            // The one-time code goes in as a url button's parameter.
            Some("OTP") => "url",
            _ => continue,
        };
        out.push((i as u8, kind));
    }
    out
}

/// Reads Gupshup's template list (`{"status":"success","templates":[...]}`).
pub fn parse_gupshup(answer: &Value) -> Result<Vec<ProviderTemplate>, CatalogError> {
    let list = answer
        .get("templates")
        .and_then(Value::as_array)
        .ok_or_else(|| CatalogError::Shape("no `templates` array".into()))?;
    Ok(list.iter().map(parse_gupshup_template).collect())
}

fn parse_gupshup_template(t: &Value) -> ProviderTemplate {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // `containerMeta` is JSON inside a string; an older answer may carry it as an object.
    let meta = match t.get("containerMeta") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let kind = s(t, "templateType").to_uppercase();
    let header_text = s(&meta, "header");
    let (header_format, header_params) = match kind.as_str() {
        "" | "TEXT" if header_text.is_empty() => (None, 0),
        "" | "TEXT" => (Some("TEXT".to_string()), placeholders(&header_text)),
        // IMAGE, VIDEO, DOCUMENT, LOCATION...: the media (or location) is the one parameter.
        other => (Some(other.to_string()), 1),
    };
    let body = if meta.get("data").is_some() {
        s(&meta, "data")
    } else {
        s(t, "data")
    };
    ProviderTemplate {
        id: s(t, "id"),
        name: s(t, "elementName"),
        language: s(t, "languageCode"),
        status: s(t, "status"),
        category: s(t, "category").to_lowercase(),
        header_format,
        header_params,
        body_params: placeholders(&body),
        buttons: value_buttons(meta.get("buttons")),
        reason: Some(s(t, "reason")).filter(|r| !r.is_empty()),
    }
}

/// Checks the campaign's template against the provider's; every disagreement at once.
/// Quick-reply payloads are optional on the wire, so a template's quick reply without one in
/// the file is not a mismatch.
/// `language` is the file's (`None`: the file names none, as a Gupshup `id` does); `name_key`
/// is the file key that names the template (`template.name` or `template.id`).
pub fn verify(
    parts: &TemplateParts,
    category: Category,
    language: Option<&str>,
    name_key: &'static str,
    found: &ProviderTemplate,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut miss = |key, message: String| out.push(Mismatch { key, message });
    if found.status != "APPROVED" {
        let reason = found
            .reason
            .as_deref()
            .map(|r| format!(" (the provider says: {r})"))
            .unwrap_or_default();
        miss(
            name_key,
            format!(
                "template `{}` is {}, expected APPROVED{reason}",
                found.name, found.status
            ),
        );
    }
    let want = format!("{category:?}").to_lowercase();
    if found.category != want {
        miss(
            "template.category",
            format!(
                "the provider has category {}, the file says {want}",
                found.category
            ),
        );
    }
    if let Some(language) = language.filter(|l| *l != found.language) {
        miss(
            "template.language",
            format!(
                "the provider has language {}, the file says {language}",
                found.language
            ),
        );
    }
    let (file_format, file_header_params) = match &parts.header {
        None => (None, 0),
        Some(HeaderSpec::Text(p)) => (Some("TEXT".to_string()), p.len()),
        Some(HeaderSpec::Media { kind, .. }) => (Some(kind.as_str().to_uppercase()), 1),
    };
    let found_header = found
        .header_format
        .clone()
        .filter(|f| f != "TEXT" || found.header_params > 0);
    let file_header = file_format.filter(|f| f != "TEXT" || file_header_params > 0);
    if found_header != file_header || file_header_params != found.header_params {
        miss("template.header", format!(
            "the template's header is {} with {} parameter(s), the file gives {} with {file_header_params}",
            found_header.as_deref().unwrap_or("none"), found.header_params, file_header.as_deref().unwrap_or("none")));
    }
    if parts.body.len() != found.body_params {
        miss(
            "template.body",
            format!(
                "the template's body takes {} parameter(s), the file gives {}",
                found.body_params,
                parts.body.len()
            ),
        );
    }
    for (index, kind) in &found.buttons {
        let given = parts.buttons.iter().find(|b| b.index == *index);
        match given {
            Some(b) if b.kind.as_str() == *kind => {}
            Some(b) => miss(
                "template.buttons",
                format!(
                    "button {index} is {kind} in the template, the file gives {}",
                    b.kind
                ),
            ),
            None if *kind == ButtonKind::QuickReply.as_str() => {}
            None => miss(
                "template.buttons",
                format!("button {index} ({kind}) takes a value, the file gives none"),
            ),
        }
    }
    for b in &parts.buttons {
        if !found.buttons.iter().any(|(i, _)| *i == b.index) {
            miss(
                "template.buttons",
                format!(
                    "the file gives button {} ({}), the template has no such button taking a value",
                    b.index, b.kind
                ),
            );
        }
    }
    out
}

/// Fetches the templates named `name` from a Meta business account.
pub async fn fetch_meta(
    http: &reqwest::Client,
    base_url: &str,
    waba_id: &str,
    token: &Secret,
    name: &str,
) -> Result<Vec<ProviderTemplate>, CatalogError> {
    let url = format!(
        "{}/{waba_id}/message_templates",
        base_url.trim_end_matches('/')
    );
    let request = http
        .get(url)
        .query(&[("name", name)])
        .bearer_auth(token.expose());
    let json = read_json(request).await?;
    Ok(parse_meta(&json)?
        .into_iter()
        .filter(|t| t.name == name)
        .collect())
}

/// Fetches every template of a Gupshup app through the Partner API.
pub async fn fetch_gupshup(
    http: &reqwest::Client,
    partner_base_url: &str,
    app_id: &str,
    app_token: &Secret,
) -> Result<Vec<ProviderTemplate>, CatalogError> {
    let url = format!(
        "{}/partner/app/{app_id}/templates",
        partner_base_url.trim_end_matches('/')
    );
    let request = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, app_token.expose());
    parse_gupshup(&read_json(request).await?)
}

/// Sends a template-list read and returns its JSON body. Errors: transport, a non-2xx answer
/// (status and the body's first 200 characters), a body that is not JSON.
async fn read_json(request: reqwest::RequestBuilder) -> Result<Value, CatalogError> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    if !(200..300).contains(&status) {
        return Err(CatalogError::Status {
            status,
            body: body.chars().take(200).collect(),
        });
    }
    serde_json::from_str(&body).map_err(|e| CatalogError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::params::ParamTemplate;
    use crate::campaign::template_spec::{ButtonSpec, ParamSpec, ValueSpec};
    use serde_json::json;

    fn meta_answer() -> Value {
        json!({ "data": [{
            "name": "oferta_bf", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING",
            "components": [
                { "type": "HEADER", "format": "IMAGE" },
                { "type": "BODY", "text": "Olá {{1}}, seu cupom vale {{2}}" },
                { "type": "BUTTONS", "buttons": [
                    { "type": "URL", "text": "Ver", "url": "https://loja.example/{{1}}" },
                    { "type": "QUICK_REPLY", "text": "Parar" },
                    { "type": "COPY_CODE", "example": "BF10" } ] } ] }] })
    }

    fn text(s: &str) -> ParamSpec {
        ParamSpec {
            name: None,
            value: ValueSpec::Text(ParamTemplate::parse(s).unwrap()),
        }
    }

    fn parts(body: usize) -> TemplateParts {
        TemplateParts {
            header: Some(HeaderSpec::Media {
                kind: crate::provider::MediaKind::Image,
                link: ParamTemplate::parse("https://x/{{img}}").unwrap(),
                filename: None,
            }),
            body: (0..body).map(|_| text("{{name}}")).collect(),
            buttons: vec![
                ButtonSpec {
                    index: 0,
                    kind: ButtonKind::Url,
                    value: ParamTemplate::parse("{{c}}").unwrap(),
                },
                ButtonSpec {
                    index: 2,
                    kind: ButtonKind::CopyCode,
                    value: ParamTemplate::parse("{{c}}").unwrap(),
                },
            ],
        }
    }

    #[test]
    fn a_template_that_fits_has_no_mismatch() {
        let found = &parse_meta(&meta_answer()).unwrap()[0];
        assert_eq!(
            found.buttons,
            [(0, "url"), (1, "quick_reply"), (2, "copy_code")]
        );
        assert_eq!(
            verify(
                &parts(2),
                Category::Marketing,
                Some("pt_BR"),
                "template.name",
                found
            ),
            []
        );
    }

    #[test]
    fn each_disagreement_names_the_key_to_fix() {
        let mut found = parse_meta(&meta_answer()).unwrap().remove(0);
        found.status = "PAUSED".into();
        let got: Vec<String> = verify(
            &parts(1),
            Category::Utility,
            Some("pt_BR"),
            "template.name",
            &found,
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            got,
            [
                "template.name: template `oferta_bf` is PAUSED, expected APPROVED",
                "template.category: the provider has category marketing, the file says utility",
                "template.body: the template's body takes 2 parameter(s), the file gives 1",
            ]
        );
    }

    /// The documented sample's shape (partner-docs.gupshup.io/reference/
    /// get_partner-app-appid-templates): `containerMeta` is a JSON string.
    fn gupshup_answer() -> Value {
        let meta = json!({"data":"Olá {{1}}, seu cupom vale {{2}}","header":"",
            "buttons":[{"type":"URL","text":"Ver","url":"https://loja.example/{{1}}"},
                       {"type":"QUICK_REPLY","text":"Parar"},
                       {"type":"COPY_CODE","text":"Copiar","example":"BF10"}],
            "footer":"Loja","enableSample":true});
        json!({"status":"success","templates":[
            {"appId":"app-1","category":"MARKETING","containerMeta":meta.to_string(),
             "createdOn":1671619377053u64,"data":"Olá {{1}}, seu cupom vale {{2}}\nLoja",
             "elementName":"oferta_bf","id":"6f1c2a3b-0000-4000-8000-000000000001",
             "languageCode":"pt_BR","status":"APPROVED","templateType":"IMAGE",
             "vertical":"promo","wabaId":"1000"},
            {"appId":"app-1","category":"UTILITY","containerMeta":"{\"data\":\"Pedido {{1}}\",\"header\":\"Oi {{1}}\"}",
             "elementName":"pedido","id":"u-2","languageCode":"en","status":"REJECTED",
             "reason":"INVALID_FORMAT","templateType":"TEXT"}]})
    }

    #[test]
    fn gupshups_template_list_reads_like_metas() {
        let list = parse_gupshup(&gupshup_answer()).unwrap();
        let found = &list[0];
        assert_eq!(found.id, "6f1c2a3b-0000-4000-8000-000000000001");
        assert_eq!(found.header_format.as_deref(), Some("IMAGE"));
        assert_eq!((found.header_params, found.body_params), (1, 2));
        assert_eq!(
            found.buttons,
            [(0, "url"), (1, "quick_reply"), (2, "copy_code")]
        );
        assert_eq!(
            verify(&parts(2), Category::Marketing, None, "template.id", found),
            []
        );
        let text = &list[1];
        assert_eq!(text.header_format.as_deref(), Some("TEXT"));
        assert_eq!((text.header_params, text.body_params), (1, 1));
        let got = verify(&parts(1), Category::Utility, None, "template.id", text);
        assert_eq!(got[0].key, "template.id");
        assert_eq!(
            got[0].message,
            "template `pedido` is REJECTED, expected APPROVED (the provider says: INVALID_FORMAT)"
        );
        assert!(parse_gupshup(&json!({"status":"error"})).is_err());
    }
}
