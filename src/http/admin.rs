//! The admin API under `/api/v1` (issue #6 §5): what operators and `tierpace status` read, and
//! the few changes they may make. JSON in and out; errors are `{"error":{"code","message"}}`.
//!
//! | method + path | does |
//! |---|---|
//! | `GET /api/v1/senders` | senders with tier ladder, usage, quality, brakes |
//! | `GET /api/v1/campaigns` | campaigns with progress, rate, ETA, state and why |
//! | `POST /api/v1/campaigns/{id}/{pause,resume,cancel,retry-failed}` | change a campaign |
//! | `POST` / `DELETE /api/v1/optouts/{number}` | add / lift a global opt-out (scope `all`) |
//! | `GET /api/v1/optouts/{number}` | that contact's opt-out: scope, source, since |
//! | `GET /api/v1/optouts` | how many contacts opted out, by scope |
//! | `GET /api/v1/webhooks` | callbacks dropped as unreadable (last hour, since start) |
//! | `POST /api/v1/senders/{id}/tier` `{"tier":"TIER_1K"}` | the operator sets the tier |
//! | `POST /api/v1/senders/{id}/brake` `{"on":true,"reason":".."}` | set or lift a brake |
//! | `POST /api/v1/senders/refresh` | poll every provider for tier and quality now, answer the senders |
//!
//! Every change needs `Authorization: Bearer <admin token>`; reads too when a read token is
//! configured ([`super::auth`]). The daemon implements [`AdminOps`]; this file only maps HTTP.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{authorize, Access, Unauthorized};
use super::error::error_body;
use super::unreadable::WebhookHealth;
use super::HttpState;
use crate::campaign::{ConsentScope, OptOutCounts};

/// One contact's consent as `GET /api/v1/optouts/{number}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutView {
    pub opted_out: bool,
    /// `marketing` (marketing templates only) or `all`; `None` when not opted out.
    pub scope: Option<ConsentScope>,
    /// keyword, provider, admin, file, marketing_preference.
    pub source: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// One step of a sender's tier ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderStep {
    /// `TIER_250`, `TIER_1K`, ... `TIER_UNLIMITED`.
    pub tier: String,
    /// Unique customers per rolling 24 h; `None` for unlimited.
    pub limit: Option<u64>,
}

/// A brake holding a sender back (DESIGN.md §3): why and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Brake {
    /// In an operator's words: `spam rate (131048)`, `quality low`, `number flagged`,
    /// `account: Authentication Failed (http_401)`, `operator: <their reason>`.
    pub reason: String,
    pub since: Option<DateTime<Utc>>,
    /// `pause` (no marketing) or `halve` (half rate).
    pub effect: String,
}

