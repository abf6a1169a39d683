//! An in-process fake of Gupshup's template send API (DOMAIN.md §4), for integration tests and
//! the end-to-end benchmark.
//!
//! It parses the exact wire format (form body, `apikey` header, `template` JSON field, optional
//! `message` media JSON), answers like Gupshup (`{"status":"submitted","messageId":..}`, `401
//! Authentication Failed`, `400 Invalid Destination`, `429 Too Many Requests`, 5xx), records every
//! accepted send with its arrival time, and counts sends that opened a conversation beyond the
//! tier limit in any rolling 24 h — the number tierpace exists to keep at zero.
//!
//! Faults are injected with [`FakeGupshup::set_fault`]; with a `callback_url` it also posts the v2
//! `message-event` callbacks (enqueued, sent, delivered, or failed with a code) to the daemon.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tierpace::clock::{Clock, SystemClock};

/// How the fake behaves when no fault is set.
#[derive(Clone)]
pub struct FakeGupshupConfig {
    /// The only `apikey` header value accepted; anything else is `401 Authentication Failed`.
    pub api_key: String,
    /// Added before every answer (after the send is recorded).
    pub latency: Duration,
    /// Unique destinations per source per rolling 24 h; sends that open a conversation beyond
    /// it are still accepted (WhatsApp publishes no error for it) but counted.
    pub tier_limit: Option<u64>,
    /// Where to post v2 `message-event` callbacks for accepted sends; none when unset.
    pub callback_url: Option<String>,
    /// Arrival times come from this clock (a `ManualClock` for virtual-time tests).
    pub clock: Arc<dyn Clock>,
    /// The app name the API key belongs to: the template list of any other app answers
    /// `400 Invalid App Details`, as Gupshup does. `None`: any app name.
    pub app_name: Option<String>,
    /// The provider works on at most this many sends at once; the others wait their turn
    /// (a provider's own capacity: more in flight then buys no throughput). `None`: no bound.
    pub capacity: Option<usize>,
}

impl Default for FakeGupshupConfig {
    fn default() -> Self {
        Self {
            api_key: "test-gupshup-key".into(),
            latency: Duration::ZERO,
            tier_limit: None,
            callback_url: None,
            clock: Arc::new(SystemClock),
            app_name: None,
            capacity: None,
        }
    }
}

/// A fault to inject. Faults add up until [`FakeGupshup::clear_faults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The next `times` requests get this HTTP status with Gupshup's error body (not recorded).
    Status { status: u16, times: usize },
    /// Every request waits this long before its answer (after the send is recorded, as when
    /// Gupshup is slow but the message still goes out).
    Latency(Duration),
    /// Sends to this destination are rejected synchronously: `status` with `message`.
    RejectDestination {
        destination: String,
        status: u16,
        message: String,
    },
    /// Sends to this destination are accepted, then a `failed` callback with `code` is posted.
    FailDestination { destination: String, code: String },
    /// Like `FailDestination`, for the next `times` sends to this destination only.
    FailDestinationTimes {
        destination: String,
        code: String,
        times: usize,
    },
    /// The next `times` requests get exactly this HTTP status and body (a field answer, e.g.
    /// `shared/field/gupshup-401/send-answer.json`). Not recorded.
    Answer {
        status: u16,
        body: String,
        times: usize,
    },
    /// The next `times` sends to this destination get exactly this status and body.
    AnswerDestination {
        destination: String,
        status: u16,
        body: String,
        times: usize,
    },
}

impl Fault {
    pub fn status(status: u16, times: usize) -> Self {
        Fault::Status { status, times }
    }
}

/// One accepted send, as the fake read it off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSend {
    pub at: SystemTime,
    pub source: String,
    pub destination: String,
    pub src_name: String,
    pub template_id: String,
    pub params: Vec<String>,
    /// The `message` field (media templates), parsed.
    pub message: Option<Value>,
    /// The `template` field as sent (id and params), parsed.
    pub template: Value,
    /// The `postbackTexts` field (quick-reply payloads), parsed.
    pub postback_texts: Option<Value>,
    pub message_id: String,
}

