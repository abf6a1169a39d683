//! The pure core: tier rules, business-hours calendars and pacing.
//!
//! Nothing here reads a clock, a file, the network or Redis: every function takes the time and
//! the state it needs and returns a decision (STYLE.md, convention 1).
//!
//! What lives here:
//! - tiers: [`tier`] (the ladder, quality), [`profile`] (the policy's numbers: legacy or
//!   Meta 2025), [`tier_state`] (the state machine), [`tier_report`] (what a provider's callback
//!   may do to it), [`tier_reconcile`] (the model's tier against the provider's);
//! - business hours: [`calendar`], written as [`calendar_config`], with [`holidays`]; recurring
//!   runs: [`cron`];
//! - pacing: [`pacer`] (each tick, how many may go), with [`growth`] (day budgets), [`share`]
//!   (campaigns sharing a sender), [`rate`] (the per-second cap), [`throughput`] (backing off on
//!   429s), [`brake`] (quality and spam brakes) and [`retry_policy`] (when a failed send is
//!   tried again).

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
pub mod tier_event;
pub mod tier_reconcile;
pub mod tier_report;
pub mod tier_state;
