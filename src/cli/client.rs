//! The CLI side of the admin API: `tierpace status`, `pause|resume|cancel|retry`, `optout add|remove`
//! talk to a running daemon over HTTP (issue #6 §6).
//!
//! The token comes from `TIERPACE_ADMIN_TOKEN` or a file (`--token-file`, e.g. a systemd
//! credential), never from a flag that `ps` would show. The two mistakes people make most — the
//! daemon is not running, the token is wrong — get their own errors with a hint.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::status::{render_status, StatusReport};
use crate::campaign::OptOutCounts;
use crate::http::admin::OptOutView;
use crate::http::{CampaignAction, CampaignStatus, Secret, SenderStatus, WebhookHealth};

/// Where the daemon is and how to talk to it; flatten into the top-level CLI.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Base URL of the daemon's HTTP listener.
    #[arg(
        long,
        global = true,
        env = "TIERPACE_URL",
        default_value = "http://127.0.0.1:9464"
    )]
    pub url: String,
    /// Read the admin token from this file instead of TIERPACE_ADMIN_TOKEN.
    #[arg(long, global = true, env = "TIERPACE_ADMIN_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// `status`: ask every sender's provider for its current limit and quality first.
    #[arg(long, global = true)]
    pub refresh: bool,
}

/// The admin subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Senders (tier, usage, upgrade, quality, brakes) and campaigns (progress, rate, ETA, state).
    Status,
    /// Pause a campaign (it keeps its progress).
    Pause { campaign: String },
    /// Resume a paused campaign.
    Resume { campaign: String },
    /// Cancel a campaign for good.
    Cancel { campaign: String },
    /// Put every failed contact of a campaign back in the queue.
    Retry {
        campaign: String,
        /// Retry the failed contacts (the only kind that can be retried; accepted for clarity).
        #[arg(long)]
        failed: bool,
    },
    /// Add or lift a global opt-out.
    Optout {
        #[command(subcommand)]
        action: OptoutAction,
    },
    /// Act on a limit group's tier.
    Tier {
        #[command(subcommand)]
        action: TierAction,
    },
    /// Set or lift a sender's brake (the same as `POST /api/v1/senders/{id}/brake`).
    Brake {
        #[command(subcommand)]
        action: BrakeAction,
    },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum BrakeAction {
    /// Stop the sender's marketing sends until lifted, with your reason.
    Set {
        sender: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift every brake of the sender (an account error fixed at the provider, a spam brake
    /// looked into): sends resume on the next tick.
    Lift { sender: String },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum TierAction {
    /// Confirm the raise a provider callback reported for this limit group (callbacks alone
    /// never raise a limit; see SECURITY.md). Check the provider's console first.
    Confirm { group: String },
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum OptoutAction {
    /// Never send to this number again (any campaign).
    Add { number: String },
    /// Lift an opt-out of any scope (the customer opted in again).
    Remove { number: String },
    /// Show this number's opt-out: its scope (all, or marketing only), source and time.
    Show { number: String },
}

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

    /// Build from the CLI flags: token from `--token-file`, else `TIERPACE_ADMIN_TOKEN`.
    pub fn from_args(args: &ClientArgs) -> Result<Self, ClientError> {
        let token = match &args.token_file {
            Some(path) => Some(Secret::new(
                std::fs::read_to_string(path)
                    .map_err(|e| ClientError::TokenFile {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    })?
                    .trim()
                    .to_string(),
            )),
            None => std::env::var("TIERPACE_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| Secret::new(t.trim())),
        };
        Self::new(&args.url, token)
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
        let resp = self.http.get(&url).send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning {
                    url: self.base.clone(),
                }
            } else {
                ClientError::Transport {
                    url: url.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
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
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                ClientError::NotRunning {
                    url: self.base.clone(),
                }
            } else {
                ClientError::Transport {
                    url: url.clone(),
                    detail: e.to_string(),
                }
            }
        })?;
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

/// Run one admin subcommand and return what to print (`--json`: JSON, else tables/one line).
pub async fn run(
    client: &AdminClient,
    command: &AdminCommand,
    json: bool,
    now: DateTime<Utc>,
) -> Result<String, ClientError> {
    let campaign_line = |c: &CampaignStatus| -> String {
        if json {
            to_json(c)
        } else {
            format!(
                "campaign {}: {}{}",
                c.id,
                c.state,
                c.why
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            )
        }
    };
    match command {
        AdminCommand::Status => {
            let report = StatusReport {
                senders: client.senders().await?,
                campaigns: client.campaigns().await?,
                webhooks: Some(client.webhooks().await?),
                optouts: Some(client.optout_counts().await?),
                not_loaded: client.campaigns_not_loaded().await?,
            };
            Ok(if json {
                to_json(&report)
            } else {
                render_status(&report, now)
            })
        }
        AdminCommand::Pause { campaign } => client
            .campaign_action(campaign, CampaignAction::Pause)
            .await
            .map(|c| campaign_line(&c)),
        AdminCommand::Resume { campaign } => client
            .campaign_action(campaign, CampaignAction::Resume)
            .await
            .map(|c| campaign_line(&c)),
        AdminCommand::Cancel { campaign } => client
            .campaign_action(campaign, CampaignAction::Cancel)
            .await
            .map(|c| campaign_line(&c)),
        AdminCommand::Retry { campaign, .. } => client
            .campaign_action(campaign, CampaignAction::RetryFailed)
            .await
            .map(|c| campaign_line(&c)),
        AdminCommand::Tier {
            action: TierAction::Confirm { group },
        } => {
            let senders = client.confirm_tier(group).await?;
            Ok(if json {
                to_json(&senders)
            } else {
                senders
                    .iter()
                    .map(|s| {
                        format!(
                            "sender {} (group {}): tier {} confirmed",
                            s.id, s.limit_group, s.tier
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::Brake { action } => {
            let s = match action {
                BrakeAction::Set { sender, reason } => {
                    client.set_brake(sender, true, reason.as_deref()).await?
                }
                BrakeAction::Lift { sender } => client.set_brake(sender, false, None).await?,
            };
            Ok(if json {
                to_json(&s)
            } else if s.brakes.is_empty() {
                format!("sender {}: no brake, sending resumes", s.id)
            } else {
                let brakes: Vec<String> = s
                    .brakes
                    .iter()
                    .map(|b| format!("{} ({})", b.reason, b.effect))
                    .collect();
                format!("sender {}: braked: {}", s.id, brakes.join("; "))
            })
        }
        AdminCommand::Optout { action } => {
            let (number, add) = match action {
                OptoutAction::Add { number } => (number, true),
                OptoutAction::Remove { number } => (number, false),
                OptoutAction::Show { number } => return show_optout(client, number, json).await,
            };
            client.optout(number, add).await?;
            Ok(if json {
                serde_json::json!({ "optout": add }).to_string()
            } else if add {
                "opt-out added (scope: all templates): no campaign will send to this number"
                    .to_string()
            } else {
                "opt-out lifted".to_string()
            })
        }
    }
}

/// `tierpace optout show NUMBER`: the scope, source and time of one number's opt-out.
async fn show_optout(
    client: &AdminClient,
    number: &str,
    json: bool,
) -> Result<String, ClientError> {
    let view = client.optout_view(number).await?;
    if json {
        return Ok(to_json(&view));
    }
    Ok(match view.scope {
        Some(scope) => format!(
            "opted out of {} via {}{}",
            match scope {
                crate::campaign::ConsentScope::All => "all templates",
                crate::campaign::ConsentScope::Marketing => "marketing templates only",
            },
            view.source.as_deref().unwrap_or("unknown"),
            view.since
                .map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        ),
        None => "not opted out".to_string(),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Our status types are plain data (strings, numbers, maps with string keys): serialising
    // them cannot fail, but fall back to an empty object rather than panic.
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::{CommandFactory, Parser};

    /// How the top-level CLI embeds these: flatten the args, flatten the subcommands.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: AdminCommand,
    }

    #[test]
    fn commands_parse_as_documented() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["tierpace", "--json", "retry", "black-friday", "--failed"])
            .expect("parses");
        assert!(cli.client.json);
        assert!(matches!(
            cli.command,
            AdminCommand::Retry { ref campaign, failed: true } if campaign == "black-friday"
        ));
        let cli = Cli::try_parse_from(["tierpace", "optout", "remove", "+5585999990001"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            AdminCommand::Optout { action: OptoutAction::Remove { ref number } } if number == "+5585999990001"
        ));
        let cli = Cli::try_parse_from(["tierpace", "brake", "lift", "sac"]).expect("parses");
        assert!(matches!(
            cli.command,
            AdminCommand::Brake { action: BrakeAction::Lift { ref sender } } if sender == "sac"
        ));
        let cli = Cli::try_parse_from(["tierpace", "tier", "confirm", "acme"]).expect("parses");
        assert!(matches!(
            cli.command,
            AdminCommand::Tier { action: TierAction::Confirm { ref group } } if group == "acme"
        ));
        assert!(
            Cli::try_parse_from(["tierpace", "pause"]).is_err(),
            "campaign is required"
        );
    }

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
