//! A ledger that starts no conversation while the state store cannot keep tierpace's promises.
//!
//! The daemon's Redis probe (`daemon/redis_health.rs`) closes the [`StoreGate`] while Redis may
//! evict keys or refuses writes (issue #16). Closing it at the ledger, the one step every send
//! passes (DESIGN.md §5: admit before send), stops every dispatcher at once, through the path an
//! unreachable ledger already takes: one log line when sending stops, one when it resumes, and
//! nothing sent in between. Webhook writes (service windows, tier events) still go through:
//! recording what the provider told us is never worse than dropping it.
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::{AdmitDecision, Ledger, LedgerError, LedgerSettings, LedgerStats, LimitGroup};
use crate::contact::ContactKey;
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_state::TierState;

/// Open (sending allowed) unless someone closed it with a reason.
#[derive(Debug, Default)]
pub struct StoreGate {
    closed: RwLock<Option<String>>,
}

impl StoreGate {
    pub fn close(&self, why: String) {
        *self.closed.write().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    pub fn open(&self) {
        *self.closed.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Why it is closed, or `None` while open.
    pub fn why(&self) -> Option<String> {
        self.closed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn check(&self) -> Result<(), LedgerError> {
        match self.why() {
            Some(why) => Err(LedgerError::Backend(why)),
            None => Ok(()),
        }
    }
}

/// `inner`, with `admit` and `stats` refused while `gate` is closed.
pub struct GatedLedger {
    inner: Arc<dyn Ledger>,
    gate: Arc<StoreGate>,
}

impl GatedLedger {
    pub fn new(inner: Arc<dyn Ledger>, gate: Arc<StoreGate>) -> Self {
        Self { inner, gate }
    }
}

#[async_trait::async_trait]
impl Ledger for GatedLedger {
    async fn admit(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        contacts: &[ContactKey],
        budget: u32,
    ) -> Result<Vec<AdmitDecision>, LedgerError> {
        self.gate.check()?;
        self.inner.admit(group, now, contacts, budget).await
    }

    async fn release(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        admitted_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.inner.release(group, contact, admitted_at).await
    }

    async fn open_service_window(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.inner.open_service_window(group, contact, now).await
    }

    async fn apply_tier_event(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        event: TierEvent,
    ) -> Result<TierState, LedgerError> {
        self.inner.apply_tier_event(group, now, event).await
    }

    /// Refused too: the dispatcher reads stats first each tick, so a closed gate stops it
    /// before it reads the audience or writes progress.
    async fn stats(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
    ) -> Result<LedgerStats, LedgerError> {
        self.gate.check()?;
        self.inner.stats(group, now).await
    }

    fn update_settings(&self, settings: LedgerSettings) {
        self.inner.update_settings(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::MemoryLedger;

    #[tokio::test]
    async fn a_closed_gate_admits_nothing_and_says_why_then_opens_again() {
        let gate = Arc::new(StoreGate::default());
        let inner: Arc<dyn Ledger> = Arc::new(MemoryLedger::new(LedgerSettings::default()));
        let l = GatedLedger::new(inner, gate.clone());
        let g = LimitGroup("g".into());
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        gate.close("redis maxmemory-policy is `allkeys-lru`".into());
        let err = l.admit(&g, now, &[ContactKey(1)], 1).await.unwrap_err();
        assert!(err.to_string().contains("allkeys-lru"), "{err}");
        assert!(l.stats(&g, now).await.is_err());
        gate.open();
        assert_eq!(
            l.admit(&g, now, &[ContactKey(1)], 1).await.unwrap(),
            vec![AdmitDecision::Admitted { counted: true }]
        );
    }
}
