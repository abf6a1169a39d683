//! Meta's WhatsApp Cloud API template send (DOMAIN.md §5).
//!
//! `POST {base_url}/{phone_number_id}/messages` with `Authorization: Bearer TOKEN` and a JSON
//! body naming the template by name and language. Errors come as
//! `{"error":{"code":131048,"message":"..."}}`; the code goes through the same table as
//! Gupshup's. Meta answers throughput limits (130429, 80007, 4) with HTTP 400 as well as 429, so
//! a `Throttled` code is retried like a 429.
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{attempt, short, with_retries, Attempt};
use super::outcome::{classify, http_code, Failure, FailureClass};
use super::retry::Backoff;
use super::{
    last4, Button, Param, ParamValue, Provider, ProviderKind, SendOutcome, TemplateMessage,
};
use crate::secret::Secret;

/// One Meta Cloud API sender (a phone number id).
#[derive(Debug, Clone)]
pub struct MetaConfig {
    pub phone_number_id: String,
    pub access_token: Secret,
    /// `https://graph.facebook.com/v21.0` in production (the API version is part of it).
    pub base_url: String,
    /// For one attempt, from connecting to the end of the response body.
    pub timeout: Duration,
    /// Attempts per message, the first included (at least 1).
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl MetaConfig {
    /// A config with the documented defaults: Graph API v21.0, 10 s timeout, 4 attempts.
    pub fn new(phone_number_id: impl Into<String>, access_token: Secret) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            access_token,
            base_url: crate::config::META_GRAPH_URL.into(),
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff: Backoff::default(),
        }
    }
}

/// Sends through the Meta Cloud API.
#[derive(Debug)]
pub struct MetaProvider {
    cfg: MetaConfig,
    http: reqwest::Client,
    url: String,
}

impl MetaProvider {
    pub fn new(cfg: MetaConfig, http: reqwest::Client) -> Self {
        let url = format!(
            "{}/{}/messages",
            cfg.base_url.trim_end_matches('/'),
            cfg.phone_number_id
        );
        Self { cfg, http, url }
    }

    async fn attempt(&self, body: &Value) -> Attempt {
        let request = self
            .http
            .post(&self.url)
            .bearer_auth(self.cfg.access_token.expose())
            .json(body);
        attempt(request, self.cfg.timeout, response_attempt).await
    }
}

/// The Cloud API body for one template message: components `header` (media or text), `body`,
/// then one `button` component per button with its `sub_type` and `index`, as the Cloud API's
/// message reference shows them (developers.facebook.com/docs/whatsapp/cloud-api/reference/messages).
pub fn request_body(msg: &TemplateMessage, name: &str, language: &str) -> Value {
    let mut components = Vec::new();
    if let Some(media) = &msg.media {
        let kind = media.kind.as_str();
        let mut object = json!({ "link": media.link });
        if let Some(filename) = &media.filename {
            object["filename"] = json!(filename);
        }
        let mut parameter = serde_json::Map::new();
        parameter.insert("type".into(), json!(kind));
        parameter.insert(kind.into(), object);
        components.push(json!({ "type": "header", "parameters": [Value::Object(parameter)] }));
    } else if !msg.header_params.is_empty() {
        let parameters: Vec<Value> = msg.header_params.iter().map(parameter).collect();
        components.push(json!({ "type": "header", "parameters": parameters }));
    }
    if !msg.params.is_empty() {
        let parameters: Vec<Value> = msg.params.iter().map(parameter).collect();
        components.push(json!({ "type": "body", "parameters": parameters }));
    }
    for button in &msg.buttons {
        // The reference writes the index as a string ("0").
        let index = button.index().to_string();
        components.push(match button {
            Button::Url { text, .. } => json!({
                "type": "button", "sub_type": "url", "index": index,
                "parameters": [{ "type": "text", "text": text }],
            }),
            Button::QuickReply { payload, .. } => json!({
                "type": "button", "sub_type": "quick_reply", "index": index,
                "parameters": [{ "type": "payload", "payload": payload }],
            }),
            Button::CopyCode { code, .. } => json!({
                "type": "button", "sub_type": "copy_code", "index": index,
                "parameters": [{ "type": "coupon_code", "coupon_code": code }],
            }),
        });
    }
    let mut template = json!({ "name": name, "language": { "code": language } });
    if !components.is_empty() {
        template["components"] = Value::Array(components);
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": msg.to.as_str(),
        "type": "template",
        "template": template,
    })
}

/// One header or body parameter; a named one carries `parameter_name`.
fn parameter(p: &Param) -> Value {
    let mut v = match &p.value {
        ParamValue::Text(text) => json!({ "type": "text", "text": text }),
        ParamValue::Currency {
            code,
            amount_1000,
            fallback,
        } => json!({
            "type": "currency",
            "currency": { "fallback_value": fallback, "code": code, "amount_1000": amount_1000 },
        }),
        ParamValue::DateTime { fallback } => json!({
            "type": "date_time",
            "date_time": { "fallback_value": fallback },
        }),
    };
    if let Some(name) = &p.name {
        v["parameter_name"] = json!(name);
    }
    v
}

