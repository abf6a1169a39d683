//! Command-line subcommands of the `tierpace` binary; each file is one subcommand, and a
//! subcommand with several modes is a folder whose `mod.rs` picks the child ([`plan`]: replay,
//! forecast, deadline, SVG; STYLE.md rule 22). Shared pieces: [`client`] (the admin-API client the
//! operator commands use), [`table`] (the day table `plan` prints) and [`out`] (stdout that
//! tolerates a closed pipe). They use `anyhow` for reporting (STYLE.md, convention 6) and return
//! their exit code.
pub mod check;
pub mod client;
pub mod golive;
pub mod init;
pub mod out;
pub mod plan;
pub mod status;
pub mod table;
pub mod template_preflight;