/// A sender and its limit group's ledger, as `tierpace status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenderStatus {
    pub id: String,
    pub limit_group: String,
    pub provider: String,
    /// Current tier name (`TIER_1K`).
    pub tier: String,
    /// Current limit: unique customers per rolling 24 h; `None` when unlimited.
    pub limit: Option<u64>,
    /// The allowance actually used: `limit x safety_share - reserve`; `None` when unlimited.
    pub allowance: Option<u64>,
    pub unique_24h: u64,
    pub unique_7d: u64,
    /// 7-day uniques needed for the next tier; `None` at the top.
    pub threshold: Option<u64>,
    pub headroom: u64,
    /// When a pending upgrade takes effect (the threshold was crossed 24 h / 6 h before).
    pub upgrade_at: Option<DateTime<Utc>>,
    /// The next tier, when an upgrade is pending.
    pub upgrade_to: Option<String>,
    /// HIGH / MEDIUM / LOW / UNKNOWN (or the provider's GREEN / YELLOW / RED).
    pub quality: String,
    pub brakes: Vec<Brake>,
    /// Messages per second the pacer allows now.
    pub rate_per_second: f64,
    /// The send rate cap now: `max_mps`, lowered after throughput errors and climbing back
    /// as sends are accepted.
    #[serde(default)]
    pub rate_limit_mps: u32,
    /// The configured `max_mps`.
    #[serde(default)]
    pub max_mps: u32,
    /// Sends in flight to the provider now (0 on a replica that does not send for it).
    #[serde(default)]
    pub sends_in_flight: u64,
    /// The most sends it keeps in flight now: Little's law on `max_mps` and the measured
    /// latency, within `concurrency` and the ceiling that still buys throughput (issue #15).
    #[serde(default)]
    pub in_flight_limit: u64,
    /// The tier as the provider last reported it (poll), beside `tier`, the model's.
    #[serde(default)]
    pub provider_tier: Option<String>,
    /// The provider's limit (`None` with a `provider_tier`: unlimited).
    #[serde(default)]
    pub provider_limit: Option<u64>,
    #[serde(default)]
    pub provider_quality: Option<String>,
    /// How the provider is polled and how the last poll went (or that it is not configured).
    #[serde(default)]
    pub provider_poll: Option<String>,
    /// A raise a provider callback reported, not yet confirmed by the provider's API or an
    /// operator (`tierpace tier confirm GROUP`): the limit stays at `tier` until then.
    #[serde(default)]
    pub reported_tier: Option<String>,
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
    /// The replica that answered (issue #19: `instance_id` or host name, then the process id).
    #[serde(default)]
    pub replica: String,
    /// The replica that holds the sender's lease and so sends for it (`None`: nobody yet).
    #[serde(default)]
    pub sent_by: Option<String>,
    pub ladder: Vec<LadderStep>,
    /// Go-live items that failed at the daemon's start (issue #21), `item: why` each; the
    /// daemon-wide ones (public URL) are listed under every sender.
    #[serde(default)]
    pub go_live_failed: Vec<String>,
}

/// Contacts of a campaign by state. Progress comes from per-contact state (DESIGN.md §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignTotals {
    pub total: u64,
    pub pending: u64,
    pub in_flight: u64,
    pub sent: u64,
    pub delivered: u64,
    pub read: u64,
    pub failed: u64,
    /// Outcome unknown after a crash: never resent (DESIGN.md §2.4).
    pub unknown: u64,
    /// Waiting for a retry after a temporary failure (pair rate, maintenance, throughput).
    #[serde(default)]
    pub retrying: u64,
    /// Held back by the customer's marketing cap (131049); sent again after 24 h.
    #[serde(default)]
    pub deferred: u64,
    /// Not on WhatsApp / invalid destination: never retried.
    #[serde(default)]
    pub invalid: u64,
    /// Skipped contacts by reason (`no_optin`, `opted_out`, `invalid_number`, `duplicate`, ...).
    pub skipped: BTreeMap<String, u64>,
    /// Failed contacts by provider error code (`131048`, `1002`, ...).
    pub failed_by_code: BTreeMap<String, u64>,
}

impl CampaignTotals {
    /// Contacts that need no more work (sent on, failed, skipped or unknown).
    pub fn done(&self) -> u64 {
        self.sent
            + self.delivered
            + self.read
            + self.failed
            + self.unknown
            + self.invalid
            + self.skipped.values().sum::<u64>()
    }
}

/// A campaign's progress as `tierpace status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStatus {
    pub id: String,
    pub sender: String,
    pub template: Option<String>,
    /// scheduled, running, waiting, paused, braked, finished, cancelled, or refused (a valid
    /// file the daemon does not run: its template does not fit the provider's, its audience or
    /// calendar is unusable; `why` names the file and line).
    pub state: String,
    /// Why it is in that state ("outside business hours", "tier limit reached", "operator").
    pub why: Option<String>,
    /// Until when, if known (next open time, limit frees up).
    pub until: Option<DateTime<Utc>>,
    pub totals: CampaignTotals,
    /// Sends per second over the last minutes.
    pub rate_per_second: f64,
    pub eta_seconds: Option<u64>,
    /// Set when the template pre-flight (issue #18) could not verify the template (no
    /// credentials, provider unreachable): why. The campaign runs anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_check: Option<String>,
}

