//! The sender's send rate under the provider's throughput errors (DOMAIN.md §2-§3: HTTP 429,
//! 130429, 4, 80007): additive increase, multiplicative decrease, as TCP does with a congested
//! link. A throughput error halves the rate (at most once per `cooldown`, so one burst of
//! answers to sends already in flight counts once); every accepted send adds `increase / rate`
//! messages per second, so the rate climbs back by about `increase` per second of successful
//! sending, up to the configured `max_mps`. The pacer sends at [`AdaptiveRate::current`].
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveRate {
    max: f64,
    current: f64,
    last_cut: Option<DateTime<Utc>>,
    cuts: u64,
}

/// The share of the rate kept after a throughput error.
const DECREASE: f64 = 0.5;
/// Messages per second regained per second of accepted sends.
const INCREASE: f64 = 1.0;
/// The floor: the sender keeps trying at one message per second.
const MIN_MPS: f64 = 1.0;

impl AdaptiveRate {
    pub fn new(max_mps: u32) -> Self {
        let max = f64::from(max_mps.max(1));
        Self {
            max,
            current: max,
            last_cut: None,
            cuts: 0,
        }
    }

    /// A throughput error: halve the rate, unless it was cut within the last second. Returns
    /// `true` when the rate went down.
    pub fn throttled(&mut self, now: DateTime<Utc>) -> bool {
        if self
            .last_cut
            .is_some_and(|t| now - t < Duration::seconds(1))
        {
            return false;
        }
        let before = self.current;
        self.current = (self.current * DECREASE).max(MIN_MPS);
        self.last_cut = Some(now);
        self.cuts += 1;
        self.current < before
    }

    /// An accepted send: climb back towards `max_mps`.
    pub fn succeeded(&mut self) {
        if self.current < self.max {
            self.current = (self.current + INCREASE / self.current).min(self.max);
        }
    }

    /// Messages per second the pacer may send now (whole, at least 1).
    pub fn current(&self) -> u32 {
        self.current.floor().max(MIN_MPS) as u32
    }

    /// The configured maximum.
    pub fn max(&self) -> u32 {
        self.max as u32
    }

    /// Throughput errors that lowered the rate so far.
    pub fn cuts(&self) -> u64 {
        self.cuts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_796_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_throughput_error_halves_the_rate_once_per_burst() {
        let mut r = AdaptiveRate::new(80);
        assert!(r.throttled(t(0)));
        assert!(!r.throttled(t(0)));
        assert_eq!(r.current(), 40);
        assert!(r.throttled(t(2)));
        assert_eq!(r.current(), 20);
    }

    #[test]
    fn accepted_sends_climb_back_to_max_but_never_above() {
        let mut r = AdaptiveRate::new(20);
        r.throttled(t(0));
        assert_eq!(r.current(), 10);
        // About one message per second more for each second of sends at the current rate.
        for _ in 0..11 {
            r.succeeded();
        }
        assert_eq!(r.current(), 11);
        for _ in 0..10_000 {
            r.succeeded();
        }
        assert_eq!(r.current(), 20);
    }

    #[test]
    fn the_rate_never_drops_below_one() {
        let mut r = AdaptiveRate::new(4);
        for s in 0..10 {
            r.throttled(t(2 * s));
        }
        assert_eq!(r.current(), 1);
    }
}
