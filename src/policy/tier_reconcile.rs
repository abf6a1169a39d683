//! The model's tier against the provider's (issue 12 §2): tierpace counts its own sends to model
//! the ladder, the provider knows the real limit. A provider limit lower than the model's takes
//! effect at once (sending over it risks the number); a higher one is accepted too (the
//! provider raised it: the model was behind). Either way only the tier moves: the ledger's
//! counts of who was reached are facts and are never reset by a poll. A poll that failed says
//! nothing, so it changes nothing.
use super::tier::Tier;

/// How the provider's tier compares with the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    Agree,
    /// The provider's limit is lower: it takes effect now.
    ProviderLower {
        model: Tier,
        provider: Tier,
    },
    /// The provider's limit is higher: accepted.
    ProviderHigher {
        model: Tier,
        provider: Tier,
    },
}

impl Reconcile {
    /// The tier to set, if any.
    pub fn set_tier(self) -> Option<Tier> {
        match self {
            Reconcile::Agree => None,
            Reconcile::ProviderLower { provider, .. }
            | Reconcile::ProviderHigher { provider, .. } => Some(provider),
        }
    }

    /// `agree`, `provider_lower`, `provider_higher`, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reconcile::Agree => "agree",
            Reconcile::ProviderLower { .. } => "provider_lower",
            Reconcile::ProviderHigher { .. } => "provider_higher",
        }
    }
}

pub fn reconcile(model: Tier, provider: Option<Tier>) -> Reconcile {
    match provider {
        Some(p) if p < model => Reconcile::ProviderLower { model, provider: p },
        Some(p) if p > model => Reconcile::ProviderHigher { model, provider: p },
        _ => Reconcile::Agree,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_provider_limit_takes_effect_and_a_higher_one_is_accepted() {
        assert_eq!(
            reconcile(Tier::T1K, Some(Tier::T250)).set_tier(),
            Some(Tier::T250)
        );
        assert_eq!(
            reconcile(Tier::T1K, Some(Tier::Unlimited)).set_tier(),
            Some(Tier::Unlimited)
        );
        assert_eq!(reconcile(Tier::T1K, Some(Tier::T1K)), Reconcile::Agree);
    }

    #[test]
    fn no_answer_changes_nothing() {
        assert_eq!(reconcile(Tier::T10K, None), Reconcile::Agree);
    }
}
