//! The go-live checklist as code (issue #21): `tierpace check --online` and the daemon's start
//! ask each sender's provider, and the network, whether sending can work, one
//! [`GoLiveItem`] per question. None of these checks ever sends a message: every provider
//! request here is a `GET`.
//!
//! Endpoints (documentation pages in README, "Go-live check"):
//! - Meta Graph API: `GET {base_url}/{phone_number_id}?fields=...` (status, name_status,
//!   display number, quality, limits) and `?fields=webhook_configuration` (callback URL).
//! - Gupshup Partner API: `GET /partner/app/{appId}/waba/info`, `/ratings` (the tier poll's
//!   read), `/wallet/balance`, `/subscription`.
//! - Gupshup `GET /partner/app/{appId}/templates` and Meta `GET /{waba_id}/message_templates`
//!   for the templates item (the template pre-flight, [`super::template_preflight`]).
//! - Our own `http.public_url` + `/healthz?nonce=`, and the provider's base URL for the
//!   network item.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::campaign::file::Campaign;
use crate::config::{DaemonConfig, ProviderChoice, SenderConfig};
use crate::http::self_proof::SelfProofKey;
use crate::provider::template_preflight::TemplateCatalog;
use crate::secret::Secret;

pub mod api_key;
pub mod balance;
pub mod callbacks;
pub mod item;
pub mod network;
pub mod number;
pub mod opt_in;
pub mod self_call;
pub mod templates;

pub use item::{exit_code, GoLiveItem, ItemStatus};

/// What every check needs besides the sender: where we are reachable, the HTTP client, and
/// the balance thresholds.
#[derive(Clone)]
pub struct GoLiveContext {
    /// `http.public_url`: the https URL the providers call (webhook paths are appended).
    pub public_url: Option<String>,
    pub http: reqwest::Client,
    /// Below this wallet balance (credits; 1 credit = 1 USD at Gupshup) the balance item fails.
    pub min_balance: f64,
    /// Price of one business-initiated message, for the days-left estimate; none: no estimate.
    pub price_per_message: Option<f64>,
    /// The campaigns whose templates the templates item verifies.
    pub campaigns: Vec<Campaign>,
    /// Template reads, cached (the daemon shares its own with its campaign loads).
    pub templates: Arc<TemplateCatalog>,
    /// How the public-URL self-call knows the answer came from this daemon.
    pub self_proof: SelfProofCheck,
}

/// What the public-URL self-call compares its proof with.
#[derive(Clone, Debug)]
pub enum SelfProofCheck {
    /// Inside the daemon: its own key.
    Key(SelfProofKey),
    /// From `check --online` (another process): the proof the daemon at this address gives for
    /// the same nonce (`http.listen`; an unspecified address is asked on loopback).
    Listen(SocketAddr),
}

impl GoLiveContext {
    /// The context for a daemon config: its `http.public_url`, a client like the providers',
    /// no campaigns, a fresh template catalog, and the daemon at `http.listen` to compare the
    /// self-call's proof with.
    pub fn for_config(cfg: &DaemonConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            public_url: cfg.http.public_url.clone(),
            http: super::http_client(Duration::from_secs(5))?,
            min_balance: balance::DEFAULT_MIN_BALANCE,
            price_per_message: None,
            campaigns: Vec::new(),
            templates: Arc::new(TemplateCatalog::new(
                crate::provider::template_preflight::DEFAULT_TTL,
            )?),
            self_proof: SelfProofCheck::Listen(cfg.http.listen),
        })
    }

    /// `public_url` + `path`, without a doubled slash.
    pub fn public(&self, path: &str) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|u| format!("{}{path}", u.trim_end_matches('/')))
    }
}

