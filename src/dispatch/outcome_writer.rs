//! A sender's send outcomes, written in batches (issue #15: CPU per send).
//!
//! An accepted send leaves two writes: the contact's new state, in its run's progress, and the
//! message id's index entry, for webhooks (`progress::record_outcome`, `index_message`). Written
//! one send at a time they were two Redis round trips per send, each waking the send's task
//! twice. Here the send hands its outcome over and ends; one task per sender gathers what comes
//! in over [`LINGER`] and writes it as one progress update per run (one script call) and the
//! index entries together.
//!
//! What it changes for "nothing lost, nothing doubled": an outcome waits up to [`LINGER`] more
//! before it is written. A process killed in that time leaves those contacts in flight, which
//! the next lease holder turns into `unknown` (never resent), exactly as a kill between the
//! provider's answer and a one-by-one write did. A graceful stop writes everything handed over
//! ([`OutcomeWriter::finish`]) before the leases are given up.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::progress::{record_outcomes, ProgressStore, RunId, Write};

/// How long the writer gathers outcomes after the first one arrives before it writes them: at
/// 1,000 sends a second about 5 outcomes a write. Short against the provider's answer time
/// (100-500 ms) and against a webhook's arrival, which waits for its index entry anyway.
pub const LINGER: Duration = Duration::from_millis(5);

/// At most this many outcomes in one write.
const MAX_BATCH: usize = 512;

/// One send's outcome, to be written.
pub(super) struct Outcome {
    pub(super) campaign: String,
    pub(super) run: RunId,
    pub(super) write: Write,
    /// The provider's message id of an accepted send: indexed after the state is written.
    pub(super) message_id: Option<String>,
}

/// What the writer's task receives.
enum Item {
    Outcome(Outcome),
    /// Answered once every outcome handed over before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side: shared by a sender's sends.
pub(super) struct OutcomeWriter {
    tx: mpsc::UnboundedSender<Item>,
    /// The receiving side until [`OutcomeWriter::start`] runs it.
    gatherer: std::sync::Mutex<Option<Gatherer>>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    stop: tokio_util::sync::CancellationToken,
}

impl OutcomeWriter {
    /// A writer for `progress`; its task starts at [`OutcomeWriter::start`].
    pub(super) fn new(progress: Arc<dyn ProgressStore>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = tokio_util::sync::CancellationToken::new();
        Self {
            tx,
            gatherer: std::sync::Mutex::new(Some(Gatherer {
                rx,
                progress,
                stop: stop.clone(),
            })),
            task: std::sync::Mutex::new(None),
            stop,
        }
    }

    /// Starts the writing task on the current runtime (once; later calls do nothing).
    pub(super) fn start(&self) {
        let gatherer = self
            .gatherer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(g) = gatherer {
            *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokio::spawn(g.run()));
        }
    }

    /// Whether the writing task runs (started, not stopped or ended).
    fn running(&self) -> bool {
        !self.stop.is_cancelled()
            && self
                .task
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|t| !t.is_finished())
    }

    /// Hands an outcome over. Without a running writer (never started, or stopped), it is
    /// written at once.
    pub(super) async fn record(&self, outcome: Outcome, progress: &dyn ProgressStore) {
        let outcome = if self.running() {
            match self.tx.send(Item::Outcome(outcome)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(Item::Outcome(o))) => o,
                Err(_) => return,
            }
        } else {
            outcome
        };
        write_batch(progress, vec![outcome]).await;
    }

    /// Waits until every outcome handed over so far is written (or its write failed), at most
    /// `within`: before a hand-over gives the runs up, so the next holder finds them written.
    pub(super) async fn flush(&self, within: Duration) -> bool {
        if !self.running() {
            return true;
        }
        let (ack, done) = oneshot::channel();
        if self.tx.send(Item::Flush(ack)).is_err() {
            return true;
        }
        tokio::time::timeout(within, done).await.is_ok()
    }

    /// Writes everything handed over so far and stops the task; waits at most `within`.
    /// Returns false when the time ran out (those contacts stay in flight: `unknown` later).
    pub(super) async fn finish(&self, within: Duration) -> bool {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        match task {
            Some(t) => tokio::time::timeout(within, t).await.is_ok(),
            None => true,
        }
    }
}

/// The receiving side: runs as one task per sender.
struct Gatherer {
    rx: mpsc::UnboundedReceiver<Item>,
    progress: Arc<dyn ProgressStore>,
    stop: tokio_util::sync::CancellationToken,
}

