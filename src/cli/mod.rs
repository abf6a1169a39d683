//! Command-line subcommands of the `tierpace` binary; each file is one subcommand (or the
//! admin-API client they share). They use `anyhow` for reporting (STYLE.md, convention 6) and
//! return their exit code.
pub mod check;
pub mod client;
pub mod forecast;
pub mod forecast_svg;
pub mod golive;
pub mod init;
pub mod out;
pub mod plan;
pub mod plan_forecast;
pub mod preflight;
pub mod status;
pub mod template_preflight;
