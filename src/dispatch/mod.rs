//! Turning campaigns into sends: per-contact progress and leases ([`progress`]), the per-sender
//! dispatcher, and the scheduler that decides which campaign runs are live.
pub mod progress;
pub mod progress_memory;
pub mod progress_redis;
pub mod schedule;
pub mod window;
