//! The `tierpace` binary: parses the command line and hands over to the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tierpace::cli::client::{AdminClient, AdminCommand, ClientArgs};
use tierpace::clock::{Clock, SystemClock};
use tierpace::logging::{init_logging, LogFormat};

/// Sends WhatsApp Business template campaigns as fast as the sender's messaging tier allows,
/// grows that tier safely, and never sends outside business hours.
#[derive(Debug, Parser)]
#[command(name = "tierpace", version, about, long_about = None)]
struct Cli {
    /// Log format: human on a terminal, json for journald/log shippers (default: json when
    /// JOURNAL_STREAM is set, else human).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: watch the campaigns directory and dispatch campaigns.
    Run {
        /// The daemon config.
        #[arg(
            long,
            short,
            default_value = "config/tierpace.toml",
            env = "TIERPACE_CONFIG"
        )]
        config: PathBuf,
    },
    /// Validate the config, every campaign and every audience offline; exit 1 on any error.
    /// With --online, also the go-live checklist against each provider (never sends).
    Check {
        #[arg(
            long,
            short,
            default_value = "config/tierpace.toml",
            env = "TIERPACE_CONFIG"
        )]
        config: PathBuf,
        /// Ask the providers and the network too: exit 0 all ok, 1 any failed, 2 only unknowns.
        #[arg(long)]
        online: bool,
        /// With --online: the wallet balance under which the balance item fails (default 10).
        #[arg(long, requires = "online")]
        min_balance: Option<f64>,
        /// With --online: the price of one message, for the days-left estimate.
        #[arg(long, requires = "online")]
        price_per_message: Option<f64>,
    },
    /// Write a production skeleton into DIR (config on Redis with a Gupshup sender, a generated
    /// hash key, an example campaign, the systemd override) and print the next steps. Never
    /// overwrites a file.
    Init {
        /// The folder to write into (created if missing), e.g. /etc/tierpace.
        dir: PathBuf,
    },
    /// Forecast the tier ladder: new conversations, trailing-7-day uniques, limit and upgrade
    /// times per day.
    Plan(Box<tierpace::cli::plan::PlanArgs>),
    #[command(flatten)]
    Admin(AdminCommand),
}

/// jemalloc instead of glibc's malloc (issue #15, `benches/peers/run.sh`, same session): 0.54 ->
/// 0.46 CPU s per 10,000 sends with no cap, and 29.1 -> 26.6 MB peak RSS with one arena and
/// dirty pages returned after 1 s (its options are built in: `.cargo/config.toml`); glibc's
/// malloc and free were 17 % of a send.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// EX_USAGE: the config is invalid (STYLE.md 17).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = std::env::var("TIERPACE_LOG").unwrap_or_else(|_| "info".into());
    match cli.command {
        Command::Run { config } => {
            secrets_relative_to(&config);
            if let Err(e) = init_logging(cli.log_format, &level) {
                eprintln!("tierpace: {e}");
                return ExitCode::from(EX_USAGE);
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("tierpace: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let token = tokio_util::sync::CancellationToken::new();
            match runtime.block_on(tierpace::daemon::run(&config, clock, token)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // Logged once: the log goes to standard error (or the journal) already.
                    tracing::error!(error = %format!("{e:#}"), "tierpace stopped");
                    if e.downcast_ref::<tierpace::config::ConfigError>().is_some() {
                        ExitCode::from(EX_USAGE)
                    } else {
                        ExitCode::FAILURE
                    }
                }
            }
        }
        Command::Check {
            config,
            online,
            min_balance,
            price_per_message,
        } => match if online {
            secrets_relative_to(&config);
            let args = tierpace::cli::golive::OnlineArgs {
                json: cli.client.json,
                min_balance,
                price_per_message,
            };
            tierpace::cli::golive::run(&config, SystemClock.now(), &args)
        } else {
            secrets_relative_to(&config);
            tierpace::cli::check::run(&config, SystemClock.now())
        } {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => {
                eprintln!("tierpace check: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Init { dir } => match tierpace::cli::init::run(&dir) {
            Ok(out) => {
                tierpace::cli::out::print(&out);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tierpace init: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Plan(args) => match tierpace::cli::plan::run(&args) {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => {
                eprintln!("tierpace plan: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Admin(command) => admin(&command, &cli.client),
    }
}

/// Outside systemd, relative `*_file` secrets are read from the config file's folder: the same
/// rule for `run` and `check`, whatever the current directory (issue #20). Under systemd,
/// `$CREDENTIALS_DIRECTORY` (set by `LoadCredential=`) wins. Called before any thread starts.
fn secrets_relative_to(config: &std::path::Path) {
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some() {
        return;
    }
    let dir = match config.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    std::env::set_var("CREDENTIALS_DIRECTORY", dir);
}

fn admin(command: &AdminCommand, args: &ClientArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tierpace: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let client = AdminClient::from_args(args)?;
        if args.refresh && matches!(command, AdminCommand::Status) {
            client.refresh_tiers().await?;
        }
        tierpace::cli::client::run(&client, command, args.json, SystemClock.now()).await
    });
    match result {
        Ok(out) => {
            tierpace::cli::out::println(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tierpace: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
