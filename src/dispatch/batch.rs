//! The batch pipeline: up to `n` contacts of one campaign read, filtered (skips, opt-outs,
//! already handled), admitted through the ledger, claimed in the run's progress and sent.
//! The order and why it matters are in the [`dispatcher`](super::dispatcher) module docs.
use chrono::{DateTime, Utc};

use super::dispatcher::Dispatcher;
use super::progress::{contact_field, skipped_row_field, ContactState, ProgressError, Write};
use super::runner::{fill_window, save_cursor};
use super::send::SendJob;
use crate::campaign::consent::ConsentError;
use crate::campaign::consent::{self, blocked_any, ContactKeys};
use crate::campaign::file::TemplateRef as CampaignTemplate;
use crate::ledger::{AdmitDecision, LedgerError};
use crate::provider::{TemplateMessage, TemplateRef};

/// Why a batch was not (fully) dispatched: a store did not answer. The tick logs it and tries
/// again on the next tick; what was already recorded stays recorded.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchError {
    #[error(transparent)]
    Consent(#[from] ConsentError),
    #[error(transparent)]
    Progress(#[from] ProgressError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Dispatcher {
    /// Reads, filters, admits, claims and sends up to `n` contacts of one campaign.
    pub(super) async fn dispatch_batch(
        &mut self,
        id: &str,
        n: usize,
        now: DateTime<Utc>,
    ) -> Result<(), BatchError> {
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
                    skips.push((i, skipped_row_field(skip.line), skip.line, skip.reason))
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
        .await?;
        let mut candidates = Vec::new();
        for ((i, key, line), scope) in valid.into_iter().zip(blocked) {
            match scope {
                Some(scope) => {
                    skips.push((i, contact_field(key), line, consent::skip_reason(scope)))
                }
                None => candidates.push((i, key, line)),
            }
        }

        // 2. Already handled (same line, re-read after a restart) or a duplicate row.
        let fields: Vec<String> = candidates
            .iter()
            .map(|(_, k, _)| contact_field(*k))
            .collect();
        let existing = deps.progress.states(&run, &fields).await?;
        let mut fresh = Vec::new();
        let mut due = Vec::new();
        let mut next_retry: Option<DateTime<Utc>> = None;
        for ((i, key, line), state) in candidates.into_iter().zip(existing) {
            match state {
                // Retrying or deferred, and its time has come: back to pending, then sent.
                // (Its retry count stays in the store for the next failure, dispatch/react.)
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
            deps.progress.note_retry(&run, t).await?;
        }
        if !due.is_empty() {
            let fields: Vec<String> = due.iter().map(|(_, k, _)| contact_field(*k)).collect();
            deps.progress.requeue(&run, &fields, false).await?;
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
            let written = deps.progress.claim(&run, fence, &writes).await?;
            // Counted when recorded, so once per contact and run: a row read again after a
            // restart finds its state already there.
            for ((i, _, _, reason), prior) in skips.iter().zip(&written) {
                if prior.is_none() {
                    match r.window.get(*i).map(|s| &s.row) {
                        Some(Err(skip)) => deps.campaign_metrics.skip(id, skip),
                        _ => deps.campaign_metrics.count_skip(id, *reason),
                    }
                }
            }
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
        let decisions = deps.ledger.admit(&deps.group, now, &keys, n as u32).await?;
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
                field: contact_field(*key),
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
                return Err(e.into());
            }
        };
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
            let job = Box::new(SendJob {
                campaign: id.to_string(),
                run: run.clone(),
                field: contact_field(key),
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
                not_after: r.live.calendar.next_close(now),
                msg,
                ctx: self.send_ctx.clone(),
            });
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
}

/// A template's name in the warm-up count: its Gupshup id, or its Meta name and language.
pub(super) fn template_key(t: &CampaignTemplate) -> String {
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
