//! The CLI side of the admin API: `tierpace status`, `pause|resume|cancel|retry`, `optout add|remove`
//! talk to a running daemon over HTTP (issue #6 §6).
//!
//! The token comes from `TIERPACE_ADMIN_TOKEN` or a file (`--token-file`, e.g. a systemd
//! credential), never from a flag that `ps` would show. The two mistakes people make most — the
//! daemon is not running, the token is wrong — get their own errors with a hint.
//!
//! Here the dispatch: `run` picks the call for a subcommand and renders its answer (JSON or
//! one line / tables). `args.rs` holds the clap arguments, `api.rs` the typed client.
mod api;
mod args;

use chrono::{DateTime, Utc};

pub use api::{AdminClient, ClientError};
pub use args::{AdminCommand, BrakeAction, ClientArgs, OptoutAction, TierAction};

use super::status::{render_status, StatusReport};
use crate::http::{CampaignAction, CampaignStatus, Secret};

impl AdminClient {
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
