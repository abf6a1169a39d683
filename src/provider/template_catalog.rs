//! Template pre-flight (issue #18, reusable by `check --online`, issue #21): what the provider
//! says a template is, and whether the campaign file's `[template]` fits it.
//!
//! Meta lists a business account's templates at
//! `GET {base_url}/{waba_id}/message_templates?name=NAME` (WhatsApp Business Management API,
//! "Message Templates" reference): each entry has `name`, `language`, `status` (`APPROVED`,
//! `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`), `category` and `components` (`HEADER` with a
//! `format`, `BODY` with `{{1}}` or `{{name}}` placeholders, `BUTTONS` with each button's `type`
//! and, for a dynamic URL, a `{{1}}` in its `url`). [`verify`] is pure; [`fetch_meta`] is the
//! only IO here.
use serde_json::Value;

use crate::campaign::file::Category;
use crate::campaign::template_spec::{ButtonKind, HeaderSpec, TemplateParts};
use crate::secret::Secret;

/// One template as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderTemplate {
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
        name: s("name"),
        language: s("language"),
        status: s("status"),
        category: s("category").to_lowercase(),
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
                for (i, b) in c
                    .get("buttons")
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
                        _ => continue,
                    };
                    out.buttons.push((i as u8, kind));
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks the campaign's template against the provider's; every disagreement at once.
/// Quick-reply payloads are optional on the wire, so a template's quick reply without one in
/// the file is not a mismatch.
pub fn verify(
    parts: &TemplateParts,
    category: Category,
    language: &str,
    found: &ProviderTemplate,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut miss = |key, message: String| out.push(Mismatch { key, message });
    if found.status != "APPROVED" {
        miss(
            "template.name",
            format!(
                "template `{}` is {}, expected APPROVED",
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
    if found.language != language {
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
    let response = http
        .get(url)
        .query(&[("name", name)])
        .bearer_auth(token.expose())
        .send()
        .await?;
    let status = response.status().as_u16();
    let body = response.text().await?;
    if !(200..300).contains(&status) {
        return Err(CatalogError::Status {
            status,
            body: body.chars().take(200).collect(),
        });
    }
    let json: Value =
        serde_json::from_str(&body).map_err(|e| CatalogError::Shape(e.to_string()))?;
    Ok(parse_meta(&json)?
        .into_iter()
        .filter(|t| t.name == name)
        .collect())
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
        assert_eq!(verify(&parts(2), Category::Marketing, "pt_BR", found), []);
    }

    #[test]
    fn each_disagreement_names_the_key_to_fix() {
        let mut found = parse_meta(&meta_answer()).unwrap().remove(0);
        found.status = "PAUSED".into();
        let got: Vec<String> = verify(&parts(1), Category::Utility, "pt_BR", &found)
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
}
