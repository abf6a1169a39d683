//! Gupshup's template send API (DOMAIN.md §4, docs.gupshup.io).
//!
//! `POST {base_url}/wa/api/v1/template/msg`, header `apikey`, a form body with `channel`,
//! `source`, `destination`, `src.name`, `template` (JSON: id and params) and, for media templates,
//! `message` (JSON: the header media). A 2xx with a `messageId` means *accepted*, not delivered;
//! delivery and late failures arrive by webhook.
use std::time::Duration;

use serde_json::json;

use super::http::{attempt, short, with_retries, Attempt};
use super::outcome::{classify, http_code, Failure, FailureClass};
use super::retry::Backoff;
use super::{last4, Button, Provider, ProviderKind, SendOutcome, TemplateMessage};
use crate::secret::Secret;

/// The path of the template send API under the base URL.
pub const TEMPLATE_MSG_PATH: &str = "/wa/api/v1/template/msg";

/// The header that carries the API key.
const APIKEY: reqwest::header::HeaderName = reqwest::header::HeaderName::from_static("apikey");

/// One Gupshup sender.
#[derive(Debug, Clone)]
pub struct GupshupConfig {
    /// The business number, digits only, no `+`.
    pub source: String,
    /// The Gupshup app name (`src.name`).
    pub app_name: String,
    pub api_key: Secret,
    /// `https://api.gupshup.io` in production; a fake's URL in tests.
    pub base_url: String,
    /// For one attempt, from connecting to the end of the response body.
    pub timeout: Duration,
    /// Attempts per message, the first included (at least 1).
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl GupshupConfig {
    /// A config with the documented defaults: production URL, 10 s timeout, 4 attempts.
    pub fn new(source: impl Into<String>, app_name: impl Into<String>, api_key: Secret) -> Self {
        Self {
            source: source.into(),
            app_name: app_name.into(),
            api_key,
            base_url: "https://api.gupshup.io".into(),
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff: Backoff::default(),
        }
    }
}

/// Sends through Gupshup.
#[derive(Debug)]
pub struct GupshupProvider {
    cfg: GupshupConfig,
    http: reqwest::Client,
    url: String,
    /// `url` and the `apikey` header, parsed once rather than per request (issue #15: CPU per
    /// send). `None` when they do not parse: each request then reports the error as before.
    parsed_url: Option<reqwest::Url>,
    apikey: Option<reqwest::header::HeaderValue>,
}

impl GupshupProvider {
    pub fn new(cfg: GupshupConfig, http: reqwest::Client) -> Self {
        let url = format!(
            "{}{}",
            cfg.base_url.trim_end_matches('/'),
            TEMPLATE_MSG_PATH
        );
        let parsed_url = reqwest::Url::parse(&url).ok();
        let apikey = reqwest::header::HeaderValue::from_str(cfg.api_key.expose())
            .ok()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Self {
            cfg,
            http,
            url,
            parsed_url,
            apikey,
        }
    }

    /// The form fields of one message, in the order DOMAIN.md §4 lists them. `params` holds
    /// every text parameter in the order the template shows them: header text, body, then the
    /// URL-button suffix and the copy code (a typed parameter sends its fallback text); quick
    /// replies go in `postbackTexts` (docs.gupshup.io/reference/sending-text-template,
    /// docs.gupshup.io/reference/postback-text-support).
    fn form(&self, msg: &TemplateMessage, template_id: &str) -> Vec<(&'static str, String)> {
        let mut params: Vec<&str> = msg
            .header_params
            .iter()
            .chain(&msg.params)
            .map(|p| p.value.as_text())
            .collect();
        let mut postbacks = Vec::new();
        for button in &msg.buttons {
            match button {
                Button::Url { text, .. } => params.push(text),
                Button::CopyCode { code, .. } => params.push(code),
                Button::QuickReply { index, payload } => {
                    postbacks.push(json!({ "index": index, "text": payload }));
                }
            }
        }
        let mut form = vec![
            ("channel", "whatsapp".to_string()),
            ("source", self.cfg.source.clone()),
            ("destination", msg.to.as_str().to_string()),
            ("src.name", self.cfg.app_name.clone()),
            (
                "template",
                json!({ "id": template_id, "params": params }).to_string(),
            ),
        ];
        if let Some(media) = &msg.media {
            let kind = media.kind.as_str();
            let mut body = json!({ "link": media.link });
            if let Some(name) = &media.filename {
                body["filename"] = json!(name);
            }
            let mut message = serde_json::Map::new();
            message.insert("type".into(), json!(kind));
            message.insert(kind.into(), body);
            form.push(("message", serde_json::Value::Object(message).to_string()));
        }
        if !postbacks.is_empty() {
            form.push((
                "postbackTexts",
                serde_json::Value::Array(postbacks).to_string(),
            ));
        }
        form
    }

