//! One campaign run on each tick, before anything is sent: its lease (taken, renewed, taken
//! over or given up), its controls, its counters and the state it is in (`schedule::decide`).
use chrono::{DateTime, Utc};

use super::batch::template_key;
use super::dispatcher::Dispatcher;
use super::progress::{LeaseStatus, ProgressError, ProgressStore};
use super::runner::{check_audience, open_reader, rescan, Runner};
use super::schedule::{decide, RunFacts, RunState};
use crate::campaign::file::Category;

impl Dispatcher {
    /// Lease, controls, counters and the run's state, for one runner.
    /// `standby` names who sends for the sender when this replica does not hold it: then no
    /// campaign lease is taken here and any held is given up.
    pub(super) async fn refresh(
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
