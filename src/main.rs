//! The `tierpace` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tierpace::cli::plan::{self, PlanArgs};

/// Paces WhatsApp Business template campaigns to the sender's messaging tier.
#[derive(Debug, Parser)]
#[command(name = "tierpace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Forecast the tier ladder day by day: tierpace plan --tier 1k --sends 500,500
    Plan(PlanArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Plan(args) => plan::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("tierpace: {e:#}");
            ExitCode::FAILURE
        }
    }
}