    async fn attempt(&self, form: &[(&'static str, String)]) -> Attempt {
        let request = match &self.parsed_url {
            Some(url) => self.http.post(url.clone()),
            None => self.http.post(&self.url),
        };
        let request = match &self.apikey {
            Some(key) => request.header(APIKEY, key.clone()),
            None => request.header(APIKEY, self.cfg.api_key.expose()),
        };
        let request = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(form);
        attempt(request, self.cfg.timeout, response_attempt).await
    }
}

/// Turns one Gupshup HTTP answer into an attempt result.
fn response_attempt(status: u16, body: &str, hint: Option<Duration>) -> Attempt {
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    // Gupshup sometimes refuses with a 2xx whose body says `"status":"error"`: a refusal, not
    // an acceptance whose id went missing.
    let refused = json
        .as_ref()
        .and_then(|j| j.get("status"))
        .and_then(|v| v.as_str())
        .is_some_and(|s| s.eq_ignore_ascii_case("error"));
    if (200..300).contains(&status) && !refused {
        let id = json
            .as_ref()
            .and_then(|j| j.get("messageId"))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty());
        return Attempt::Done(match id {
            Some(id) => SendOutcome::Accepted {
                message_id: id.to_string(),
                wa_id: None,
            },
            // Gupshup took the request but did not say what it did with it.
            None => SendOutcome::Unknown {
                detail: format!("HTTP {status} without a messageId: {}", short(body)),
            },
        });
    }
    let message = json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(|m| m.as_str().map(str::to_string))
        .unwrap_or_else(|| short(body));
    let failure = Failure {
        class: FailureClass::Unknown,
        code: error_code(status, json.as_ref(), &message),
        detail: short(&message),
        reached_whatsapp: false,
    };
    let failure = Failure {
        class: classify(ProviderKind::Gupshup, &failure.code),
        ..failure
    };
    if status == 429 || (500..600).contains(&status) {
        Attempt::Retry {
            failure,
            retry_after: hint,
        }
    } else {
        Attempt::Done(SendOutcome::Failed(failure))
    }
}

/// The most specific code [`classify`] knows: Gupshup's own code, else its message, else the
/// HTTP status. Unknown codes and messages fall back to the status, so the set of codes that
/// reach metric labels stays small.
fn error_code(status: u16, json: Option<&serde_json::Value>, message: &str) -> String {
    let http = http_code(status);
    if (500..600).contains(&status) || status == 429 {
        return http;
    }
    let own_code = json.and_then(|j| j.get("code")).and_then(|c| match c {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    });
    [own_code, Some(message.trim().to_string())]
        .into_iter()
        .flatten()
        .find(|c| classify(ProviderKind::Gupshup, c) != FailureClass::Unknown)
        .unwrap_or(http)
}

#[async_trait::async_trait]
impl Provider for GupshupProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gupshup
    }

