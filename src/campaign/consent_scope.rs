//! What an opt-out covers: every template, or marketing templates only (issue 11 §2).
//!
//! Meta's "Stop promotions" button arrives as the `user_preferences` webhook field
//! (`category: marketing_messages`, `value: stop | resume`, DOMAIN.md §7): the customer stopped
//! *marketing* templates, and still expects the order update (utility) or the login code
//! (authentication). Every other channel (an opt-out keyword such as SAIR, a provider opt-out, the
//! admin API, the opt-out file) stops everything. A broader opt-out always wins over a narrower
//! one, and lifting marketing (`resume`) never lifts an opt-out of everything.
use serde::{Deserialize, Serialize};

use super::file::Category;

/// The templates an opt-out stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Marketing templates only; utility and authentication templates still go.
    Marketing,
    /// Every template.
    All,
}

impl ConsentScope {
    /// Both scopes, narrowest first.
    pub const EVERY: [ConsentScope; 2] = [ConsentScope::Marketing, ConsentScope::All];

    /// `marketing` or `all`: the metric label and the admin API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::All => "all",
        }
    }

    /// Whether a contact opted out with this scope may not get a template of `category`.
    pub fn blocks(self, category: Category) -> bool {
        match self {
            Self::All => true,
            Self::Marketing => category == Category::Marketing,
        }
    }

    /// The scope after a second opt-out of `other`: the broader of the two.
    pub fn widen(self, other: ConsentScope) -> ConsentScope {
        self.max(other)
    }

    /// What is left of an opt-out of `self` after lifting `lifted`: lifting `All` lifts
    /// everything, lifting `Marketing` (Meta's `resume`) lifts only a marketing opt-out.
    pub fn after_lifting(self, lifted: ConsentScope) -> Option<ConsentScope> {
        match (self, lifted) {
            (_, Self::All) => None,
            (Self::Marketing, Self::Marketing) => None,
            (Self::All, Self::Marketing) => Some(Self::All),
        }
    }
}

impl std::fmt::Display for ConsentScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ConsentScope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "marketing" => Ok(Self::Marketing),
            "all" => Ok(Self::All),
            _ => Err(UnknownScope(s.to_string())),
        }
    }
}

/// A scope word that is neither `marketing` nor `all`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown opt-out scope {0:?} (marketing or all)")]
pub struct UnknownScope(pub String);

/// How many contacts are opted out, by scope (each contact counted once, in its scope).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutCounts {
    pub marketing: u64,
    pub all: u64,
}

impl OptOutCounts {
    pub fn total(&self) -> u64 {
        self.marketing + self.all
    }

    pub fn of(&self, scope: ConsentScope) -> u64 {
        match scope {
            ConsentScope::Marketing => self.marketing,
            ConsentScope::All => self.all,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentScope::*;

    #[test]
    fn a_marketing_opt_out_stops_marketing_only() {
        assert!(Marketing.blocks(Category::Marketing));
        assert!(!Marketing.blocks(Category::Utility));
        assert!(!Marketing.blocks(Category::Authentication));
        for c in [
            Category::Marketing,
            Category::Utility,
            Category::Authentication,
        ] {
            assert!(All.blocks(c));
        }
    }

    #[test]
    fn the_broader_opt_out_wins_and_resume_lifts_only_marketing() {
        assert_eq!(Marketing.widen(All), All);
        assert_eq!(All.widen(Marketing), All);
        assert_eq!(Marketing.widen(Marketing), Marketing);
        assert_eq!(Marketing.after_lifting(Marketing), None);
        assert_eq!(All.after_lifting(Marketing), Some(All));
        assert_eq!(All.after_lifting(All), None);
        assert_eq!(Marketing.after_lifting(All), None);
    }

    #[test]
    fn scopes_read_and_print_the_same_word() {
        for s in ConsentScope::EVERY {
            assert_eq!(s.as_str().parse::<ConsentScope>(), Ok(s));
        }
        assert!("promo".parse::<ConsentScope>().is_err());
    }
}
