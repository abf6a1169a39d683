//! The in-memory ledger: the embedded default (no Redis) and the engine of `tierpace plan`.
//!
//! Same semantics as the Redis backend, contact for contact (the conformance suite and the
//! property test hold both to one naive model). State lives in one mutex: every call is one
//! short critical section, so a batch is atomic like the Lua script. Counts are kept
//! incrementally (two cursors over a time-ordered set) so a call costs O(batch x log n), not O(n).
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::{
    decisions, member_of, stats_from, AdmitDecision, AdmitOutcome, AdmitPlan, Code, Ledger,
    LedgerError, LedgerSettings, LedgerStats, LimitGroup,
};
use crate::contact::ContactKey;
use crate::policy::profile::to_millis;
use crate::policy::tier_event::TierEvent;
use crate::policy::tier_state::TierState;

/// A ledger held in this process; lost on exit.
#[derive(Debug, Clone)]
pub struct MemoryLedger {
    settings: Arc<RwLock<Arc<LedgerSettings>>>,
    groups: Arc<Mutex<HashMap<LimitGroup, GroupBook>>>,
}

impl MemoryLedger {
    pub fn new(settings: LedgerSettings) -> Self {
        Self {
            settings: Arc::new(RwLock::new(Arc::new(settings))),
            groups: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn settings(&self) -> Arc<LedgerSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn with_group<T>(&self, group: &LimitGroup, f: impl FnOnce(&mut GroupBook) -> T) -> T {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let book = groups.entry(group.clone()).or_default();
        f(book)
    }
}

/// Entries with a time after `cutoff` are inside; `inside` counts them. Moving the cutoff costs
/// one step per entry it passes.
#[derive(Debug, Default)]
struct Cursor {
    cutoff: Option<i64>,
    inside: u64,
}

impl Cursor {
    fn move_to(&mut self, set: &BTreeSet<(i64, u64)>, cutoff: i64) {
        match self.cutoff {
            None => {
                self.inside = set.range((Excluded((cutoff, u64::MAX)), Unbounded)).count() as u64;
            }
            Some(old) if cutoff > old => {
                let left = set
                    .range((
                        Excluded((old, u64::MAX)),
                        std::ops::Bound::Included((cutoff, u64::MAX)),
                    ))
                    .count() as u64;
                self.inside -= left;
            }
            Some(old) if cutoff < old => {
                let back = set
                    .range((
                        Excluded((cutoff, u64::MAX)),
                        std::ops::Bound::Included((old, u64::MAX)),
                    ))
                    .count() as u64;
                self.inside += back;
            }
            Some(_) => {}
        }
        self.cutoff = Some(cutoff);
    }

    fn inserted(&mut self, t: i64) {
        if self.cutoff.is_some_and(|c| t > c) {
            self.inside += 1;
        }
    }

    fn removed(&mut self, t: i64) {
        if self.cutoff.is_some_and(|c| t > c) {
            self.inside -= 1;
        }
    }
}

/// One group's records.
#[derive(Debug, Default)]
struct GroupBook {
    /// Contact -> when its current conversation opened (ms).
    opened: HashMap<u64, i64>,
    /// The same, ordered by time, for counting and trimming.
    by_time: BTreeSet<(i64, u64)>,
    window: Cursor,
    lookback: Cursor,
    /// Contact -> when it last messaged us (ms).
    service: HashMap<u64, i64>,
    service_by_time: BTreeSet<(i64, u64)>,
    /// `None` until something changed it: the settings' initial tier applies.
    state: Option<TierState>,
}

impl GroupBook {
    fn set_opened(&mut self, member: u64, t: i64) {
        if let Some(old) = self.opened.insert(member, t) {
            self.by_time.remove(&(old, member));
            self.window.removed(old);
            self.lookback.removed(old);
        }
        self.by_time.insert((t, member));
        self.window.inserted(t);
        self.lookback.inserted(t);
    }

    fn forget(&mut self, member: u64) {
        if let Some(old) = self.opened.remove(&member) {
            self.by_time.remove(&(old, member));
            self.window.removed(old);
            self.lookback.removed(old);
        }
    }

    /// Moves both cursors to `now` and drops what the lookback no longer needs.
    fn advance(&mut self, now_ms: i64, window_ms: i64, lookback_ms: i64) {
        self.window.move_to(&self.by_time, now_ms - window_ms);
        self.lookback.move_to(&self.by_time, now_ms - lookback_ms);
        let cutoff = now_ms - lookback_ms;
        while let Some(&(t, m)) = self.by_time.first() {
            if t > cutoff {
                break;
            }
            self.by_time.remove(&(t, m));
            self.opened.remove(&m);
        }
        let service_cutoff = now_ms - window_ms;
        while let Some(&(t, m)) = self.service_by_time.first() {
            if t > service_cutoff {
                break;
            }
            self.service_by_time.remove(&(t, m));
            self.service.remove(&m);
        }
    }

    fn oldest_in_window(&self) -> Option<i64> {
        let cutoff = self.window.cutoff?;
        self.by_time
            .range((Excluded((cutoff, u64::MAX)), Unbounded))
            .next()
            .map(|&(t, _)| t)
    }

    fn admit(&mut self, plan: &AdmitPlan, members: impl Iterator<Item = u64>) -> AdmitOutcome {
        self.advance(plan.now_ms, plan.window_ms, plan.lookback_ms);
        let window_cutoff = plan.now_ms - plan.window_ms;
        let mut counted: u64 = 0;
        let mut codes = Vec::new();
        for m in members {
            let open = self.opened.get(&m).copied();
            let code = if open.is_some_and(|t| t > window_cutoff)
                || self.service.get(&m).is_some_and(|&t| t > window_cutoff)
            {
                Code::Free
            } else if plan.allowed.is_some_and(|a| self.window.inside >= a) {
                Code::LimitReached
            } else if counted >= u64::from(plan.budget) {
                Code::OverBudget
            } else {
                self.set_opened(m, plan.now_ms);
                counted += 1;
                Code::Counted
            };
            codes.push(code);
        }
        let crossed = match &plan.crossing {
            Some((threshold, crossed_state)) if self.lookback.inside >= *threshold => {
                self.state = Some(crossed_state.clone());
                true
            }
            _ => false,
        };
        AdmitOutcome {
            codes,
            slot_ms: self.oldest_in_window().unwrap_or(plan.now_ms) + plan.window_ms,
            crossed,
        }
    }
}

#[async_trait::async_trait]
impl Ledger for MemoryLedger {
    async fn admit(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        contacts: &[ContactKey],
        budget: u32,
    ) -> Result<Vec<AdmitDecision>, LedgerError> {
        let settings = self.settings();
        Ok(self.with_group(group, |book| {
            let plan = AdmitPlan::new(&settings, group, book.state.as_ref(), now, budget);
            let outcome = book.admit(&plan, contacts.iter().map(|&c| member_of(c)));
            decisions(&plan, &outcome)
        }))
    }

    async fn release(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        admitted_at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let m = member_of(contact);
        let at = to_millis(admitted_at);
        self.with_group(group, |book| {
            if book.opened.get(&m) == Some(&at) {
                book.forget(m);
            }
        });
        Ok(())
    }

    async fn open_service_window(
        &self,
        group: &LimitGroup,
        contact: ContactKey,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let m = member_of(contact);
        let t = to_millis(now);
        self.with_group(group, |book| {
            let old = book.service.get(&m).copied();
            if old.is_none_or(|o| t > o) {
                if let Some(o) = old {
                    book.service_by_time.remove(&(o, m));
                }
                book.service.insert(m, t);
                book.service_by_time.insert((t, m));
            }
        });
        Ok(())
    }

    async fn apply_tier_event(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
        event: TierEvent,
    ) -> Result<TierState, LedgerError> {
        let settings = self.settings();
        Ok(self.with_group(group, |book| {
            let next = settings.after_event(group, book.state.as_ref(), now, event);
            book.state = Some(next.clone());
            next
        }))
    }

    async fn stats(
        &self,
        group: &LimitGroup,
        now: DateTime<Utc>,
    ) -> Result<LedgerStats, LedgerError> {
        let settings = self.settings();
        let policy = &settings.policy;
        Ok(self.with_group(group, |book| {
            let now_ms = to_millis(now);
            book.advance(
                now_ms,
                policy.window.num_milliseconds(),
                policy.lookback.num_milliseconds(),
            );
            let settled = settings.settled(group, book.state.as_ref(), now);
            stats_from(
                &settings,
                &settled,
                book.window.inside,
                book.lookback.inside,
                book.oldest_in_window(),
                None,
            )
        }))
    }

    fn update_settings(&self, settings: LedgerSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }
}
