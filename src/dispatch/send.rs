//! One send, from the provider call to its recorded outcome: the contact's new state, the
//! message-id index for webhooks, a released ledger slot when the send never reached WhatsApp,
//! and the sender's metrics. A failure is handed to [`super::react`], which decides and applies
//! what it does to the contact, the sender and the campaign; an accepted send lets the sender's
//! rate climb back after throughput errors, and records the WhatsApp id the provider resolved
//! the number to when it differs from the contact (an alias in the consent store), so webhooks
//! from that id reach the contact.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::outcome_writer::{Outcome, OutcomeWriter};
use super::progress::{ContactState, ProgressStore, RunId, Write};
use super::react::{ContactRef, Reactor, SenderControls};
use super::sender_deps::SenderDeps;
use crate::campaign::phone::parse_provider_number;
use crate::clock::Clock;
use crate::contact::{ContactHasher, ContactKey};
use crate::ledger::{Ledger, LimitGroup};
use crate::provider::{Provider, SendOutcome, TemplateMessage};

/// A finished send, reported back to the loop.
pub(super) struct Finished {
    pub(super) campaign: String,
    /// The provider call's latency (for the in-flight limit); `None` when no call was made.
    pub(super) latency: Option<Duration>,
}

/// What every send of one sender shares: built once per dispatcher and shared by reference, so
/// a send's task carries one pointer instead of a copy of each store, the metric families and
/// the sender's controls (issue #15: CPU and memory per send).
pub(super) struct SendContext {
    /// The sender's timeline, for the actual start.
    pub(super) timeline: Arc<std::sync::Mutex<super::timeline::SendTimeline>>,
    /// The sender's horizon on this replica (ms since the epoch, `SenderHold::horizon`): a send
    /// whose start comes at or after it is not made (the sender may be another replica's by
    /// then) and its contact goes back to pending. `i64::MIN` when the sender is not held.
    pub(super) horizon: Arc<std::sync::atomic::AtomicI64>,
    pub(super) group: LimitGroup,
    pub(super) sender: SenderControls,
    pub(super) provider: Arc<dyn Provider>,
    pub(super) progress: Arc<dyn ProgressStore>,
    pub(super) ledger: Arc<dyn Ledger>,
    pub(super) reactor: Reactor,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) metrics: crate::http::Metrics,
    /// Keys the WhatsApp id a provider answers with.
    pub(super) hasher: ContactHasher,
    /// Accepted and unknown outcomes, written in batches.
    pub(super) outcomes: OutcomeWriter,
    /// The sender's accepted-sends counter and latency histogram, looked up once: two label
    /// lookups (and their strings) per send otherwise.
    accepted: prometheus_client::metrics::counter::Counter,
    latency: prometheus_client::metrics::histogram::Histogram,
}

impl SendContext {
    /// The context of `deps`' sender, on its timeline and horizon (kept by the dispatcher too).
    pub(super) fn new(
        deps: &SenderDeps,
        timeline: Arc<std::sync::Mutex<super::timeline::SendTimeline>>,
        horizon: Arc<std::sync::atomic::AtomicI64>,
    ) -> Self {
        Self {
            timeline,
            horizon,
            group: deps.group.clone(),
            sender: sender_controls(deps),
            provider: deps.provider.clone(),
            progress: deps.progress.clone(),
            ledger: deps.ledger.clone(),
            reactor: reactor(deps),
            clock: deps.clock.clone(),
            metrics: deps.metrics.clone(),
            hasher: deps.hasher.clone(),
            outcomes: OutcomeWriter::new(deps.progress.clone()),
            accepted: deps
                .metrics
                .sender_sends
                .get_or_create(&crate::http::metrics::SendOutcomeLabels {
                    sender: deps.sender_id.clone(),
                    outcome: "accepted".to_string(),
                })
                .clone(),
            latency: deps
                .metrics
                .sender_provider_latency_seconds
                .get_or_create(&crate::http::metrics::SenderLabels {
                    sender: deps.sender_id.clone(),
                })
                .clone(),
        }
    }
}

fn sender_controls(deps: &SenderDeps) -> SenderControls {
    SenderControls {
        id: deps.sender_id.clone(),
        brakes: deps.brakes.clone(),
        rate: deps.rate.clone(),
    }
}

fn reactor(deps: &SenderDeps) -> Reactor {
    Reactor {
        progress: deps.progress.clone(),
        consent: deps.consent.clone(),
        ledger: deps.ledger.clone(),
        metrics: deps.metrics.clone(),
        retries: deps.retries.clone(),
        pacing: deps.pacing.clone(),
    }
}

