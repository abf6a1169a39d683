//! The pure core: tier rules, business-hours calendars and pacing.
//!
//! Nothing here reads a clock, a file, the network or Redis: every function takes the time and
//! the state it needs and returns a decision (STYLE.md, convention 1).

pub mod brake;
pub mod calendar;
pub mod calendar_config;
pub mod cron;
pub mod growth;
pub mod holidays;
pub mod pacer;
pub mod profile;
pub mod rate;
pub mod retry_policy;
pub mod share;
pub mod throughput;
pub mod tier;
pub mod tier_reconcile;
pub mod tier_report;
pub mod tier_state;