/// Turns one Cloud API answer into an attempt result.
fn response_attempt(status: u16, text: &str, hint: Option<Duration>) -> Attempt {
    let json: Option<Value> = serde_json::from_str(text).ok();
    if (200..300).contains(&status) {
        let id = json
            .as_ref()
            .and_then(|j| j.pointer("/messages/0/id"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        return Attempt::Done(match id {
            Some(id) => SendOutcome::Accepted {
                message_id: id.to_string(),
                wa_id: json
                    .as_ref()
                    .and_then(|j| j.pointer("/contacts/0/wa_id"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            },
            None => SendOutcome::Unknown {
                detail: format!("HTTP {status} without a message id: {}", short(text)),
            },
        });
    }
    let error = json.as_ref().and_then(|j| j.get("error"));
    let meta_code = error.and_then(|e| e.get("code")).and_then(|c| match c {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    });
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| short(text));
    let server_error = (500..600).contains(&status);
    // A 5xx is about Meta, not about the message: keep the status as the code (and the
    // Meta code in the detail) so exhausted retries read as `Unavailable`.
    let code = match (&meta_code, server_error) {
        (Some(code), false) => code.clone(),
        _ => http_code(status),
    };
    let detail = match (&meta_code, server_error) {
        (Some(code), true) => format!("{} (code {code})", short(&message)),
        _ => short(&message),
    };
    let class = classify(ProviderKind::Meta, &code);
    let failure = Failure {
        class,
        code,
        detail,
        reached_whatsapp: false,
    };
    if status == 429 || server_error || class == FailureClass::Throttled {
        Attempt::Retry {
            failure,
            retry_after: hint,
        }
    } else {
        Attempt::Done(SendOutcome::Failed(failure))
    }
}

#[async_trait::async_trait]
impl Provider for MetaProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Meta
    }

    async fn send(&self, msg: &TemplateMessage) -> SendOutcome {
        let name = msg.template.name.as_deref().filter(|s| !s.is_empty());
        let language = msg.template.language.as_deref().filter(|s| !s.is_empty());
        let (Some(name), Some(language)) = (name, language) else {
            return SendOutcome::Failed(Failure {
                class: FailureClass::TemplateInvalid,
                code: "missing_template_name".into(),
                detail: "Meta needs the template name and language".into(),
                reached_whatsapp: false,
            });
        };
        let body = request_body(msg, name, language);
        let outcome = with_retries(self.cfg.max_attempts, self.cfg.backoff, |_| {
            self.attempt(&body)
        })
        .await;
        tracing::debug!(
            provider = "meta",
            phone_number_id = %self.cfg.phone_number_id,
            to_last4 = last4(&msg.to),
            accepted = outcome.is_accepted(),
            "provider send"
        );
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::E164;
    use crate::provider::{Media, MediaKind, TemplateRef};

    #[test]
    fn body_has_header_media_and_body_params() {
        let msg = TemplateMessage {
            to: E164::from_validated_digits("5585999990000".into()),
            template: TemplateRef::default(),
            params: vec!["Ana".into(), "10%".into()],
            media: Some(Media {
                kind: MediaKind::Image,
                link: "https://example.com/a.png".into(),
                filename: None,
            }),
            header_params: vec![],
            buttons: vec![],
        };
        let body = request_body(&msg, "promo", "pt_BR");
        assert_eq!(body["to"], "5585999990000");
        assert_eq!(body["template"]["language"]["code"], "pt_BR");
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["image"]["link"],
            "https://example.com/a.png"
        );
        assert_eq!(
            body["template"]["components"][1]["parameters"][1]["text"],
            "10%"
        );
    }

    #[test]
    fn accepted_carries_the_wa_id_meta_resolved_the_number_to() {
        let a = response_attempt(
            200,
            r#"{"messaging_product":"whatsapp","contacts":[{"input":"525512345678","wa_id":"5215512345678"}],"messages":[{"id":"wamid.X"}]}"#,
            None,
        );
        assert!(
            matches!(a, Attempt::Done(SendOutcome::Accepted { message_id, wa_id })
                if message_id == "wamid.X" && wa_id.as_deref() == Some("5215512345678"))
        );
        // No contacts (or an empty id): accepted all the same, without an id.
        for body in [
            r#"{"messages":[{"id":"wamid.Y"}]}"#,
            r#"{"contacts":[{"input":"1","wa_id":""}],"messages":[{"id":"wamid.Y"}]}"#,
        ] {
            assert!(
                matches!(
                    response_attempt(200, body, None),
                    Attempt::Done(SendOutcome::Accepted { wa_id: None, .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn spam_brake_code_is_final_and_classified() {
        let a = response_attempt(
            400,
            r#"{"error":{"code":131048,"message":"Spam rate limit hit"}}"#,
            None,
        );
        assert!(
            matches!(a, Attempt::Done(SendOutcome::Failed(f)) if f.class == FailureClass::SpamBrake && f.code == "131048")
        );
    }

    #[test]
    fn throughput_codes_are_retried_even_on_400() {
        let a = response_attempt(
            400,
            r#"{"error":{"code":130429,"message":"Rate limit hit"}}"#,
            None,
        );
        assert!(
            matches!(a, Attempt::Retry { failure, .. } if failure.class == FailureClass::Throttled)
        );
    }

    #[test]
    fn server_errors_keep_the_status_as_code() {
        let a = response_attempt(
            500,
            r#"{"error":{"code":131000,"message":"Something went wrong"}}"#,
            None,
        );
        assert!(
            matches!(a, Attempt::Retry { failure, .. } if failure.code == "http_500" && failure.detail.contains("131000"))
        );
    }
}
