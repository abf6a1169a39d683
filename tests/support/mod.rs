//! Shared helpers for integration tests. Each test binary that needs Redis starts its own
//! private `redis-server` on a free port (no persistence), so tests are isolated from the
//! machine's Redis and can stop or restart it for fault tests.
#![allow(dead_code)]

pub mod daemon;
pub mod fake_gupshup;
pub mod fake_meta;
pub mod redis_cluster;
pub mod redis_deploy;
pub mod redis_server;
pub mod scenario;
