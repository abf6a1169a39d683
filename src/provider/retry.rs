//! Exponential backoff with full jitter, for the retries a provider makes inside one `send`.
//!
//! Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): the n-th retry waits a
//! uniformly random time in `[0, min(max, base x 2^n)]`. When many sends hit the same 429 at
//! once, their retries spread out instead of arriving together again.
use std::time::Duration;

use rand::Rng;

/// The backoff schedule of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// The ceiling of the first retry's wait.
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// No wait is ever longer than this (a `Retry-After` from the provider included).
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The longest wait before retry number `retry` (0 for the first retry): `min(max, base x 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A full-jitter wait before retry number `retry`.
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        if ceiling.is_zero() {
            return ceiling;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }

    /// The wait before retry number `retry` when the provider sent `Retry-After`: at least what
    /// it asked, never more than `max`.
    pub fn delay_with_hint(
        &self,
        retry: u32,
        hint: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let jittered = self.delay(retry, rng);
        match hint {
            Some(hint) => hint.max(jittered).min(self.max),
            None => jittered,
        }
    }
}

/// Reads an HTTP `Retry-After` header given in seconds (the HTTP-date form is ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// The naive model: double `base` `retry` times, stopping at `max`.
    fn reference_ceiling(base_ms: u64, max_ms: u64, retry: u32) -> u64 {
        let mut c = base_ms as u128;
        for _ in 0..retry {
            c *= 2;
            if c >= max_ms as u128 {
                return max_ms;
            }
        }
        (c as u64).min(max_ms)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn ceiling_matches_doubling_model(base in 0u64..5_000, max in 0u64..120_000, retry in 0u32..64) {
            let b = Backoff { base: Duration::from_millis(base), max: Duration::from_millis(max) };
            prop_assert_eq!(b.ceiling(retry), Duration::from_millis(reference_ceiling(base, max, retry)));
        }

        #[test]
        fn delay_stays_within_its_ceiling(base in 0u64..5_000, max in 0u64..120_000, retry in 0u32..64, seed: u64) {
            let b = Backoff { base: Duration::from_millis(base), max: Duration::from_millis(max) };
            let mut rng = StdRng::seed_from_u64(seed);
            let d = b.delay(retry, &mut rng);
            prop_assert!(d <= b.ceiling(retry));
        }

        #[test]
        fn retry_after_is_honoured_up_to_max(hint in 0u64..60, retry in 0u32..10, seed: u64) {
            let b = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(30) };
            let mut rng = StdRng::seed_from_u64(seed);
            let d = b.delay_with_hint(retry, Some(Duration::from_secs(hint)), &mut rng);
            prop_assert!(d >= Duration::from_secs(hint).min(b.max));
            prop_assert!(d <= b.max);
        }
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut rng = StdRng::seed_from_u64(7);
        let waits: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3, &mut rng)).collect();
        assert!(waits.len() > 40, "full jitter should rarely repeat a wait");
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