/// One send, from provider call to recorded outcome. Boxed in its task: the task's future
/// then moves a pointer, not the job, between its states.
pub(super) struct SendJob {
    pub(super) campaign: String,
    pub(super) run: RunId,
    pub(super) field: String,
    pub(super) key: ContactKey,
    pub(super) line: u64,
    pub(super) counted: bool,
    pub(super) admitted_at: DateTime<Utc>,
    /// When the send may start, on the sender's timeline (`timeline.rs`).
    pub(super) start_at: DateTime<Utc>,
    /// When the campaign's calendar closes: a send whose start comes at or after it is not
    /// made (never outside business hours) and its contact goes back to pending.
    pub(super) not_after: Option<DateTime<Utc>>,
    pub(super) msg: TemplateMessage,
    /// The sender's stores, timeline and controls.
    pub(super) ctx: Arc<SendContext>,
}

impl SendJob {
    /// The calendar closed while this send waited for its start (a stalled process): nothing is
    /// sent; the ledger slot is given back and the contact returns to pending, to go in the next
    /// open window.
    async fn put_back(self: Box<Self>, why: &str) -> Finished {
        tracing::info!(campaign = %self.campaign, contact = %self.key, why,
            "send not started: back to pending");
        if self.counted {
            if let Err(e) = self
                .ctx
                .ledger
                .release(&self.ctx.group, self.key, self.admitted_at)
                .await
            {
                tracing::warn!(error = %e, "ledger slot not released");
            }
        }
        if let Err(e) = self
            .ctx
            .progress
            .requeue(&self.run, std::slice::from_ref(&self.field), true)
            .await
        {
            tracing::warn!(campaign = %self.campaign, error = %e, "contact not put back; it stays in flight");
        }
        Finished {
            campaign: self.campaign,
            latency: None,
        }
    }

    pub(super) async fn run(self: Box<Self>) -> Finished {
        crate::clock::sleep_until(self.ctx.clock.as_ref(), self.start_at).await;
        // Woken late with others (a busy machine)? Still one spacing after the previous start.
        let woke = self.ctx.clock.now();
        let start = self
            .ctx
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .start(woke);
        let mut at = start.at;
        tracing::debug!(target: "tierpace::pace", campaign = %self.campaign,
            late_ms = (woke - self.start_at).num_milliseconds(),
            shift_ms = (at - woke).num_milliseconds(), "send starts");
        // An earlier send that left late while this one waited moves it too.
        loop {
            crate::clock::sleep_until(self.ctx.clock.as_ref(), at).await;
            let need = self
                .ctx
                .timeline
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .confirm(start.ticket, at);
            if need <= at {
                break;
            }
            at = need;
        }
        if self.not_after.is_some_and(|close| at >= close) {
            return self.put_back("the calendar closed before its start").await;
        }
        // A manual clock (tests, simulations) jumps past any horizon between two ticks.
        let horizon = self.ctx.horizon.load(std::sync::atomic::Ordering::Relaxed);
        if !self.ctx.clock.is_manual() && at.timestamp_millis() >= horizon {
            return self
                .put_back("this replica no longer sends for the sender at its start")
                .await;
        }
        let started = std::time::Instant::now();
        let ctx = &*self.ctx;
        let outcome = after_first_poll(ctx.provider.send(&self.msg), move || {
            if ctx.clock.is_manual() {
                return; // virtual time jumps between polls: no lateness to measure
            }
            let left = ctx.clock.now();
            ctx.timeline
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .departed(start.ticket, left);
            // `left_us` (µs since the epoch) lets a fleet's logs be merged per sender to check
            // the cap where the process hands a request over (tests/replicas.rs).
            tracing::debug!(target: "tierpace::pace", sender = %ctx.sender.id, left_us = left.timestamp_micros(),
                late_departure_ms = (left - at).num_milliseconds(), "send left");
        })
        .await;
        let latency = started.elapsed();
        self.observe(&outcome, latency);
        let line = self.line;
        let state = match &outcome {
            SendOutcome::Accepted { message_id, wa_id } => {
                if let Some(wa_id) = wa_id {
                    self.record_alias(wa_id).await;
                }
                tracing::debug!(campaign = %self.campaign, sender = %self.ctx.sender.id, contact = %self.key, outcome = "accepted", "sent");
                self.ctx
                    .sender
                    .rate
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .succeeded();
                ContactState::Sent {
                    line,
                    message_id: message_id.clone(),
                }
            }
            SendOutcome::Failed(f) => {
                tracing::info!(campaign = %self.campaign, sender = %self.ctx.sender.id, contact = %self.key,
                    outcome = "failed", code = %f.code, class = ?f.class, "send failed");
                if !f.reached_whatsapp && self.counted {
                    if let Err(e) = self
                        .ctx
                        .ledger
                        .release(&self.ctx.group, self.key, self.admitted_at)
                        .await
                    {
                        tracing::warn!(error = %e, "ledger slot not released");
                    }
                }
                let contact = ContactRef {
                    run: &self.run,
                    field: &self.field,
                    line,
                };
                let now = self.ctx.clock.now();
                if let Err(e) = self
                    .ctx
                    .reactor
                    .react(f, now, contact, std::slice::from_ref(&self.ctx.sender))
                    .await
                {
                    tracing::warn!(campaign = %self.campaign, error = %e, "failure not recorded");
                }
                return Finished {
                    campaign: self.campaign,
                    latency: Some(latency),
                };
            }
            SendOutcome::Unknown { detail } => {
                tracing::warn!(campaign = %self.campaign, sender = %self.ctx.sender.id, contact = %self.key,
                    outcome = "unknown", detail = %detail, "send outcome unknown: not resent");
                ContactState::Unknown { line }
            }
        };
        let message_id = match outcome {
            SendOutcome::Accepted { message_id, .. } => Some(message_id),
            _ => None,
        };
        let recorded = Outcome {
            campaign: self.campaign.clone(),
            run: self.run.clone(),
            write: Write {
                field: self.field.clone(),
                state,
            },
            message_id,
        };
        self.ctx
            .outcomes
            .record(recorded, self.ctx.progress.as_ref())
            .await;
        Finished {
            campaign: self.campaign,
            latency: Some(latency),
        }
    }

