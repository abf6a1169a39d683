//! When the main loop looks at the next cron firing again.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Shared;

/// How long to sleep before looking at the next cron firing again: until it, but at most a
/// second, so a clock that jumps (NTP, a suspended VM, a test's manual clock) is noticed.
pub(super) fn cron_delay(shared: &Shared, next: Option<DateTime<Utc>>) -> Duration {
    const RECHECK: Duration = Duration::from_secs(1);
    match next {
        Some(t) => (t - shared.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(RECHECK),
        None => Duration::from_secs(3600),
    }
}
