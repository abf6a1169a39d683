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

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::capacity_probe::CapacityProbe;
use super::in_flight::InFlightLimit;
use super::runner::{LiveCampaign, Runner};
use super::send::{Finished, SendContext};
use super::sender_deps::SenderDeps;
use super::sender_hold::SenderHold;
use super::timeline::SendTimeline;
use super::warm_up::WarmUp;
use crate::campaign::file::Category;
use crate::ledger::LedgerStats;
use crate::policy::pacer::CampaignView;

/// What the scheduler and the admin API tell a running dispatcher.
#[derive(Debug)]
pub enum Command {
    /// The full set of campaigns for this sender now (reload).
    SetCampaigns(Vec<LiveCampaign>),
    /// Something changed (pause, resume, brake): re-evaluate now.
    Wake,
}

pub struct Dispatcher {
    pub(super) deps: SenderDeps,
    pub(super) runners: BTreeMap<String, Runner>,
    pub(super) sends: JoinSet<Finished>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) new_uniques_today: u64,
    pub(super) day_start: Option<DateTime<Utc>>,
    pub(super) ledger_ok: bool,
    pub(super) last_stats: Option<LedgerStats>,
    /// When each send may start (issue #15): spaced on the sender's own timeline.
    /// Shared with the send jobs, which take their actual start from it.
    pub(super) timeline: Arc<Mutex<SendTimeline>>,
    /// Sends kept in flight, from the provider's measured latency.
    pub(super) in_flight: InFlightLimit,
    /// The in-flight ceiling that still buys throughput, for a sender its cap does not bound.
    pub(super) capacity: CapacityProbe,
    /// A wider guard while the sender's sends open new connections.
    pub(super) warm_up: WarmUp,
    /// The clock at the previous tick: starts are reserved two ticks ahead.
    pub(super) last_tick_at: Option<DateTime<Utc>>,
    /// How far ahead the last tick reserved starts.
    pub(super) lookahead: chrono::Duration,
    /// The last plan was bound by the free slots: refill them as sends end.
    pub(super) slot_bound: bool,
    /// The sender's lease: only its holder leases the sender's campaign runs and sends.
    pub(super) hold: SenderHold,
    /// When the sender's new uniques today were last read from the shared store.
    pub(super) uniques_read_at: Option<DateTime<Utc>>,
    /// The sender's horizon on this replica, in ms since the epoch (`SenderHold::horizon`),
    /// shared with the send jobs: none starts at or after it. `i64::MIN` when not held.
    pub(super) horizon: Arc<std::sync::atomic::AtomicI64>,
    /// What every send job shares (the timeline and horizon above, the stores, the sender's
    /// controls): one pointer per job.
    pub(super) send_ctx: Arc<SendContext>,
}

impl Dispatcher {
    pub fn new(deps: SenderDeps) -> Self {
        let timeline = Arc::new(Mutex::new(SendTimeline::new(
            deps.max_mps,
            deps.pacer.settings().arrival_jitter,
        )));
        let horizon = Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
        let send_ctx = Arc::new(SendContext::new(&deps, timeline.clone(), horizon.clone()));
        Self {
            permits: Arc::new(Semaphore::new(deps.concurrency)),
            timeline,
            in_flight: InFlightLimit::default(),
            capacity: CapacityProbe::default(),
            warm_up: WarmUp::default(),
            last_tick_at: None,
            lookahead: chrono::Duration::milliseconds(200),
            slot_bound: false,
            deps,
            runners: BTreeMap::new(),
            sends: JoinSet::new(),
            new_uniques_today: 0,
            day_start: None,
            ledger_ok: true,
            last_stats: None,
            hold: SenderHold::default(),
            uniques_read_at: None,
            horizon,
            send_ctx,
        }
    }

    /// Runs until `shutdown`; then stops admitting, drains in-flight sends (bounded) and gives
    /// its leases up so another instance can take over at once.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        self.send_ctx.outcomes.start();
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
                // Finished sends are reaped at the start of each tick, not as each ends: that
                // would wake this loop once per send, 1,000 times a second at 1,000/s (#15).
                // Only while the slots bound the sender does an ending send wake it, to refill.
                Some(done) = self.sends.join_next(), if self.slot_bound => {
                    self.finished(done);
                    self.reap_finished();
                    self.refill().await;
                }
                _ = ticker.tick() => {
                    self.reap_finished();
                    self.tick().await
                }
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

    /// Takes in every send that has ended since the last call.
    fn reap_finished(&mut self) {
        while let Some(done) = self.sends.try_join_next() {
            self.finished(done);
        }
    }

