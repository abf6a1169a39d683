//! Brakes: what slows or stops a sender when its number's health is at risk (DESIGN.md §3,
//! DOMAIN.md §1 and §3).
//!
//! A brake is set by an outcome or an event and stays until an event or an operator lifts it;
//! nothing here expires on its own, because every brake protects the number and lifting one is a
//! decision someone should see. The effect of each brake on the pacer is one factor on the send
//! rate, different for marketing and for utility/authentication templates:
//!
//! | brake | set by | marketing | other |
//! |---|---|---|---|
//! | `SpamRate` | `spam_failures` 131048 / block failures within `spam_window` | 0 (paused) | 1 |
//! | `QualityMedium` | quality update to medium | 0.5 | 1 |
//! | `QualityLow` | quality update to low | 0 | 1 |
//! | `Flagged` | tier event FLAGGED | 0 | 0 |
//! | `Downgraded` | tier event DOWNGRADE | 0.5 | 1 |
//! | `Operator(reason)` | an operator | 0 | 0 |
//! | `Account(reason)` | the provider's account or auth failure (401, 131042, 1003, ...) | 0 | 0 |
//!
//! Several brakes combine by taking the smallest factor (the strictest brake wins; two halvings do
//! not make a quarter). Spam and low quality pause marketing only (DOMAIN.md §3: 131048 pauses the
//! sender's marketing; DESIGN.md §3: low pauses marketing); a flagged number or an operator pause
//! stops everything on the sender, because the next step is a restriction of the whole number.
use std::collections::VecDeque;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::tier::Quality;

/// One reason to slow or stop a sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "brake", content = "reason")]
pub enum Brake {
    /// Spam-rate failures (131048) or blocks are rising.
    SpamRate,
    /// The number's quality rating dropped to medium.
    QualityMedium,
    /// The number's quality rating dropped to low.
    QualityLow,
    /// The provider flagged the number (tier event FLAGGED).
    Flagged,
    /// The messaging limit was lowered (tier event DOWNGRADE).
    Downgraded,
    /// An operator paused the sender, with the reason they gave.
    Operator(String),
    /// The provider refused the sender's account or credentials (DOMAIN.md §3: payment,
    /// locked account, empty wallet, wrong key or app name): nothing goes until an operator
    /// lifts it.
    Account(String),
}

impl Brake {
    /// The share of the normal rate this brake leaves (see the table in the module docs).
    pub fn factor(&self, marketing: bool) -> f64 {
        match (self, marketing) {
            (Brake::SpamRate | Brake::QualityLow, true) => 0.0,
            (Brake::SpamRate | Brake::QualityLow, false) => 1.0,
            (Brake::QualityMedium | Brake::Downgraded, true) => 0.5,
            (Brake::QualityMedium | Brake::Downgraded, false) => 1.0,
            (Brake::Flagged | Brake::Operator(_) | Brake::Account(_), _) => 0.0,
        }
    }
}

/// The brake in an operator's words, as `tierpace status` and the admin API show it.
impl std::fmt::Display for Brake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Brake::SpamRate => f.write_str("spam rate (131048)"),
            Brake::QualityMedium => f.write_str("quality medium"),
            Brake::QualityLow => f.write_str("quality low"),
            Brake::Flagged => f.write_str("number flagged"),
            Brake::Downgraded => f.write_str("limit downgraded"),
            Brake::Operator(reason) => write!(f, "operator: {reason}"),
            Brake::Account(reason) => write!(f, "account: {reason}"),
        }
    }
}

impl Brake {
    /// What the brake does to marketing sends, in words: `halve` or `pause`.
    pub fn effect(&self) -> &'static str {
        if self.factor(true) > 0.0 {
            "halve"
        } else {
            "pause"
        }
    }
}

/// A quality rating as the provider reports it (Gupshup/Meta quality updates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityRating {
    High,
    Medium,
    Low,
}

/// A tier's [`Quality`] has no rating while it is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quality unknown: no rating to brake on")]
pub struct UnknownQuality;

/// The rating the brakes act on, from the tier model's quality (one thing, two spellings).
impl TryFrom<Quality> for QualityRating {
    type Error = UnknownQuality;

