//! The tier policy: every number DOMAIN.md §1 lists as a setting (ladder, window, lookback,
//! upgrade share and delay, quality needed, quality downgrade), the two built-in profiles, and
//! the config section that picks a profile and overrides it field by field.
//!
//! Meta rewrites these rules often (DOMAIN.md §1), so nothing here is a constant in code: the
//! `legacy` profile is the operator's guide we were given (the default), `meta-2025` the rules
//! Meta announced for 7 Oct 2025 (2K first step, upgrade within 6 h, no quality downgrade, limits
//! shared by a business portfolio).
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::tier::{Quality, Tier, QUALITY_NAMES, TIER_NAMES};

/// The names [`PolicyConfig::profile`] accepts.
pub const PROFILE_NAMES: &str = "legacy, meta-2025";

/// The resolved tier rules a ledger and the planner apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The profile this policy started from (for logs and `plan`).
    pub profile: String,
    /// The rungs, lowest first; a tier outside the ladder is treated as its nearest rung below.
    pub ladder: Vec<Tier>,
    /// The moving period a limit counts unique customers over (24 h); also how long a
    /// business-initiated conversation and a customer-service window stay open.
    pub window: Duration,
    /// How far back the upgrade rule counts unique customers (7 days).
    pub lookback: Duration,
    /// Upgrade when the lookback's unique customers reach `limit x upgrade_share` ("X or more").
    pub upgrade_share: f64,
    /// How long after the crossing conversation the new limit takes effect.
    pub upgrade_delay: Duration,
    /// The lowest quality that still allows an upgrade (`Unknown` never blocks).
    pub upgrade_min_quality: Quality,
    /// Low quality for this long in a row lowers the limit one rung; `None` = no such rule.
    pub downgrade_after_low: Option<Duration>,
    /// Informational: the provider shares the limit across a business portfolio, so senders
    /// should name a common `limit_group` (meta-2025).
    pub per_portfolio: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self::legacy()
    }
}

impl Policy {
    /// The operator's guide (DOMAIN.md §1): 250 -> 1K -> 10K -> 100K -> unlimited, half the limit
    /// in 7 days, effective 24 h after the crossing conversation, 7 days of low quality downgrade.
    pub fn legacy() -> Self {
        Self {
            profile: "legacy".to_string(),
            ladder: vec![
                Tier::T250,
                Tier::T1K,
                Tier::T10K,
                Tier::T100K,
                Tier::Unlimited,
            ],
            window: Duration::hours(24),
            lookback: Duration::days(7),
            upgrade_share: 0.5,
            upgrade_delay: Duration::hours(24),
            upgrade_min_quality: Quality::Medium,
            downgrade_after_low: Some(Duration::days(7)),
            per_portfolio: false,
        }
    }

    /// Meta's rules since 7 Oct 2025: 250 -> 2K -> 10K -> 100K -> unlimited, upgrade within 6 h of
    /// using half the limit with high quality, no quality-based downgrades, per business portfolio.
    pub fn meta_2025() -> Self {
        Self {
            profile: "meta-2025".to_string(),
            ladder: vec![
                Tier::T250,
                Tier::T2K,
                Tier::T10K,
                Tier::T100K,
                Tier::Unlimited,
            ],
            upgrade_delay: Duration::hours(6),
            upgrade_min_quality: Quality::High,
            downgrade_after_low: None,
            per_portfolio: true,
            ..Self::legacy()
        }
    }

    /// A built-in profile by name.
    pub fn by_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "legacy" => Some(Self::legacy()),
            "meta-2025" | "meta_2025" | "meta2025" => Some(Self::meta_2025()),
            _ => None,
        }
    }

    /// The first rung: where a group with no recorded or configured tier starts.
    pub fn first_rung(&self) -> Tier {
        self.ladder.first().copied().unwrap_or(Tier::T250)
    }

    /// The rung above `tier`, if any (`tier` need not be on the ladder).
    pub fn next_rung(&self, tier: Tier) -> Option<Tier> {
        self.ladder.iter().copied().find(|&t| t > tier)
    }

    /// The rung below `tier`, never below the first rung.
    pub fn previous_rung(&self, tier: Tier) -> Tier {
        self.ladder
            .iter()
            .copied()
            .rev()
            .find(|&t| t < tier)
            .unwrap_or_else(|| self.first_rung().min(tier))
    }

    /// Unique customers the lookback must reach to earn the next rung ("X or more");
    /// `None` on the top rung or for an unlimited tier.
    pub fn upgrade_threshold(&self, tier: Tier) -> Option<u64> {
        self.next_rung(tier)?;
        let limit = tier.limit()?;
        // The epsilon keeps 0.3 x 1000 (= 300.00000000000006 in f64) at 300.
        Some(((limit as f64 * self.upgrade_share) - 1e-9).ceil().max(1.0) as u64)
    }

    /// New unique customers tierpace itself may reach per window on `tier`:
    /// `limit x safety_share - reserve` (DESIGN.md §2, guarantee 1); `None` = unlimited.
    pub fn allowance(&self, tier: Tier, safety_share: f64, reserve: u64) -> Option<u64> {
        let limit = tier.limit()?;
        let shared = ((limit as f64 * safety_share) + 1e-9).floor().max(0.0) as u64;
        Some(shared.min(limit).saturating_sub(reserve))
    }
}

