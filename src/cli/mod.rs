//! Command-line subcommands of the `tierpace` binary; each file is one subcommand.
//! They use `anyhow` for reporting (STYLE.md, convention 6) and return their exit code.
pub mod plan;
//! Command-line clients of a running daemon (the admin API).
pub mod client;
pub mod status;
