//! The admin subcommands' arguments, as clap reads them: where the daemon is (`--url`,
//! `--token-file`, `--json`, `--refresh`) and what to ask it.
use std::path::PathBuf;

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
}
