//! The one place that reads the wall clock.
//!
//! Everything else takes a time as an argument (the pure `policy/` core) or holds a
//! [`Clock`] (the few async actors that need "now"), so tests and the `plan` simulation can run
//! on virtual time. `clippy.toml` forbids `Utc::now` and friends outside this file.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Whether this clock is driven by hand (tests, simulations) rather than the wall clock:
    /// [`sleep_until`] then polls it instead of sleeping the difference.
    fn is_manual(&self) -> bool {
        false
    }
}

/// Waits until `clock` reads `at` or later: one sleep on the wall clock; on a manual clock,
/// short polls (it may run at any speed).
pub async fn sleep_until(clock: &dyn Clock, at: DateTime<Utc>) {
    loop {
        let left = at - clock.now();
        if left <= Duration::zero() {
            return;
        }
        let wait = if clock.is_manual() {
            std::time::Duration::from_millis(1)
        } else {
            left.to_std().unwrap_or_default()
        };
        tokio::time::sleep(wait).await;
    }
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned call site
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_manual(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::hours(25));
        assert_eq!(clock.now(), start + Duration::hours(25));
    }
}
