//! The daemon's health tick: the systemd watchdog and status line, the Redis probe and the store
//! gate it opens or closes (guarantee 5: while Redis cannot keep tierpace's promises nothing is
//! sent).
use std::sync::Arc;
use std::time::Duration;

use crate::systemd;

use super::admin;
use super::{redis_health, Shared};

pub(super) fn health_interval() -> Duration {
    systemd::watchdog_interval()
        .map(|w| (w / 3).min(Duration::from_secs(1)))
        .unwrap_or(Duration::from_secs(1))
}

/// One line for systemd's STATUS= and the log.
pub(super) fn summary(shared: &Shared) -> String {
    let senders = shared.board.senders();
    let campaigns: usize = shared.campaigns.read().map(|c| c.len()).unwrap_or(0);
    let running: usize = senders
        .iter()
        .flat_map(|s| &s.campaigns)
        .filter(|c| c.status.state == crate::dispatch::schedule::RunState::Running)
        .count();
    format!(
        "{} senders, {campaigns} campaigns ({running} running)",
        shared.senders.read().map(|s| s.len()).unwrap_or(0)
    )
}

/// Pings the watchdog only while healthy, refreshes metrics and readiness.
pub(super) async fn health_tick(shared: &Arc<Shared>) {
    let prefix = shared
        .loaded
        .read()
        .map(|l| l.config.key_prefix.clone())
        .unwrap_or_default();
    let probe = shared.pinger.probe(&prefix).await;
    let up = !matches!(probe, Err(redis_health::RedisProblem::Unreachable(_)));
    apply_store_problem(shared, probe.err().filter(|_| up));
    let was = shared
        .redis_up
        .swap(up, std::sync::atomic::Ordering::SeqCst);
    if was && !up {
        tracing::error!("redis unreachable: no sends until it is back");
    } else if !was && up {
        tracing::info!("redis reachable again");
    }
    shared.metrics.redis_up.set(i64::from(up));
    if !up {
        shared.metrics.redis_errors.inc();
    }
    admin::refresh_metrics(shared).await;
    let now = shared.clock.now();
    if up
        && shared
            .board
            .healthy(now, chrono::Duration::seconds(30))
            .is_ok()
    {
        systemd::watchdog();
    }
    systemd::status(&summary(shared));
}

/// Opens or closes the store gate from the probe; logs a change at once and a lasting problem
/// once a minute (not on every tick: the old behaviour was a warning every 50 ms).
pub(super) fn apply_store_problem(shared: &Shared, problem: Option<redis_health::RedisProblem>) {
    use redis_health::RedisProblem;
    let before = shared.store_gate.why();
    for reason in RedisProblem::REASONS {
        if reason != "unreachable" {
            let on = problem.as_ref().is_some_and(|p| p.reason() == reason);
            shared
                .metrics
                .redis_refusing
                .get_or_create(&crate::http::metrics::ReasonLabels {
                    reason: reason.to_string(),
                })
                .set(i64::from(on));
        }
    }
    let mut warned = shared
        .store_warned_at
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match problem {
        Some(p) => {
            let text = p.to_string();
            let now = shared.clock.now();
            let due = warned.is_none_or(|t| now - t >= chrono::Duration::seconds(60));
            if before.as_deref() != Some(text.as_str()) || due {
                tracing::error!(reason = p.reason(), "{text}");
                *warned = Some(now);
            }
            shared.store_gate.close(text);
        }
        None => {
            if before.is_some() {
                tracing::info!(
                    "redis accepts tierpace's writes again and does not evict: sending resumes"
                );
                shared.store_gate.open();
                *warned = None;
            }
        }
    }
}