/// Every item for every sender (dry-run senders have none), the daemon-wide ones first. With
/// only dry-run senders no provider calls back, so `public_url` is not asked for either (the
/// shipped demo showed a FAILED go-live item to every newcomer, issue #20).
pub async fn check_all(cfg: &DaemonConfig, ctx: &GoLiveContext) -> Vec<GoLiveItem> {
    let mut items = Vec::new();
    if cfg
        .senders
        .values()
        .any(|s| s.provider != ProviderChoice::Dryrun)
    {
        items.push(self_call::check(ctx).await);
    }
    for (id, sc) in &cfg.senders {
        items.extend(check_sender(id, sc, ctx).await);
    }
    items
}

/// The items for one sender, in checklist order.
pub async fn check_sender(id: &str, sc: &SenderConfig, ctx: &GoLiveContext) -> Vec<GoLiveItem> {
    if sc.provider == ProviderChoice::Dryrun {
        return Vec::new();
    }
    let mut items = Vec::new();
    let read = number::check(id, sc, ctx).await;
    items.extend(read.items.iter().cloned());
    if sc.provider == ProviderChoice::Gupshup {
        // The key itself (the Partner API reads above use the app token, not the key).
        if let Ok(key) = sc.api_key() {
            items.push(api_key::check(id, sc, ctx, &key).await);
        }
    }
    items.push(balance::check(id, sc, ctx, read.access.as_ref(), read.per_day).await);
    items.extend(templates::check(id, sc, ctx).await);
    items.push(callbacks::check(id, sc, ctx, read.access.as_ref()).await);
    if sc.provider == ProviderChoice::Gupshup {
        items.push(opt_in::check(id, read.provider_answer.as_ref()));
    }
    items.push(network::check(id, sc, ctx).await);
    items
}

/// How tierpace reaches a sender's provider account, when its secrets load.
#[derive(Clone)]
pub enum Access {
    /// Graph API base URL, phone number id, access token.
    Meta {
        base: String,
        phone_number_id: String,
        token: Secret,
    },
    /// Partner API base URL, app id, app access token.
    GupshupPartner {
        base: String,
        app_id: String,
        token: Secret,
    },
}

impl Access {
    /// A `GET` on the account's API at `path` (after the phone number id or `/partner/app/{id}`).
    pub(crate) fn get(&self, http: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        match self {
            Access::Meta {
                base,
                phone_number_id,
                token,
            } => http
                .get(format!("{base}/{phone_number_id}{path}"))
                .bearer_auth(token.expose()),
            Access::GupshupPartner {
                base,
                app_id,
                token,
            } => http
                .get(format!("{base}/partner/app/{app_id}{path}"))
                // The Partner API pages name the app token `Authorization` on most reads and
                // `token` on `waba/info`; both carry the same app token.
                .header(reqwest::header::AUTHORIZATION, token.expose())
                .header("token", token.expose()),
        }
    }
}

/// A provider's answer: HTTP status and body (JSON when it parses, else `Null`).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub json: Value,
    pub text: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The provider's own words for an error: Meta's `error.message`, Gupshup's `message`,
    /// else the start of the body.
    pub fn words(&self) -> String {
        let msg = self
            .json
            .pointer("/error/message")
            .or_else(|| self.json.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.text.chars().take(200).collect());
        format!("HTTP {}: {msg}", self.status)
    }

    /// Meta's `error.code` (190: token, 100: unknown object or field).
    pub fn meta_code(&self) -> Option<i64> {
        self.json.pointer("/error/code").and_then(Value::as_i64)
    }
}

/// A `GET` that got no answer (never sent, timed out, cut off): shown as the transport's root
/// cause (`timed out`, `Connection refused`), not reqwest's chain of wrappers.
#[derive(Debug, thiserror::Error)]
#[error("{}", super::tier_source::root_cause(.0))]
pub(crate) struct Unreachable(#[source] reqwest::Error);

/// Sends one `GET` within `timeout`.
pub(crate) async fn get(
    req: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, Unreachable> {
    let resp = req.timeout(timeout).send().await.map_err(Unreachable)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(Unreachable)?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer { status, json, text })
}