/// What an operator may do to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CampaignAction {
    Pause,
    Resume,
    Cancel,
    /// Put every failed contact back to pending.
    RetryFailed,
}

impl CampaignAction {
    /// The path segment: `pause`, `resume`, `cancel`, `retry-failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignAction::Pause => "pause",
            CampaignAction::Resume => "resume",
            CampaignAction::Cancel => "cancel",
            CampaignAction::RetryFailed => "retry-failed",
        }
    }

    pub fn from_path(s: &str) -> Option<Self> {
        [Self::Pause, Self::Resume, Self::Cancel, Self::RetryFailed]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// Why an admin operation failed; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The action does not fit the current state (resume a cancelled campaign).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Redis or another dependency is down: try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AdminError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        (status, error_body(code, &self.to_string())).into_response()
    }
}

/// The daemon's side of the admin API.
#[async_trait::async_trait]
pub trait AdminOps: Send + Sync + 'static {
    async fn senders(&self) -> Result<Vec<SenderStatus>, AdminError>;
    async fn campaigns(&self) -> Result<Vec<CampaignStatus>, AdminError>;
    async fn campaign_action(
        &self,
        id: &str,
        action: CampaignAction,
    ) -> Result<CampaignStatus, AdminError>;
    /// `number` is digits with the country code (a leading `+` already stripped). Adding is an
    /// opt-out of everything; removing lifts any opt-out.
    async fn optout(&self, number: &str, add: bool) -> Result<(), AdminError>;
    /// One contact's opt-out (`number` as for [`AdminOps::optout`]).
    async fn optout_view(&self, _number: &str) -> Result<OptOutView, AdminError> {
        Err(AdminError::NotFound("opt-out lookup".into()))
    }
    /// Opted-out contacts by scope.
    async fn optout_counts(&self) -> Result<OptOutCounts, AdminError> {
        Ok(OptOutCounts::default())
    }
    /// Callbacks dropped as unreadable.
    async fn webhooks(&self) -> Result<WebhookHealth, AdminError> {
        Ok(WebhookHealth::default())
    }
    async fn set_tier(&self, sender: &str, tier: &str) -> Result<SenderStatus, AdminError>;
    /// Polls every sender's provider for its tier and quality now (`status --refresh`).
    async fn refresh_tiers(&self) -> Result<(), AdminError> {
        Ok(())
    }
    async fn set_brake(
        &self,
        sender: &str,
        on: bool,
        reason: Option<String>,
    ) -> Result<SenderStatus, AdminError>;
    /// Applies the raise a callback reported for limit group `group` (issue #22); answers the
    /// group's senders. `Conflict` when nothing is held.
    async fn confirm_tier(&self, group: &str) -> Result<Vec<SenderStatus>, AdminError> {
        Err(AdminError::NotFound(format!("limit group {group}")))
    }
}

/// Body of `POST /api/v1/senders/{id}/tier`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetTier {
    pub tier: String,
}

/// Body of `POST /api/v1/senders/{id}/brake`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetBrake {
    pub on: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What an admin handler can fail with; both kinds answer JSON.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized(Unauthorized),
    Admin(AdminError),
}

impl From<Unauthorized> for ApiError {
    fn from(e: Unauthorized) -> Self {
        ApiError::Unauthorized(e)
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::Admin(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized(e) => e.into_response(),
            ApiError::Admin(e) => e.into_response(),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

pub async fn list_senders(State(s): State<HttpState>, headers: HeaderMap) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    let senders = s.admin.senders().await?;
    Ok(Json(senders).into_response())
}

/// `POST /api/v1/senders/refresh`: poll the providers now, answer the senders.
pub async fn refresh_senders(State(s): State<HttpState>, headers: HeaderMap) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    s.admin.refresh_tiers().await?;
    let senders = s.admin.senders().await?;
    Ok(Json(senders).into_response())
}

pub async fn list_campaigns(State(s): State<HttpState>, headers: HeaderMap) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    let campaigns = s.admin.campaigns().await?;
    Ok(Json(campaigns).into_response())
}

