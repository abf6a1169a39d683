//! Gauges set from the daemon's status snapshots (senders, campaigns, opt-outs), so they
//! survive restarts: [`Metrics::observe_senders`], [`Metrics::observe_campaign`] and
//! [`Metrics::forget_campaign`].
use super::admin::{CampaignStatus, SenderStatus};
use super::metrics::*;

impl Metrics {
    /// Set `tierpace_optouts{scope}` from the consent store's counts.
    pub fn observe_optouts(&self, counts: &crate::campaign::OptOutCounts) {
        for scope in crate::campaign::ConsentScope::EVERY {
            self.optouts
                .get_or_create(&ScopeLabels {
                    scope: scope.as_str().to_string(),
                })
                .set(clamp(counts.of(scope)));
        }
    }

    /// Set the group and sender gauges from a snapshot of every sender.
    ///
    /// Senders of one limit group share its ledger, so the counts are the group's; the group's
    /// quality is the worst of its numbers and its brake is on while any of its senders is braked.
    pub fn observe_senders(&self, senders: &[SenderStatus]) {
        let mut groups: std::collections::BTreeMap<&str, Vec<&SenderStatus>> = Default::default();
        self.sender_owner.clear();
        for s in senders {
            groups.entry(s.limit_group.as_str()).or_default().push(s);
            self.sender_rate_messages_per_second
                .get_or_create(&SenderLabels {
                    sender: s.id.clone(),
                })
                .set(s.rate_per_second);
            let labels = SenderLabels {
                sender: s.id.clone(),
            };
            self.sender_rate_limit_messages_per_second
                .get_or_create(&labels)
                .set(i64::from(s.rate_limit_mps));
            self.sender_max_messages_per_second
                .get_or_create(&labels)
                .set(i64::from(s.max_mps));
            self.sender_sends_in_flight
                .get_or_create(&labels)
                .set(i64::try_from(s.sends_in_flight).unwrap_or(i64::MAX));
            self.sender_in_flight_limit
                .get_or_create(&labels)
                .set(i64::try_from(s.in_flight_limit).unwrap_or(i64::MAX));
            // One series per sender: the replica that sends for it, 1 when that is this one.
            let owner = SenderReplicaLabels {
                sender: s.id.clone(),
                replica: s.sent_by.clone().unwrap_or_default(),
            };
            self.sender_owner
                .get_or_create(&owner)
                .set(i64::from(s.sent_by.as_deref() == Some(s.replica.as_str())));
        }
        for (name, members) in groups {
            let Some(first) = members.first() else {
                continue;
            };
            let group = GroupLabels {
                group: name.to_string(),
            };
            let to_f64 = |v: Option<u64>| v.map_or(f64::INFINITY, |n| n as f64);
            self.group_tier_limit
                .get_or_create(&group)
                .set(to_f64(first.limit));
            if let Some(p) = members.iter().find(|m| m.provider_tier.is_some()) {
                self.group_provider_tier_limit
                    .get_or_create(&group)
                    .set(to_f64(p.provider_limit));
            }
            self.group_unique_customers_24h
                .get_or_create(&group)
                .set(clamp(first.unique_24h));
            self.group_unique_customers_7d
                .get_or_create(&group)
                .set(clamp(first.unique_7d));
            self.group_upgrade_threshold
                .get_or_create(&group)
                .set(to_f64(first.threshold));
            self.group_headroom
                .get_or_create(&group)
                .set(clamp(first.headroom));
            self.group_upgrade_pending_timestamp_seconds
                .get_or_create(&group)
                .set(first.upgrade_at.map_or(0, |t| t.timestamp()));
            // QUALITIES runs best to worst, so the worst rating present wins.
            let current = QUALITIES
                .iter()
                .rev()
                .skip(1)
                .find(|q| members.iter().any(|m| normalize_quality(&m.quality) == **q))
                .copied()
                .unwrap_or("unknown");
            for q in QUALITIES {
                self.group_quality
                    .get_or_create(&GroupQualityLabels {
                        group: name.to_string(),
                        quality: q.to_string(),
                    })
                    .set(i64::from(q == current));
            }
            self.group_brake_active
                .get_or_create(&group)
                .set(i64::from(members.iter().any(|m| !m.brakes.is_empty())));
        }
    }

    /// Set the campaign gauges from one campaign's status snapshot.
    pub fn observe_campaign(&self, c: &CampaignStatus) {
        let t = &c.totals;
        let campaign = || c.id.clone();
        for (state, n) in [
            ("pending", t.pending),
            ("in_flight", t.in_flight),
            ("sent", t.sent),
            ("delivered", t.delivered),
            ("read", t.read),
            ("failed", t.failed),
            ("skipped", t.skipped.values().sum()),
            ("unknown", t.unknown),
            ("retrying", t.retrying),
            ("deferred", t.deferred),
            ("invalid", t.invalid),
        ] {
            self.campaign_contacts
                .get_or_create(&CampaignStateLabels {
                    campaign: campaign(),
                    state: state.to_string(),
                })
                .set(clamp(n));
        }
        for (reason, n) in &t.skipped {
            self.campaign_skipped_contacts
                .get_or_create(&CampaignReasonLabels {
                    campaign: campaign(),
                    reason: reason.clone(),
                })
                .set(clamp(*n));
        }
        for (code, n) in &t.failed_by_code {
            self.campaign_failed_contacts
                .get_or_create(&CampaignCodeLabels {
                    campaign: campaign(),
                    code: code.clone(),
                })
                .set(clamp(*n));
        }
        self.campaign_eta_seconds
            .get_or_create(&CampaignLabels {
                campaign: campaign(),
            })
            .set(c.eta_seconds.map_or(-1, clamp));
        for state in CAMPAIGN_STATES {
            self.campaign_state
                .get_or_create(&CampaignStateLabels {
                    campaign: campaign(),
                    state: state.to_string(),
                })
                .set(i64::from(state == c.state));
        }
    }

    /// Forget a campaign's series (its file disappeared), so dashboards stop showing it.
    /// `last` is its last status: it names the skip reasons and failure codes it had.
    pub fn forget_campaign(&self, last: &CampaignStatus) {
        let c = || last.id.clone();
        self.campaign_eta_seconds
            .remove(&CampaignLabels { campaign: c() });
        for state in CAMPAIGN_STATES {
            self.campaign_state.remove(&CampaignStateLabels {
                campaign: c(),
                state: state.to_string(),
            });
        }
        for state in CONTACT_STATES {
            self.campaign_contacts.remove(&CampaignStateLabels {
                campaign: c(),
                state: state.to_string(),
            });
        }
        for reason in last.totals.skipped.keys() {
            self.campaign_skipped_contacts
                .remove(&CampaignReasonLabels {
                    campaign: c(),
                    reason: reason.clone(),
                });
        }
        for code in last.totals.failed_by_code.keys() {
            self.campaign_failed_contacts.remove(&CampaignCodeLabels {
                campaign: c(),
                code: code.clone(),
            });
        }
    }
}

/// GREEN/YELLOW/RED (Gupshup) and HIGH/MEDIUM/LOW (Meta) onto one scale, through the one
/// quality parser (`policy::tier::Quality`); anything else is `unknown`.
fn normalize_quality(q: &str) -> &'static str {
    q.parse::<crate::policy::tier::Quality>()
        .map_or("unknown", |q| q.name())
}

pub(super) fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