impl Gatherer {
    async fn run(mut self) {
        loop {
            let first = tokio::select! {
                biased;
                item = self.rx.recv() => match item {
                    Some(Item::Outcome(o)) => o,
                    Some(Item::Flush(ack)) => {
                        let _ = ack.send(());
                        continue;
                    }
                    None => return,
                },
                _ = self.stop.cancelled() => {
                    let (rest, acks) = self.take_waiting(usize::MAX);
                    write_batch(self.progress.as_ref(), rest).await;
                    for ack in acks {
                        let _ = ack.send(());
                    }
                    return;
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = self.stop.cancelled() => {}
            }
            let (mut batch, acks) = self.take_waiting(MAX_BATCH - 1);
            batch.insert(0, first);
            write_batch(self.progress.as_ref(), batch).await;
            for ack in acks {
                let _ = ack.send(());
            }
        }
    }

    /// Up to `max` outcomes waiting in the channel, stopping after a flush request (whose
    /// answer is returned, to be sent once these are written).
    fn take_waiting(&mut self, max: usize) -> (Vec<Outcome>, Vec<oneshot::Sender<()>>) {
        let mut batch = Vec::new();
        while batch.len() < max {
            match self.rx.try_recv() {
                Ok(Item::Outcome(o)) => batch.push(o),
                Ok(Item::Flush(ack)) => return (batch, vec![ack]),
                Err(_) => break,
            }
        }
        (batch, Vec::new())
    }
}

/// Writes `batch`: one progress update per run (retried as one outcome write is), then the
/// message index entries of the outcomes that landed. A write that never lands is logged per
/// contact: it stays in flight and becomes `unknown`.
async fn write_batch(progress: &dyn ProgressStore, batch: Vec<Outcome>) {
    if batch.is_empty() {
        return;
    }
    let mut by_run: BTreeMap<RunId, Vec<Outcome>> = BTreeMap::new();
    for o in batch {
        by_run.entry(o.run.clone()).or_default().push(o);
    }
    for (run, outcomes) in by_run {
        let writes: Vec<Write> = outcomes.iter().map(|o| o.write.clone()).collect();
        if let Err(e) = record_outcomes(progress, &run, &writes).await {
            for o in &outcomes {
                tracing::error!(campaign = %o.campaign, error = %e,
                    "outcome not recorded: the contact stays in flight and becomes unknown");
            }
            continue;
        }
        let index = outcomes.iter().filter_map(|o| {
            o.message_id
                .as_deref()
                .map(|id| progress.index_message(id, &run, &o.write.field))
        });
        // One task, the requests in flight together on the store's connection.
        for r in futures::future::join_all(index).await {
            if let Err(e) = r {
                tracing::warn!(campaign = run.campaign(), error = %e, "message id not indexed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::ContactKey;
    use crate::dispatch::progress::ContactState;
    use crate::dispatch::progress_memory::MemoryProgress;

    fn outcome(run: &RunId, n: u64) -> Outcome {
        let key = ContactKey(u128::from(n));
        Outcome {
            campaign: run.campaign().to_string(),
            run: run.clone(),
            write: Write {
                field: crate::dispatch::progress::contact_field(key),
                state: ContactState::Sent {
                    line: n,
                    message_id: format!("m-{n}"),
                },
            },
            message_id: Some(format!("m-{n}")),
        }
    }

    #[tokio::test]
    async fn outcomes_handed_over_are_written_and_indexed_by_finish() {
        let progress: Arc<dyn ProgressStore> = Arc::new(MemoryProgress::new());
        let run = RunId("c1:r1".into());
        let writer = OutcomeWriter::new(progress.clone());
        writer.start();
        for n in 0..100 {
            writer.record(outcome(&run, n), progress.as_ref()).await;
        }
        assert!(writer.flush(Duration::from_secs(5)).await);
        assert!(progress.lookup_message("m-99").await.unwrap().is_some());
        assert!(writer.finish(Duration::from_secs(5)).await);
        for n in 0..100u64 {
            let found = progress.lookup_message(&format!("m-{n}")).await.unwrap();
            assert_eq!(
                found,
                Some((
                    run.clone(),
                    crate::dispatch::progress::contact_field(ContactKey(u128::from(n)))
                ))
            );
        }
        // After finish, an outcome is written at once.
        writer.record(outcome(&run, 100), progress.as_ref()).await;
        assert!(progress.lookup_message("m-100").await.unwrap().is_some());
    }
}
