//! An in-process fake of Meta's WhatsApp Cloud API template send (DOMAIN.md §5).
//!
//! `POST /v21.0/{phone_number_id}/messages` with `Authorization: Bearer TOKEN` and the JSON
//! template body; answers `{"messages":[{"id":"wamid..","message_status":"accepted"}]}` or Meta's
//! error JSON (`{"error":{"code":..,"message":..,"type":..,"fbtrace_id":..}}`). Records every
//! accepted send and counts over-limit conversations like [`super::fake_gupshup`]. With a
//! `callback_url` it posts status webhooks signed with `X-Hub-Signature-256`.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tierpace::clock::{Clock, SystemClock};

use super::fake_gupshup::{max_in_window, over_limit_count};

/// The API version in the fake's path, as in the production base URL.
pub const API_VERSION: &str = "v21.0";

#[derive(Clone)]
pub struct FakeMetaConfig {
    /// The only bearer token accepted; anything else is `401` with OAuth error 190.
    pub access_token: String,
    pub latency: Duration,
    /// Unique recipients per phone number id per rolling 24 h (counted, not enforced).
    pub tier_limit: Option<u64>,
    /// Where to post status webhooks; none when unset.
    pub callback_url: Option<String>,
    /// Signs the webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    pub clock: Arc<dyn Clock>,
    /// The WhatsApp id the send answer gives for a recipient (`contacts[0].wa_id`, also the
    /// status webhooks' `recipient_id`), as Meta does for a number it knows under another
    /// spelling (Mexico's `52` -> `521`). A recipient not listed is its own id.
    pub wa_ids: std::collections::HashMap<String, String>,
    /// What `GET /{waba_id}/message_templates?name=` lists (Meta's template objects).
    pub templates: Vec<Value>,
}

impl Default for FakeMetaConfig {
    fn default() -> Self {
        Self {
            access_token: "test-meta-token".into(),
            latency: Duration::ZERO,
            tier_limit: None,
            callback_url: None,
            app_secret: "test-app-secret".into(),
            clock: Arc::new(SystemClock),
            wa_ids: std::collections::HashMap::new(),
            templates: Vec::new(),
        }
    }
}

/// A fault to inject. Faults add up until [`FakeMeta::clear_faults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next `times` requests get this HTTP status with the matching Meta error
    /// (429 -> 130429, 5xx -> 131000, otherwise 100). Not recorded.
    Status { status: u16, times: usize },
    /// The next `times` requests get this Meta error `code` with this HTTP status (e.g. 400 / 131048).
    Error {
        status: u16,
        code: u64,
        times: usize,
    },
    /// Every request waits this long before its answer (after the send is recorded).
    Latency(Duration),
    /// Sends to this recipient are rejected synchronously with this code (HTTP 400).
    RejectDestination { destination: String, code: u64 },
    /// Sends to this recipient are accepted, then a `failed` status webhook with `code` is posted.
    FailDestination { destination: String, code: u64 },
}

/// One accepted send, as the fake read it off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSend {
    pub at: SystemTime,
    pub phone_number_id: String,
    pub to: String,
    pub template_name: String,
    pub language: String,
    /// The body component's text parameters.
    pub params: Vec<String>,
    /// The header component's first parameter (media), if any.
    pub header: Option<Value>,
    /// The whole `template` object as sent, to compare with the documented shape.
    pub template: Value,
    pub message_id: String,
}

struct Inner {
    cfg: FakeMetaConfig,
    sends: Mutex<Vec<RecordedSend>>,
    faults: Mutex<Vec<Fault>>,
    requests: AtomicU64,
    next_id: AtomicU64,
    callbacks: reqwest::Client,
    /// The phone-number node (`GET /v21.0/{phone_number_id}`, go-live reads); none: 400/100.
    phone: Mutex<Option<FakePhone>>,
}

/// One phone number as the fake Graph API shows it (issue #21).
#[derive(Debug, Clone)]
pub struct FakePhone {
    pub id: String,
    /// The node's fields (status, name_status, quality_rating, ...).
    pub node: Value,
    /// `webhook_configuration`; none: asking for it is error 100 (an older Graph version).
    pub webhook_configuration: Option<Value>,
}