pub async fn campaign_action(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult {
    authorize(&s.config, &headers, Access::Change)?;
    let action = CampaignAction::from_path(&action).ok_or_else(|| {
        AdminError::NotFound(format!(
            "no campaign action `{action}` (pause, resume, cancel, retry-failed)"
        ))
    })?;
    let status = s.admin.campaign_action(&id, action).await?;
    tracing::info!(campaign = %id, action = action.as_str(), "campaign changed by operator");
    Ok(Json(status).into_response())
}

pub async fn add_optout(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> ApiResult {
    change_optout(s, headers, number, true).await
}

pub async fn remove_optout(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> ApiResult {
    change_optout(s, headers, number, false).await
}

async fn change_optout(s: HttpState, headers: HeaderMap, number: String, add: bool) -> ApiResult {
    authorize(&s.config, &headers, Access::Change)?;
    let digits = optout_number(&number)?;
    s.admin.optout(&digits, add).await?;
    // The number itself stays out of the log (DESIGN.md §2.7 / STYLE.md 12).
    tracing::info!(add, "opt-out changed by operator");
    // An operator's opt-out stops everything; removing it lifts any scope.
    Ok(Json(json!({ "optout": add, "scope": ConsentScope::All.as_str() })).into_response())
}

pub async fn show_optout(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    let digits = optout_number(&number)?;
    Ok(Json(s.admin.optout_view(&digits).await?).into_response())
}

pub async fn optout_counts(State(s): State<HttpState>, headers: HeaderMap) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    Ok(Json(s.admin.optout_counts().await?).into_response())
}

pub async fn webhook_health(State(s): State<HttpState>, headers: HeaderMap) -> ApiResult {
    authorize(&s.config, &headers, Access::Read)?;
    let mut health = s.admin.webhooks().await?;
    health.warnings.extend(s.config.trust_warnings());
    Ok(Json(health).into_response())
}

/// Accept `+55 85 99999-0000`, `5585999990000` or an old WhatsApp id `558599990000`: the one
/// normaliser (`campaign::phone`) reads it, so the answer names what is wrong with the number.
pub fn optout_number(raw: &str) -> Result<String, AdminError> {
    crate::campaign::phone::parse_international(raw)
        .map(|n| n.number.to_string())
        .map_err(|e| {
            AdminError::Invalid(format!(
                "{e}; a number is written with its country code, e.g. 5585999990000"
            ))
        })
}

pub async fn set_tier(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(sender): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    authorize(&s.config, &headers, Access::Change)?;
    let req: SetTier = json_body(&body)?;
    let status = s.admin.set_tier(&sender, &req.tier).await?;
    tracing::info!(sender = %sender, tier = %req.tier, "tier set by operator");
    Ok(Json(status).into_response())
}

pub async fn set_brake(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(sender): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    authorize(&s.config, &headers, Access::Change)?;
    let req: SetBrake = json_body(&body)?;
    let status = s
        .admin
        .set_brake(&sender, req.on, req.reason.clone())
        .await?;
    tracing::info!(sender = %sender, on = req.on, reason = ?req.reason, "brake set by operator");
    Ok(Json(status).into_response())
}

/// `POST /api/v1/groups/{group}/tier/confirm`: an operator confirms a reported raise.
pub async fn confirm_tier(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> ApiResult {
    authorize(&s.config, &headers, Access::Change)?;
    let senders = s.admin.confirm_tier(&group).await?;
    tracing::warn!(group = %group, "reported tier raise confirmed by operator");
    Ok(Json(senders).into_response())
}

/// Parse a JSON body ourselves so a bad one gets our JSON error, not axum's plain text.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::Invalid(format!("bad JSON body: {e}")))
}

/// Unknown `/api/v1/...` paths answer JSON too.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        error_body("not_found", "no such admin API route"),
    )
        .into_response()
}
