//! Command-line clients of a running daemon (the admin API).
pub mod client;
pub mod status;