impl FakePhone {
    /// A connected number with an approved name, whose app delivers events to `callback_url`.
    pub fn live(id: &str, callback_url: &str) -> Self {
        Self {
            id: id.into(),
            node: json!({"display_phone_number":"+1 555-0100","verified_name":"Acme",
                "status":"CONNECTED","name_status":"APPROVED","quality_rating":"GREEN",
                "messaging_limit_tier":"TIER_1K",
                "whatsapp_business_manager_messaging_limit":"TIER_2K","id":id}),
            webhook_configuration: Some(json!({"application":callback_url})),
        }
    }
}

/// A running fake Cloud API on 127.0.0.1. Stops when dropped.
pub struct FakeMeta {
    inner: Arc<Inner>,
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeMeta {
    pub async fn start(cfg: FakeMetaConfig) -> Self {
        let inner = Arc::new(Inner {
            cfg,
            sends: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            callbacks: reqwest::Client::new(),
            phone: Mutex::new(None),
        });
        let app = Router::new()
            .route(
                &format!("/{API_VERSION}/{{phone_number_id}}"),
                axum::routing::get(read_phone),
            )
            .route(
                &format!("/{API_VERSION}/{{phone_number_id}}/messages"),
                post(send_message),
            )
            .route(
                &format!("/{API_VERSION}/{{waba_id}}/message_templates"),
                axum::routing::get(message_templates),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Meta API");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            inner,
            addr,
            _stop: stop,
        }
    }

    /// Starts the fake on its own thread and runtime, for tests that are not async (e.g. ones
    /// that run the daemon as a child process). Stops when dropped.
    pub fn start_on_thread(cfg: FakeMetaConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fake");
            rt.block_on(async move {
                let fake = FakeMeta::start(cfg).await;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let handle = FakeMeta {
                    inner: fake.inner.clone(),
                    addr: fake.addr,
                    _stop: stop,
                };
                if tx.send(handle).is_ok() {
                    let _ = stopped.await;
                }
                drop(fake);
            });
        });
        rx.recv().expect("the fake's thread started it")
    }

    /// `http://127.0.0.1:PORT/v21.0`: the sender's `base_url`.
    /// Sets the phone number the Graph API shows.
    pub fn set_phone(&self, phone: FakePhone) {
        *self.inner.phone.lock().unwrap() = Some(phone);
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/{API_VERSION}", self.addr)
    }

    pub fn sends(&self) -> Vec<RecordedSend> {
        lock(&self.inner.sends).clone()
    }

    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::SeqCst)
    }

    pub fn set_fault(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Sends that opened a conversation beyond `tier_limit` per phone number id per rolling 24 h.
    pub fn over_limit_sends(&self) -> usize {
        let Some(limit) = self.inner.cfg.tier_limit else {
            return 0;
        };
        let sends = self.sends();
        let mut by_number: HashMap<&str, Vec<(SystemTime, &str)>> = HashMap::new();
        for s in &sends {
            by_number
                .entry(&s.phone_number_id)
                .or_default()
                .push((s.at, &s.to));
        }
        by_number
            .values()
            .map(|s| over_limit_count(s, limit, Duration::from_secs(24 * 3600)))
            .sum()
    }

    pub fn max_sends_in_any_second(&self, phone_number_id: &str) -> usize {
        let times: Vec<SystemTime> = self
            .sends()
            .iter()
            .filter(|s| s.phone_number_id == phone_number_id)
            .map(|s| s.at)
            .collect();
        max_in_window(&times, Duration::from_secs(1))
    }

    /// Posts any webhook body to `callback_url`, signed like Meta signs it; returns the status.
    pub async fn post_webhook(&self, body: Value) -> u16 {
        let url = self
            .inner
            .cfg
            .callback_url
            .clone()
            .expect("post_webhook needs callback_url in FakeMetaConfig");
        post_signed(&self.inner, &url, &body).await
    }
}

/// `sha256=<hex HMAC-SHA256(app_secret, body)>`, the `X-Hub-Signature-256` value.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Meta's error body.
fn error(status: u16, code: u64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": { "messaging_product": "whatsapp", "details": message },
                "fbtrace_id": "AbCdEfFakeTrace"
            }
        })),
    )
        .into_response()
}

fn status_error(status: u16) -> (u64, &'static str) {
    match status {
        429 => (130429, "(#130429) Rate limit hit"),
        500..=599 => (131000, "(#131000) Something went wrong"),
        401 => (
            190,
            "Invalid OAuth access token - Cannot parse access token",
        ),
        _ => (100, "(#100) Invalid parameter"),
    }
}

