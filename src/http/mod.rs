//! The HTTP surface: one listener (default 127.0.0.1:9464) for everything operators and providers
//! talk to (DESIGN.md §4, issue #6).
//!
//! | path | file |
//! |---|---|
//! | `POST /webhooks/gupshup[/{secret}]` | [`gupshup_webhook`] |
//! | `GET`/`POST /webhooks/meta` | [`meta_webhook`] |
//! | `GET /metrics` | [`metrics`] |
//! | `GET /healthz` (`?nonce=`: [`self_proof`]), `GET /readyz` | [`health`] |
//! | `/api/v1/...` | [`admin`] (bearer tokens: [`auth`]) |
//!
//! Beside the routes: [`event`] (the provider-neutral events the webhooks produce, and the
//! [`event::EventSink`] contract), [`gupshup_v3`] (Meta's envelope on Gupshup's route),
//! [`error`] (the JSON error body every refusal shares), [`source`] (client address and
//! allowlists), [`unreadable`] (dropped bodies), [`listener`] (accept-loop limits) and
//! [`settings`] (the `[http]` config section).
//!
//! This layer owns no state of its own: it parses, authenticates and hands over to three narrow
//! traits the daemon implements — [`event::EventSink`] (webhook events), [`admin::AdminOps`]
//! (operator reads and changes) and [`health::Readiness`]. Webhooks answer fast: the sink gets
//! `sink_timeout` to finish, after which the provider gets its 200 and the work goes on.

pub mod admin;
pub mod auth;
pub mod error;
pub mod event;
pub mod gupshup_v3;
pub mod gupshup_webhook;
pub mod health;
pub mod listener;
pub mod meta_webhook;
mod metric_labels;
pub mod metrics;
mod metrics_observe;
pub mod self_proof;
pub mod settings;
pub mod source;
pub mod unreadable;
mod webhook_json;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

pub use admin::{AdminError, AdminOps, CampaignAction, CampaignStatus, SenderStatus};
pub use auth::Secret;
pub use event::{
    is_optout_keyword, DeliveryStatus, EventOutcome, EventSink, ProviderEvent, ReceivedEvent,
    SinkError, WebhookError, WebhookSource,
};
pub use gupshup_webhook::{parse_gupshup, parse_gupshup_callback};
pub use health::Readiness;
pub use listener::ListenerLimits;
pub use meta_webhook::{parse_meta, verify_meta_signature};
pub use metrics::Metrics;
pub use settings::{HttpConfigError, HttpSection};
pub use unreadable::{UnreadableLog, UnreadableReason, WebhookHealth};

/// Bodies larger than this get 413: no provider callback comes near it (Meta batches stay small).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the HTTP layer needs to know, with secrets already read from env or files.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Tokens allowed to change things (and read). Empty: every change is refused.
    pub admin_tokens: Vec<Secret>,
    /// Tokens allowed to read. Empty: reads are open (on a listener that is local by default).
    pub read_tokens: Vec<Secret>,
    /// Gupshup callbacks must carry it in the path or the `X-Tierpace-Webhook-Secret` header.
    /// Unset: every Gupshup callback is refused (401) unless `insecure_open_webhooks`.
    pub gupshup_secret: Option<Secret>,
    /// Development only: accept Gupshup callbacks without a secret. Warned about at start,
    /// every hour, in `tierpace status` and in `/readyz` (issue #22).
    pub insecure_open_webhooks: bool,
    /// Webhook allowlists and trusted proxies ([`source`]).
    pub sources: source::SourceRules,
    /// Token bucket per client address on each webhook; `None`: unlimited.
    pub webhook_rate: Option<source::RateLimit>,
    /// Token bucket per client address on the admin API; `None`: unlimited.
    pub admin_rate: Option<source::RateLimit>,
    /// Meta's subscription handshake token. Unset: the handshake is refused.
    pub meta_verify_token: Option<Secret>,
    /// Meta app secret for `X-Hub-Signature-256`. Unset: every Meta POST is refused (401).
    pub meta_app_secret: Option<Secret>,
    /// Inbound texts that opt the customer out (case- and accent-insensitive, whole message).
    pub optout_keywords: Vec<String>,
    /// How long a webhook waits for the sink before answering 200 anyway.
    pub sink_timeout: Duration,
    /// Connection cap and client timeouts (`drain_timeout` is the daemon's).
    pub limits: ListenerLimits,
    /// Signs `/healthz?nonce=` answers, so a self-call proves it reached this daemon.
    pub self_proof: self_proof::SelfProofKey,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            admin_tokens: Vec::new(),
            read_tokens: Vec::new(),
            gupshup_secret: None,
            insecure_open_webhooks: false,
            sources: source::SourceRules::default(),
            // Per client address: far above what a provider sends (80 msg/s x a few callbacks
            // each) or an operator's scripts do, far below what starves the runtime.
            webhook_rate: Some(source::RateLimit {
                rate: 1000.0,
                burst: 5000,
            }),
            admin_rate: Some(source::RateLimit {
                rate: 100.0,
                burst: 500,
            }),
            meta_verify_token: None,
            meta_app_secret: None,
            optout_keywords: event::default_optout_keywords(),
            sink_timeout: Duration::from_secs(2),
            limits: ListenerLimits::default(),
            self_proof: self_proof::SelfProofKey::random(),
        }
    }
}

impl HttpConfig {
    /// What an operator must be warned about: the listener trusts more than it should.
    pub fn trust_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.insecure_open_webhooks && self.gupshup_secret.is_none() {
            out.push(
                "http.insecure_open_webhooks is on: anyone who can reach /webhooks/gupshup can opt \
                 customers in or out, pause campaigns and report tier changes; set \
                 http.gupshup_secret_env (see SECURITY.md)"
                    .to_string(),
            );
        }
        out
    }
}

