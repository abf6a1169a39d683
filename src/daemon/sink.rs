//! The webhooks' [`EventSink`]: routes each provider event to what it is about (the contact
//! its number or message id names, the senders its source names, the campaigns) and hands it
//! to the one place that decides what it does, [`crate::dispatch::react`]. Nothing here
//! decides. Returning `Err` makes the webhook answer 503 so the provider retries (Redis down).
use std::sync::Arc;

use super::Shared;
use chrono::{DateTime, Utc};

use crate::campaign::consent::{ContactKeys, OptOutSource};
use crate::campaign::phone::parse_provider_number;
use crate::config::ProviderChoice;
use crate::contact::{ContactKey, E164};
use crate::dispatch::react::{reported_change, ContactRef, GroupedSender};
use crate::http::{
    DeliveryStatus, EventOutcome, EventSink, ProviderEvent, SinkError, UnreadableReason,
    WebhookSource,
};
use crate::policy::retry_policy::Ladder;
use crate::policy::tier::Quality;
use crate::policy::tier_report::ReportedChange;
use crate::provider::ProviderKind;

/// How long a status callback looks for its message while our record of the send may not have
/// landed yet: 50 ms, doubling to 2 s, eight looks in about 5 s.
const CALLBACK_OVERTAKES_SEND: Ladder = Ladder {
    first: std::time::Duration::from_millis(50),
    factor: 2,
    attempts: 7,
    cap: std::time::Duration::from_secs(2),
};

pub struct Sink(pub Arc<Shared>);

/// The customer a callback is from: their number, its key, and the contact it is an alias of
/// when a send answer said WhatsApp knows that contact under this id (`contacts[].wa_id`).
struct Customer {
    number: E164,
    key: ContactKey,
    aliased: Option<ContactKey>,
}

impl Customer {
    /// Every key the callback's effect applies to: its own, then the aliased contact's.
    fn keys(&self) -> Vec<ContactKey> {
        std::iter::once(self.key)
            .chain(self.other_alias())
            .collect()
    }

    /// The contact this number is an alias of, when that is another contact.
    fn other_alias(&self) -> Option<ContactKey> {
        self.aliased.filter(|a| *a != self.key)
    }
}

impl Sink {
    /// The one place a callback's number becomes contact keys (every opt-out, opt-in and
    /// inbound arm goes through it); `None` when the number is not a number. A customer's
    /// number as providers send it (`+55 85 ...`, `5585...`, an old 12-digit WhatsApp id) goes
    /// through the one normaliser, so every spelling of a line is one contact key.
    async fn customer_of(&self, raw: &str) -> Result<Option<Customer>, SinkError> {
        let s = &self.0;
        let Some(number) = parse_provider_number(raw) else {
            return Ok(None);
        };
        let key = s.hasher.key(&number);
        let aliased = s
            .consent
            .aliases_for(std::slice::from_ref(&key))
            .await?
            .into_iter()
            .next()
            .flatten();
        Ok(Some(Customer {
            number,
            key,
            aliased,
        }))
    }

    /// The senders a callback concerns: by Gupshup app name or Meta phone number id; all senders
    /// of that provider when the callback does not say.
    fn senders_of(&self, source: &WebhookSource) -> Vec<GroupedSender> {
        let senders = self.0.senders.read().map(|s| s.clone()).unwrap_or_default();
        senders
            .into_values()
            .filter(|h| match source {
                WebhookSource::Gupshup { app } => {
                    h.config.provider == ProviderChoice::Gupshup
                        && app
                            .as_ref()
                            .is_none_or(|a| h.config.app_name.as_deref() == Some(a.as_str()))
                }
                WebhookSource::Meta {
                    phone_number_id, ..
                } => {
                    h.config.provider == ProviderChoice::Meta
                        && phone_number_id
                            .as_ref()
                            .is_none_or(|p| h.config.phone_number_id.as_deref() == Some(p.as_str()))
                }
            })
            .map(|h| h.grouped())
            .collect()
    }