/// A policy setting that could not be used, naming its config key and what is accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy.profile: unknown profile {value:?}; accepted: {PROFILE_NAMES}")]
    UnknownProfile { value: String },
    #[error("policy.{key}: unknown tier {value:?}; accepted: {TIER_NAMES}")]
    UnknownTier { key: String, value: String },
    #[error("policy.{key}: unknown quality {value:?}; accepted: {QUALITY_NAMES}")]
    UnknownQuality { key: String, value: String },
    #[error("policy.{key}: {value:?} is not a duration ({reason}); accepted: humantime like \"24h\", \"6h\", \"7d\", \"90m\"{extra}")]
    BadDuration {
        key: String,
        value: String,
        reason: String,
        extra: &'static str,
    },
    #[error("policy.{key}: {detail}")]
    Invalid { key: String, detail: String },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<PolicyError>),
}

/// The `[policy]` section of the daemon config: a profile, then any field overridden.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// `legacy` (default) or `meta-2025`.
    pub profile: String,
    /// Rungs lowest first, e.g. `["250", "1k", "10k", "100k", "unlimited"]`.
    pub ladder: Option<Vec<String>>,
    /// Humantime, e.g. `"24h"`.
    pub window: Option<String>,
    /// Humantime, e.g. `"7d"`.
    pub lookback: Option<String>,
    /// In (0, 1], e.g. `0.5`.
    pub upgrade_share: Option<f64>,
    /// Humantime, e.g. `"24h"` or `"6h"`.
    pub upgrade_delay: Option<String>,
    /// `low`, `medium` or `high` (provider colours accepted too).
    pub upgrade_min_quality: Option<String>,
    /// Humantime like `"7d"`, or `"off"` for no quality downgrade.
    pub downgrade_after_low: Option<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            profile: "legacy".to_string(),
            ladder: None,
            window: None,
            lookback: None,
            upgrade_share: None,
            upgrade_delay: None,
            upgrade_min_quality: None,
            downgrade_after_low: None,
        }
    }
}

impl PolicyConfig {
    /// Every problem in this section at once (empty when it resolves).
    pub fn validate(&self) -> Vec<PolicyError> {
        match self.build() {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    /// The profile with the overrides applied; one error, or [`PolicyError::Many`].
    pub fn resolve(&self) -> Result<Policy, PolicyError> {
        self.build().map_err(|mut errors| {
            if errors.len() == 1 {
                errors.remove(0)
            } else {
                PolicyError::Many(errors)
            }
        })
    }

    fn build(&self) -> Result<Policy, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut policy = match Policy::by_name(&self.profile) {
            Some(p) => p,
            None => {
                errors.push(PolicyError::UnknownProfile {
                    value: self.profile.clone(),
                });
                Policy::legacy()
            }
        };
        if let Some(names) = &self.ladder {
            let mut ladder = Vec::new();
            for (i, name) in names.iter().enumerate() {
                match name.parse::<Tier>() {
                    Ok(t) => ladder.push(t),
                    Err(_) => errors.push(PolicyError::UnknownTier {
                        key: format!("ladder[{i}]"),
                        value: name.clone(),
                    }),
                }
            }
            if names.is_empty() {
                errors.push(PolicyError::Invalid {
                    key: "ladder".into(),
                    detail: "needs at least one tier".into(),
                });
            } else if !ladder.windows(2).all(|w| w[0] < w[1]) {
                errors.push(PolicyError::Invalid {
                    key: "ladder".into(),
                    detail: "tiers must be listed lowest first, each once".into(),
                });
            }
            policy.ladder = ladder;
        }
        let mut duration = |key: &str, value: &Option<String>, target: &mut Duration| {
            if let Some(v) = value {
                match parse_duration(key, v, "") {
                    Ok(d) => *target = d,
                    Err(e) => errors.push(e),
                }
            }
        };
        duration("window", &self.window, &mut policy.window);
        duration("lookback", &self.lookback, &mut policy.lookback);
        duration(
            "upgrade_delay",
            &self.upgrade_delay,
            &mut policy.upgrade_delay,
        );
        if let Some(v) = &self.downgrade_after_low {
            match v.trim().to_ascii_lowercase().as_str() {
                "off" | "none" | "never" => policy.downgrade_after_low = None,
                _ => match parse_duration("downgrade_after_low", v, ", or \"off\"") {
                    Ok(d) => policy.downgrade_after_low = Some(d),
                    Err(e) => errors.push(e),
                },
            }
        }
        if let Some(share) = self.upgrade_share {
            if share.is_finite() && share > 0.0 && share <= 1.0 {
                policy.upgrade_share = share;
            } else {
                errors.push(PolicyError::Invalid {
                    key: "upgrade_share".into(),
                    detail: format!(
                        "{share} is out of range; accepted: a number in (0, 1], e.g. 0.5"
                    ),
                });
            }
        }
        if let Some(q) = &self.upgrade_min_quality {
            match q.parse::<Quality>() {
                Ok(Quality::Unknown) | Err(_) => errors.push(PolicyError::UnknownQuality {
                    key: "upgrade_min_quality".into(),
                    value: q.clone(),
                }),
                Ok(q) => policy.upgrade_min_quality = q,
            }
        }
        if policy.window <= Duration::zero() {
            errors.push(PolicyError::Invalid {
                key: "window".into(),
                detail: "must be longer than zero".into(),
            });
        }
        if policy.lookback < policy.window {
            errors.push(PolicyError::Invalid {
                key: "lookback".into(),
                detail: "must be at least as long as `window`".into(),
            });
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }
}

fn parse_duration(key: &str, value: &str, extra: &'static str) -> Result<Duration, PolicyError> {
    let bad = |reason: String| PolicyError::BadDuration {
        key: key.to_string(),
        value: value.to_string(),
        reason,
        extra,
    };
    let std: StdDuration =
        humantime::parse_duration(value.trim()).map_err(|e| bad(e.to_string()))?;
    Duration::from_std(std).map_err(|e| bad(e.to_string()))
}

/// Milliseconds since the Unix epoch: the ledger's wire form of a time (Redis scores).
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch (never happens for
/// times the ledger wrote itself).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(toml_text: &str) -> PolicyConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn default_config_is_the_legacy_profile() {
        assert_eq!(PolicyConfig::default().resolve().unwrap(), Policy::legacy());
        assert_eq!(cfg("").resolve().unwrap(), Policy::legacy());
    }

    #[test]
    fn meta_2025_has_a_2k_first_step_and_six_hour_delay() {
        let p = cfg("profile = \"meta-2025\"").resolve().unwrap();
        assert_eq!(p.next_rung(Tier::T250), Some(Tier::T2K));
        assert_eq!(p.upgrade_delay, Duration::hours(6));
        assert_eq!(p.downgrade_after_low, None);
        assert!(p.per_portfolio);
    }

    #[test]
    fn fields_override_the_profile_one_by_one() {
        let p = cfg("profile = \"legacy\"\nupgrade_delay = \"6h\"\ndowngrade_after_low = \"off\"\nladder = [\"1k\", \"TIER_10K\"]")
            .resolve()
            .unwrap();
        assert_eq!(p.upgrade_delay, Duration::hours(6));
        assert_eq!(p.downgrade_after_low, None);
        assert_eq!(p.ladder, vec![Tier::T1K, Tier::T10K]);
        assert_eq!(p.lookback, Duration::days(7));
    }

    #[test]
    fn unknown_profile_names_the_key_and_accepted_values() {
        let e = cfg("profile = \"meta-2024\"")
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("policy.profile") && e.contains("legacy, meta-2025"),
            "{e}"
        );
    }

