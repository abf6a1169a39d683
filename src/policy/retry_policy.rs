//! When a contact whose send failed for a temporary reason is tried again (DOMAIN.md §3): pair
//! rate (131056) "retry that customer later (4^n s)", maintenance (131057) "retry after
//! minutes", the marketing cap (131049) "not before 24 h", and throughput (429, 130429, 4,
//! 80007) after the provider's own retries gave up. Every number is a policy setting
//! (`[retries]` in the daemon config); the defaults are DOMAIN.md's.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One backoff ladder: `first`, then `first x factor^n`, at most `attempts` retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    #[serde(with = "humantime_serde")]
    pub first: Duration,
    pub factor: u32,
    /// Retries before the contact ends failed with the code.
    pub attempts: u32,
    /// No single wait is longer than this.
    #[serde(with = "humantime_serde")]
    pub cap: Duration,
}

impl Ladder {
    /// The wait before retry number `attempt` (0 for the first retry), or `None` when the
    /// retries are used up.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let factor = u64::from(self.factor.max(1)).saturating_pow(attempt);
        let ms = (self.first.as_millis() as u64).saturating_mul(factor);
        Some(Duration::from_millis(ms).min(self.cap))
    }

    /// The not-before time of retry number `attempt` after a failure at `now`.
    pub fn next(&self, attempt: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wait = chrono::Duration::from_std(self.delay(attempt)?).ok()?;
        now.checked_add_signed(wait)
    }
}

/// `[retries]`: the ladders of DOMAIN.md §3's temporary failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// 131056: 4 s, 16 s, 64 s, 256 s, 1024 s, then failed.
    pub pair_rate: Ladder,
    /// 131057: 5 min, 10 min, 20 min ... then failed.
    pub maintenance: Ladder,
    /// Throughput (429 / 130429 / 4 / 80007) and an unreachable provider, after the provider's
    /// own quick retries: 30 s, 60 s, 120 s ... then failed.
    pub throttled: Ladder,
    /// 131049: the contact is `deferred` this long, then tried again (a second 131049 defers
    /// it again: the cap is the customer's, it is never a reason to give up).
    #[serde(with = "humantime_serde")]
    pub marketing_cap: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            pair_rate: Ladder {
                first: Duration::from_secs(4),
                factor: 4,
                attempts: 5,
                cap: Duration::from_secs(3600),
            },
            maintenance: Ladder {
                first: Duration::from_secs(5 * 60),
                factor: 2,
                attempts: 5,
                cap: Duration::from_secs(2 * 3600),
            },
            throttled: Ladder {
                first: Duration::from_secs(30),
                factor: 2,
                attempts: 5,
                cap: Duration::from_secs(3600),
            },
            marketing_cap: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetrySettings {
    /// When a contact deferred by the marketing cap at `now` may be sent again.
    pub fn deferred_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.marketing_cap)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_rate_retries_after_4_16_64_seconds_then_gives_up() {
        let l = RetrySettings::default().pair_rate;
        let secs: Vec<u64> = (0..6)
            .map_while(|n| l.delay(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(secs, vec![4, 16, 64, 256, 1024]);
        assert_eq!(l.delay(5), None);
    }

    #[test]
    fn a_wait_never_exceeds_the_cap() {
        let l = Ladder {
            first: Duration::from_secs(60),
            factor: 10,
            attempts: 30,
            cap: Duration::from_secs(600),
        };
        assert_eq!(l.delay(29), Some(Duration::from_secs(600)));
    }

    #[test]
    fn the_marketing_cap_waits_24_hours() {
        let s = RetrySettings::default();
        let now = DateTime::<Utc>::from_timestamp(1_796_000_000, 0).unwrap();
        assert_eq!(s.deferred_until(now), now + chrono::Duration::hours(24));
    }
}
