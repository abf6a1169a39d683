//! A dispatcher's hold on its sender's lease (issue #19): take it when the ownership plan names
//! this replica (or nobody took it for a whole TTL), renew it at half its TTL, hand it over when
//! the plan names another live replica, and say when sends may start.
//!
//! Sends start only while more than [`PACE_WINDOW`] is left on the lease: a holder that stalls
//! or loses Redis stops a second before another replica may take over, so the provider never
//! sees two holders' sends in one second. A hand-over waits for the sends in flight, then
//! releases with a quiet second, for the same reason.
//!
//! A holder also proves it lives once a beat (`sender_lease::live_ttl`) and starts no send in
//! the last beat of its liveness; the replica the plan names takes a silent holder's sender
//! without waiting for the lease's TTL, and starts its own sends no sooner than one spacing
//! after the silent holder's last possible start. [`SenderHold::horizon`] is the moment after
//! which this replica starts no send, checked by every send job at its start.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ownership::{Ownership, Planned};
use super::sender_lease::{live_margin, live_ttl, SenderLease, SenderLeases, PACE_WINDOW};

/// What this dispatcher knows of its sender's lease.
#[derive(Debug, Default)]
pub struct SenderHold {
    fence: Option<u64>,
    until: Option<DateTime<Utc>>,
    /// The replica holding the lease at the last look (this one while held).
    holder: Option<String>,
    /// The plan names another replica: send nothing more, release once the sends in flight end.
    handing_off: Option<String>,
    /// This replica proved it lives until then (renewed every beat while held).
    live_until: Option<DateTime<Utc>>,
    /// How long before `live_until` sends stop (one beat).
    live_margin: Option<chrono::Duration>,
    /// Set when a new fence was taken; read once by the dispatcher to seed the timeline.
    taken_at: Option<DateTime<Utc>>,
}

impl SenderHold {
    /// Whether this dispatcher holds the sender at `now`.
    pub fn held(&self, now: DateTime<Utc>) -> bool {
        self.fence.is_some() && self.until.is_some_and(|u| u > now)
    }

    /// Whether new sends may start at `now` (held, not handing over, and more than one second
    /// of lease left).
    pub fn may_send(&self, now: DateTime<Utc>) -> bool {
        self.handing_off.is_none() && self.horizon(now).is_some_and(|h| h > now)
    }

    /// While held: the moment after which no send of this replica may start, the earlier of one
    /// second before the lease ends and one beat before its liveness does. A send reserved
    /// before a stall and woken after it is put back, never made (another replica may hold the
    /// sender by then).
    pub fn horizon(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.held(now) {
            return None;
        }
        let by_lease = self.until? - PACE_WINDOW;
        Some(match (self.live_until, self.live_margin) {
            (Some(live), Some(margin)) => by_lease.min(live - margin),
            _ => by_lease,
        })
    }

    /// When this replica took the sender with a new fence, once. The previous holder started
    /// no send after one beat before its liveness ran out, which was at most then.
    pub fn take_new_holding(&mut self) -> Option<DateTime<Utc>> {
        self.taken_at.take()
    }

    /// The replica that sends for the sender, as far as this one knows.
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref()
    }

    /// The replica the sender is being handed to, while a hand-over waits for sends in flight.
    pub fn handing_to(&self) -> Option<&str> {
        self.handing_off.as_deref()
    }

    /// One tick: take, renew or start handing over the lease.
    #[allow(clippy::too_many_arguments)]
    pub async fn refresh(
        &mut self,
        leases: &dyn SenderLeases,
        ownership: &Ownership,
        sender: &str,
        token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) {
        let planned = ownership.planned(sender);
        let held = self.held(now);
        self.handing_off = match &planned {
            Planned::There(other) if held => Some(other.clone()),
            _ => None,
        };
        let half = chrono::Duration::from_std(ttl / 2).unwrap_or(chrono::Duration::zero());
        let live_for = chrono::Duration::from_std(live_ttl(ttl)).unwrap_or(half);
        let margin = live_margin(ttl);
        self.live_margin = Some(margin);
        // Renewed at half the TTL, and its liveness once a beat.
        let renew_due = !held
            || self.until.is_some_and(|u| u - now < half)
            || self.live_until.is_none_or(|l| l - now <= live_for - margin);
        if !renew_due {
            return;
        }
        // Another replica is planned: take the lease only if it stayed free for a whole TTL
        // (that replica is stuck or does not know the sender).
        let free_for = match &planned {
            Planned::There(_) => ttl,
            Planned::Here | Planned::Unknown => Duration::ZERO,
        };
        // A standby replica asks every tick (one call, instead of one per campaign run as
        // before): a hand-over is then picked up within a tick.
        // The replica the plan names also takes the sender from a silent holder (a dead
        // replica) without waiting for its lease to run out.
        let asked = match planned {
            Planned::Here => {
                leases
                    .acquire_or_take(sender, &ownership.replica, token, now, ttl)
                    .await
            }
            _ => {
                leases
                    .acquire(sender, &ownership.replica, token, now, ttl, free_for)
                    .await
            }
        };
        match asked {
            Ok(SenderLease::Held { fence, until }) => {
                if self.fence != Some(fence) {
                    tracing::info!(sender, replica = %ownership.replica, fence, previous = ?self.holder,
                        "sender lease acquired: this replica sends for the sender");
                    self.taken_at = Some(now);
                }
                self.fence = Some(fence);
                self.until = Some(until);
                self.live_until = Some(now + live_for);
                self.holder = Some(ownership.replica.clone());
            }
            Ok(SenderLease::HeldBy { replica, .. }) => {
                if self.fence.take().is_some() {
                    tracing::warn!(sender, holder = %replica, "sender lease lost to another replica");
                }
                self.until = None;
                if self.holder.as_deref() != Some(replica.as_str()) {
                    tracing::info!(sender, holder = %replica, "sender paced by another replica: standby here");
                }
                self.holder = Some(replica);
            }
            Ok(SenderLease::NotBefore { .. }) => {
                self.fence = None;
                self.until = None;
                self.holder = None;
            }
            Err(e) => {
                // Keep what we had: sends stop by themselves a second before the lease ends.
                tracing::warn!(sender, error = %e, "sender lease not renewed; will retry");
            }
        }
    }

    /// Gives the lease up (hand-over or stop), after the last send started: the next holder
    /// starts no earlier than one second after `now`.
    pub async fn release(
        &mut self,
        leases: &dyn SenderLeases,
        sender: &str,
        token: &str,
        now: DateTime<Utc>,
    ) {
        if self.fence.is_none() {
            return;
        }
        if let Err(e) = leases.release(sender, token, now + PACE_WINDOW).await {
            tracing::warn!(sender, error = %e, "sender lease not released; it runs out by itself");
        }
        if let Some(to) = &self.handing_off {
            tracing::info!(sender, to = %to, "sender handed over to another replica");
        }
        self.holder = self.handing_off.take();
        self.fence = None;
        self.until = None;
        self.live_until = None;
    }
}