    fn try_from(q: Quality) -> Result<Self, UnknownQuality> {
        match q {
            Quality::High => Ok(Self::High),
            Quality::Medium => Ok(Self::Medium),
            Quality::Low => Ok(Self::Low),
            Quality::Unknown => Err(UnknownQuality),
        }
    }
}

/// When rising spam failures set the [`Brake::SpamRate`] brake (`[pacing.brakes]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrakeSettings {
    /// This many spam-rate (131048) or block failures within `spam_window` pause marketing.
    pub spam_failures: u32,
    /// The sliding window the spam failures are counted in.
    #[serde(with = "humantime_serde")]
    pub spam_window: StdDuration,
}

impl Default for BrakeSettings {
    fn default() -> Self {
        Self {
            spam_failures: 3,
            spam_window: StdDuration::from_secs(3600),
        }
    }
}

/// The brakes of one sender: which are on, since when, and the recent spam failures.
#[derive(Debug, Clone, Default)]
pub struct BrakeState {
    settings: BrakeSettings,
    /// Active brakes in the order they were set, each with the time it was set.
    active: Vec<(Brake, DateTime<Utc>)>,
    /// Times of recent spam-or-block failures (at most `spam_failures` kept).
    spam_seen: VecDeque<DateTime<Utc>>,
}

impl BrakeState {
    pub fn new(settings: BrakeSettings) -> Self {
        Self {
            settings,
            active: Vec::new(),
            spam_seen: VecDeque::new(),
        }
    }

    /// Feeds one failed send. Only spam-rate and block failures count (the caller classifies the
    /// code, DOMAIN.md §3); returns `true` when this failure set the spam brake.
    pub fn observe_failure(&mut self, now: DateTime<Utc>, class_is_spam_or_block: bool) -> bool {
        if !class_is_spam_or_block || self.settings.spam_failures == 0 {
            return false;
        }
        let window = Duration::from_std(self.settings.spam_window).unwrap_or(Duration::MAX);
        self.spam_seen.push_back(now);
        while let Some(&oldest) = self.spam_seen.front() {
            let too_many = self.spam_seen.len() > self.settings.spam_failures as usize;
            let too_old = oldest
                .checked_add_signed(window)
                .is_some_and(|end| end <= now);
            if !(too_many || too_old) {
                break;
            }
            self.spam_seen.pop_front();
        }
        self.spam_seen.len() >= self.settings.spam_failures as usize
            && self.set(Brake::SpamRate, now)
    }

    /// Sets a brake; returns `true` when it was not already on (setting it again keeps the
    /// original `since`, so the admin API shows how long it has really been on).
    pub fn set(&mut self, brake: Brake, now: DateTime<Utc>) -> bool {
        if self.active.iter().any(|(b, _)| *b == brake) {
            return false;
        }
        self.active.push((brake, now));
        true
    }

    /// Lifts a brake; returns `true` when it was on. Lifting the spam brake also forgets the
    /// failures that set it, so the next single failure does not set it again at once.
    pub fn lift(&mut self, brake: &Brake) -> bool {
        let before = self.active.len();
        self.active.retain(|(b, _)| b != brake);
        if *brake == Brake::SpamRate {
            self.spam_seen.clear();
        }
        self.active.len() != before
    }

    /// Applies a quality update: medium and low set their brake and lift the other; high lifts
    /// both. Returns `true` when anything changed.
    pub fn quality(&mut self, rating: QualityRating, now: DateTime<Utc>) -> bool {
        match rating {
            QualityRating::High => {
                let a = self.lift(&Brake::QualityMedium);
                let b = self.lift(&Brake::QualityLow);
                a || b
            }
            QualityRating::Medium => {
                let a = self.lift(&Brake::QualityLow);
                let b = self.set(Brake::QualityMedium, now);
                a || b
            }
            QualityRating::Low => {
                let a = self.lift(&Brake::QualityMedium);
                let b = self.set(Brake::QualityLow, now);
                a || b
            }
        }
    }

