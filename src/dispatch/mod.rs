//! Turning campaigns into sends: per-contact progress and leases ([`progress`]), the per-sender
//! [`dispatcher`] loop (what it works with: [`sender_deps`]) with its run refresh (`run_refresh`), batch pipeline (`batch`) and views
//! (`views`), the pure run-state decision ([`schedule`]) and the status board; what the
//! provider's answers and callbacks do ([`react`], the one place that decides it); which
//! replica paces which sender ([`ownership`], [`sender_lease`], [`sender_hold`]) and the pacing
//! counters every replica sees ([`pacing_store`]), whose Redis backends share one key scheme
//! (`redis_wire`).
mod batch;
pub mod capacity_probe;
pub mod dispatcher;
pub mod in_flight;
mod outcome_writer;
pub mod ownership;
pub mod pacing_store;
pub mod progress;
pub mod progress_memory;
pub mod progress_redis;
pub mod react;
mod redis_wire;
mod run_refresh;
pub mod runner;
pub mod schedule;
mod send;
pub mod sender_deps;
pub mod sender_hold;
pub mod sender_lease;
pub mod status;
pub mod timeline;
mod views;
pub mod warm_up;
pub mod window;