    /// A status callback: finds the contact the message went to and hands the status over.
    async fn message_status(
        &self,
        source: &WebhookSource,
        ids: [Option<&str>; 2],
        status: &DeliveryStatus,
    ) -> Result<(), SinkError> {
        let s = &self.0;
        // A callback can overtake our own record of the send (the provider answers the send
        // and posts `sent`/`delivered` at once): look again for a while before giving up. The
        // webhook has already answered 200 by then (the sink runs on past its timeout).
        let mut found = None;
        let mut attempt = 0;
        'look: loop {
            for id in ids.into_iter().flatten() {
                if let Some(hit) = s.progress.lookup_message(id).await? {
                    found = Some((hit, id.to_string()));
                    break 'look;
                }
            }
            let Some(wait) = CALLBACK_OVERTAKES_SEND.delay(attempt) else {
                break;
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
        let Some(((run, field), message_id)) = found else {
            tracing::debug!(
                status = status.name(),
                "status for a message tierpace did not send (or too old); ignored"
            );
            return Ok(());
        };
        let current = s
            .progress
            .states(&run, std::slice::from_ref(&field))
            .await?;
        let Some(Some(state)) = current.into_iter().next() else {
            return Ok(());
        };
        let contact = ContactRef {
            run: &run,
            field: &field,
            line: state.line(),
        };
        let senders: Vec<_> = self
            .senders_of(source)
            .into_iter()
            .map(|g| g.controls)
            .collect();
        s.reactor()
            .status_callback(
                contact,
                message_id,
                status,
                ProviderKind::from(source),
                &senders,
                s.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// An opt-out, opt-in or marketing preference of the customer at `phone`.
    async fn consent(
        &self,
        phone: &str,
        change: ConsentEvent,
        at: DateTime<Utc>,
    ) -> Result<EventOutcome, SinkError> {
        let Some(who) = self.customer_of(phone).await? else {
            return Ok(EventOutcome::Applied);
        };
        let reactor = self.0.reactor();
        Ok(match change {
            ConsentEvent::OptOut(source) => reactor.opt_out(who.keys(), source, at).await?,
            ConsentEvent::Marketing { stop } => {
                reactor.marketing_preference(who.keys(), stop, at).await?
            }
            ConsentEvent::OptIn => {
                let keys = ContactKeys::of(&self.0.hasher, &who.number);
                reactor.opt_in(keys, who.other_alias(), at).await?
            }
        })
    }
}

/// What a customer said, as the consent events carry it.
enum ConsentEvent {
    OptOut(OptOutSource),
    Marketing { stop: bool },
    OptIn,
}

#[async_trait::async_trait]
impl EventSink for Sink {
    fn unreadable(&self, source: &'static str, reason: UnreadableReason) {
        let now = self.0.clock.now();
        self.0
            .unreadable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(source, reason, now);
    }

    async fn handle(
        &self,
        source: WebhookSource,
        event: ProviderEvent,
        at: Option<DateTime<Utc>>,
    ) -> Result<EventOutcome, SinkError> {
        let s = &self.0;
        let now = s.clock.now();
        // A consent change is dated by the provider's event time (never later than now, so a
        // wrong clock cannot shut out the changes that follow); without one, by its arrival.
        let when = at.map_or(now, |t| t.min(now));
        match &event {
            ProviderEvent::MessageStatus {
                provider_message_id,
                alt_id,
                status,
                ..
            } => {
                self.message_status(
                    &source,
                    [Some(provider_message_id.as_str()), alt_id.as_deref()],
                    status,
                )
                .await?;
                Ok(EventOutcome::Applied)
            }
            ProviderEvent::Inbound { from, .. } => {
                let Some(who) = self.customer_of(from).await? else {
                    return Ok(EventOutcome::Applied);
                };
                let groups: Vec<_> = self
                    .senders_of(&source)
                    .into_iter()
                    .map(|g| g.group)
                    .collect();
                s.reactor().inbound(&groups, &who.keys(), now).await?;
                Ok(EventOutcome::Applied)
            }
            ProviderEvent::OptOut { phone } => {
                let change = ConsentEvent::OptOut(OptOutSource::Provider);
                self.consent(phone, change, when).await
            }
            ProviderEvent::KeywordOptOut { phone } => {
                let change = ConsentEvent::OptOut(OptOutSource::Keyword);
                self.consent(phone, change, when).await
            }
            ProviderEvent::OptIn { phone } => self.consent(phone, ConsentEvent::OptIn, when).await,
            ProviderEvent::MarketingOptOut { phone } => {
                let change = ConsentEvent::Marketing { stop: true };
                self.consent(phone, change, when).await
            }
            ProviderEvent::MarketingOptIn { phone } => {
                let change = ConsentEvent::Marketing { stop: false };
                self.consent(phone, change, when).await
            }
            ProviderEvent::Tier {
                event,
                current,
                new,
            } => match reported_change(event, current.as_deref(), new.as_deref()) {
                Some(change) => {
                    let senders = self.senders_of(&source);
                    Ok(s.reactor().tier_report(&senders, change, at, now).await?)
                }
                None => {
                    tracing::warn!(event, "tier event without a tier tierpace knows; ignored");
                    Ok(EventOutcome::Applied)
                }
            },
            ProviderEvent::Quality { quality, .. } => {
                let q: Quality = quality.parse().unwrap_or(Quality::Unknown);
                let senders = self.senders_of(&source);
                let change = ReportedChange::Quality(q);
                Ok(s.reactor().tier_report(&senders, change, at, now).await?)
            }
            ProviderEvent::Template { id, name, status } => {
                let campaigns = s.campaigns.read().map(|c| c.clone()).unwrap_or_default();
                let outcome = s
                    .reactor()
                    .template_status(
                        &campaigns,
                        id.as_deref(),
                        name.as_deref(),
                        status,
                        at,
                        s.clock.now(),
                    )
                    .await?;
                Ok(outcome)
            }
        }
    }
}