/// The business account's templates with the asked `name`, as `{"data": [...]}`.
async fn message_templates(
    State(inner): State<Arc<Inner>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> axum::response::Response {
    let expected = format!("Bearer {}", inner.cfg.access_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {"code": 190, "message": "Invalid OAuth access token"}})),
        )
            .into_response();
    }
    let name = q.get("name").cloned().unwrap_or_default();
    let data: Vec<Value> = inner
        .cfg
        .templates
        .iter()
        .filter(|t| name.is_empty() || t.get("name").and_then(Value::as_str) == Some(name.as_str()))
        .cloned()
        .collect();
    axum::Json(serde_json::json!({ "data": data })).into_response()
}

async fn send_message(
    State(inner): State<Arc<Inner>>,
    Path(phone_number_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let arrived = SystemTime::from(inner.cfg.clock.now());

    let expected = format!("Bearer {}", inner.cfg.access_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        let (code, message) = status_error(401);
        return error(401, code, message);
    }
    let forced = {
        let mut faults = lock(&inner.faults);
        faults.iter_mut().find_map(|f| match f {
            Fault::Status { status, times } if *times > 0 => {
                *times -= 1;
                let (code, _) = status_error(*status);
                Some((*status, code))
            }
            Fault::Error {
                status,
                code,
                times,
            } if *times > 0 => {
                *times -= 1;
                Some((*status, *code))
            }
            _ => None,
        })
    };
    if let Some((status, code)) = forced {
        return error(status, code, &format!("(#{code}) injected error"));
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return error(400, 100, "(#100) The parameter body is not valid JSON"),
    };
    let send = match parse(&body, phone_number_id, arrived, &inner) {
        Ok(send) => send,
        Err(message) => return error(400, 100, &message),
    };
    let (reject, fail_code, latency) = {
        let faults = lock(&inner.faults);
        let reject = faults.iter().find_map(|f| match f {
            Fault::RejectDestination { destination, code } if *destination == send.to => {
                Some(*code)
            }
            _ => None,
        });
        let fail_code = faults.iter().find_map(|f| match f {
            Fault::FailDestination { destination, code } if *destination == send.to => Some(*code),
            _ => None,
        });
        let latency = faults
            .iter()
            .filter_map(|f| match f {
                Fault::Latency(d) => Some(*d),
                _ => None,
            })
            .max()
            .unwrap_or(inner.cfg.latency);
        (reject, fail_code, latency)
    };
    if let Some(code) = reject {
        return error(400, code, &format!("(#{code}) rejected recipient"));
    }
    lock(&inner.sends).push(send.clone());
    if let Some(url) = inner.cfg.callback_url.clone() {
        tokio::spawn(post_statuses(inner.clone(), url, send.clone(), fail_code));
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": send.to, "wa_id": wa_id(&inner.cfg, &send.to) }],
        "messages": [{ "id": send.message_id, "message_status": "accepted" }]
    }))
    .into_response()
}

/// The WhatsApp id the fake resolves a recipient to ([`FakeMetaConfig::wa_ids`]).
fn wa_id<'a>(cfg: &'a FakeMetaConfig, to: &'a str) -> &'a str {
    cfg.wa_ids.get(to).map(String::as_str).unwrap_or(to)
}

