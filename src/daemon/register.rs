//! The replica register (issue #19): this replica says it is live, reads who else is and who
//! holds each sender, and publishes the ownership plan its dispatchers follow
//! (`dispatch::ownership`). Glue only: the plan is decided in `ownership::plan`.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::config::DaemonConfig;
use crate::dispatch::ownership;

/// Daemons started in this process so far (more than one only in tests).
static STARTED: AtomicU32 = AtomicU32::new(0);

/// This replica's id: `instance_id` (default: the host name), a dash and the process id; a
/// second daemon in the same process (tests) gets `.2`, `.3`...
pub fn replica_id(cfg: &DaemonConfig) -> String {
    let n = STARTED.fetch_add(1, Ordering::SeqCst) + 1;
    let base = format!(
        "{}-{}",
        super::senders::instance_name(cfg),
        std::process::id()
    );
    if n == 1 {
        base
    } else {
        format!("{base}.{n}")
    }
}

/// How often the register is renewed and the plan recomputed: an eighth of `lease_ttl`, at
/// most a second (`sender_lease::beat`).
fn beat_interval(lease_ttl: Duration) -> Duration {
    crate::dispatch::sender_lease::beat(lease_ttl)
}

/// How long an entry lives without renewal: three beats (`sender_lease::live_ttl`), as long
/// as a sender lease's holder counts as live; a dead replica leaves the plan then, and the
/// replica the plan names next takes its senders from their silent leases (issue #19).
fn entry_ttl(lease_ttl: Duration) -> Duration {
    crate::dispatch::sender_lease::live_ttl(lease_ttl)
}

fn lease_ttl(shared: &Shared) -> Duration {
    shared
        .loaded
        .read()
        .map(|l| l.config.lease_ttl)
        .unwrap_or(Duration::from_secs(15))
}

/// One beat: renew this replica's entry, read the live replicas and the sender holders, and
/// publish the plan. On a Redis error the previous plan stays.
pub async fn refresh(shared: &Arc<Shared>) {
    let now = shared.clock.now();
    let ttl = lease_ttl(shared);
    let replica = &shared.ownership.replica;
    let live = match shared
        .sender_leases
        .beat(replica, now, entry_ttl(ttl))
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(error = %e, "replica register not renewed; will retry");
            return;
        }
    };
    let senders: Vec<String> = shared
        .loaded
        .read()
        .map(|l| l.config.senders.keys().cloned().collect())
        .unwrap_or_default();
    let mut holders = BTreeMap::new();
    for s in &senders {
        match shared.sender_leases.holder(s, now).await {
            Ok(Some(h)) => {
                holders.insert(s.clone(), h);
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
    let plan = ownership::plan(&senders, &live, &holders);
    shared.ownership.set(live, plan);
}

/// Beats until `shutdown`.
pub async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(beat_interval(lease_ttl(&shared)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => refresh(&shared).await,
        }
    }
}

/// Takes this replica off the register (a clean stop), so the others plan without it at once.
pub async fn leave(shared: &Shared) {
    let _ = shared.sender_leases.leave(&shared.ownership.replica).await;
}