/// Everything the handlers share. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct HttpState {
    pub sink: Arc<dyn EventSink>,
    pub admin: Arc<dyn AdminOps>,
    pub readiness: Arc<dyn Readiness>,
    /// The registry `/metrics` encodes; other subsystems register their families on it first.
    pub registry: Arc<Registry>,
    /// The handle the webhooks count their events on (registered on `registry`).
    pub metrics: Metrics,
    pub config: Arc<HttpConfig>,
}

/// Assemble every route of the listener, each door behind its [`source::guard`].
pub fn router(state: HttpState) -> Router {
    let cfg = state.config.clone();
    let door = |name: &'static str, allow: &[ipnet::IpNet], rate| {
        axum::middleware::from_fn_with_state(
            source::Door::new(
                name,
                allow.to_vec(),
                &cfg.sources,
                rate,
                state.metrics.clone(),
            ),
            source::guard,
        )
    };
    let gupshup = Router::new()
        .route("/webhooks/gupshup", post(gupshup_webhook::receive))
        .route(
            "/webhooks/gupshup/{secret}",
            post(gupshup_webhook::receive_with_secret),
        )
        .route_layer(door(
            "gupshup",
            &cfg.sources.gupshup_allow,
            cfg.webhook_rate,
        ));
    let meta = Router::new()
        .route(
            "/webhooks/meta",
            get(meta_webhook::verify).post(meta_webhook::receive),
        )
        .route_layer(door("meta", &cfg.sources.meta_allow, cfg.webhook_rate));
    let api = Router::new()
        .route("/senders", get(admin::list_senders))
        .route("/senders/refresh", post(admin::refresh_senders))
        .route("/campaigns", get(admin::list_campaigns))
        .route("/campaigns/{id}/{action}", post(admin::campaign_action))
        .route("/optouts", get(admin::optout_counts))
        .route(
            "/optouts/{number}",
            get(admin::show_optout)
                .post(admin::add_optout)
                .delete(admin::remove_optout),
        )
        .route("/webhooks", get(admin::webhook_health))
        .route("/senders/{id}/tier", post(admin::set_tier))
        .route("/senders/{id}/brake", post(admin::set_brake))
        .route("/groups/{group}/tier/confirm", post(admin::confirm_tier))
        .fallback(admin::not_found)
        .layer(door("admin", &[], cfg.admin_rate));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::serve_metrics))
        .merge(gupshup)
        .merge(meta)
        .nest("/api/v1", api)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` is cancelled, then finish in-flight requests
/// within `limits.drain_timeout` (see [`listener`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: ListenerLimits,
) -> std::io::Result<()> {
    listener::serve(listener, router, shutdown, limits).await
}

/// Hand parsed webhook events to the sink, in order, and choose the answer.
///
/// - unparseable or unsupported body: 200 (a retry would fail the same way), counted in
///   `tierpace_webhook_unreadable_total{source,reason}` and in the sink's log for status;
/// - the sink failed (e.g. Redis down): 503, so the provider retries later (the sink is idempotent);
/// - the sink is slow: after `sink_timeout` answer 200; the work finishes in the background.
pub(crate) async fn deliver(
    state: &HttpState,
    provider: &'static str,
    parsed: Result<Vec<ReceivedEvent>, WebhookError>,
) -> StatusCode {
    let events = match parsed {
        Ok(events) => event::add_keyword_optouts(events, &state.config.optout_keywords),
        Err(e) => {
            // Never just a warning: a dropped body may have been an opt-out (issue 11 §2).
            let reason = UnreadableReason::from(&e);
            tracing::warn!(provider, reason = reason.as_str(), error = %e,
                "webhook body unreadable: dropped and counted");
            state
                .metrics
                .webhook_event(provider, reason.as_str(), "ignored");
            state.metrics.webhook_unreadable(provider, reason);
            state.sink.unreadable(provider, reason);
            return StatusCode::OK;
        }
    };
    let sink = state.sink.clone();
    let metrics = state.metrics.clone();
    let work = tokio::spawn(async move {
        let mut failed = false;
        for ReceivedEvent { source, event, at } in events {
            let kind = event.kind();
            match sink.handle(source, event, at).await {
                Ok(EventOutcome::Applied) => metrics.webhook_event(provider, kind, "ok"),
                Ok(EventOutcome::Held) => metrics.webhook_event(provider, kind, "held"),
                Ok(EventOutcome::Stale) => {
                    // Answered 200 all the same: a retry of a stale event is just as stale.
                    tracing::warn!(
                        provider,
                        kind,
                        "webhook event older than the state it would change: nothing changed"
                    );
                    metrics.webhook_event(provider, kind, "stale");
                    metrics.refused(provider, source::Refusal::Stale);
                }
                Err(error) => {
                    tracing::warn!(provider, kind, %error, "webhook event not applied");
                    metrics.webhook_event(provider, kind, "error");
                    failed = true;
                }
            }
        }
        failed
    });
    match tokio::time::timeout(state.config.sink_timeout, work).await {
        Ok(Ok(false)) => StatusCode::OK,
        Ok(Ok(true)) => StatusCode::SERVICE_UNAVAILABLE,
        Ok(Err(panic)) => {
            // A panic would repeat on every retry: answer 200 so it cannot loop.
            tracing::error!(provider, error = %panic, "webhook sink panicked");
            state.metrics.webhook_event(provider, "request", "panic");
            StatusCode::OK
        }
        Err(_) => {
            tracing::warn!(provider, "webhook sink slow; answered 200, still working");
            state.metrics.webhook_event(provider, "request", "timeout");
            StatusCode::OK
        }
    }
}
