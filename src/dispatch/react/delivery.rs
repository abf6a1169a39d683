//! What a delivery status callback does to the contact it is about (DOMAIN.md §4): `delivered`
//! and `read` move its state forward; `failed` is a failure like a send answer's, decided in
//! [`super::failure`]; `enqueued`, `sent` and `deleted` record nothing beyond `sent`.
use chrono::{DateTime, Utc};

use super::{ContactRef, Reactor, SenderControls};
use crate::dispatch::progress::{record_outcome, ContactState, ProgressError, Write};
use crate::http::DeliveryStatus;
use crate::provider::{Failure, ProviderKind};

/// The state a `delivered` or `read` callback records for the contact on audience `line`
/// (`None`: the status records nothing, or is a failure).
pub fn delivered_state(
    status: &DeliveryStatus,
    line: u64,
    message_id: String,
) -> Option<ContactState> {
    match status {
        DeliveryStatus::Delivered => Some(ContactState::Delivered { line, message_id }),
        DeliveryStatus::Read => Some(ContactState::Read { line, message_id }),
        _ => None,
    }
}

impl Reactor {
    /// Applies a status callback for the contact that message `message_id` went to. A `failed`
    /// one is classified like a send answer (the provider's code, or `unknown`) and acted on
    /// for every sender in `senders`; its retry continues the contact's ladder.
    pub async fn status_callback(
        &self,
        contact: ContactRef<'_>,
        message_id: String,
        status: &DeliveryStatus,
        provider: ProviderKind,
        senders: &[SenderControls],
        now: DateTime<Utc>,
    ) -> Result<(), ProgressError> {
        if let DeliveryStatus::Failed { code, reason } = status {
            let code = code.clone().unwrap_or_else(|| "unknown".into());
            let failure = Failure::reported(provider, code, reason.as_deref().unwrap_or(""));
            self.react(&failure, now, contact, senders).await?;
            return Ok(());
        }
        let Some(state) = delivered_state(status, contact.line, message_id) else {
            return Ok(());
        };
        let write = Write {
            field: contact.field.to_string(),
            state,
        };
        record_outcome(self.progress.as_ref(), contact.run, &write).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_and_read_move_the_contact_forward_and_nothing_else_records_a_state() {
        let id = || "wamid.1".to_string();
        assert_eq!(
            delivered_state(&DeliveryStatus::Delivered, 7, id()),
            Some(ContactState::Delivered {
                line: 7,
                message_id: id()
            })
        );
        assert_eq!(
            delivered_state(&DeliveryStatus::Read, 7, id()),
            Some(ContactState::Read {
                line: 7,
                message_id: id()
            })
        );
        for s in [
            DeliveryStatus::Enqueued,
            DeliveryStatus::Sent,
            DeliveryStatus::Deleted,
            DeliveryStatus::Failed {
                code: Some("1002".into()),
                reason: None,
            },
        ] {
            assert_eq!(delivered_state(&s, 7, id()), None, "{s:?}");
        }
    }
}
