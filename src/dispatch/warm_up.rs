//! A sender's first second on cold connections (issue #15): a wider guard while its sends open
//! new connections.
//!
//! A send on a new connection reaches the provider later than one on a reused connection (a
//! TCP and TLS handshake first: a fraction of a millisecond on loopback, 50-150 ms to a real
//! provider). When a sender starts from cold, its first round of sends (one provider latency of
//! them) all open connections, and the sends after the first answers reuse them: arrivals that
//! were late by the handshake are followed by arrivals that are not, and a one-second interval
//! across that change holds more than the starts in it. Measured at 1,000/s and 300 ms against
//! the loopback fake: 1,004 arrivals in the busiest second, all in the first 1.3 s, with the
//! starts one spacing apart. So from a cold start until one second after the first round has
//! come back, the timeline's guard is widened by [`WarmUp::EXTRA_GUARD`]: about 3 % fewer
//! starts in that time, and every one-second interval across the change keeps that slack.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

/// When a sender's connections count as cold, and until when its guard stays widened.
#[derive(Debug, Clone, Default)]
pub struct WarmUp {
    /// The last time a send of this sender was in flight.
    last_busy: Option<DateTime<Utc>>,
    /// The widened guard holds until then.
    until: Option<DateTime<Utc>>,
}

impl WarmUp {
    /// Added to `[pacing] arrival_jitter` while warming: a 30 ms shorter second, 3 % of the cap.
    pub const EXTRA_GUARD: StdDuration = StdDuration::from_millis(30);
    /// Nothing in flight for this long: the provider may have closed the idle connections
    /// (servers commonly keep an idle HTTP connection 5-60 s).
    pub const COLD_AFTER: Duration = Duration::seconds(5);
    /// The first round's length before any answer has been measured.
    const UNKNOWN_LATENCY: Duration = Duration::seconds(1);

    /// The extra guard for the starts planned at `now`. `in_flight`: sends of this sender in
    /// flight now; `will_send`: starts are about to be planned; `latency`: the provider's
    /// recent p99 answer time, if measured.
    pub fn extra_guard(
        &mut self,
        now: DateTime<Utc>,
        in_flight: usize,
        will_send: bool,
        latency: Option<StdDuration>,
    ) -> StdDuration {
        let cold = self.last_busy.is_none_or(|t| now - t >= Self::COLD_AFTER);
        if in_flight > 0 {
            self.last_busy = Some(now);
        } else if will_send && cold {
            let round = latency
                .and_then(|l| Duration::from_std(l).ok())
                .unwrap_or(Self::UNKNOWN_LATENCY);
            self.until = Some(now + round + Duration::seconds(1));
            self.last_busy = Some(now);
        }
        if self.until.is_some_and(|u| now < u) {
            Self::EXTRA_GUARD
        } else {
            StdDuration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    fn ms(n: i64) -> Duration {
        Duration::milliseconds(n)
    }

    #[test]
    fn a_cold_start_widens_the_guard_until_a_second_after_the_first_round() {
        let mut w = WarmUp::default();
        let latency = Some(StdDuration::from_millis(300));
        // Nothing to send: nothing changes.
        assert_eq!(w.extra_guard(t0(), 0, false, latency), StdDuration::ZERO);
        assert_eq!(w.extra_guard(t0(), 0, true, latency), WarmUp::EXTRA_GUARD);
        assert_eq!(
            w.extra_guard(t0() + ms(1299), 300, true, latency),
            WarmUp::EXTRA_GUARD
        );
        assert_eq!(
            w.extra_guard(t0() + ms(1300), 300, true, latency),
            StdDuration::ZERO
        );
    }

    #[test]
    fn short_lulls_stay_warm_and_long_ones_go_cold() {
        let mut w = WarmUp::default();
        w.extra_guard(t0(), 0, true, None);
        // Before any answer the first round is taken as 1 s.
        assert_eq!(
            w.extra_guard(t0() + ms(1999), 5, true, None),
            WarmUp::EXTRA_GUARD
        );
        assert_eq!(
            w.extra_guard(t0() + ms(2000), 5, true, None),
            StdDuration::ZERO
        );
        // A low-rate sender, idle between sends for under 5 s: its connections stay warm.
        let quiet = t0() + ms(6999);
        assert_eq!(w.extra_guard(quiet, 0, true, None), StdDuration::ZERO);
        // Idle 5 s: cold again.
        let later = t0() + ms(12_000);
        assert_eq!(w.extra_guard(later, 0, true, None), WarmUp::EXTRA_GUARD);
    }
}
