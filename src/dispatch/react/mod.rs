//! What the provider's answers and callbacks do to tierpace's state, decided and applied in one
//! place (DOMAIN.md §3-§5, STYLE.md 20). The send loop (`dispatch/send.rs`), the webhook sink
//! (`daemon/sink.rs`) and the tier poll (`daemon/tier_poll.rs`) only find what an event is
//! about (the contact, the senders, the campaigns) and hand it to a [`Reactor`]; nothing else
//! decides. The decisions themselves are pure functions beside each child, tested there.
//!
//! | event | child | what it does |
//! |---|---|---|
//! | a failed send or `failed` status callback | `failure` | the contact's fate, the sender's brake or rate, the campaign's pause (its table) |
//! | a `delivered` / `read` callback | `delivery` | the contact's state moves forward |
//! | a tier or quality callback, a tier poll | `report` | the group's tier (via the ledger's judgement), the quality and tier brakes |
//! | an opt-out, opt-in or marketing preference, an inbound message | `consent` | the consent store, the service window |
//! | a template paused or disabled | `template` | every campaign on it paused, unless the operator spoke later |
//!
//! Every effect is idempotent: states only move forward, opt-outs and service windows are sets,
//! tier events carry their target. A store error is returned, so a webhook answers 503 and the
//! provider retries.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::progress::{ProgressStore, RunId};
use crate::campaign::consent::ConsentStore;
use crate::http::EventOutcome;
use crate::ledger::{Ledger, LimitGroup};
use crate::policy::brake::{Brake, BrakeState};
use crate::policy::retry_policy::RetrySettings;
use crate::policy::throughput::AdaptiveRate;

mod consent;
mod delivery;
mod failure;
mod report;
mod template;

pub use failure::{decide, fate_name, Fate, Reaction, SenderEffect};
pub use report::{brake_on_report, reported_change};
pub use template::pauses_for_template;

/// A sender's shared controls, as reactions reach them (the dispatcher's and the webhook's).
#[derive(Clone)]
pub struct SenderControls {
    pub id: String,
    pub brakes: Arc<Mutex<BrakeState>>,
    pub rate: Arc<Mutex<AdaptiveRate>>,
}

/// A sender and its limit group, as tier and quality reports reach it.
#[derive(Clone)]
pub struct GroupedSender {
    pub controls: SenderControls,
    pub group: LimitGroup,
}

/// The contact a failure is about: its run, its progress field and audience line.
pub struct ContactRef<'a> {
    pub run: &'a RunId,
    pub field: &'a str,
    pub line: u64,
}

/// Carries reactions out on the stores and the senders.
#[derive(Clone)]
pub struct Reactor {
    pub progress: Arc<dyn ProgressStore>,
    pub consent: Arc<dyn ConsentStore>,
    /// Where tier reports are judged and service windows opened.
    pub ledger: Arc<dyn Ledger>,
    pub metrics: crate::http::Metrics,
    pub retries: RetrySettings,
    /// Where a changed brake is saved for every replica and the next start.
    pub pacing: Arc<dyn super::pacing_store::PacingStore>,
}

impl Reactor {
    /// Changes `sender`'s brakes with `change` (under their lock) and, when it changed them,
    /// saves the brakes now active for every replica and the next start. True when changed.
    async fn change_brakes(
        &self,
        sender: &SenderControls,
        change: impl FnOnce(&mut BrakeState) -> bool,
    ) -> bool {
        let active: Option<Vec<(Brake, DateTime<Utc>)>> = {
            let mut b = sender.brakes.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut b).then(|| b.active())
        };
        let Some(active) = active else {
            return false;
        };
        super::pacing_store::persist_brakes(self.pacing.as_ref(), &sender.id, &active).await;
        true
    }
}

/// Over several senders or campaigns: held if any held, else stale if any stale.
fn worst(a: EventOutcome, b: EventOutcome) -> EventOutcome {
    match (a, b) {
        (EventOutcome::Held, _) | (_, EventOutcome::Held) => EventOutcome::Held,
        (EventOutcome::Stale, _) | (_, EventOutcome::Stale) => EventOutcome::Stale,
        _ => EventOutcome::Applied,
    }
}