struct Inner {
    cfg: FakeGupshupConfig,
    sends: Mutex<Vec<RecordedSend>>,
    faults: Mutex<Vec<Fault>>,
    requests: AtomicU64,
    /// Destinations of every well-formed send request, answered or refused.
    tries: Mutex<Vec<String>>,
    next_id: AtomicU64,
    callbacks: reqwest::Client,
    /// The Partner API's view of one app (go-live reads); none: every partner read is 404.
    partner: Mutex<Option<FakePartnerApp>>,
    /// `GET .../templates` answered (the pre-flight's provider reads).
    template_reads: AtomicU64,
    /// Send requests being answered now (waiting for `capacity` included), and the most ever.
    in_progress: AtomicU64,
    most_in_progress: AtomicU64,
    /// `cfg.capacity` permits.
    capacity: Option<tokio::sync::Semaphore>,
}

/// One app as the fake Partner API shows it (`GET /partner/app/{appId}/...`, issue #21).
#[derive(Debug, Clone)]
pub struct FakePartnerApp {
    pub app_id: String,
    /// The only `Authorization` value accepted; else `401 Unauthorized Access`.
    pub token: String,
    /// `waba/info`'s `wabaInfo` object (phone, accountStatus, dockerStatus, ...).
    pub waba_info: Value,
    /// `ratings`' `ratings` object (currentLimit, ...).
    pub ratings: Value,
    /// `wallet/balance`'s `walletResponse` object.
    pub wallet: Value,
    /// `subscription`'s `subscriptions` array.
    pub subscriptions: Value,
    /// `templates`' `templates` array (partner-docs.gupshup.io/reference/
    /// get_partner-app-appid-templates: `containerMeta` is a JSON string).
    pub templates: Value,
}

impl FakePartnerApp {
    /// A live app for `phone`, 100 USD in the wallet, events subscribed at `callback_url`.
    pub fn live(app_id: &str, token: &str, phone: &str, callback_url: &str) -> Self {
        Self {
            app_id: app_id.into(),
            token: token.into(),
            waba_info: json!({"accountStatus":"ACTIVE","dockerStatus":"CONNECTED",
                "messagingLimit":"TIER_10K","phone":phone,"phoneQuality":"GREEN",
                "wabaId":"1000","canSendMessage":"AVAILABLE"}),
            ratings: json!({"currentLimit":"TIER_10K","event":"UPGRADE","eventTime":1796000000,
                "oldLimit":"TIER_1K"}),
            wallet: json!({"currency":"USD","currentBalance":100.0,"overDraftLimit":0}),
            subscriptions: json!([{"active":true,"appId":app_id,"id":"sub-1",
                "modes":"SENT,DELIVERED,READ,FAILED,TEMPLATE,ACCOUNT,MESSAGE",
                "url":callback_url,"version":2}]),
            templates: json!([]),
        }
    }
}

/// One template as Gupshup's template list shows it: `id`, `elementName`, `languageCode`,
/// `category`, `status`, `templateType`, and `containerMeta` as a JSON string with the body
/// (`data`), the text `header` and the `buttons`.
pub fn gupshup_template(
    id: &str,
    name: &str,
    status: &str,
    category: &str,
    template_type: &str,
    body: &str,
    buttons: Value,
) -> Value {
    let meta = json!({"data": body, "header": "", "footer": "", "buttons": buttons,
        "enableSample": true, "editTemplate": false});
    json!({"appId": "app-1", "category": category, "containerMeta": meta.to_string(),
        "createdOn": 1_700_000_000_000u64, "data": body, "elementName": name, "id": id,
        "languageCode": "pt_BR", "languagePolicy": "deterministic", "modifiedOn": 1_700_000_000_000u64,
        "namespace": "ns", "priority": 1, "quality": "UNKNOWN", "retry": 0, "stage": "NONE",
        "status": status, "templateType": template_type, "vertical": "promo", "wabaId": "1000"})
}

