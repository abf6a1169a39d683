//! The pure core: tier rules, business-hours calendars and pacing.
//!
//! Nothing here reads a clock, a file, the network or Redis: every function takes the time and
//! the state it needs and returns a decision (STYLE.md, convention 1).
//!
//! What lives here:
//! - tiers: [`tier`] (the ladder, quality), [`profile`] (the policy's numbers: legacy or
//!   Meta 2025), the state machine in three layers that import downward only: [`tier_state`]
//!   (the state and its transitions), [`tier_report`] (what a provider's callback may do to it)
//!   and [`tier_event`] (the events the ledger applies, each dispatched to its transition); and
//!   [`tier_reconcile`] (the model's tier against the provider's);
//! - business hours: [`calendar`] (a folder: spans, the calendar's rules, time-zone arithmetic,
//!   open stretches, the answers in instants), written as [`calendar_config`] (each `HH:MM-HH:MM` read by [`day_interval`]), with
//!   [`holidays`] (a folder: the sets, how a set is written, Brazil's data, Easter); recurring
//!   runs: [`cron`];
//! - pacing: [`pacer`] (a folder: each tick, how many may go; settings, views, the tick's plan,
//!   candidates, the grow budget, elapsed time), with [`growth`] (day budgets), [`share`]
//!   (campaigns sharing a sender), [`rate`] (the per-second cap), [`throughput`] (backing off on
//!   429s), [`brake`] (quality and spam brakes) and [`retry_policy`] (when a failed send is
//!   tried again).
//!
//! A folder's `mod.rs` re-exports its public types, so each has one path
//! (`policy::pacer::Pacer`, `policy::calendar::Calendar`); its children stay private and, tests
//! aside, never import their parent.

pub mod brake;
pub mod calendar;
pub mod calendar_config;
pub mod cron;
pub mod day_interval;
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
