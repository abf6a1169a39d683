//! The dispatcher: one task per sender that, each tick, asks the pacer how many new
//! conversations may start, pulls that many contacts from its running campaign runs, admits them
//! through the ledger, claims them in the run's progress, and sends them through the provider.
//!
//! Order matters for "never twice" and "never over the limit" (DESIGN.md §2):
//! 1. look the contacts up in the run's progress (a state with the same audience line means a
//!    restart re-read it: already handled; another line means a duplicate row);
//! 2. `admit` in the ledger (atomic; a crash after it only burns a slot, and a re-admit inside
//!    24 h is free, so nothing is lost);
//! 3. `claim` in the progress store, fenced by the run's lease (a crash after it leaves the
//!    contact `in_flight`, which the next lease holder turns into `unknown`: never resent);
//! 4. send, then record the outcome; a send that never reached WhatsApp releases its slot.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::in_flight::InFlightLimit;
use super::progress::{ContactState, LeaseStatus, ProgressError, ProgressStore, Write};
use super::react::{Reactor, SenderControls};
use super::runner::{
    check_audience, fill_window, open_reader, rescan, save_cursor, LiveCampaign, Runner,
};
use super::schedule::{decide, RunFacts, RunState};
use super::send::{Finished, SendJob};
use super::sender_hold::SenderHold;
use super::status::{SenderSnapshot, StatusBoard};
use super::timeline::SendTimeline;
use crate::campaign::consent::{self, blocked_any, ConsentStore, ContactKeys};
use crate::campaign::file::{Category, TemplateRef as CampaignTemplate};
use crate::clock::Clock;
use crate::contact::ContactHasher;
use crate::ledger::{AdmitDecision, Ledger, LedgerError, LedgerStats, LimitGroup};
use crate::policy::brake::BrakeState;
use crate::policy::pacer::{CampaignView, Pacer, SenderView};
use crate::policy::retry_policy::RetrySettings;
use crate::policy::throughput::AdaptiveRate;
use crate::provider::{Provider, TemplateMessage, TemplateRef};

/// Everything a sender's dispatcher works with.
pub struct SenderDeps {
    pub sender_id: String,
    pub group: LimitGroup,
    pub provider: Arc<dyn Provider>,
    pub ledger: Arc<dyn Ledger>,
    pub consent: Arc<dyn ConsentStore>,
    pub progress: Arc<dyn ProgressStore>,
    pub clock: Arc<dyn Clock>,
    pub hasher: ContactHasher,
    /// Unique per dispatcher: campaign and sender leases name it.
    pub owner: String,
    /// Which replica should pace which sender, and this replica's id (issue #19).
    pub ownership: Arc<super::ownership::Ownership>,
    /// Where sender leases are taken.
    pub sender_leases: Arc<dyn super::sender_lease::SenderLeases>,
    pub lease_ttl: Duration,
    pub max_mps: u32,
    /// Its share of its limit group's grow budget, in (0, 1] (`SenderView::group_share`).
    pub group_share: f64,
    pub concurrency: usize,
    pub pacer: Pacer,
    pub tick: Duration,
    pub drain_timeout: Duration,
    pub brakes: Arc<Mutex<BrakeState>>,
    /// Where brakes, sends per day and template warm-up are shared and kept.
    pub pacing: Arc<dyn super::pacing_store::PacingStore>,
    /// The sender's rate under throughput errors (shared with the webhook path).
    pub rate: Arc<Mutex<AdaptiveRate>>,
    /// When temporary failures are retried (`[retries]`).
    pub retries: RetrySettings,
    pub board: Arc<StatusBoard>,
    /// Where sends by outcome and provider latency are counted.
    pub metrics: crate::http::Metrics,
}

/// What the scheduler and the admin API tell a running dispatcher.
#[derive(Debug)]
pub enum Command {
    /// The full set of campaigns for this sender now (reload).
    SetCampaigns(Vec<LiveCampaign>),
    /// Something changed (pause, resume, brake): re-evaluate now.
    Wake,
}

pub struct Dispatcher {
    deps: SenderDeps,
    runners: BTreeMap<String, Runner>,
    sends: JoinSet<Finished>,
    permits: Arc<Semaphore>,
    new_uniques_today: u64,
    day_start: Option<DateTime<Utc>>,
    ledger_ok: bool,
    last_stats: Option<LedgerStats>,
    /// When each send may start (issue #15): spaced on the sender's own timeline.
    /// Shared with the send jobs, which take their actual start from it.
    timeline: Arc<Mutex<SendTimeline>>,
    /// Sends kept in flight, from the provider's measured latency.
    in_flight: InFlightLimit,
    /// The clock at the previous tick: starts are reserved two ticks ahead.
    last_tick_at: Option<DateTime<Utc>>,
    /// The sender's lease: only its holder leases the sender's campaign runs and sends.
    hold: SenderHold,
    /// When the sender's new uniques today were last read from the shared store.
    uniques_read_at: Option<DateTime<Utc>>,
    /// The sender's horizon on this replica, in ms since the epoch (`SenderHold::horizon`),
    /// shared with the send jobs: none starts at or after it. `i64::MIN` when not held.
    horizon: Arc<std::sync::atomic::AtomicI64>,
}

