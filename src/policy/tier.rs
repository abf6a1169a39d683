//! The messaging-limit ladder (DOMAIN.md §1): how many unique customers a sender's limit group
//! may reach with business-initiated conversations in a moving 24 h, and the quality rating that
//! gates moving up it.
//!
//! Providers name tiers in several ways (Gupshup's `TIER_1K`, Meta's `TIER_2K`, operators' `1k`
//! or `10000`); [`Tier::from_str`] accepts all of them so config, webhooks and the CLI share one
//! parser. The rungs a sender actually climbs are a policy setting ([`super::profile::Policy`]).
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One rung of a messaging-limit ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Tier {
    /// Meta's limit for numbers without a verified business (`TIER_50`).
    T50,
    T250,
    T1K,
    /// Meta's first step since October 2025 (`TIER_2K`).
    T2K,
    T10K,
    T100K,
    Unlimited,
}

/// Every tier, lowest first.
pub const ALL_TIERS: [Tier; 7] = [
    Tier::T50,
    Tier::T250,
    Tier::T1K,
    Tier::T2K,
    Tier::T10K,
    Tier::T100K,
    Tier::Unlimited,
];

/// What the parsers accept, for error messages.
pub const TIER_NAMES: &str =
    "50, 250, 1k, 2k, 10k, 100k, unlimited (also TIER_250, TIER_1K, ..., TIER_UNLIMITED, or 1000, 10000, ...)";

impl Tier {
    /// Unique customers per rolling window; `None` for unlimited.
    pub fn limit(self) -> Option<u64> {
        match self {
            Tier::T50 => Some(50),
            Tier::T250 => Some(250),
            Tier::T1K => Some(1_000),
            Tier::T2K => Some(2_000),
            Tier::T10K => Some(10_000),
            Tier::T100K => Some(100_000),
            Tier::Unlimited => None,
        }
    }

    /// The name Gupshup and Meta use in tier events (`TIER_1K`).
    pub fn provider_name(self) -> &'static str {
        match self {
            Tier::T50 => "TIER_50",
            Tier::T250 => "TIER_250",
            Tier::T1K => "TIER_1K",
            Tier::T2K => "TIER_2K",
            Tier::T10K => "TIER_10K",
            Tier::T100K => "TIER_100K",
            Tier::Unlimited => "TIER_UNLIMITED",
        }
    }

    /// The short name used in config, the CLI and logs (`1K`).
    pub fn short_name(self) -> &'static str {
        match self {
            Tier::T50 => "50",
            Tier::T250 => "250",
            Tier::T1K => "1K",
            Tier::T2K => "2K",
            Tier::T10K => "10K",
            Tier::T100K => "100K",
            Tier::Unlimited => "unlimited",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

/// A tier name that none of the accepted spellings matches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier {value:?}; accepted: {TIER_NAMES}")]
pub struct UnknownTier {
    pub value: String,
}

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ',', ' '], "");
        let norm = norm.strip_prefix("tier").unwrap_or(&norm);
        let tier = match norm {
            "50" => Tier::T50,
            "250" => Tier::T250,
            "1k" | "1000" => Tier::T1K,
            "2k" | "2000" => Tier::T2K,
            "10k" | "10000" => Tier::T10K,
            "100k" | "100000" => Tier::T100K,
            "unlimited" => Tier::Unlimited,
            _ => {
                return Err(UnknownTier {
                    value: s.to_string(),
                })
            }
        };
        Ok(tier)
    }
}

impl TryFrom<String> for Tier {
    type Error = UnknownTier;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Tier> for String {
    fn from(t: Tier) -> String {
        t.short_name().to_string()
    }
}

/// A sender's quality rating as the provider reports it. `Unknown` is what a new number has
/// before it was rated: it does not block upgrades (only a rating below the policy's minimum does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Quality {
    Unknown,
    Low,
    Medium,
    High,
}

/// What the quality parser accepts, for error messages.
pub const QUALITY_NAMES: &str = "high/GREEN, medium/YELLOW, low/RED, unknown/UNKNOWN";

impl Quality {
    /// Whether this rating allows an upgrade under a policy that needs at least `min`.
    pub fn allows_upgrade(self, min: Quality) -> bool {
        match self {
            Quality::Unknown => true,
            q => q >= min,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quality::Unknown => "unknown",
            Quality::Low => "low",
            Quality::Medium => "medium",
            Quality::High => "high",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A quality name that none of the accepted spellings matches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown quality {value:?}; accepted: {QUALITY_NAMES}")]
pub struct UnknownQuality {
    pub value: String,
}

impl FromStr for Quality {
    type Err = UnknownQuality;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" | "green" => Ok(Quality::High),
            "medium" | "yellow" => Ok(Quality::Medium),
            "low" | "red" => Ok(Quality::Low),
            "unknown" | "na" | "" => Ok(Quality::Unknown),
            _ => Err(UnknownQuality {
                value: s.to_string(),
            }),
        }
    }
}

impl TryFrom<String> for Quality {
    type Error = UnknownQuality;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Quality> for String {
    fn from(q: Quality) -> String {
        q.name().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_tier_parses() {
        for (s, t) in [
            ("1k", Tier::T1K),
            ("10K", Tier::T10K),
            ("TIER_1K", Tier::T1K),
            ("tier_100k", Tier::T100K),
            ("TIER_2K", Tier::T2K),
            ("TIER_50", Tier::T50),
            ("TIER_250", Tier::T250),
            ("250", Tier::T250),
            ("10000", Tier::T10K),
            ("100,000", Tier::T100K),
            ("unlimited", Tier::Unlimited),
            ("TIER_UNLIMITED", Tier::Unlimited),
        ] {
            assert_eq!(s.parse::<Tier>(), Ok(t), "{s}");
        }
    }

    #[test]
    fn unknown_tier_names_the_accepted_values() {
        let err = "5k".parse::<Tier>().unwrap_err().to_string();
        assert!(err.contains("\"5k\"") && err.contains("TIER_1K"), "{err}");
    }

    #[test]
    fn display_round_trips_through_parse() {
        for t in ALL_TIERS {
            assert_eq!(t.to_string().parse::<Tier>(), Ok(t));
            assert_eq!(t.provider_name().parse::<Tier>(), Ok(t));
        }
    }

    #[test]
    fn limits_grow_along_the_ladder() {
        let limits: Vec<u64> = ALL_TIERS
            .iter()
            .map(|t| t.limit().unwrap_or(u64::MAX))
            .collect();
        assert!(limits.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn provider_quality_colours_map_to_ratings() {
        assert_eq!("GREEN".parse::<Quality>(), Ok(Quality::High));
        assert_eq!("YELLOW".parse::<Quality>(), Ok(Quality::Medium));
        assert_eq!("RED".parse::<Quality>(), Ok(Quality::Low));
        assert_eq!("UNKNOWN".parse::<Quality>(), Ok(Quality::Unknown));
        assert!("PURPLE".parse::<Quality>().is_err());
    }

    #[test]
    fn unknown_quality_does_not_block_upgrades_but_low_does() {
        assert!(Quality::Unknown.allows_upgrade(Quality::Medium));
        assert!(Quality::Medium.allows_upgrade(Quality::Medium));
        assert!(!Quality::Low.allows_upgrade(Quality::Medium));
        assert!(!Quality::Medium.allows_upgrade(Quality::High));
    }
}
