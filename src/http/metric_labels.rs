//! The label sets of tierpace's metric families ([`Metrics`](super::metrics::Metrics)): limit
//! group, sender, campaign, outcome, code and state ids — never a phone number or a secret.
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupQualityLabels {
    pub group: String,
    pub quality: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SenderLabels {
    pub sender: String,
}

/// A sender and the replica that reports it (issue #19).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SenderReplicaLabels {
    pub sender: String,
    /// The replica that holds the sender's lease (empty: nobody yet).
    pub replica: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SendOutcomeLabels {
    pub sender: String,
    /// accepted, failed, retried, deferred, unknown, ...
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReactionLabels {
    pub sender: String,
    /// The failure class (`pair_rate`, `auth`, ...).
    pub class: String,
    /// What became of the contact: failed, invalid, retrying, deferred, pending.
    pub fate: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub sender: String,
    /// ok, error
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub group: String,
    /// provider_lower, provider_higher
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnknownCodeLabels {
    pub sender: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpErrorLabels {
    pub sender: String,
    /// The HTTP status the provider answered, or `transport` when there was no answer.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignLabels {
    pub campaign: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignStateLabels {
    pub campaign: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignReasonLabels {
    pub campaign: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CampaignCodeLabels {
    pub campaign: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

/// `{door, reason}` of `tierpace_http_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// `gupshup`, `meta` (the webhooks) or `admin` (the admin API).
    pub door: String,
    /// See [`super::source::Refusal`].
    pub reason: String,
}

/// `{source, reason}` of `tierpace_webhook_unreadable_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnreadableLabels {
    /// `gupshup` or `meta`: the route the body came in on.
    pub source: String,
    /// `malformed` or `unsupported`.
    pub reason: String,
}

/// `{scope}` of `tierpace_optouts`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `marketing` or `all`.
    pub scope: String,
}

/// `{provider, type, result}`. `type` is a Rust keyword, hence the hand-written encoding.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct WebhookLabels {
    pub provider: String,
    /// message_status, inbound, opt_out, opt_in, tier, quality, template, malformed,
    /// unsupported, request (the request as a whole: unauthorized, timeout, panic).
    pub kind: String,
    pub result: String,
}

impl EncodeLabelSet for WebhookLabels {
    fn encode(&self, encoder: LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [
            ("provider", self.provider.as_str()),
            ("type", self.kind.as_str()),
            ("result", self.result.as_str()),
        ]
        .encode(encoder)
    }
}