    #[test]
    fn malformed_duration_and_tier_are_all_reported() {
        let errors = cfg("window = \"24 hourz\"\nladder = [\"1k\", \"3k\"]").validate();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let all = PolicyError::Many(errors).to_string();
        assert!(
            all.contains("policy.window") && all.contains("\"24h\""),
            "{all}"
        );
        assert!(
            all.contains("policy.ladder[1]") && all.contains("TIER_1K"),
            "{all}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<PolicyConfig>("upgrade_sahre = 0.5").is_err());
    }

    #[test]
    fn threshold_is_half_the_limit_or_more() {
        let p = Policy::legacy();
        assert_eq!(p.upgrade_threshold(Tier::T1K), Some(500));
        assert_eq!(p.upgrade_threshold(Tier::T10K), Some(5_000));
        assert_eq!(p.upgrade_threshold(Tier::T100K), Some(50_000));
        assert_eq!(p.upgrade_threshold(Tier::Unlimited), None);
        let p = Policy {
            upgrade_share: 0.3,
            ..Policy::legacy()
        };
        assert_eq!(p.upgrade_threshold(Tier::T1K), Some(300));
    }

    #[test]
    fn allowance_is_limit_times_share_minus_reserve() {
        let p = Policy::legacy();
        assert_eq!(p.allowance(Tier::T1K, 0.95, 0), Some(950));
        assert_eq!(p.allowance(Tier::T1K, 0.95, 50), Some(900));
        assert_eq!(p.allowance(Tier::T250, 1.0, 300), Some(0));
        assert_eq!(p.allowance(Tier::Unlimited, 0.95, 10), None);
    }

    #[test]
    fn rungs_step_along_the_ladder_and_stop_at_the_ends() {
        let p = Policy::legacy();
        assert_eq!(p.next_rung(Tier::T1K), Some(Tier::T10K));
        assert_eq!(p.next_rung(Tier::Unlimited), None);
        assert_eq!(p.previous_rung(Tier::T10K), Tier::T1K);
        assert_eq!(p.previous_rung(Tier::T250), Tier::T250);
        // A tier off the ladder (2K on legacy) moves to its neighbours on it.
        assert_eq!(p.next_rung(Tier::T2K), Some(Tier::T10K));
        assert_eq!(p.previous_rung(Tier::T2K), Tier::T1K);
    }
}