    /// Links the WhatsApp id the provider answered with to this contact when its key differs
    /// (a number WhatsApp knows under another spelling, e.g. Mexico's `521` for `52`): an
    /// opt-out or inbound message from that id then reaches this contact. A failure is logged,
    /// never fatal: the send went out either way.
    async fn record_alias(&self, wa_id: &str) {
        let Some(number) = parse_provider_number(wa_id) else {
            tracing::debug!(campaign = %self.campaign, contact = %self.key, "provider's wa_id is not a number; ignored");
            return;
        };
        let alias = self.ctx.hasher.key(&number);
        if alias == self.key {
            return;
        }
        match self.ctx.reactor.consent.link_alias(alias, self.key).await {
            Ok(()) => {
                tracing::info!(campaign = %self.campaign, contact = %self.key, alias = %alias, "WhatsApp id differs from the number sent: alias recorded")
            }
            Err(e) => {
                tracing::warn!(campaign = %self.campaign, contact = %self.key, error = %e, "WhatsApp id alias not recorded")
            }
        }
    }

    /// One send's outcome and latency in the sender's metric families.
    fn observe(&self, outcome: &SendOutcome, took: Duration) {
        use crate::http::metrics::{HttpErrorLabels, SendOutcomeLabels};
        let ctx = &self.ctx;
        ctx.latency.observe(took.as_secs_f64());
        let name = match outcome {
            SendOutcome::Accepted { .. } => {
                ctx.accepted.inc();
                return;
            }
            SendOutcome::Failed(f) => format!("failed_{}", f.class.as_str()),
            SendOutcome::Unknown { .. } => "unknown".to_string(),
        };
        let m = &ctx.metrics;
        let sender = ctx.sender.id.clone();
        m.sender_sends
            .get_or_create(&SendOutcomeLabels {
                sender: sender.clone(),
                outcome: name,
            })
            .inc();
        if let SendOutcome::Failed(f) = outcome {
            if let Some(status) = f.http_status() {
                m.sender_http_errors
                    .get_or_create(&HttpErrorLabels {
                        sender,
                        status: status.to_string(),
                    })
                    .inc();
            }
        }
    }
}

/// Runs `fut`, calling `left` once its first poll returns: for a provider call, when the
/// request has been handed to the connection (the moment it leaves, as near as the process
/// can tell).
async fn after_first_poll<F: std::future::Future>(fut: F, left: impl FnOnce()) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut left = Some(left);
    std::future::poll_fn(move |cx| {
        let polled = fut.as_mut().poll(cx);
        if let Some(f) = left.take() {
            f();
        }
        polled
    })
    .await
}
