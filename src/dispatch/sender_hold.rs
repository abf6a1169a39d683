//! A dispatcher's hold on its sender's lease (issue #19): take it when the ownership plan names
//! this replica (or nobody took it for a whole TTL), renew it at half its TTL, hand it over when
//! the plan names another live replica, and say when sends may start.
//!
//! Sends start only while more than [`PACE_WINDOW`] is left on the lease: a holder that stalls
//! or loses Redis stops a second before another replica may take over, so the provider never
//! sees two holders' sends in one second. A hand-over waits for the sends in flight, then
//! releases with a quiet second, for the same reason.
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ownership::{Ownership, Planned};
use super::sender_lease::{SenderLease, SenderLeases, PACE_WINDOW};

/// What this dispatcher knows of its sender's lease.
#[derive(Debug, Default)]
pub struct SenderHold {
    fence: Option<u64>,
    until: Option<DateTime<Utc>>,
    /// The replica holding the lease at the last look (this one while held).
    holder: Option<String>,
    /// The plan names another replica: send nothing more, release once the sends in flight end.
    handing_off: Option<String>,
}

impl SenderHold {
    /// Whether this dispatcher holds the sender at `now`.
    pub fn held(&self, now: DateTime<Utc>) -> bool {
        self.fence.is_some() && self.until.is_some_and(|u| u > now)
    }

    /// Whether new sends may start at `now` (held, not handing over, and more than one second
    /// of lease left).
    pub fn may_send(&self, now: DateTime<Utc>) -> bool {
        self.held(now)
            && self.handing_off.is_none()
            && self.until.is_some_and(|u| u - now > PACE_WINDOW)
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
        let renew_due = !held || self.until.is_some_and(|u| u - now < half);
        if !renew_due {
            return;
        }
        // Another replica is planned: take the lease only if it stayed free for a whole TTL
        // (that replica is stuck or does not know the sender).
        let free_for = match planned {
            Planned::There(_) => ttl,
            Planned::Here | Planned::Unknown => Duration::ZERO,
        };
        // A standby replica asks every tick (one call, instead of one per campaign run as
        // before): a hand-over is then picked up within a tick.
        match leases
            .acquire(sender, &ownership.replica, token, now, ttl, free_for)
            .await
        {
            Ok(SenderLease::Held { fence, until }) => {
                if self.fence != Some(fence) {
                    tracing::info!(sender, replica = %ownership.replica, fence, "sender lease acquired: this replica sends for the sender");
                }
                self.fence = Some(fence);
                self.until = Some(until);
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
    }
}