    async fn send(&self, msg: &TemplateMessage) -> SendOutcome {
        let Some(template_id) = msg.template.id.as_deref().filter(|s| !s.is_empty()) else {
            return SendOutcome::Failed(Failure {
                class: FailureClass::TemplateInvalid,
                code: "missing_template_id".into(),
                detail: "Gupshup needs the template id (its UUID)".into(),
                reached_whatsapp: false,
            });
        };
        let form = self.form(msg, template_id);
        let outcome = with_retries(self.cfg.max_attempts, self.cfg.backoff, |_| {
            self.attempt(&form)
        })
        .await;
        tracing::debug!(
            provider = "gupshup",
            source = %self.cfg.source,
            to_last4 = last4(&msg.to),
            outcome = ?outcome_label(&outcome),
            "provider send"
        );
        outcome
    }
}

fn outcome_label(outcome: &SendOutcome) -> &str {
    match outcome {
        SendOutcome::Accepted { .. } => "accepted",
        SendOutcome::Failed(f) => f.class.as_str(),
        SendOutcome::Unknown { .. } => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(a: Attempt) -> Failure {
        match a {
            Attempt::Done(SendOutcome::Failed(f)) => f,
            Attempt::Retry { failure, .. } => failure,
            Attempt::Done(other) => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn submitted_with_message_id_is_accepted() {
        let a = response_attempt(202, r#"{"status":"submitted","messageId":"m-1"}"#, None);
        assert!(
            matches!(a, Attempt::Done(SendOutcome::Accepted { message_id, .. }) if message_id == "m-1")
        );
    }

    #[test]
    fn two_hundred_with_status_error_is_a_refusal_with_its_message() {
        let f = failed(response_attempt(
            200,
            r#"{"status":"error","message":"Invalid Destination"}"#,
            None,
        ));
        assert_eq!(f.class, FailureClass::Undeliverable);
        let f = failed(response_attempt(
            202,
            r#"{"status":"error","message":"Something odd"}"#,
            None,
        ));
        assert_eq!(f.code, "http_202");
        assert_eq!(f.detail, "Something odd");
        assert!(!f.reached_whatsapp);
    }

    #[test]
    fn two_hundred_without_message_id_is_unknown() {
        let a = response_attempt(200, r#"{"status":"submitted"}"#, None);
        assert!(matches!(a, Attempt::Done(SendOutcome::Unknown { .. })));
    }

    #[test]
    fn invalid_destination_is_undeliverable_and_never_reached_whatsapp() {
        let f = failed(response_attempt(
            400,
            r#"{"status":"error","message":"Invalid Destination"}"#,
            None,
        ));
        assert_eq!(f.class, FailureClass::Undeliverable);
        assert_eq!(f.code, "Invalid Destination");
        assert!(!f.reached_whatsapp);
    }

    #[test]
    fn unknown_message_falls_back_to_the_http_status() {
        let f = failed(response_attempt(
            400,
            r#"{"status":"error","message":"Something new"}"#,
            None,
        ));
        assert_eq!(f.code, "http_400");
        assert_eq!(f.class, FailureClass::Unknown);
        assert_eq!(f.detail, "Something new");
    }

    #[test]
    fn gupshup_numeric_code_wins_over_the_message() {
        let f = failed(response_attempt(
            400,
            r#"{"status":"error","code":1005,"message":"Template params mismatch"}"#,
            None,
        ));
        assert_eq!(f.code, "1005");
        assert_eq!(f.class, FailureClass::TemplateInvalid);
    }

    #[test]
    fn throttled_and_server_errors_are_retried() {
        assert!(
            matches!(response_attempt(429, "{}", None), Attempt::Retry { failure, .. } if failure.class == FailureClass::Throttled)
        );
        assert!(
            matches!(response_attempt(503, "oops", None), Attempt::Retry { failure, .. } if failure.class == FailureClass::Unavailable)
        );
        assert!(
            matches!(response_attempt(401, "Authentication Failed", None), Attempt::Done(SendOutcome::Failed(f)) if f.class == FailureClass::Auth)
        );
    }
}
