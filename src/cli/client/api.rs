//! A small typed client of the daemon's `/api/v1` over HTTP, and its errors phrased for the
//! operator: the daemon not running and a wrong token each get their own, with a hint.
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::campaign::OptOutCounts;
use crate::http::admin::OptOutView;
use crate::http::{CampaignAction, CampaignStatus, Secret, SenderStatus, WebhookHealth};

/// What went wrong talking to the daemon, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("tierpace is not running at {url} (connection refused): start it with `tierpace run`, or point --url / TIERPACE_URL at it")]
    NotRunning { url: String },
    #[error("the daemon refused the admin token ({message}): set TIERPACE_ADMIN_TOKEN or --token-file to a token listed in its config")]
    Unauthorized { message: String },
    #[error("{message} (HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot talk to the daemon at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
    #[error("cannot read the token file {path}: {detail}")]
    TokenFile { path: String, detail: String },
}

impl ClientError {
    /// The process exit code for this error (sysexits.h, like the rest of tierpace):
    /// 69 the daemon is unavailable, 77 permission denied, 65 bad input, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::NotRunning { .. } | ClientError::Transport { .. } => 69,
            ClientError::Unauthorized { .. } | ClientError::TokenFile { .. } => 77,
            ClientError::Api { status: 400, .. } => 65,
            ClientError::Api { status: 503, .. } => 69,
            ClientError::Api { .. } | ClientError::Decode { .. } => 1,
        }
    }
}

/// A small typed client of `/api/v1`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

impl AdminClient {
    /// `base_url` like `http://127.0.0.1:9464`.
    pub fn new(base_url: &str, token: Option<Secret>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Transport {
                url: base_url.to_string(),
                detail: e.to_string(),
            })?;
        Ok(AdminClient {
            base: base_url.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// Asks the daemon to poll every sender's provider for its tier and quality now.
    pub async fn refresh_tiers(&self) -> Result<Vec<SenderStatus>, ClientError> {
        self.call(reqwest::Method::POST, "/api/v1/senders/refresh", None)
            .await
    }

    pub async fn senders(&self) -> Result<Vec<SenderStatus>, ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/senders", None)
            .await
    }

    pub async fn campaigns(&self) -> Result<Vec<CampaignStatus>, ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/campaigns", None)
            .await
    }

    pub async fn webhooks(&self) -> Result<WebhookHealth, ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/webhooks", None)
            .await
    }

    pub async fn optout_counts(&self) -> Result<OptOutCounts, ClientError> {
        self.call(reqwest::Method::GET, "/api/v1/optouts", None)
            .await
    }

    pub async fn optout_view(&self, number: &str) -> Result<OptOutView, ClientError> {
        let path = format!("/api/v1/optouts/{}", segment(number));
        self.call(reqwest::Method::GET, &path, None).await
    }

    pub async fn campaign_action(
        &self,
        id: &str,
        action: CampaignAction,
    ) -> Result<CampaignStatus, ClientError> {
        let path = format!("/api/v1/campaigns/{}/{}", segment(id), action.as_str());
        self.call(reqwest::Method::POST, &path, None).await
    }

    pub async fn optout(&self, number: &str, add: bool) -> Result<(), ClientError> {
        let method = if add {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        let path = format!("/api/v1/optouts/{}", segment(number));
        let _: serde_json::Value = self.call(method, &path, None).await?;
        Ok(())
    }

    pub async fn set_tier(&self, sender: &str, tier: &str) -> Result<SenderStatus, ClientError> {
        let path = format!("/api/v1/senders/{}/tier", segment(sender));
        let body = serde_json::json!({ "tier": tier });
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    /// `POST /api/v1/groups/{group}/tier/confirm`: apply the held reported raise.
    pub async fn confirm_tier(&self, group: &str) -> Result<Vec<SenderStatus>, ClientError> {
        let path = format!("/api/v1/groups/{}/tier/confirm", segment(group));
        self.call(reqwest::Method::POST, &path, None).await
    }

    pub async fn set_brake(
        &self,
        sender: &str,
        on: bool,
        reason: Option<&str>,
    ) -> Result<SenderStatus, ClientError> {
        let path = format!("/api/v1/senders/{}/brake", segment(sender));
        let body = serde_json::json!({ "on": on, "reason": reason });
        self.call(reqwest::Method::POST, &path, Some(body)).await
    }

    /// Campaign files the daemon could not load: the matching `GET /readyz` warnings (200 or
    /// 503 alike), without their prefix.
    pub async fn campaigns_not_loaded(&self) -> Result<Vec<String>, ClientError> {
        let url = format!("{}/readyz", self.base);
        let resp = self.send(self.http.get(&url), &url).await?;
        let body: serde_json::Value = resp.json().await.map_err(|e| ClientError::Decode {
            url,
            detail: e.to_string(),
        })?;
        let prefix = crate::http::health::CAMPAIGN_NOT_LOADED;
        Ok(body["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str()?.strip_prefix(prefix).map(str::to_string))
            .collect())
    }

    /// Sends `req` (to `url`): a refused connection means no daemon listens at the base URL.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, ClientError> {
        req.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning {
                    url: self.base.clone(),
                }
            } else {
                ClientError::Transport {
                    url: url.to_string(),
                    detail: e.to_string(),
                }
            }
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = self.send(req, &url).await?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
                url,
                detail: e.to_string(),
            });
        }
        let (code, message) = error_of(&bytes).unwrap_or_else(|| {
            (
                "http".into(),
                String::from_utf8_lossy(&bytes).trim().to_string(),
            )
        });
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized { message });
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            code,
            message,
        })
    }
}

/// `{"error":{"code","message"}}` from the daemon.
fn error_of(bytes: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let e = v.get("error")?;
    Some((
        e.get("code")?.as_str()?.to_string(),
        e.get("message")?.as_str()?.to_string(),
    ))
}

/// Percent-encode a path segment (campaign ids are file names and may hold spaces).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_tell_unavailable_from_forbidden() {
        let not_running = ClientError::NotRunning { url: "u".into() };
        let refused = ClientError::Unauthorized {
            message: "wrong token".into(),
        };
        assert_eq!((not_running.exit_code(), refused.exit_code()), (69, 77));
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("black friday/2026"), "black%20friday%2F2026");
        assert_eq!(segment("promo-1_a.b"), "promo-1_a.b");
    }
}