impl Dispatcher {
    pub fn new(deps: SenderDeps) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(deps.concurrency)),
            timeline: Arc::new(Mutex::new(SendTimeline::new(
                deps.max_mps,
                deps.pacer.settings().arrival_jitter,
            ))),
            in_flight: InFlightLimit::default(),
            last_tick_at: None,
            deps,
            runners: BTreeMap::new(),
            sends: JoinSet::new(),
            new_uniques_today: 0,
            day_start: None,
            ledger_ok: true,
            last_stats: None,
            hold: SenderHold::default(),
            uniques_read_at: None,
            horizon: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        }
    }

    /// Runs until `shutdown`; then stops admitting, drains in-flight sends (bounded) and gives
    /// its leases up so another instance can take over at once.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.deps.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(Command::SetCampaigns(list)) => self.set_campaigns(list),
                    Some(Command::Wake) => {}
                    None => break,
                },
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => self.finished(done),
                _ = ticker.tick() => self.tick().await,
            }
        }
        self.drain().await;
    }

    fn set_campaigns(&mut self, list: Vec<LiveCampaign>) {
        let mut next = BTreeMap::new();
        for live in list {
            let id = live.campaign.id.clone();
            match self.runners.remove(&id) {
                // Same run: keep the reader and window, take the new settings (progress kept).
                Some(mut r) if r.live.run == live.run => {
                    r.live = live;
                    next.insert(id, r);
                }
                Some(old) => {
                    tracing::info!(campaign = %id, old_run = %old.live.run, new_run = %live.run,
                        "template or audience changed: a new run starts");
                    self.release_later(old);
                    next.insert(id, Runner::new(live));
                }
                None => {
                    next.insert(id, Runner::new(live));
                }
            }
        }
        for (_, gone) in std::mem::take(&mut self.runners) {
            tracing::info!(campaign = %gone.id(), "campaign file removed: stopped, state kept");
            self.release_later(gone);
        }
        self.runners = next;
    }

    fn release_later(&self, runner: Runner) {
        if runner.fence.is_some() {
            let progress = self.deps.progress.clone();
            let owner = self.deps.owner.clone();
            let run = runner.live.run.clone();
            tokio::spawn(async move {
                let _ = progress.release_lease(&run, &owner).await;
            });
        }
    }

    /// A send ended. What its failure did (brakes, pauses, retries) was decided and applied by
    /// `react.rs` inside the send job; here only the loop's bookkeeping remains.
    fn finished(&mut self, done: Result<Finished, tokio::task::JoinError>) {
        if let Err(e) = done {
            tracing::warn!(sender = %self.deps.sender_id, error = %e, "send task ended abnormally");
        } else if let Ok(d) = done {
            if let Some(latency) = d.latency {
                self.in_flight.observe(latency);
            }
            tracing::trace!(sender = %self.deps.sender_id, campaign = %d.campaign, "send finished");
        }
    }

    fn sender_controls(&self) -> SenderControls {
        SenderControls {
            id: self.deps.sender_id.clone(),
            brakes: self.deps.brakes.clone(),
            rate: self.deps.rate.clone(),
        }
    }

    fn reactor(&self) -> Reactor {
        Reactor {
            progress: self.deps.progress.clone(),
            consent: self.deps.consent.clone(),
            metrics: self.deps.metrics.clone(),
            retries: self.deps.retries.clone(),
            pacing: self.deps.pacing.clone(),
        }
    }

    /// Takes, renews or hands over the sender's lease. A hand-over waits until no send of this
    /// replica is in flight, then gives up the campaign leases and the sender's, in that order,
    /// so the next holder can take the runs as soon as it holds the sender.
    async fn hold_sender(&mut self, now: DateTime<Utc>) {
        let deps = &self.deps;
        self.hold
            .refresh(
                deps.sender_leases.as_ref(),
                &deps.ownership,
                &deps.sender_id,
                &deps.owner,
                now,
                deps.lease_ttl,
            )
            .await;
        if self.hold.handing_to().is_some() && self.sends.is_empty() {
            for r in self.runners.values_mut() {
                if r.fence.take().is_some() {
                    let _ = deps.progress.release_lease(&r.live.run, &deps.owner).await;
                    r.lease_until = None;
                    r.reader = None;
                }
            }
            self.hold
                .release(
                    deps.sender_leases.as_ref(),
                    &deps.sender_id,
                    &deps.owner,
                    now,
                )
                .await;
        }
    }

    /// The sender's new uniques today as every replica counted them (once a second).
    async fn read_sender_uniques(&mut self, now: DateTime<Utc>) {
        let due = self
            .uniques_read_at
            .is_none_or(|t| now - t >= chrono::Duration::seconds(1));
        let Some(day) = self.day_start.map(|d| d.date_naive()) else {
            return;
        };
        if !due {
            return;
        }
        self.uniques_read_at = Some(now);
        if let Ok(n) = self
            .deps
            .pacing
            .sender_uniques_on(&self.deps.sender_id, day)
            .await
        {
            self.new_uniques_today = self.new_uniques_today.max(n);
        }
    }

    async fn tick(&mut self) {
        let now = self.deps.clock.now();
        let stats = match self.deps.ledger.stats(&self.deps.group, now).await {
            Ok(s) => {
                if !self.ledger_ok {
                    tracing::info!(sender = %self.deps.sender_id, "ledger reachable again: sending resumes");
                }
                self.ledger_ok = true;
                s
            }
            Err(e) => {
                if self.ledger_ok {
                    tracing::error!(sender = %self.deps.sender_id, error = %e, "ledger unreachable: sending nothing until it is back");
                }
                self.ledger_ok = false;
                self.publish(now);
                return;
            }
        };
        self.roll_day(now);
        // Brakes as the shared store has them: set by any replica, kept across restarts.
        if let Ok(active) = self.deps.pacing.brakes(&self.deps.sender_id).await {
            self.deps
                .brakes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .restore(active);
        }
        self.hold_sender(now).await;
        self.horizon.store(
            self.hold
                .horizon(now)
                .map_or(i64::MIN, |h| h.timestamp_millis()),
            std::sync::atomic::Ordering::Relaxed,
        );
        if let Some(taken) = self.hold.take_new_holding() {
            // The previous holder (a silent replica) started nothing after one beat before its
            // liveness ran out, at most `taken`: start one spacing after that, so the two
            // holders' sends keep the spacing (a slow sender waits the rest of it).
            let margin = super::sender_lease::live_margin(self.deps.lease_ttl);
            let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
            let from = taken - margin + timeline.spacing();
            timeline.hold_until(from);
        }
        self.read_sender_uniques(now).await;
        let standby = if self.hold.held(now) {
            None
        } else {
            Some(
                self.hold
                    .holder()
                    .map_or_else(|| "no replica yet".to_string(), |h| format!("replica {h}")),
            )
        };
        let ids: Vec<String> = self.runners.keys().cloned().collect();
        for id in &ids {
            if let Err(e) = self.refresh(id, now, standby.clone()).await {
                tracing::warn!(campaign = %id, error = %e, "progress store error; will retry");
            }
        }
        let brakes = self
            .deps
            .brakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let may_send = self.hold.may_send(now);
        let views: Vec<CampaignView> = self
            .runners
            .values()
            .filter(|r| r.status.state.may_send() && r.fence.is_some() && may_send)
            .map(|r| CampaignView {
                id: r.id().to_string(),
                priority: r.live.campaign.priority,
                weight: r.live.campaign.weight,
                age_rank: r.live.age_rank,
                mode: pacing_mode(r.live.campaign.pacing.mode),
                marketing: r.live.campaign.template.category == Category::Marketing,
                // Steady mode's fixed budget and any cap: the pacer takes the smaller.
                daily_max: match (
                    r.live.campaign.pacing.daily_budget,
                    r.live.campaign.pacing.daily_max,
                ) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
                sent_today: r.sent_today,
                template_sends: r.template_sends,
                remaining: r.remaining(),
                open_now: true,
            })
            .collect();
        // Starts are reserved up to two ticks ahead (the next decision plus the admission round
        // trips), and at least 200 ms, measured on the clock so a virtual clock's long ticks are
        // covered too: a slow tick does not leave the timeline idle.
        let lookahead = self
            .last_tick_at
            .map_or(chrono::Duration::zero(), |last| (now - last) * 2)
            .max(chrono::Duration::milliseconds(200));
        self.last_tick_at = Some(now);
        let slots = self.free_slots(lookahead);
        if !views.is_empty() && slots > 0 {
            let mut view = self.sender_view(&stats, now, &views);
            let room = {
                let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
                timeline.set_rate(view.max_mps, self.deps.pacer.settings().arrival_jitter);
                timeline.room(now, lookahead)
            };
            view.throughput_room = Some(room.min(slots as u64));
            let plan = self.deps.pacer.plan(&view, &brakes, &views);
            tracing::debug!(target: "tierpace::pace", sender = %self.deps.sender_id,
                lookahead_ms = lookahead.num_milliseconds(), room, slots,
                granted = plan.total(), took_ms = (self.deps.clock.now() - now).num_milliseconds(),
                "tick plan");
            for r in self.runners.values_mut() {
                r.hold = plan
                    .held
                    .iter()
                    .find(|(id, _)| id == r.id())
                    .map(|(_, h)| *h);
            }
            for (id, grant) in plan.grants {
                if grant == 0 {
                    continue;
                }
                // The pacer already took these from the sender's throughput cap and the
                // timeline's room; each gets its own start on the timeline.
                let mut n = (grant as usize).min(self.free_slots(lookahead));
                // Only starts the timeline can give before the campaign's calendar closes: a
                // send is never reserved for after closing time (DESIGN.md §2, guarantee 2).
                if let Some(close) = self
                    .runners
                    .get(&id)
                    .and_then(|r| r.live.calendar.next_close(now))
                {
                    let before = self
                        .timeline
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .room(now, close - now - chrono::Duration::nanoseconds(1));
                    n = n.min(usize::try_from(before).unwrap_or(usize::MAX));
                }
                if n == 0 {
                    continue;
                }
                if let Err(e) = self.dispatch_batch(&id, n, now).await {
                    tracing::warn!(campaign = %id, error = %e, "batch not dispatched; will retry");
                }
            }
        }
        self.last_stats = Some(stats);
        self.publish(now);
    }

    /// Send slots free now: the in-flight limit (Little's law on the measured latency) less
    /// the sends in flight, within the permits left.
    fn free_slots(&self, lookahead: chrono::Duration) -> usize {
        let in_flight = self.deps.concurrency - self.permits.available_permits();
        let rate = f64::from(self.deps.max_mps);
        let limit = self.in_flight.limit(
            rate,
            lookahead.to_std().unwrap_or_default(),
            self.deps.concurrency,
        );
        limit
            .saturating_sub(in_flight)
            .min(self.permits.available_permits())
    }

    fn sender_view(
        &self,
        stats: &LedgerStats,
        now: DateTime<Utc>,
        views: &[CampaignView],
    ) -> SenderView {
        // The open time left today is the most generous among the open campaigns' calendars:
        // each campaign is gated by its own calendar before it gets here.
        let (day_start, open_left, open_now) = self
            .runners
            .values()
            .filter(|r| views.iter().any(|v| v.id == r.id()))
            .map(|r| {
                let (start, _) = r.live.calendar.local_day_bounds(now);
                (
                    start,
                    r.live.calendar.open_seconds_left_today(now),
                    r.live.calendar.is_open(now),
                )
            })
            .max_by_key(|(_, s, _)| *s)
            .unwrap_or((now, 0, false));
        SenderView {
            now,
            limit: stats.limit,
            headroom: stats.headroom,
            unique_24h: stats.unique_24h,
            unique_7d: stats.unique_7d,
            upgrade_threshold: stats.upgrade_threshold,
            upgrade_at: stats.pending_upgrade.as_ref().map(|p| p.effective_at),
            limit_frees_at: stats.next_slot_at,
            day_start,
            open_seconds_left_today: open_left,
            open_now,
            new_uniques_today: self.new_uniques_today,
            // max_mps, lowered after throughput errors (AIMD, policy/throughput.rs).
            max_mps: self
                .deps
                .rate
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .current()
                .min(self.deps.max_mps),
            group_share: self.deps.group_share,
            // Set by the tick from the timeline.
            throughput_room: None,
        }
    }

    fn roll_day(&mut self, now: DateTime<Utc>) {
        let day = self
            .runners
            .values()
            .next()
            .map(|r| r.live.calendar.local_day_bounds(now).0);
        if day.is_some() && day != self.day_start {
            self.day_start = day;
            self.new_uniques_today = 0;
        }
        for r in self.runners.values_mut() {
            let d = r.live.calendar.local_day_bounds(now).0;
            if r.day_start != Some(d) {
                r.day_start = Some(d);
                r.sent_today = 0;
            }
        }
    }

    /// Lease, controls, counters and the run's state, for one runner.
    /// `standby` names who sends for the sender when this replica does not hold it: then no
    /// campaign lease is taken here and any held is given up.
    async fn refresh(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
        standby: Option<String>,
    ) -> Result<(), ProgressError> {
        let progress = self.deps.progress.clone();
        let brakes_factor = {
            let b = self.deps.brakes.lock().unwrap_or_else(|e| e.into_inner());
            let marketing = self
                .runners
                .get(id)
                .is_some_and(|r| r.live.campaign.template.category == Category::Marketing);
            (b.factor(marketing), b.active())
        };
        let sends_running = !self.sends.is_empty();
        let Some(r) = self.runners.get_mut(id) else {
            return Ok(());
        };
        let control = progress.control(id).await?;
        r.paused = control.paused;
        r.pause_reason = control.pause_reason;
        r.cancelled = control.cancelled;
        // Stopped for an edited audience by another replica or before a restart: say so.
        if control.audience_changed && control.paused && r.audience_changed.is_none() {
            r.audience_changed = Some(super::runner::AudienceChange {
                reason: format!(
                    "audience {} changed while its run was going",
                    r.live.campaign.audience.file.display()
                ),
                acted_on: true,
            });
            r.reader = None;
        }
        // The run was stopped for an edited audience and the operator resumed it: the file is
        // read again from the top (its cursor was cleared when the run stopped).
        if r.audience_changed.as_ref().is_some_and(|c| c.acted_on) && !r.paused {
            tracing::info!(campaign = %id, file = %r.live.campaign.audience.file.display(),
                "run resumed after its audience changed: re-reading it from the top, contacts already handled are skipped");
            r.audience_changed = None;
            r.meta.cursor = None;
            r.reader = None;
            rescan(r, &self.deps.hasher).await;
        }
        let calendar_open = r.live.calendar.is_open(now);
        let schedule = r.live.campaign.schedule.clone();
        let in_window =
            schedule.start.is_none_or(|s| now >= s) && schedule.end.is_none_or(|e| now < e);
        let wants_lease = standby.is_none()
            && !r.cancelled
            && !r.paused
            && calendar_open
            && in_window
            && r.read_error.is_none()
            && r.audience_changed.is_none();
        let renew_due = r.lease_until.is_none_or(|until| {
            until - now < chrono::Duration::from_std(self.deps.lease_ttl / 2).unwrap_or_default()
        });
        if wants_lease && renew_due {
            match progress
                .acquire_lease(&r.live.run, &self.deps.owner, now, self.deps.lease_ttl)
                .await?
            {
                LeaseStatus::Held { fence, until } => {
                    if r.fence != Some(fence) {
                        tracing::info!(campaign = %id, run = %r.live.run, fence, "lease acquired");
                        r.fence = Some(fence);
                        r.reader = None; // (re)open from the saved cursor
                    }
                    r.lease_until = Some(until);
                    r.held_by = None;
                }
                LeaseStatus::HeldByOther { owner, until } => {
                    // This replica holds the sender, so the run's owner is a replica that lost
                    // it (taken from it while silent): take the run too rather than wait for
                    // its lease to run out. Its claims are fenced out; its in-flight contacts
                    // become unknown.
                    let taken = if self.hold.held(now) {
                        Some(
                            progress
                                .take_lease(&r.live.run, &self.deps.owner, now, self.deps.lease_ttl)
                                .await?,
                        )
                    } else {
                        None
                    };
                    if let Some(LeaseStatus::Held { fence, until }) = taken {
                        tracing::info!(campaign = %id, run = %r.live.run, fence, previous = %owner,
                            "lease taken from a replica that no longer holds the sender");
                        r.fence = Some(fence);
                        r.reader = None;
                        r.lease_until = Some(until);
                        r.held_by = None;
                    } else {
                        r.fence = None;
                        r.reader = None;
                        r.lease_until = None;
                        r.held_by = Some(owner);
                        let _ = until;
                    }
                }
            }
            r.meta_at = None;
        } else if !wants_lease && r.fence.is_some() {
            // Closed, paused or out of schedule: give the lease up so nothing is held idle.
            let _ = progress.release_lease(&r.live.run, &self.deps.owner).await;
            r.fence = None;
            r.lease_until = None;
            r.reader = None;
        }
        if let Some(holder) = standby {
            r.held_by = Some(holder);
        }
        // Counters for status and completion: once a second is plenty, but completion is
        // only declared on fresh counters.
        let looks_done =
            r.exhausted && r.window.is_empty() && r.status.state != RunState::Completed;
        if looks_done
            || r.meta_at
                .is_none_or(|t| now - t >= chrono::Duration::seconds(1))
        {
            r.meta = progress.meta(&r.live.run).await?;
            r.meta_at = Some(now);
            // Today's sends and the template's warm-up count, from every replica.
            let day = r.live.calendar.local_day_bounds(now).0.date_naive();
            if let Ok(n) = self.deps.pacing.sends_on(id, day).await {
                r.sent_today = r.sent_today.max(n);
            }
            let template = template_key(&r.live.campaign.template.template);
            if let Ok(n) = self.deps.pacing.template_sends(&template).await {
                r.template_sends = r.template_sends.max(n);
            }
        }
        // A retry or deferral came due: re-read the audience to send the due contacts.
        let retry_due = r.meta.retry_at.is_some_and(|t| t <= now);
        if let (Some(fence), true) = (r.fence, r.meta.rewind || retry_due) {
            progress.clear_rewind(&r.live.run, fence).await?;
            r.meta.rewind = false;
            r.meta.retry_at = None;
            r.meta.cursor = None;
            r.reader = None;
            r.exhausted = false;
            tracing::info!(campaign = %id, "retry requested: re-reading the audience from the top");
        }
        check_audience(r).await;
        if r.fence.is_some()
            && r.reader.is_none()
            && r.read_error.is_none()
            && r.audience_changed.is_none()
        {
            open_reader(r, &self.deps.hasher).await;
        }
        if let Some(reason) = r.take_audience_change() {
            stop_for_audience_change(r, progress.as_ref(), &self.deps.owner, &reason).await?;
        }
        let facts = RunFacts {
            now: Some(now),
            cancelled: r.cancelled,
            paused: r.paused,
            pause_reason: r.pause_reason.clone(),
            start: schedule.start,
            end: schedule.end,
            // With the file open, done means read to its end (counters from before an edit of
            // the audience may say more rows are settled than the file now has).
            done: (if r.reader.is_some() {
                r.exhausted && r.window.is_empty()
            } else {
                r.remaining() == 0
            }) && r.meta.count("in_flight") == 0
                && r.meta.waiting() == 0
                && !sends_running,
            calendar_open,
            calendar_name: r.live.calendar_name.clone(),
            next_open: if calendar_open {
                None
            } else {
                r.live.calendar.next_open(now)
            },
            braked: (brakes_factor.0 <= 0.0).then(|| {
                brakes_factor
                    .1
                    .iter()
                    .map(|(b, _)| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            waiting: waiting(r, now),
            held_by: r.held_by.clone(),
        };
        let mut status = decide(&facts);
        // Grow mode sends slowly on purpose (a few a minute at 1K): say why, so a newcomer does
        // not take the pace for a stall (issue #20).
        if status.state == RunState::Running
            && r.live.campaign.pacing.mode == crate::campaign::file::PacingMode::Grow
        {
            if let Some(why) = self
                .last_stats
                .as_ref()
                .and_then(|s| super::schedule::growing_why(s.unique_7d, s.upgrade_threshold))
            {
                status.why = why;
            }
        }
        if let Some(change) = &r.audience_changed {
            r.status = super::schedule::RunStatus {
                state: RunState::AudienceChanged,
                why: format!(
                    "{}; a new file is a new run (give it a new name), or `tierpace resume {id}` \
                     re-reads this one from the top and skips contacts already handled",
                    change.reason
                ),
                until: None,
            };
        } else if let Some(err) = &r.read_error {
            r.status = super::schedule::RunStatus {
                state: RunState::Paused,
                why: format!("audience unreadable: {err}"),
                until: None,
            };
        } else if status.state != r.status.state {
            tracing::info!(campaign = %id, state = status.state.as_str(), why = %status.why, "campaign state");
            r.status = status;
        } else {
            r.status = status;
        }
        Ok(())
    }

    /// Reads, filters, admits, claims and sends up to `n` contacts of one campaign.
    async fn dispatch_batch(
        &mut self,
        id: &str,
        n: usize,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let deps = &self.deps;
        let Some(r) = self.runners.get_mut(id) else {
            return Ok(());
        };
        let Some(fence) = r.fence else { return Ok(()) };
        fill_window(r, n).await;
        if r.audience_changed.is_some() {
            return Ok(()); // stopped at the next refresh; nothing read from the edited file goes
        }
        let run = r.live.run.clone();
        let picked: Vec<usize> = r.window.unsettled().take(n).collect();
        if picked.is_empty() {
            return Ok(());
        }

        // 1. Rows skipped by the reader, and opt-outs: record once, settle.
        let mut skips = Vec::new();
        let mut valid = Vec::new();
        for &i in &picked {
            match &r.window.get(i).map(|s| &s.row) {
                Some(Err(skip)) => {
                    skips.push((i, format!("L{}", skip.line), skip.line, skip.reason))
                }
                Some(Ok(row)) => valid.push((i, row.key, row.line)),
                None => {}
            }
        }
        // Both keys of each contact: an opt-out stored by an older version under the
        // pre-9th-digit spelling still stops the send (campaign::consent, migration).
        let keys: Vec<ContactKeys> = picked
            .iter()
            .filter_map(|&i| match r.window.get(i).map(|s| &s.row) {
                Some(Ok(row)) => Some(ContactKeys {
                    key: row.key,
                    legacy: deps.hasher.legacy_key(&row.number),
                }),
                _ => None,
            })
            .collect();
        // An opt-out of marketing only blocks marketing templates (issue 11 §2).
        let blocked = blocked_any(
            deps.consent.as_ref(),
            &keys,
            r.live.campaign.template.category,
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut candidates = Vec::new();
        for ((i, key, line), scope) in valid.into_iter().zip(blocked) {
            match scope {
                Some(scope) => skips.push((i, key.to_hex(), line, consent::skip_reason(scope))),
                None => candidates.push((i, key, line)),
            }
        }

        // 2. Already handled (same line, re-read after a restart) or a duplicate row.
        let fields: Vec<String> = candidates.iter().map(|(_, k, _)| k.to_hex()).collect();
        let existing = deps
            .progress
            .states(&run, &fields)
            .await
            .map_err(|e| e.to_string())?;
        let mut fresh = Vec::new();
        let mut due = Vec::new();
        let mut next_retry: Option<DateTime<Utc>> = None;
        for ((i, key, line), state) in candidates.into_iter().zip(existing) {
            match state {
                // Retrying or deferred, and its time has come: back to pending, then sent.
                // (Its retry count stays in the store for the next failure, react.rs.)
                Some(s) if s.not_before().is_some_and(|t| t <= now) => {
                    due.push((i, key, line));
                }
                // Already handled: the same row read again after a restart, or (another line)
                // the same contact after its audience was edited and the run resumed. A second
                // row of one contact in the file never gets here: the reader skips it as a
                // duplicate (its filter is exact and rebuilt from the top on every resume).
                Some(s) => {
                    if let Some(t) = s.not_before() {
                        next_retry = Some(next_retry.map_or(t, |n| n.min(t)));
                    }
                    r.window.settle(i);
                }
                None => fresh.push((i, key, line)),
            }
        }
        if let Some(t) = next_retry {
            deps.progress
                .note_retry(&run, t)
                .await
                .map_err(|e| e.to_string())?;
        }
        if !due.is_empty() {
            let fields: Vec<String> = due.iter().map(|(_, k, _)| k.to_hex()).collect();
            deps.progress
                .requeue(&run, &fields, false)
                .await
                .map_err(|e| e.to_string())?;
            fresh.extend(due);
        }
        if !skips.is_empty() {
            let writes: Vec<Write> = skips
                .iter()
                .map(|(_, field, line, reason)| Write {
                    field: field.clone(),
                    state: ContactState::Skipped {
                        line: *line,
                        reason: reason.as_str().to_string(),
                    },
                })
                .collect();
            deps.progress
                .claim(&run, fence, &writes)
                .await
                .map_err(|e| e.to_string())?;
            for (i, ..) in &skips {
                r.window.settle(*i);
            }
        }

        // 3. Admit through the ledger, in file order.
        if fresh.is_empty() {
            save_cursor(r, deps.progress.as_ref(), fence).await;
            return Ok(());
        }
        let keys: Vec<_> = fresh.iter().map(|(_, k, _)| *k).collect();
        let decisions = deps
            .ledger
            .admit(&deps.group, now, &keys, n as u32)
            .await
            .map_err(|e: LedgerError| e.to_string())?;
        let mut admitted = Vec::new();
        r.limit_until = None;
        for ((i, key, line), d) in fresh.into_iter().zip(decisions) {
            match d {
                AdmitDecision::Admitted { counted } => admitted.push((i, key, line, counted)),
                AdmitDecision::LimitReached { retry_at } => {
                    r.limit_until = Some(
                        r.limit_until
                            .map_or(retry_at, |t: DateTime<Utc>| t.min(retry_at)),
                    );
                }
                AdmitDecision::OverBudget => {}
            }
        }

        // 4. Claim (fenced), then send.
        let writes: Vec<Write> = admitted
            .iter()
            .map(|(_, key, line, _)| Write {
                field: key.to_hex(),
                state: ContactState::InFlight { line: *line },
            })
            .collect();
        let claimed = match deps.progress.claim(&run, fence, &writes).await {
            Ok(c) => c,
            Err(e) => {
                // Not claimed: give the counted slots back, nothing was sent.
                for (_, key, _, counted) in &admitted {
                    if *counted {
                        let _ = deps.ledger.release(&deps.group, *key, now).await;
                    }
                }
                if matches!(e, ProgressError::Fenced(_)) {
                    r.fence = None;
                    r.reader = None;
                }
                return Err(e.to_string());
            }
        };
        let controls = self.sender_controls();
        let reactor = self.reactor();
        let deps = &self.deps;
        let Some(r) = self.runners.get_mut(id) else {
            return Ok(());
        };
        let mut started = 0u64;
        let mut new_uniques = 0u64;
        for ((i, key, line, counted), prior) in admitted.into_iter().zip(claimed) {
            r.window.settle(i);
            if prior.is_some() {
                continue; // another row of this run got there first
            }
            let Some(Ok(row)) = r.window.get(i).map(|s| s.row.clone()) else {
                continue;
            };
            if counted {
                self.new_uniques_today += 1;
                new_uniques += 1;
            }
            r.sent_today += 1;
            r.template_sends += 1;
            started += 1;
            r.recent_sends.push_back(now);
            if row.params_normalised > 0 {
                deps.metrics
                    .campaign_params_normalised
                    .get_or_create(&crate::http::metrics::CampaignLabels {
                        campaign: id.to_string(),
                    })
                    .inc_by(u64::from(row.params_normalised));
            }
            let filled = r.live.campaign.template.parts.fill(&row.params);
            let msg = TemplateMessage {
                to: row.number.clone(),
                template: provider_template(&r.live.campaign.template.template),
                params: filled.params,
                media: filled.media,
                header_params: filled.header_params,
                buttons: filled.buttons,
            };
            let job = SendJob {
                campaign: id.to_string(),
                run: run.clone(),
                field: key.to_hex(),
                key,
                line,
                counted,
                admitted_at: now,
                // Reserved once admission and claim are done, so they never delay it.
                start_at: {
                    let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
                    let at_now = deps.clock.now();
                    let idle = timeline.next_free().map(|n| at_now - n);
                    let at = timeline.reserve(at_now);
                    tracing::debug!(target: "tierpace::pace", sender = %deps.sender_id,
                        idle_ms = idle.map_or(0, |d| d.num_milliseconds().max(0)),
                        ahead_ms = (at - at_now).num_milliseconds(), "start reserved");
                    at
                },
                timeline: self.timeline.clone(),
                not_after: r.live.calendar.next_close(now),
                horizon: self.horizon.clone(),
                msg,
                group: deps.group.clone(),
                sender: controls.clone(),
                provider: deps.provider.clone(),
                progress: deps.progress.clone(),
                ledger: deps.ledger.clone(),
                reactor: reactor.clone(),
                clock: deps.clock.clone(),
                metrics: deps.metrics.clone(),
                hasher: deps.hasher.clone(),
            };
            let permit = self.permits.clone().acquire_owned().await;
            self.sends.spawn(async move {
                let _permit = permit;
                job.run().await
            });
        }
        if new_uniques > 0 {
            if let Some(day) = self.day_start.map(|d| d.date_naive()) {
                if let Ok(n) = deps
                    .pacing
                    .add_sender_uniques(&deps.sender_id, day, new_uniques)
                    .await
                {
                    self.new_uniques_today = self.new_uniques_today.max(n);
                }
            }
        }
        if started > 0 {
            let day = r.live.calendar.local_day_bounds(now).0.date_naive();
            if let Ok(n) = deps.pacing.add_sends(id, day, started).await {
                r.sent_today = n;
            }
            let template = template_key(&r.live.campaign.template.template);
            if let Ok(n) = deps.pacing.add_template_sends(&template, started).await {
                r.template_sends = n;
            }
        }
        save_cursor(r, deps.progress.as_ref(), fence).await;
        Ok(())
    }

    fn publish(&mut self, now: DateTime<Utc>) {
        let mut campaigns = Vec::new();
        for r in self.runners.values_mut() {
            let rate = r.rate(now);
            campaigns.push(super::status::CampaignSnapshot {
                id: r.id().to_string(),
                sender: self.deps.sender_id.clone(),
                run: r.live.run.0.clone(),
                status: r.status.clone(),
                counters: r.meta.counters.clone(),
                valid_contacts: r.live.valid_contacts,
                total_rows: r.live.total_rows,
                remaining: r.remaining(),
                rate_per_second: rate,
                template: match &r.live.campaign.template.template {
                    CampaignTemplate::Id(id) => id.clone(),
                    CampaignTemplate::Name { name, .. } => name.clone(),
                },
            });
        }
        let brakes = self
            .deps
            .brakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .active();
        let rate = self
            .deps
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.deps.board.publish(SenderSnapshot {
            rate_limit_mps: rate.current().min(self.deps.max_mps),
            max_mps: self.deps.max_mps,
            sender: self.deps.sender_id.clone(),
            group: self.deps.group.0.clone(),
            ledger_ok: self.ledger_ok,
            stats: self.last_stats.clone(),
            brakes,
            replica: self.deps.ownership.replica.clone(),
            sent_by: self.hold.holder().map(str::to_string),
            sending_here: self.hold.held(now),
            campaigns,
            at: now,
        });
    }

    async fn drain(&mut self) {
        let deadline = tokio::time::sleep(self.deps.drain_timeout);
        tokio::pin!(deadline);
        while !self.sends.is_empty() {
            tokio::select! {
                _ = &mut deadline => {
                    tracing::warn!(sender = %self.deps.sender_id, left = self.sends.len(),
                        "drain timeout: in-flight sends abandoned (they will count as unknown)");
                    self.sends.abort_all();
                    break;
                }
                Some(done) = self.sends.join_next() => self.finished(done),
            }
        }
        for r in self.runners.values() {
            if r.fence.is_some() && self.sends.is_empty() {
                let _ = self
                    .deps
                    .progress
                    .release_lease(&r.live.run, &self.deps.owner)
                    .await;
            }
        }
        if self.sends.is_empty() {
            let now = self.deps.clock.now();
            self.hold
                .release(
                    self.deps.sender_leases.as_ref(),
                    &self.deps.sender_id,
                    &self.deps.owner,
                    now,
                )
                .await;
        }
    }
}

/// Stops a run whose audience changed under it (issue 16 §3): pauses the campaign for every
/// replica and the next start, clears the cursor so a resume reads the file from the top, and
/// gives the lease up. Said once, loudly, with what to do.
async fn stop_for_audience_change(
    r: &mut Runner,
    progress: &dyn ProgressStore,
    owner: &str,
    reason: &str,
) -> Result<(), ProgressError> {
    let id = r.id().to_string();
    tracing::error!(campaign = %id, file = %r.live.campaign.audience.file.display(), reason,
        "audience changed under its run: run stopped; a new file is a new run, or `tierpace resume` re-reads this one from the top");
    let c = progress.control(&id).await?;
    progress
        .set_control(
            &id,
            super::progress::Control {
                paused: true,
                audience_changed: true,
                ..c
            },
        )
        .await?;
    r.paused = true;
    if let Some(fence) = r.fence.take() {
        progress.clear_rewind(&r.live.run, fence).await?;
        let _ = progress.release_lease(&r.live.run, owner).await;
    }
    r.meta.cursor = None;
    r.meta.rewind = false;
    r.meta.retry_at = None;
    r.lease_until = None;
    Ok(())
}

/// Why new conversations are held back for this run, from the ledger's last answer or the pacer.
fn waiting(r: &Runner, now: DateTime<Utc>) -> Option<(String, Option<DateTime<Utc>>)> {
    use crate::policy::pacer::IdleReason;
    if let Some(t) = r.limit_until.filter(|t| *t > now) {
        return Some((
            format!("messaging limit reached; next slot frees at {t}"),
            Some(t),
        ));
    }
    match r.hold? {
        IdleReason::LimitReached { until } => Some((
            match until {
                Some(t) => format!("messaging limit reached; next slot frees at {t}"),
                None => "messaging limit reached".to_string(),
            },
            until,
        )),
        IdleReason::BudgetSpent => Some(("today's pacing budget is spent".to_string(), None)),
        _ => None,
    }
}

fn pacing_mode(m: crate::campaign::file::PacingMode) -> crate::policy::growth::PacingMode {
    use crate::campaign::file::PacingMode as F;
    use crate::policy::growth::PacingMode as P;
    match m {
        F::Grow => P::Grow,
        F::Steady => P::Steady,
        F::Asap => P::Asap,
    }
}

/// A template's name in the warm-up count: its Gupshup id, or its Meta name and language.
fn template_key(t: &CampaignTemplate) -> String {
    match t {
        CampaignTemplate::Id(id) => id.clone(),
        CampaignTemplate::Name { name, language } => format!("{name}:{language}"),
    }
}

fn provider_template(t: &CampaignTemplate) -> TemplateRef {
    match t {
        CampaignTemplate::Id(id) => TemplateRef {
            id: Some(id.clone()),
            name: None,
            language: None,
        },
        CampaignTemplate::Name { name, language } => TemplateRef {
            id: None,
            name: Some(name.clone()),
            language: Some(language.clone()),
        },
    }
}
