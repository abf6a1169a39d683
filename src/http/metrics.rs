//! The Prometheus metrics of tierpace (issue #6 §3) and the `GET /metrics` handler.
//!
//! Registered, not global (STYLE.md 16): the daemon calls [`Metrics::register`] once on its
//! registry, keeps the returned handle (cheap to clone: families are shared) and updates it;
//! `/metrics` encodes the registry. Labels hold limit group, sender and campaign ids, outcomes,
//! codes and states — never a phone number or a secret (DESIGN.md §2.7).
//!
//! Gauges that come from persisted state (contacts by state, ledger counts) are set from the
//! daemon's status snapshots ([`Metrics::observe_senders`], [`Metrics::observe_campaign`]), so they
//! survive restarts; counters count events of this process.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

pub use super::metric_labels::*;
use super::HttpState;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric family tierpace exports. Fields are public so each subsystem updates its own.
#[derive(Clone)]
pub struct Metrics {
    // Per limit group (the ledger).
    pub group_tier_limit: Family<GroupLabels, FloatGauge>,
    pub group_unique_customers_24h: Family<GroupLabels, Gauge>,
    pub group_unique_customers_7d: Family<GroupLabels, Gauge>,
    pub group_upgrade_threshold: Family<GroupLabels, FloatGauge>,
    pub group_headroom: Family<GroupLabels, Gauge>,
    pub group_upgrade_pending_timestamp_seconds: Family<GroupLabels, Gauge>,
    pub group_quality: Family<GroupQualityLabels, Gauge>,
    pub group_brake_active: Family<GroupLabels, Gauge>,
    pub group_provider_tier_limit: Family<GroupLabels, FloatGauge>,
    pub group_tier_reconciles: Family<ReconcileLabels, Counter>,
    pub sender_tier_polls: Family<PollLabels, Counter>,
    // Per sender (the dispatcher and provider).
    pub sender_sends: Family<SendOutcomeLabels, Counter>,
    pub sender_provider_latency_seconds: Family<SenderLabels, Histogram, fn() -> Histogram>,
    pub sender_http_errors: Family<HttpErrorLabels, Counter>,
    pub sender_rate_messages_per_second: Family<SenderLabels, FloatGauge>,
    pub sender_rate_limit_messages_per_second: Family<SenderLabels, Gauge>,
    pub sender_max_messages_per_second: Family<SenderLabels, Gauge>,
    pub sender_sends_in_flight: Family<SenderLabels, Gauge>,
    pub sender_in_flight_limit: Family<SenderLabels, Gauge>,
    pub sender_owner: Family<SenderReplicaLabels, Gauge>,
    pub sender_failure_reactions: Family<ReactionLabels, Counter>,
    pub sender_unknown_failure_codes: Family<UnknownCodeLabels, Counter>,
    // Per campaign.
    pub campaign_contacts: Family<CampaignStateLabels, Gauge>,
    pub campaign_skipped_contacts: Family<CampaignReasonLabels, Gauge>,
    /// Parameters sent with newlines, tabs or long runs of spaces collapsed to one space.
    pub campaign_params_normalised: Family<CampaignLabels, Counter>,
    pub campaign_failed_contacts: Family<CampaignCodeLabels, Gauge>,
    pub campaign_eta_seconds: Family<CampaignLabels, Gauge>,
    pub campaign_state: Family<CampaignStateLabels, Gauge>,
    // The daemon.
    pub config_reloads: Family<ResultLabels, Counter>,
    pub redis_errors: Counter,
    pub redis_up: Gauge,
    pub redis_refusing: Family<ReasonLabels, Gauge>,
    pub webhook_events: Family<WebhookLabels, Counter>,
    pub webhook_unreadable: Family<UnreadableLabels, Counter>,
    pub http_refused: Family<RefusedLabels, Counter>,
    // Consent.
    pub optouts: Family<ScopeLabels, Gauge>,
}

/// The quality names a group's `tierpace_group_quality` has one series for each, best to worst
/// (`unknown` last: a number not rated yet, e.g. before 1,000 sends).
pub const QUALITIES: [&str; 4] = ["high", "medium", "low", "unknown"];

/// The contact states `tierpace_campaign_contacts` has one series for each.
pub const CONTACT_STATES: [&str; 11] = [
    "pending",
    "in_flight",
    "sent",
    "delivered",
    "read",
    "failed",
    "skipped",
    "unknown",
    "retrying",
    "deferred",
    "invalid",
];

/// The campaign states `tierpace_campaign_state` has one series for each.
pub const CAMPAIGN_STATES: [&str; 11] = [
    "scheduled",
    "running",
    "waiting_hours",
    "waiting_limit",
    "paused",
    "braked",
    "completed",
    "expired",
    "cancelled",
    "standby",
    "audience_changed",
];

