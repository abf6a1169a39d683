//! What a customer's word, as a provider relays it, does (DOMAIN.md §5, issue 11 §2): an
//! opt-out is recorded with its channel (a keyword reply or a provider opt-out stops everything;
//! Meta's marketing preference stops marketing only), an opt-in lifts what it may lift, and any
//! inbound message opens the customer's service window with every sender it reached.
//!
//! Each change is applied to every key the customer goes by (the key of the number, and the
//! contact it is an alias of); the callback's outcome is stale when the store already holds a
//! later word.
use chrono::{DateTime, Utc};

use super::Reactor;
use crate::campaign::consent::{
    opt_in_any, ConsentChange, ConsentError, ConsentScope, ContactKeys, OptOutSource,
};
use crate::contact::ContactKey;
use crate::http::EventOutcome;
use crate::ledger::{LedgerError, LimitGroup};

/// A consent change as the webhook counts it.
pub fn outcome_of(change: ConsentChange) -> EventOutcome {
    match change {
        ConsentChange::Stale => EventOutcome::Stale,
        _ => EventOutcome::Applied,
    }
}

impl Reactor {
    /// Records an opt-out from `source` for each of `keys`, dated `at`.
    pub async fn opt_out(
        &self,
        keys: impl IntoIterator<Item = ContactKey>,
        source: OptOutSource,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, ConsentError> {
        let mut change = ConsentChange::Unchanged;
        for key in keys {
            change = change.and(self.consent.opt_out(key, source, at).await?);
            tracing::info!(contact = %key, source = source.as_str(),
                scope = source.scope().as_str(), result = ?change, "opt-out recorded");
        }
        Ok(outcome_of(change))
    }

    /// `stop` records a marketing-only opt-out; `resume` lifts it (an opt-out of everything,
    /// e.g. a SAIR reply, stays).
    pub async fn marketing_preference(
        &self,
        keys: impl IntoIterator<Item = ContactKey>,
        stop: bool,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, ConsentError> {
        let mut change = ConsentChange::Unchanged;
        for key in keys {
            let done = if stop {
                self.consent
                    .opt_out(key, OptOutSource::MarketingPreference, at)
                    .await
            } else {
                self.consent.lift(key, ConsentScope::Marketing, at).await
            };
            change = change.and(done?);
            tracing::info!(contact = %key, scope = ConsentScope::Marketing.as_str(), stop,
                result = ?change, "marketing preference recorded");
        }
        Ok(outcome_of(change))
    }

    /// An opt-in for the number with `keys` (either spelling), and for the contact it is an
    /// alias of (`aliased`, when another).
    pub async fn opt_in(
        &self,
        keys: ContactKeys,
        aliased: Option<ContactKey>,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, ConsentError> {
        let key = keys.key;
        let mut change = opt_in_any(self.consent.as_ref(), keys, at).await?;
        if let Some(contact) = aliased {
            change = change.and(self.consent.opt_in(contact, at).await?);
        }
        if change == ConsentChange::Stale {
            tracing::warn!(contact = %key, "opt-in older than the customer's opt-out: nothing changed");
        }
        Ok(outcome_of(change))
    }

    /// The customer wrote: their service window opens with every group in `groups`.
    pub async fn inbound(
        &self,
        groups: &[LimitGroup],
        keys: &[ContactKey],
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        for group in groups {
            for key in keys {
                self.ledger.open_service_window(group, *key, now).await?;
            }
        }
        Ok(())
    }
}