    /// The share of the normal rate left for marketing (`true`) or other templates: 1, 0.5 or 0.
    pub fn factor(&self, marketing: bool) -> f64 {
        self.active
            .iter()
            .map(|(b, _)| b.factor(marketing))
            .fold(1.0, f64::min)
    }

    /// The active brakes with the time each was set, oldest first.
    pub fn active(&self) -> Vec<(Brake, DateTime<Utc>)> {
        self.active.clone()
    }

    /// Takes the active brakes as the shared state store has them (set by any replica, kept
    /// across restarts); the recent spam failures stay this process's own.
    pub fn restore(&mut self, active: Vec<(Brake, DateTime<Utc>)>) {
        self.active = active;
    }

    /// Whether any brake is on.
    pub fn any(&self) -> bool {
        !self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_known_quality_is_its_rating_and_unknown_has_none() {
        assert_eq!(
            QualityRating::try_from(Quality::High),
            Ok(QualityRating::High)
        );
        assert_eq!(
            QualityRating::try_from(Quality::Medium),
            Ok(QualityRating::Medium)
        );
        assert_eq!(
            QualityRating::try_from(Quality::Low),
            Ok(QualityRating::Low)
        );
        assert_eq!(
            QualityRating::try_from(Quality::Unknown),
            Err(UnknownQuality)
        );
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn rising_spam_failures_pause_marketing_only() {
        let mut brakes = BrakeState::default();
        assert!(!brakes.observe_failure(t0(), true));
        assert!(!brakes.observe_failure(t0() + Duration::minutes(1), false));
        assert!(!brakes.observe_failure(t0() + Duration::minutes(2), true));
        assert!(brakes.observe_failure(t0() + Duration::minutes(3), true));
        assert_eq!(brakes.factor(true), 0.0);
        assert_eq!(brakes.factor(false), 1.0);
        assert_eq!(
            brakes.active(),
            vec![(Brake::SpamRate, t0() + Duration::minutes(3))]
        );
    }

    #[test]
    fn spam_failures_spread_wider_than_the_window_do_not_brake() {
        let mut brakes = BrakeState::default();
        for i in 0..10 {
            assert!(!brakes.observe_failure(t0() + Duration::minutes(31 * i), true));
        }
        assert!(!brakes.any());
    }

    #[test]
    fn lifting_the_spam_brake_forgets_the_failures() {
        let mut brakes = BrakeState::default();
        for i in 0..3 {
            brakes.observe_failure(t0() + Duration::seconds(i), true);
        }
        assert!(brakes.lift(&Brake::SpamRate));
        assert!(!brakes.observe_failure(t0() + Duration::seconds(5), true));
        assert_eq!(brakes.factor(true), 1.0);
    }

    #[test]
    fn quality_medium_halves_marketing_and_high_lifts_it() {
        let mut brakes = BrakeState::default();
        assert!(brakes.quality(QualityRating::Medium, t0()));
        assert_eq!(brakes.factor(true), 0.5);
        assert!(brakes.quality(QualityRating::Low, t0()));
        assert_eq!(brakes.active().len(), 1);
        assert_eq!(brakes.factor(true), 0.0);
        assert!(brakes.quality(QualityRating::High, t0()));
        assert!(!brakes.any());
    }

    #[test]
    fn the_strictest_brake_wins() {
        let mut brakes = BrakeState::default();
        brakes.set(Brake::QualityMedium, t0());
        brakes.set(Brake::Downgraded, t0());
        assert_eq!(brakes.factor(true), 0.5);
        brakes.set(Brake::Operator("maintenance".into()), t0());
        assert_eq!(brakes.factor(false), 0.0);
        assert!(brakes.lift(&Brake::Operator("maintenance".into())));
        assert_eq!(brakes.factor(false), 1.0);
    }

    #[test]
    fn setting_twice_keeps_the_first_since() {
        let mut brakes = BrakeState::default();
        assert!(brakes.set(Brake::Flagged, t0()));
        assert!(!brakes.set(Brake::Flagged, t0() + Duration::hours(1)));
        assert_eq!(brakes.active(), vec![(Brake::Flagged, t0())]);
    }
}
