//! The pacer's settings (`[pacing]` in the daemon config), their defaults, and their check.
use std::time::Duration as StdDuration;

use serde::{Deserialize, Serialize};

use crate::policy::brake::BrakeSettings;

/// Pacing settings (`[pacing]` in the daemon config); all optional, defaults below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacerSettings {
    /// Share of the tier limit tierpace may use in any 24 h (guarantee 1). Default 0.95.
    pub safety_share: f64,
    /// Unique customers per 24 h kept free for agents' manual messages. Default 0.
    pub reserve: u64,
    /// A template's first this-many sends go at `warmup_share` of the pace. Default 1000.
    pub warmup_sends: u64,
    /// A template in warm-up sends at most `warmup_share x max_mps` a second, in (0, 1]. It
    /// slows the rate only: the day's budget and a grow campaign's crossing are not cut
    /// (DESIGN.md §3). Default 0.5.
    pub warmup_share: f64,
    /// Grow mode crosses the next tier's threshold over this much open time from the moment the
    /// tier allows it (the open of the day, or the new limit taking effect), never faster than
    /// `max_mps`, then spreads the rest of the allowance over the rest of the open day
    /// (DESIGN.md §3, issue #14). Shorter crosses earlier; longer leaves more time for early
    /// complaints to brake before the rest. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub cross_within: StdDuration,
    /// The longest gap between two ticks that is paid out (after a pause or a Redis outage the
    /// first tick is not a catch-up burst). Must be longer than the dispatcher's tick, or the
    /// pace falls behind. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub catch_up: StdDuration,
    /// Guard for the jitter between a send's start and its arrival at the provider: starts are
    /// spaced `(1 s + arrival_jitter) / max_mps` apart (`dispatch/timeline.rs`), so no second of
    /// arrivals goes over `max_mps` and the achieved rate is `max_mps / (1 + jitter)`.
    /// Default `5ms` (99.5 % of the cap).
    #[serde(with = "humantime_serde")]
    pub arrival_jitter: StdDuration,
    /// When spam failures brake a sender.
    pub brakes: BrakeSettings,
}

impl Default for PacerSettings {
    fn default() -> Self {
        Self {
            safety_share: 0.95,
            reserve: 0,
            warmup_sends: 1000,
            warmup_share: 0.5,
            cross_within: StdDuration::from_secs(3600),
            catch_up: StdDuration::from_secs(5),
            arrival_jitter: StdDuration::from_millis(5),
            brakes: BrakeSettings::default(),
        }
    }
}

/// A pacing setting that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pacing.{key}: {problem}")]
pub struct SettingsError {
    pub key: &'static str,
    pub problem: String,
}

impl PacerSettings {
    /// Checks every setting and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<SettingsError>> {
        let mut errors = Vec::new();
        let mut share = |key: &'static str, value: f64| {
            if !(value > 0.0 && value <= 1.0) {
                errors.push(SettingsError {
                    key,
                    problem: format!("must be a share in (0, 1], got {value}"),
                });
            }
        };
        share("safety_share", self.safety_share);
        share("warmup_share", self.warmup_share);
        if self.cross_within.is_zero() {
            errors.push(SettingsError {
                key: "cross_within",
                problem: "must be longer than zero".into(),
            });
        }
        if self.catch_up.is_zero() {
            errors.push(SettingsError {
                key: "catch_up",
                problem: "must be longer than zero".into(),
            });
        }
        if self.brakes.spam_window.is_zero() {
            errors.push(SettingsError {
                key: "brakes.spam_window",
                problem: "must be longer than zero".into(),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_validation_reports_every_problem() {
        let settings = PacerSettings {
            safety_share: 1.5,
            warmup_share: 0.0,
            ..PacerSettings::default()
        };
        let errors = settings.validate().unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(PacerSettings::default().validate().is_ok());
    }

    #[test]
    fn settings_read_from_toml_with_humantime_durations() {
        let settings: PacerSettings = toml::from_str(
            "safety_share = 0.9\nreserve = 20\ncatch_up = \"5s\"\n[brakes]\nspam_window = \"30m\"\n",
        )
        .unwrap();
        assert_eq!(settings.reserve, 20);
        assert_eq!(settings.catch_up, StdDuration::from_secs(5));
        assert_eq!(settings.brakes.spam_window, StdDuration::from_secs(1800));
        assert!(toml::from_str::<PacerSettings>("bogus = 1").is_err());
    }
}
