//! The pure core: tier rules, business-hours calendars and pacing.
//!
//! Nothing here reads a clock, a file, the network or Redis: every function takes the time and
//! the state it needs and returns a decision (STYLE.md, convention 1).

pub mod calendar;
pub mod calendar_config;
pub mod holidays;
pub mod profile;
pub mod tier;
pub mod tier_state;
pub mod brake;
pub mod growth;
pub mod pacer;
pub mod rate;
pub mod share;