fn latency_histogram() -> Histogram {
    // 10 ms .. ~20 s: provider APIs answer in tens to hundreds of ms; seconds mean trouble.
    Histogram::new(exponential_buckets(0.01, 2.0, 12))
}

impl Metrics {
    /// Register every family on `registry` (names get the `tierpace_` prefix there).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Metrics {
            group_tier_limit: Family::default(),
            group_unique_customers_24h: Family::default(),
            group_unique_customers_7d: Family::default(),
            group_upgrade_threshold: Family::default(),
            group_headroom: Family::default(),
            group_upgrade_pending_timestamp_seconds: Family::default(),
            group_quality: Family::default(),
            group_brake_active: Family::default(),
            group_provider_tier_limit: Family::default(),
            group_tier_reconciles: Family::default(),
            sender_tier_polls: Family::default(),
            sender_sends: Family::default(),
            sender_provider_latency_seconds: Family::new_with_constructor(latency_histogram),
            sender_http_errors: Family::default(),
            sender_rate_messages_per_second: Family::default(),
            sender_rate_limit_messages_per_second: Family::default(),
            sender_max_messages_per_second: Family::default(),
            sender_sends_in_flight: Family::default(),
            sender_in_flight_limit: Family::default(),
            sender_owner: Family::default(),
            sender_failure_reactions: Family::default(),
            sender_unknown_failure_codes: Family::default(),
            campaign_contacts: Family::default(),
            campaign_skipped_contacts: Family::default(),
            campaign_params_normalised: Family::default(),
            campaign_failed_contacts: Family::default(),
            campaign_eta_seconds: Family::default(),
            campaign_state: Family::default(),
            config_reloads: Family::default(),
            redis_errors: Counter::default(),
            redis_up: Gauge::default(),
            redis_refusing: Family::default(),
            webhook_events: Family::default(),
            webhook_unreadable: Family::default(),
            http_refused: Family::default(),
            optouts: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("tierpace");
        r.register("group_tier_limit", "Messaging limit of the group's tier: unique customers per rolling 24 h (+Inf when unlimited)", m.group_tier_limit.clone());
        r.register(
            "group_unique_customers_24h",
            "Unique customers reached with business-initiated conversations in the rolling 24 h",
            m.group_unique_customers_24h.clone(),
        );
        r.register(
            "group_unique_customers_7d",
            "Unique customers reached in the trailing 7 days",
            m.group_unique_customers_7d.clone(),
        );
        r.register(
            "group_upgrade_threshold",
            "Unique customers in 7 days needed for the next tier (+Inf when there is none)",
            m.group_upgrade_threshold.clone(),
        );
        r.register(
            "group_headroom",
            "New unique customers the group may still reach now",
            m.group_headroom.clone(),
        );
        r.register(
            "group_upgrade_pending_timestamp_seconds",
            "Unix time a pending tier upgrade takes effect (0 when none)",
            m.group_upgrade_pending_timestamp_seconds.clone(),
        );
        r.register(
            "group_quality",
            "Quality rating of the group's numbers: 1 for the current rating",
            m.group_quality.clone(),
        );
        r.register(
            "group_brake_active",
            "1 while a brake holds the group's marketing sends back",
            m.group_brake_active.clone(),
        );
        r.register(
            "group_provider_tier_limit",
            "The group's limit as the provider last reported it (poll); compare with group_tier_limit, the model's (+Inf when unlimited)",
            m.group_provider_tier_limit.clone(),
        );
        r.register(
            "group_tier_reconciles",
            "Times a provider poll moved the model's tier (provider_lower takes effect at once, provider_higher is accepted)",
            m.group_tier_reconciles.clone(),
        );
        r.register(
            "sender_tier_polls",
            "Polls of the provider for tier and quality, by result",
            m.sender_tier_polls.clone(),
        );
        r.register("sender_sends", "Sends by outcome", m.sender_sends.clone());
        r.register(
            "sender_provider_latency_seconds",
            "Time the provider's send API took to answer",
            m.sender_provider_latency_seconds.clone(),
        );
        r.register(
            "sender_http_errors",
            "Provider API answers that were errors, by HTTP status",
            m.sender_http_errors.clone(),
        );
        r.register(
            "sender_owner",
            "The replica that holds the sender's lease and sends for it (issue #19): 1 when it is the replica exporting this, else 0",
            m.sender_owner.clone(),
        );
        r.register(
            "sender_rate_messages_per_second",
            "Current send rate the pacer allows",
            m.sender_rate_messages_per_second.clone(),
        );
        r.register(
            "sender_rate_limit_messages_per_second",
            "Messages per second the sender may send now: max_mps, lowered after throughput errors (AIMD)",
            m.sender_rate_limit_messages_per_second.clone(),
        );
        r.register(
            "sender_max_messages_per_second",
            "The sender's configured max_mps",
            m.sender_max_messages_per_second.clone(),
        );
        r.register(
            "sender_sends_in_flight",
            "Sends of the sender in flight to the provider now",
            m.sender_sends_in_flight.clone(),
        );
        r.register(
            "sender_in_flight_limit",
            "The most sends the sender keeps in flight now: Little's law on max_mps and the measured latency, within concurrency and the ceiling that still buys throughput",
            m.sender_in_flight_limit.clone(),
        );
        r.register(
            "sender_failure_reactions",
            "Provider failures acted on, by class and what became of the contact",
            m.sender_failure_reactions.clone(),
        );
        r.register(
            "sender_unknown_failure_codes",
            "Provider failures with a code tierpace does not know (alert on any)",
            m.sender_unknown_failure_codes.clone(),
        );
        r.register(
            "campaign_contacts",
            "Campaign contacts by state",
            m.campaign_contacts.clone(),
        );
        r.register(
            "campaign_skipped_contacts",
            "Campaign contacts skipped, by reason",
            m.campaign_skipped_contacts.clone(),
        );
        r.register(
            "campaign_params_normalised",
            "Template parameters sent with newlines, tabs or runs of over four spaces made one space",
            m.campaign_params_normalised.clone(),
        );
        r.register(
            "campaign_failed_contacts",
            "Campaign contacts whose send failed, by provider error code",
            m.campaign_failed_contacts.clone(),
        );
        r.register(
            "campaign_eta_seconds",
            "Estimated seconds until the campaign has reached every contact",
            m.campaign_eta_seconds.clone(),
        );
        r.register(
            "campaign_state",
            "1 for the campaign's current state",
            m.campaign_state.clone(),
        );
        r.register(
            "config_reloads",
            "Config and campaign reloads by result",
            m.config_reloads.clone(),
        );
        r.register(
            "redis_errors",
            "Redis commands that failed",
            m.redis_errors.clone(),
        );
        r.register("redis_up", "1 while Redis answers", m.redis_up.clone());
        r.register(
            "redis_refusing",
            "1 while tierpace sends nothing because Redis may evict keys (reason=eviction_policy) or refuses writes (reason=writes_refused)",
            m.redis_refusing.clone(),
        );
        r.register(
            "webhook_events",
            "Provider webhook events by provider, type and result",
            m.webhook_events.clone(),
        );
        // Every series exists from the start at 0, so an alert on its increase fires on the first drop.
        for source in ["gupshup", "meta"] {
            for reason in [
                super::UnreadableReason::Malformed,
                super::UnreadableReason::Unsupported,
            ] {
                m.webhook_unreadable
                    .get_or_create(&UnreadableLabels {
                        source: source.to_string(),
                        reason: reason.as_str().to_string(),
                    })
                    .inc_by(0);
            }
        }
        r.register(
            "webhook_unreadable",
            "Provider callbacks dropped because tierpace could not read them, by source and reason (a dropped opt-out is a consent failure)",
            m.webhook_unreadable.clone(),
        );
        for door in ["gupshup", "meta", "admin"] {
            for reason in super::source::Refusal::EVERY {
                m.http_refused
                    .get_or_create(&RefusedLabels {
                        door: door.to_string(),
                        reason: reason.as_str().to_string(),
                    })
                    .inc_by(0);
            }
        }
        r.register(
            "http_refused",
            "Requests and callback events refused, by door (gupshup, meta, admin) and reason (issue #22)",
            m.http_refused.clone(),
        );
        r.register(
            "optouts",
            "Contacts opted out, by scope (marketing: marketing templates only; all: every template)",
            m.optouts.clone(),
        );
        r.register(
            "build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        m
    }

    /// Count one webhook event (`result`: ok, error, timeout, malformed, unsupported, unauthorized).
    pub fn webhook_event(&self, provider: &str, kind: &str, result: &str) {
        self.webhook_events
            .get_or_create(&WebhookLabels {
                provider: provider.to_string(),
                kind: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// Count one refused request or callback event on `door` (also logged by the caller).
    pub fn refused(&self, door: &str, reason: super::source::Refusal) {
        self.http_refused
            .get_or_create(&RefusedLabels {
                door: door.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }

    /// Count one callback body dropped as unreadable.
    pub fn webhook_unreadable(&self, source: &str, reason: super::UnreadableReason) {
        self.webhook_unreadable
            .get_or_create(&UnreadableLabels {
                source: source.to_string(),
                reason: reason.as_str().to_string(),
            })
            .inc();
    }
}

/// The content type of what `prometheus_client` encodes (OpenMetrics text, which Prometheus scrapes).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`.
pub async fn serve_metrics(State(state): State<HttpState>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