    /// A send ended. What its failure did (brakes, pauses, retries) was decided and applied by
    /// `dispatch/react` inside the send job; here only the loop's bookkeeping remains.
    fn finished(&mut self, done: Result<Finished, tokio::task::JoinError>) {
        if let Err(e) = done {
            tracing::warn!(sender = %self.deps.sender_id, error = %e, "send task ended abnormally");
        } else if let Ok(d) = done {
            if let Some(latency) = d.latency {
                self.in_flight.observe(latency);
                self.capacity.answered();
            }
            tracing::trace!(sender = %self.deps.sender_id, campaign = %d.campaign, "send finished");
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
            // The next holder turns what it finds in flight into `unknown`: write ours first.
            self.send_ctx.outcomes.flush(deps.lease_ttl).await;
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
        // Starts are reserved up to two ticks ahead (the next decision plus the admission round
        // trips), and at least 200 ms, measured on the clock so a virtual clock's long ticks are
        // covered too: a slow tick does not leave the timeline idle.
        let lookahead = self
            .last_tick_at
            .map_or(chrono::Duration::zero(), |last| (now - last) * 2)
            .max(chrono::Duration::milliseconds(200));
        self.last_tick_at = Some(now);
        self.lookahead = lookahead;
        let bound = self.littles_law_limit(lookahead);
        let before = self.capacity.ceiling(bound);
        let p99 = self.in_flight.p99();
        let in_flight = self.sends_in_flight();
        if let Some(step) = self
            .capacity
            .tick(tokio::time::Instant::now(), bound, in_flight, p99)
        {
            tracing::debug!(target: "tierpace::pace", sender = %self.deps.sender_id, before,
                after = self.capacity.ceiling(bound), bound, %step,
                p99_ms = p99.map(|d| d.as_millis()), "in-flight ceiling");
        }
        self.slot_bound = self.plan_and_dispatch(&stats, now, lookahead).await;
        self.last_stats = Some(stats);
        self.publish(now);
    }

    /// Sends as many more as the free slots allow, between ticks, while the last plan was
    /// bound by the slots: a sender whose in-flight limit is small against its rate (a fast
    /// provider, a low `concurrency`) refills its slots as sends end instead of once a tick
    /// (issue #15: 64 slots on a 50 ms tick capped a sender at 1,280/s). Waits for a quarter of
    /// the in-flight limit to be free, so each refill is one admission batch, not one per send.
    async fn refill(&mut self) {
        let Some(stats) = self.last_stats.clone() else {
            return;
        };
        if !self.ledger_ok {
            return;
        }
        let lookahead = self.lookahead;
        if self.free_slots(lookahead) < (self.in_flight_limit(lookahead) / 4).max(1) {
            return;
        }
        let now = self.deps.clock.now();
        self.slot_bound = self.plan_and_dispatch(&stats, now, lookahead).await;
    }

    /// Plans this moment's starts and dispatches them; true when the free slots, not the
    /// timeline or the pacer, bounded what was granted (the capacity probe is told either way).
    async fn plan_and_dispatch(
        &mut self,
        stats: &LedgerStats,
        now: DateTime<Utc>,
        lookahead: chrono::Duration,
    ) -> bool {
        let mut slot_bound = false;
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
                mode: r.live.campaign.pacing.mode.into(),
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
        let slots = self.free_slots(lookahead);
        let in_flight = self.sends_in_flight();
        let will_send = !views.is_empty() && slots > 0;
        let warm_guard = self
            .warm_up
            .extra_guard(now, in_flight, will_send, self.in_flight.p99());
        if will_send {
            let mut view = self.sender_view(stats, now, &views);
            let room = {
                let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
                timeline.set_rate(
                    view.max_mps,
                    self.deps.pacer.settings().arrival_jitter + warm_guard,
                );
                timeline.room(now, lookahead)
            };
            view.throughput_room = Some(room.min(slots as u64));
            let plan = self.deps.pacer.plan(&view, &brakes, &views);
            slot_bound = room > slots as u64 && plan.total() >= slots as u64;
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
        self.capacity
            .planned(slot_bound, tokio::time::Instant::now());
        slot_bound
    }

    /// Send slots free now: the in-flight limit (Little's law on the measured latency) less
    /// the sends in flight, within the permits left.
    fn free_slots(&self, lookahead: chrono::Duration) -> usize {
        self.in_flight_limit(lookahead)
            .saturating_sub(self.sends_in_flight())
            .min(self.permits.available_permits())
    }

    /// Sends of this sender holding a slot now.
    pub(super) fn sends_in_flight(&self) -> usize {
        self.deps.concurrency - self.permits.available_permits()
    }

    /// The in-flight limit with starts reserved `lookahead` ahead: Little's law on the cap
    /// (`in_flight.rs`) within the ceiling that still buys throughput (`capacity_probe.rs`).
    pub(super) fn in_flight_limit(&self, lookahead: chrono::Duration) -> usize {
        self.capacity.ceiling(self.littles_law_limit(lookahead))
    }

    /// Little's law on the sender's cap and measured latency, within `concurrency`.
    fn littles_law_limit(&self, lookahead: chrono::Duration) -> usize {
        self.in_flight.limit(
            f64::from(self.deps.max_mps),
            lookahead.to_std().unwrap_or_default(),
            self.deps.concurrency,
        )
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
        let left = deadline.deadline() - tokio::time::Instant::now();
        if !self.send_ctx.outcomes.finish(left).await {
            tracing::warn!(sender = %self.deps.sender_id,
                "drain timeout: outcomes not written (those contacts will count as unknown)");
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