/// A running fake Gupshup on 127.0.0.1. Stops when dropped.
pub struct FakeGupshup {
    inner: Arc<Inner>,
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeGupshup {
    /// Starts the fake on the current tokio runtime, on a free loopback port.
    pub async fn start(cfg: FakeGupshupConfig) -> Self {
        let inner = Arc::new(Inner {
            sends: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            tries: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            callbacks: reqwest::Client::new(),
            partner: Mutex::new(None),
            template_reads: AtomicU64::new(0),
            in_progress: AtomicU64::new(0),
            most_in_progress: AtomicU64::new(0),
            capacity: cfg.capacity.map(tokio::sync::Semaphore::new),
            cfg,
        });
        let app = Router::new()
            .route("/wa/api/v1/template/msg", post(send_template))
            .route(
                "/sm/api/v1/template/list/{app}",
                axum::routing::get(template_list),
            )
            .route(
                "/partner/app/{app}/{*what}",
                axum::routing::get(partner_read),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Gupshup");
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
    pub fn start_on_thread(cfg: FakeGupshupConfig) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Two workers: on a loaded machine one descheduled thread does not hold up the
            // reads whose arrival times the pacing tests measure.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the fake");
            rt.block_on(async move {
                let fake = FakeGupshup::start(cfg).await;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let handle = FakeGupshup {
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

    /// How many times the Partner API's template list was read.
    pub fn template_reads(&self) -> u64 {
        self.inner.template_reads.load(Ordering::SeqCst)
    }

    /// Sets the app the Partner API shows (`partner_base_url` is [`Self::base_url`]).
    pub fn set_partner(&self, app: FakePartnerApp) {
        *lock(&self.inner.partner) = Some(app);
    }

    /// `http://127.0.0.1:PORT`: the sender's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted send, in arrival order.
    pub fn sends(&self) -> Vec<RecordedSend> {
        lock(&self.inner.sends).clone()
    }

    /// The accepted sends after the first `n`, in arrival order (a reader that keeps up).
    pub fn sends_since(&self, n: usize) -> Vec<RecordedSend> {
        lock(&self.inner.sends)
            .get(n..)
            .unwrap_or_default()
            .to_vec()
    }

    /// Every request that reached the handler, answered or not (retries show up here).
    /// Send requests to `destination` that reached the fake well-formed, whatever the answer.
    pub fn tries_to(&self, destination: &str) -> usize {
        lock(&self.inner.tries)
            .iter()
            .filter(|d| *d == destination)
            .count()
    }

    /// The most send requests the fake was answering at once: the sends a sender had in flight.
    pub fn most_in_progress(&self) -> u64 {
        self.inner.most_in_progress.load(Ordering::SeqCst)
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

    /// Sends that opened a conversation beyond `tier_limit` unique destinations per source in
    /// a rolling 24 h (0 without a limit).
    pub fn over_limit_sends(&self) -> usize {
        let Some(limit) = self.inner.cfg.tier_limit else {
            return 0;
        };
        let sends = self.sends();
        let mut by_source: HashMap<&str, Vec<(SystemTime, &str)>> = HashMap::new();
        for s in &sends {
            by_source
                .entry(&s.source)
                .or_default()
                .push((s.at, &s.destination));
        }
        by_source
            .values()
            .map(|sends| over_limit_count(sends, limit, Duration::from_secs(24 * 3600)))
            .sum()
    }

    /// The most sends from `source` that arrived within any one-second interval.
    pub fn max_sends_in_any_second(&self, source: &str) -> usize {
        let times: Vec<SystemTime> = self
            .sends()
            .iter()
            .filter(|s| s.source == source)
            .map(|s| s.at)
            .collect();
        max_in_window(&times, Duration::from_secs(1))
    }

    /// Posts any callback body to the configured `callback_url` (tier events, opt-outs, ...),
    /// returning the webhook's HTTP status.
    pub async fn post_callback(&self, body: Value) -> u16 {
        let url = self
            .inner
            .cfg
            .callback_url
            .clone()
            .expect("post_callback needs callback_url in FakeGupshupConfig");
        post_json(&self.inner.callbacks, &url, &body).await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gupshup's error body.
fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({ "status": "error", "message": message })),
    )
        .into_response()
}

/// An answer with exactly this status and body (JSON content type, as Gupshup sends).
fn raw(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn status_message(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Authentication Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// `GET /sm/api/v1/template/list/{appName}` with the `apikey` header: the app's templates (never
/// a send, not counted in [`FakeGupshup::requests`]). A wrong key: `401 Authentication Failed`;
/// another app than [`FakeGupshupConfig::app_name`]: `400 Invalid App Details`.
async fn template_list(
    State(inner): State<Arc<Inner>>,
    axum::extract::Path(app): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(inner.cfg.api_key.as_str()) {
        return error(401, "Authentication Failed");
    }
    if inner.cfg.app_name.as_deref().is_some_and(|a| a != app) {
        return error(400, "Invalid App Details");
    }
    Json(json!({ "status": "success", "templates": [] })).into_response()
}

/// `GET /partner/app/{appId}/{waba/info|ratings|wallet/balance|subscription|templates}`.
async fn partner_read(
    State(inner): State<Arc<Inner>>,
    axum::extract::Path((app, what)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(p) = lock(&inner.partner).clone() else {
        return error(404, "Not Found");
    };
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(p.token.as_str()) {
        return error(401, "Unauthorized Access");
    }
    if app != p.app_id {
        return error(400, "Invalid App Id");
    }
    match what.as_str() {
        "waba/info" => Json(json!({"status":"success","wabaInfo":p.waba_info})).into_response(),
        "ratings" => Json(json!({"status":"success","ratings":p.ratings})).into_response(),
        "wallet/balance" => {
            Json(json!({"status":"success","walletResponse":p.wallet})).into_response()
        }
        "subscription" => {
            Json(json!({"status":"success","subscriptions":p.subscriptions})).into_response()
        }
        "templates" => {
            inner.template_reads.fetch_add(1, Ordering::SeqCst);
            Json(json!({"status":"success","templates":p.templates})).into_response()
        }
        _ => error(404, "Not Found"),
    }
}

async fn send_template(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let arrived = SystemTime::from(inner.cfg.clock.now());
    let _in_progress = InProgress::enter(&inner);

    if headers.get("apikey").and_then(|v| v.to_str().ok()) != Some(inner.cfg.api_key.as_str()) {
        return error(401, "Authentication Failed");
    }
    // An injected status answers before anything else, like an overloaded gateway would.
    let forced = {
        let mut faults = lock(&inner.faults);
        faults.iter_mut().find_map(|f| match f {
            Fault::Status { status, times } if *times > 0 => {
                *times -= 1;
                Some(*status)
            }
            _ => None,
        })
    };
    if let Some(status) = forced {
        return error(status, status_message(status));
    }
    let answer = {
        let mut faults = lock(&inner.faults);
        faults.iter_mut().find_map(|f| match f {
            Fault::Answer {
                status,
                body,
                times,
            } if *times > 0 => {
                *times -= 1;
                Some((*status, body.clone()))
            }
            _ => None,
        })
    };
    if let Some((status, body)) = answer {
        return raw(status, body);
    }
    let Ok(Form(fields)) = form else {
        return error(400, "Invalid request body");
    };
    let send = match parse(&fields, arrived, &inner) {
        Ok(send) => send,
        Err(message) => return error(400, &message),
    };
    lock(&inner.tries).push(send.destination.clone());
    let answer = {
        let mut faults = lock(&inner.faults);
        faults.iter_mut().find_map(|f| match f {
            Fault::AnswerDestination {
                destination,
                status,
                body,
                times,
            } if *times > 0 && *destination == send.destination => {
                *times -= 1;
                Some((*status, body.clone()))
            }
            _ => None,
        })
    };
    if let Some((status, body)) = answer {
        return raw(status, body);
    }
    let fail_once = {
        let mut faults = lock(&inner.faults);
        faults.iter_mut().find_map(|f| match f {
            Fault::FailDestinationTimes {
                destination,
                code,
                times,
            } if *times > 0 && *destination == send.destination => {
                *times -= 1;
                Some(code.clone())
            }
            _ => None,
        })
    };
    let (reject, fail_code, latency) = {
        let faults = lock(&inner.faults);
        let reject = faults.iter().find_map(|f| match f {
            Fault::RejectDestination {
                destination,
                status,
                message,
            } if *destination == send.destination => Some((*status, message.clone())),
            _ => None,
        });
        let fail_code = faults.iter().find_map(|f| match f {
            Fault::FailDestination { destination, code } if *destination == send.destination => {
                Some(code.clone())
            }
            _ => None,
        });
        let fail_code = fail_code.or(fail_once);
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
    if let Some((status, message)) = reject {
        return error(status, &message);
    }
    lock(&inner.sends).push(send.clone());
    if let Some(url) = inner.cfg.callback_url.clone() {
        tokio::spawn(post_events(inner.clone(), url, send.clone(), fail_code));
    }
    let _turn = match &inner.capacity {
        Some(permits) => Some(
            permits
                .acquire()
                .await
                .expect("the fake's permits stay open"),
        ),
        None => None,
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "status": "submitted", "messageId": send.message_id })),
    )
        .into_response()
}

/// Counts a send request as in progress until dropped.
struct InProgress<'a>(&'a Inner);

impl<'a> InProgress<'a> {
    fn enter(inner: &'a Inner) -> Self {
        let now = inner.in_progress.fetch_add(1, Ordering::SeqCst) + 1;
        inner.most_in_progress.fetch_max(now, Ordering::SeqCst);
        Self(inner)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads the form as Gupshup does; the error text is what Gupshup would answer with a 400.
fn parse(
    fields: &HashMap<String, String>,
    at: SystemTime,
    inner: &Inner,
) -> Result<RecordedSend, String> {
    let field = |name: &str| {
        fields
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| format!("Missing parameter: {name}"))
    };
    if field("channel")? != "whatsapp" {
        return Err("Invalid channel".into());
    }
    let source = field("source")?;
    let destination = field("destination")?;
    let src_name = field("src.name")?;
    let template: Value =
        serde_json::from_str(&field("template")?).map_err(|_| "Invalid template".to_string())?;
    let template_id = template
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("Invalid template id")?
        .to_string();
    let params = match template.get("params") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("Invalid template params")?,
        Some(_) => return Err("Invalid template params".into()),
    };
    let message = match fields.get("message") {
        None => None,
        Some(m) => Some(serde_json::from_str(m).map_err(|_| "Invalid message".to_string())?),
    };
    let postback_texts = match fields.get("postbackTexts") {
        None => None,
        Some(m) => {
            let v: Value =
                serde_json::from_str(m).map_err(|_| "Invalid postbackTexts".to_string())?;
            let ok = v.as_array().is_some_and(|a| {
                a.iter().all(|p| {
                    p.get("index").is_some_and(Value::is_u64)
                        && p.get("text").is_some_and(Value::is_string)
                })
            });
            if !ok {
                return Err("Invalid postbackTexts".into());
            }
            Some(v)
        }
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(&source) {
        return Err("Invalid Source".into());
    }
    if !digits(&destination) || !(8..=15).contains(&destination.len()) {
        return Err("Invalid Destination".into());
    }
    let n = inner.next_id.fetch_add(1, Ordering::SeqCst);
    Ok(RecordedSend {
        at,
        source,
        destination,
        src_name,
        template_id,
        params,
        message,
        template,
        postback_texts,
        message_id: format!("00000000-0000-4000-8000-{n:012x}"),
    })
}

/// The v2 `message-event` callbacks Gupshup posts after accepting a message.
async fn post_events(
    inner: Arc<Inner>,
    url: String,
    send: RecordedSend,
    fail_code: Option<String>,
) {
    let event = |kind: &str, id: &str, payload: Value| {
        json!({
            "app": send.src_name,
            "timestamp": send.at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "version": 2,
            "type": "message-event",
            "payload": {
                "id": id,
                "gsId": send.message_id,
                "type": kind,
                "destination": send.destination,
                "payload": payload,
            }
        })
    };
    let wa_id = format!("gBEG{}", send.message_id.replace('-', ""));
    let mut events = vec![event(
        "enqueued",
        &send.message_id,
        json!({ "whatsappMessageId": wa_id, "type": "template" }),
    )];
    match fail_code {
        Some(code) => events.push(event(
            "failed",
            &send.message_id,
            json!({ "code": code.parse::<u64>().map(Value::from).unwrap_or(Value::from(code.clone())), "reason": "injected failure" }),
        )),
        None => {
            events.push(event("sent", &wa_id, json!({ "ts": 0 })));
            events.push(event("delivered", &wa_id, json!({ "ts": 0 })));
        }
    }
    for e in events {
        post_json(&inner.callbacks, &url, &e).await;
    }
}

async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> u16 {
    match client.post(url).json(body).send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

/// Counts sends that opened a conversation while `limit` conversations were already open in
/// the trailing `window` (a send to a destination with a conversation still open opens none).
/// `sends` need not be sorted.
pub fn over_limit_count(sends: &[(SystemTime, &str)], limit: u64, window: Duration) -> usize {
    let mut sends = sends.to_vec();
    sends.sort_by_key(|(at, _)| *at);
    let mut opened_at: HashMap<&str, SystemTime> = HashMap::new();
    let mut open: VecDeque<SystemTime> = VecDeque::new();
    let mut over = 0;
    for (at, dest) in sends {
        while open.front().is_some_and(|t| *t + window <= at) {
            open.pop_front();
        }
        let still_open = opened_at.get(dest).is_some_and(|t| *t + window > at);
        if still_open {
            continue;
        }
        opened_at.insert(dest, at);
        open.push_back(at);
        if open.len() as u64 > limit {
            over += 1;
        }
    }
    over
}

/// The most instants that fall within any interval of length `window` (half-open).
pub fn max_in_window(times: &[SystemTime], window: Duration) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[start] + window <= times[end] {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}
