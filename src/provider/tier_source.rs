//! Asking the provider for the sender's current messaging limit and quality (issue 12 §2).
//!
//! tierpace models the tier from its own counts; the provider knows the real one. Two sources:
//! - Meta: the Graph API phone-number node, `GET {base_url}/{phone_number_id}?fields=
//!   quality_rating,messaging_limit_tier,whatsapp_business_manager_messaging_limit`
//!   (`Authorization: Bearer`). The business-level limit (portfolio, since Oct 2025) wins over
//!   the older per-number `messaging_limit_tier`.
//! - Gupshup: the Partner API, `GET {partner_base_url}/partner/app/{appId}/ratings` with the app
//!   access token in `Authorization` (docs.gupshup.io/reference/get_partner-app-appid-ratings):
//!   current limit, last event and its time, previous limit.
//!
//! A poll never raises an error into sending: the caller logs it and keeps its model.
use std::time::Duration;

use serde_json::Value;

use crate::policy::tier::{Quality, Tier};
use crate::secret::Secret;

/// What the provider says now. Either may be missing from an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderTierView {
    pub tier: Option<Tier>,
    pub quality: Option<Quality>,
}

/// Why a poll gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("no answer: {0}")]
    Transport(String),
    #[error("HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("answer without a limit or quality tierpace can read: {0}")]
    Unreadable(String),
}

/// A place to ask for the sender's tier and quality.
#[async_trait::async_trait]
pub trait TierSource: Send + Sync + 'static {
    /// `meta-graph` or `gupshup-partner`, for logs and status.
    fn name(&self) -> &'static str;
    async fn poll(&self) -> Result<ProviderTierView, PollError>;
}

/// The Graph API fields asked for.
pub const META_FIELDS: &str =
    "quality_rating,messaging_limit_tier,whatsapp_business_manager_messaging_limit";

pub struct MetaTierSource {
    url: String,
    token: Secret,
    http: reqwest::Client,
    timeout: Duration,
}

impl MetaTierSource {
    pub fn new(
        base_url: &str,
        phone_number_id: &str,
        token: Secret,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self {
            url: format!(
                "{}/{phone_number_id}?fields={META_FIELDS}",
                base_url.trim_end_matches('/')
            ),
            token,
            http,
            timeout,
        }
    }
}

#[async_trait::async_trait]
impl TierSource for MetaTierSource {
    fn name(&self) -> &'static str {
        "meta-graph"
    }

    async fn poll(&self) -> Result<ProviderTierView, PollError> {
        let req = self
            .http
            .get(&self.url)
            .bearer_auth(self.token.expose())
            .timeout(self.timeout);
        let json = fetch(req).await?;
        read_meta(&json)
    }
}

pub struct GupshupTierSource {
    url: String,
    token: Secret,
    http: reqwest::Client,
    timeout: Duration,
}

impl GupshupTierSource {
    pub fn new(
        partner_base_url: &str,
        app_id: &str,
        token: Secret,
        http: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self {
            url: format!(
                "{}/partner/app/{app_id}/ratings",
                partner_base_url.trim_end_matches('/')
            ),
            token,
            http,
            timeout,
        }
    }
}

#[async_trait::async_trait]
impl TierSource for GupshupTierSource {
    fn name(&self) -> &'static str {
        "gupshup-partner"
    }

    async fn poll(&self) -> Result<ProviderTierView, PollError> {
        let req = self
            .http
            .get(&self.url)
            .header(reqwest::header::AUTHORIZATION, self.token.expose())
            .timeout(self.timeout);
        let json = fetch(req).await?;
        read_gupshup(&json)
    }
}

async fn fetch(req: reqwest::RequestBuilder) -> Result<Value, PollError> {
    let resp = req
        .send()
        .await
        .map_err(|e| PollError::Transport(root_cause(&e)))?;
    let status = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| PollError::Transport(root_cause(&e)))?;
    if !(200..300).contains(&status) {
        return Err(PollError::Status {
            status,
            detail: body.chars().take(200).collect(),
        });
    }
    serde_json::from_str(&body).map_err(|e| PollError::Unreadable(e.to_string()))
}

pub(crate) fn root_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".into();
    }
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

/// Reads Meta's phone-number node.
pub fn read_meta(json: &Value) -> Result<ProviderTierView, PollError> {
    let tier = [
        "whatsapp_business_manager_messaging_limit",
        "messaging_limit_tier",
    ]
    .iter()
    .find_map(|k| json.get(*k).and_then(read_tier));
    let quality = json
        .get("quality_rating")
        .and_then(Value::as_str)
        .and_then(|q| q.parse::<Quality>().ok());
    view(tier, quality, json)
}

/// Reads Gupshup's app ratings, wherever the answer nests them (`ratings`, `data`, or top).
pub fn read_gupshup(json: &Value) -> Result<ProviderTierView, PollError> {
    let scopes = [json.get("ratings"), json.get("data"), Some(json)];
    let find = |keys: &[&str]| {
        scopes
            .iter()
            .flatten()
            .find_map(|s| keys.iter().find_map(|k| s.get(*k)).cloned())
    };
    let tier = find(&["currentLimit", "current_limit", "messagingLimit", "limit"])
        .as_ref()
        .and_then(read_tier);
    let quality = find(&[
        "quality",
        "qualityRating",
        "quality_rating",
        "currentQuality",
    ])
    .as_ref()
    .and_then(Value::as_str)
    .and_then(|q| q.parse::<Quality>().ok());
    view(tier, quality, json)
}

fn view(
    tier: Option<Tier>,
    quality: Option<Quality>,
    json: &Value,
) -> Result<ProviderTierView, PollError> {
    if tier.is_none() && quality.is_none() {
        return Err(PollError::Unreadable(
            json.to_string().chars().take(200).collect(),
        ));
    }
    Ok(ProviderTierView { tier, quality })
}

/// `TIER_2K`, `TIER_UNLIMITED`, `2000`, `-1` (unlimited).
fn read_tier(v: &Value) -> Option<Tier> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => match n.as_i64()? {
            -1 => Some(Tier::Unlimited),
            n => n.to_string().parse().ok(),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_business_limit_wins_over_the_per_number_tier() {
        let v = read_meta(
            &json!({"quality_rating":"YELLOW","messaging_limit_tier":"TIER_1K",
            "whatsapp_business_manager_messaging_limit":"TIER_2K","id":"1"}),
        )
        .unwrap();
        assert_eq!(v.tier, Some(Tier::T2K));
        assert_eq!(v.quality, Some(Quality::Medium));
    }

    #[test]
    fn gupshup_ratings_are_read_where_they_are_nested() {
        let v = read_gupshup(
            &json!({"status":"success","ratings":{"currentLimit":"TIER_10K",
            "event":"UPGRADE","eventTime":1796000000,"oldLimit":"TIER_1K"}}),
        )
        .unwrap();
        assert_eq!(v.tier, Some(Tier::T10K));
        let v = read_gupshup(&json!({"currentLimit":"TIER_UNLIMITED","quality":"GREEN"})).unwrap();
        assert_eq!(
            (v.tier, v.quality),
            (Some(Tier::Unlimited), Some(Quality::High))
        );
    }

    #[test]
    fn an_answer_without_limit_or_quality_is_an_error_not_a_guess() {
        assert!(read_gupshup(&json!({"status":"success"})).is_err());
        assert!(read_meta(&json!({"id":"1"})).is_err());
    }
}
