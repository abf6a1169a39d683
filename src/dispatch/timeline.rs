//! A sender's send timeline: when each send may start, one `spacing` apart (issue #15).
//!
//! Meta counts a sender's throughput where the requests arrive, in every one-second interval
//! (DOMAIN.md §2: 80 messages a second by default, 130429 above it). Releasing a tick's grants
//! at once puts them at the provider in a clump; spacing each start on the sender's own timeline
//! (a GCRA with no burst: each start at least `spacing` after the previous one) keeps any one
//! second at or under the cap wherever it is measured, as long as arrivals keep the order and
//! jitter of the starts.
//!
//! The spacing is `(1 s + arrival_jitter) / max_mps`: a one-second interval of arrivals, widened
//! by the jitter between a start and its arrival, holds at most `max_mps` starts, and the
//! achieved rate is `max_mps / (1 + jitter)` (99.5 % of the cap for the default 5 ms).
//!
//! Pure: times are arguments. The dispatcher reserves a start for each send once its admission
//! and claim are done (so those round trips happen ahead of the start, never delaying it) and
//! asks [`SendTimeline::room`] how many starts fit before its next decision, which bounds what
//! the pacer may grant (no queue builds up behind the timeline).
use chrono::{DateTime, Duration, Utc};

/// One sender's timeline of send starts.
#[derive(Debug, Clone)]
pub struct SendTimeline {
    /// Time between two starts, in nanoseconds (at least 1).
    spacing_ns: i64,
    /// The earliest the next reserved start may be.
    next: Option<DateTime<Utc>>,
    /// The last start actually taken ([`SendTimeline::start`]).
    last_start: Option<DateTime<Utc>>,
}

impl SendTimeline {
    /// A timeline for `max_mps` sends a second with `arrival_jitter` of guard.
    pub fn new(max_mps: u32, arrival_jitter: std::time::Duration) -> Self {
        let mut t = Self {
            spacing_ns: 1,
            next: None,
            last_start: None,
        };
        t.set_rate(max_mps, arrival_jitter);
        t
    }

    /// Changes the rate (AIMD after throughput errors, a reload); starts already reserved stay.
    pub fn set_rate(&mut self, max_mps: u32, arrival_jitter: std::time::Duration) {
        let window = 1_000_000_000i64
            .saturating_add(i64::try_from(arrival_jitter.as_nanos()).unwrap_or(i64::MAX / 2));
        // Strictly over `window / max_mps`: `max_mps + 1` starts then span more than the
        // window, even a closed one.
        let per = i64::from(max_mps.max(1));
        self.spacing_ns = window / per + 1;
    }

    /// The time between two starts.
    pub fn spacing(&self) -> Duration {
        Duration::nanoseconds(self.spacing_ns)
    }

    /// Reserves the next start at or after `now`, and returns it.
    pub fn reserve(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.next.map_or(now, |next| next.max(now));
        self.next = Some(start + self.spacing());
        start
    }

    /// Takes the actual start of a send that is ready at `now` (its reserved start has come):
    /// `now`, or one spacing after the previous actual start if that is later. Sends that wake
    /// late together (a stalled runtime, a busy machine) leave one spacing apart, never in a
    /// clump; the caller waits until the returned time.
    pub fn start(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let at = self
            .last_start
            .map_or(now, |last| (last + self.spacing()).max(now));
        self.last_start = Some(at);
        at
    }

    /// How many more starts fit before `now + horizon` (the next decision, plus the time its
    /// admission takes): what may be granted now without a queue building up behind.
    pub fn room(&self, now: DateTime<Utc>, horizon: Duration) -> u64 {
        let from = self.next.map_or(now, |next| next.max(now));
        let span = (now + horizon - from).num_nanoseconds().unwrap_or(i64::MAX);
        if span <= 0 {
            0
        } else {
            // One start fits at `from` itself.
            u64::try_from(span / self.spacing_ns).unwrap_or(0) + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::time::Duration as StdDuration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    /// The most starts in any closed one-second interval, widened by `jitter`.
    fn busiest(starts: &[DateTime<Utc>], jitter: Duration) -> usize {
        let mut most = 0;
        let mut j = 0;
        for i in 0..starts.len() {
            while starts[i] - starts[j] > Duration::seconds(1) + jitter {
                j += 1;
            }
            most = most.max(i - j + 1);
        }
        most
    }

    #[test]
    fn the_spacing_keeps_every_second_under_the_cap_at_995_percent() {
        let jitter = StdDuration::from_millis(5);
        let mut t = SendTimeline::new(80, jitter);
        let starts: Vec<_> = (0..8000).map(|_| t.reserve(t0())).collect();
        assert_eq!(busiest(&starts, Duration::milliseconds(5)), 80);
        let span = (*starts.last().unwrap() - starts[0]).num_milliseconds() as f64 / 1000.0;
        let rate = (starts.len() - 1) as f64 / span;
        assert!((0.99 * 80.0..=80.0).contains(&rate), "{rate}");
    }

    #[test]
    fn room_is_what_fits_before_the_horizon_and_shrinks_as_starts_are_reserved() {
        let mut t = SendTimeline::new(100, StdDuration::ZERO);
        assert_eq!(t.room(t0(), Duration::milliseconds(100)), 10);
        for _ in 0..10 {
            t.reserve(t0());
        }
        assert_eq!(t.room(t0(), Duration::milliseconds(100)), 0);
        // Idle time is not banked: after a pause the room is the horizon's again, not a burst.
        let later = t0() + Duration::seconds(10);
        assert_eq!(t.room(later, Duration::milliseconds(100)), 10);
        assert_eq!(t.reserve(later), later);
    }

    #[test]
    fn sends_that_wake_late_together_still_start_one_spacing_apart() {
        let mut t = SendTimeline::new(80, StdDuration::from_millis(5));
        let late = t0() + Duration::milliseconds(90);
        let starts: Vec<_> = (0..8).map(|_| t.start(late)).collect();
        for pair in starts.windows(2) {
            assert_eq!(pair[1] - pair[0], t.spacing());
        }
        assert_eq!(starts[0], late);
    }

    proptest! {
        /// Whatever the rate, the jitter guard and the moments sends ask for a start, no closed
        /// interval of `1 s + jitter` holds more than `max_mps` starts, and a sender that always
        /// has work achieves at least 99 % of the cap when the guard is at most 10 ms.
        #[test]
        fn never_over_the_cap_in_any_window(
            max_mps in 1u32..2000,
            jitter_ms in 0u64..10,
            asks in prop::collection::vec(0i64..50_000_000, 1..400),
        ) {
            let jitter = StdDuration::from_millis(jitter_ms);
            let mut t = SendTimeline::new(max_mps, jitter);
            let mut now = t0();
            let mut starts = Vec::new();
            for gap in asks {
                now += Duration::nanoseconds(gap);
                starts.push(t.reserve(now));
            }
            let window_extra = Duration::milliseconds(jitter_ms as i64);
            prop_assert!(busiest(&starts, window_extra) <= max_mps as usize);
            // Always busy: asks all at once.
            let mut t = SendTimeline::new(max_mps, jitter);
            let n = (max_mps as usize * 3).max(2);
            let busy: Vec<_> = (0..n).map(|_| t.reserve(t0())).collect();
            let span = (*busy.last().unwrap() - busy[0]).num_nanoseconds().unwrap() as f64 / 1e9;
            let rate = (n - 1) as f64 / span;
            prop_assert!(rate >= 0.99 * f64::from(max_mps) - 1e-9, "{} of {}", rate, max_mps);
        }
    }
}