fn parse(
    body: &Value,
    phone_number_id: String,
    at: SystemTime,
    inner: &Inner,
) -> Result<RecordedSend, String> {
    let text = |ptr: &str| {
        body.pointer(ptr)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                format!(
                    "(#100) The parameter {} is required.",
                    ptr.trim_start_matches('/').replace('/', ".")
                )
            })
    };
    if text("/messaging_product")? != "whatsapp" {
        return Err("(#100) Invalid parameter messaging_product".into());
    }
    if text("/type")? != "template" {
        return Err("(#100) Invalid parameter type".into());
    }
    let to = text("/to")?;
    if !to.bytes().all(|b| b.is_ascii_digit()) || !(8..=15).contains(&to.len()) {
        return Err("(#100) Invalid parameter to".into());
    }
    let template_name = text("/template/name")?;
    let language = text("/template/language/code")?;
    let mut params = Vec::new();
    let mut header = None;
    if let Some(components) = body.pointer("/template/components") {
        let components = components
            .as_array()
            .ok_or("(#100) Invalid parameter components")?;
        for c in components {
            match c.get("type").and_then(Value::as_str) {
                Some("body") => {
                    for p in c
                        .get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        // Text, or a typed parameter with its fallback (the Cloud API's
                        // parameter object); anything else is refused like Meta does.
                        let t = match p.get("type").and_then(Value::as_str) {
                            Some("text") => p.get("text"),
                            Some("currency") => p.pointer("/currency/fallback_value"),
                            Some("date_time") => p.pointer("/date_time/fallback_value"),
                            _ => None,
                        }
                        .and_then(Value::as_str)
                        .ok_or("(#100) Invalid body parameter")?;
                        params.push(t.to_string());
                    }
                }
                Some("header") => {
                    header = c.pointer("/parameters/0").cloned();
                }
                Some("button") => {
                    let want = match c.get("sub_type").and_then(Value::as_str) {
                        Some("url") => "text",
                        Some("quick_reply") => "payload",
                        Some("copy_code") => "coupon_code",
                        _ => return Err("(#100) Invalid button sub_type".into()),
                    };
                    let index_ok = c
                        .get("index")
                        .and_then(Value::as_str)
                        .is_some_and(|i| i.parse::<u8>().is_ok());
                    let p = c.pointer("/parameters/0");
                    let typed = p.and_then(|p| p.get("type")).and_then(Value::as_str);
                    let value = p.and_then(|p| p.get(want)).and_then(Value::as_str);
                    if !index_ok || typed != Some(want) || value.is_none_or(str::is_empty) {
                        return Err("(#131008) Required parameter is missing".into());
                    }
                }
                _ => return Err("(#100) Invalid component type".into()),
            }
        }
    }
    let n = inner.next_id.fetch_add(1, Ordering::SeqCst);
    Ok(RecordedSend {
        at,
        phone_number_id,
        to,
        template_name,
        language,
        params,
        header,
        template: body.get("template").cloned().unwrap_or(Value::Null),
        message_id: format!("wamid.FAKE{n:016X}"),
    })
}

async fn post_statuses(inner: Arc<Inner>, url: String, send: RecordedSend, fail_code: Option<u64>) {
    let ts = send
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let status = |kind: &str| {
        let mut s = json!({ "id": send.message_id, "status": kind, "timestamp": ts,
            "recipient_id": wa_id(&inner.cfg, &send.to) });
        if let (Some(code), "failed") = (fail_code, kind) {
            s["errors"] = json!([{ "code": code, "title": "injected failure" }]);
        }
        json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": "FAKE_WABA",
                "changes": [{
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": { "display_phone_number": "0000", "phone_number_id": send.phone_number_id },
                        "statuses": [s]
                    }
                }]
            }]
        })
    };
    let kinds: &[&str] = if fail_code.is_some() {
        &["failed"]
    } else {
        &["sent", "delivered"]
    };
    for kind in kinds {
        post_signed(&inner, &url, &status(kind)).await;
    }
}

async fn post_signed(inner: &Inner, url: &str, body: &Value) -> u16 {
    let bytes = body.to_string().into_bytes();
    let sig = signature(&inner.cfg.app_secret, &bytes);
    match inner
        .callbacks
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(bytes)
        .send()
        .await
    {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

fn graph_error(status: u16, code: u64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({"error":{"message":message,"type":"OAuthException","code":code,"fbtrace_id":"Fake"}})),
    )
        .into_response()
}

/// `GET /v21.0/{phone_number_id}?fields=...`: the node, or `webhook_configuration` alone.
async fn read_phone(
    State(inner): State<Arc<Inner>>,
    Path(phone_number_id): Path<String>,
    query: axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let bearer = format!("Bearer {}", inner.cfg.access_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(bearer.as_str()) {
        return graph_error(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        );
    }
    let phone = inner.phone.lock().unwrap().clone();
    let Some(phone) = phone.filter(|p| p.id == phone_number_id) else {
        return graph_error(
            400,
            100,
            &format!("Unsupported get request. Object with ID '{phone_number_id}' does not exist"),
        );
    };
    if query
        .0
        .unwrap_or_default()
        .contains("webhook_configuration")
    {
        return match phone.webhook_configuration {
            Some(wc) => Json(json!({"webhook_configuration": wc, "id": phone.id})).into_response(),
            None => graph_error(
                400,
                100,
                "Tried accessing nonexisting field (webhook_configuration)",
            ),
        };
    }
    Json(phone.node).into_response()
}
