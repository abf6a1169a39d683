//! `tierpace status` as tables: per sender the tier, 24 h usage against the limit, 7-day uniques
//! against the upgrade threshold, the predicted upgrade, quality and brakes; per campaign a
//! progress bar, sent/failed/skipped, rate, ETA, state and why (issue #6 §6).
//!
//! Pure: it takes the snapshots and "now" and returns text, so tests pin the layout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::OptOutCounts;
use crate::http::{CampaignStatus, SenderStatus, WebhookHealth};

/// What `tierpace status --json` prints: the lists as the admin API returns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub senders: Vec<SenderStatus>,
    pub campaigns: Vec<CampaignStatus>,
    /// Callbacks dropped as unreadable (`GET /api/v1/webhooks`); `None` from a daemon without it.
    #[serde(default)]
    pub webhooks: Option<WebhookHealth>,
    /// Opted-out contacts by scope (`GET /api/v1/optouts`).
    #[serde(default)]
    pub optouts: Option<OptOutCounts>,
    /// Campaign files that did not load, `FILE: error` (from `GET /readyz` warnings).
    #[serde(default)]
    pub not_loaded: Vec<String>,
}

/// Both tables, ready to print.
pub fn render_status(report: &StatusReport, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    out.push_str("SENDERS\n");
    if report.senders.is_empty() {
        out.push_str("  (none configured)\n");
    } else {
        let mut rows = vec![row(&[
            "SENDER",
            "GROUP",
            "TIER",
            "24H USED/LIMIT",
            "7D UNIQUES/THRESHOLD",
            "UPGRADE",
            "QUALITY",
            "RATE",
            "BRAKES",
        ])];
        rows.extend(report.senders.iter().map(|s| sender_row(s, now)));
        out.push_str(&table(&rows));
        out.push_str(&sent_by_lines(&report.senders));
    }
    // Go-live items that failed at start (issue #21), once each; the daemon still sends.
    let mut go_live: Vec<&String> = report
        .senders
        .iter()
        .flat_map(|s| s.go_live_failed.iter())
        .collect();
    go_live.sort();
    go_live.dedup();
    if !go_live.is_empty() {
        out.push_str("\nGO-LIVE (failed at start; `tierpace check --online` for all items)\n");
        for line in go_live {
            out.push_str(&format!("  FAILED {line}\n"));
        }
    }
    out.push_str("\nCAMPAIGNS\n");
    if report.campaigns.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut rows = vec![row(&[
            "CAMPAIGN", "SENDER", "PROGRESS", "SENT", "FAILED", "SKIPPED", "RATE", "ETA", "STATE",
        ])];
        rows.extend(report.campaigns.iter().map(|c| campaign_row(c, now)));
        out.push_str(&table(&rows));
    }
    // A refused campaign is already a row above (state `refused`, with its reason).
    let shown_refused = |line: &str| {
        report.campaigns.iter().any(|c| {
            c.state == "refused" && c.why.as_deref().is_some_and(|why| line.ends_with(why))
        })
    };
    let not_loaded: Vec<&String> = report
        .not_loaded
        .iter()
        .filter(|l| !shown_refused(l))
        .collect();
    if !not_loaded.is_empty() {
        out.push_str(
            "\nNOT LOADED (the other campaigns run; `tierpace check` shows every error)\n",
        );
        for line in not_loaded {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(o) = &report.optouts {
        out.push_str(&format!(
            "\nOPT-OUTS\n  all templates: {}  marketing only: {}\n",
            o.all, o.marketing
        ));
    }
    if let Some(w) = &report.webhooks {
        out.push_str("\nWEBHOOKS\n");
        out.push_str(&webhook_lines(w, now));
    }
    out
}

/// Dropped callbacks stand out: each may have been an opt-out (issue 11 §2).
fn webhook_lines(w: &WebhookHealth, now: DateTime<Utc>) -> String {
    let mut out: String = w
        .warnings
        .iter()
        .map(|warning| format!("  WARNING: {warning}\n"))
        .collect();
    if w.unreadable_since_start == 0 {
        out.push_str("  every callback read\n");
        return out;
    }
    out += &format!(
        "  WARNING: callbacks dropped as unreadable: {} in the last hour, {} since start{}\n",
        w.unreadable_last_hour,
        w.unreadable_since_start,
        w.last_unreadable_at
            .map(|t| format!(", last {}", relative(t, now)))
            .unwrap_or_default()
    );
    for c in &w.by_reason {
        out.push_str(&format!(
            "    {} {}: {} in the last hour, {} since start\n",
            c.source,
            c.reason.as_str(),
            c.last_hour,
            c.since_start
        ));
    }
    out.push_str("  a dropped callback may have been an opt-out: see the daemon's log\n");
    out
}

/// Which replica sends for each sender (issue #19: one replica paces a sender at a time).
fn sent_by_lines(senders: &[SenderStatus]) -> String {
    let Some(here) = senders.first().map(|s| s.replica.as_str()) else {
        return String::new();
    };
    if here.is_empty() {
        return String::new(); // an older daemon
    }
    let mut out = format!("  answered by replica {here}\n");
    for s in senders {
        let who = match s.sent_by.as_deref() {
            Some(r) if r == here => format!("{r} (this replica)"),
            Some(r) => format!("{r} (standby here)"),
            None => "no replica yet".to_string(),
        };
        out.push_str(&format!("  {} sent by {who}\n", s.id));
    }
    out
}

fn sender_row(s: &SenderStatus, now: DateTime<Utc>) -> Vec<String> {
    let used = match s.limit {
        Some(limit) => format!(
            "{}/{} ({}%)",
            s.unique_24h,
            limit,
            percent(s.unique_24h, limit)
        ),
        None => format!("{}/unlimited", s.unique_24h),
    };
    let seven = match s.threshold {
        Some(t) => format!("{}/{}", s.unique_7d, t),
        None => format!("{} (top tier)", s.unique_7d),
    };
    let upgrade = match (s.upgrade_at, &s.upgrade_to) {
        (Some(at), to) => format!(
            "{}{} {}",
            to.as_deref().map(|t| format!("{t} ")).unwrap_or_default(),
            at.format("%Y-%m-%d %H:%M UTC"),
            relative(at, now)
        ),
        (None, _) => "-".to_string(),
    };
    // A raise only reported by a callback is not in force: say so next to the upgrade.
    let upgrade = match &s.reported_tier {
        Some(reported) => format!(
            "{upgrade}; {reported} REPORTED{}, unconfirmed: `tierpace tier confirm {}`",
            s.reported_at
                .map(|t| format!(" {}", relative(t, now)))
                .unwrap_or_default(),
            s.limit_group
        ),
        None => upgrade,
    };
    let brakes = if s.brakes.is_empty() {
        "-".to_string()
    } else {
        s.brakes
            .iter()
            .map(|b| format!("{} ({})", b.reason, b.effect))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Model vs provider: the provider's tier when it was polled, else why not.
    let tier = match (&s.provider_tier, s.provider_poll.as_deref()) {
        (Some(p), _) if *p == s.tier => format!("{} (= provider)", s.tier),
        (Some(p), _) => format!("{} (provider {p})", s.tier),
        (None, Some(why)) if why.starts_with("not configured") => {
            format!("{} (provider not polled: callbacks only)", s.tier)
        }
        _ => s.tier.clone(),
    };
    vec![
        s.id.clone(),
        s.limit_group.clone(),
        tier,
        used,
        seven,
        upgrade,
        s.quality.clone(),
        if s.rate_limit_mps > 0 && s.rate_limit_mps < s.max_mps {
            // Lowered after the provider's throughput errors; climbs back as sends succeed.
            format!(
                "{:.1}/s (cap {}/{} after throttling)",
                non_negative(s.rate_per_second),
                s.rate_limit_mps,
                s.max_mps
            )
        } else {
            format!("{:.1}/s", non_negative(s.rate_per_second))
        },
        brakes,
    ]
}

fn campaign_row(c: &CampaignStatus, now: DateTime<Utc>) -> Vec<String> {
    let t = &c.totals;
    let done = t.done();
    let bar = format!(
        "{} {:>3}%",
        progress_bar(done, t.total, 20),
        percent(done, t.total)
    );
    let skipped: u64 = t.skipped.values().sum();
    // No ETA while nothing will send without an operator (or ever again): a braked, paused or
    // stopped campaign would show a time that is not coming (issue #20 trial).
    let eta = match (c.eta_seconds, c.state.as_str()) {
        (
            _,
            "finished" | "completed" | "cancelled" | "expired" | "braked" | "paused"
            | "audience_changed",
        ) => "-".to_string(),
        (Some(s), _) => duration(s),
        (None, _) => "?".to_string(),
    };
    let mut state = c.state.clone();
    if let Some(why) = &c.why {
        state.push_str(&format!(": {why}"));
    }
    if let Some(why) = &c.template_check {
        state.push_str(&format!("; TEMPLATE NOT VERIFIED: {why}"));
    }
    for (n, what) in [
        (t.retrying, "retrying"),
        (t.deferred, "deferred"),
        (t.invalid, "invalid"),
    ] {
        if n > 0 {
            state.push_str(&format!("; {n} {what}"));
        }
    }
    if let Some(until) = c.until {
        let rel = relative(until, now);
        // `scheduled` and `waiting_hours` already say when in their why ("starts at …",
        // "… until …"): only how long from now is added, not a second "until".
        if matches!(c.state.as_str(), "scheduled" | "waiting_hours") && c.why.is_some() {
            state.push_str(&format!(" {rel}"));
        } else {
            state.push_str(&format!(
                " (until {}, {})",
                until.format("%H:%M UTC"),
                rel.trim_start_matches('(').trim_end_matches(')')
            ));
        }
    }
    vec![
        c.id.clone(),
        c.sender.clone(),
        bar,
        (t.sent + t.delivered + t.read).to_string(),
        t.failed.to_string(),
        skipped.to_string(),
        format!("{:.1}/s", non_negative(c.rate_per_second)),
        eta,
        state,
    ]
}

/// `[########............]`: `width` cells, filled in proportion to `done / total`.
pub fn progress_bar(done: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        // u128 so huge audiences cannot overflow; the result is at most `width`.
        let f = u128::from(done.min(total)) * width as u128 / u128::from(total);
        usize::try_from(f).unwrap_or(width)
    };
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

/// Whole percent, rounded down, capped at 100; 0 of 0 is 0.
fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        (u128::from(part.min(whole)) * 100 / u128::from(whole)) as u64
    }
}

/// `1d 4h`, `3h 05m`, `12m`, `40s`: enough precision for an ETA.
pub fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m:02}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    if secs >= 0 {
        format!("(in {})", duration(secs.unsigned_abs()))
    } else {
        format!("({} ago)", duration(secs.unsigned_abs()))
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned columns two spaces apart, widths from the widest cell (in characters).
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A rate for display: an idle sender's `-0.0` (or a rounding below zero) shows as `0.0`.
fn non_negative(rate: f64) -> f64 {
    if rate > 0.0 {
        rate
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::admin::{Brake, CampaignTotals};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn sender() -> SenderStatus {
        SenderStatus {
            id: "sac".into(),
            limit_group: "acme".into(),
            provider: "gupshup".into(),
            tier: "TIER_1K".into(),
            limit: Some(1000),
            allowance: Some(950),
            unique_24h: 412,
            unique_7d: 730,
            threshold: Some(500),
            headroom: 538,
            upgrade_at: Some(now() + chrono::Duration::hours(3)),
            upgrade_to: Some("TIER_10K".into()),
            quality: "HIGH".into(),
            brakes: vec![Brake {
                reason: "quality medium".into(),
                since: None,
                effect: "halve".into(),
            }],
            rate_per_second: 2.5,
            rate_limit_mps: 20,
            max_mps: 20,
            sends_in_flight: 0,
            in_flight_limit: 64,
            provider_tier: None,
            provider_limit: None,
            provider_quality: None,
            provider_poll: None,
            reported_tier: None,
            reported_at: None,
            replica: "host-a-1234".into(),
            sent_by: Some("host-b-99".into()),
            ladder: vec![],
            go_live_failed: vec![],
        }
    }

    fn campaign() -> CampaignStatus {
        CampaignStatus {
            id: "black-friday".into(),
            sender: "sac".into(),
            template: Some("promo_bf".into()),
            state: "waiting".into(),
            why: Some("outside business hours".into()),
            until: Some(now() + chrono::Duration::minutes(90)),
            totals: CampaignTotals {
                total: 1000,
                pending: 500,
                sent: 300,
                delivered: 100,
                failed: 50,
                skipped: [("opted_out".to_string(), 50)].into_iter().collect(),
                ..CampaignTotals::default()
            },
            rate_per_second: 1.25,
            eta_seconds: Some(3 * 3600 + 5 * 60),
            template_check: None,
        }
    }

    #[test]
    fn status_shows_usage_threshold_upgrade_brakes_and_progress() {
        let text = render_status(
            &StatusReport {
                senders: vec![sender()],
                campaigns: vec![campaign()],
                webhooks: None,
                optouts: None,
                not_loaded: vec![],
            },
            now(),
        );
        assert!(text.contains("412/1000 (41%)"), "{text}");
        assert!(text.contains("730/500"), "{text}");
        assert!(
            text.contains("TIER_10K 2026-11-26 15:00 UTC (in 3h 00m)"),
            "{text}"
        );
        assert!(text.contains("quality medium (halve)"), "{text}");
        assert!(text.contains("[##########..........]  50%"), "{text}");
        assert!(text.contains("3h 05m"), "{text}");
        assert!(
            text.contains("waiting: outside business hours (until 13:30 UTC, in 1h 30m)"),
            "{text}"
        );
    }

    #[test]
    fn status_says_which_replica_sends_for_each_sender() {
        let text = render_status(
            &StatusReport {
                senders: vec![sender()],
                campaigns: vec![],
                webhooks: None,
                optouts: None,
                not_loaded: vec![],
            },
            now(),
        );
        assert!(text.contains("answered by replica host-a-1234"), "{text}");
        assert!(
            text.contains("sac sent by host-b-99 (standby here)"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_campaign_and_an_unverified_template_are_said() {
        let mut refused = campaign();
        refused.id = "natal".into();
        refused.state = "refused".into();
        refused.why = Some(
            "campaigns/natal.toml:4: template.id: template `natal` is REJECTED, expected APPROVED"
                .into(),
        );
        let mut unverified = campaign();
        unverified.template_check = Some("senders.sac.waba_id is not set".into());
        let report = StatusReport {
            senders: vec![sender()],
            campaigns: vec![refused, unverified],
            webhooks: None,
            optouts: None,
            not_loaded: vec![],
        };
        let text = render_status(&report, now());
        assert!(
            text.contains(
                "refused: campaigns/natal.toml:4: template.id: template `natal` is REJECTED"
            ),
            "{text}"
        );
        assert!(
            text.contains("TEMPLATE NOT VERIFIED: senders.sac.waba_id is not set"),
            "{text}"
        );
    }

    #[test]
    fn failed_go_live_items_are_listed_once() {
        let mut a = sender();
        a.go_live_failed = vec![
            "* public_url: http.public_url is not set".into(),
            "sac balance: wallet empty".into(),
        ];
        let mut b = sender();
        b.id = "other".into();
        b.go_live_failed = vec!["* public_url: http.public_url is not set".into()];
        let report = StatusReport {
            senders: vec![a, b],
            campaigns: vec![],
            webhooks: None,
            optouts: None,
            not_loaded: vec![],
        };
        let text = render_status(&report, now());
        assert!(text.contains("GO-LIVE"), "{text}");
        assert_eq!(text.matches("FAILED * public_url").count(), 1, "{text}");
        assert!(text.contains("FAILED sac balance: wallet empty"), "{text}");
        let quiet = StatusReport {
            senders: vec![sender()],
            ..report
        };
        assert!(!render_status(&quiet, now()).contains("GO-LIVE"));
    }

    #[test]
    fn unlimited_tier_and_empty_lists_read_clearly() {
        let mut s = sender();
        s.limit = None;
        s.threshold = None;
        let text = render_status(
            &StatusReport {
                senders: vec![s],
                campaigns: vec![],
                webhooks: None,
                optouts: None,
                not_loaded: vec![],
            },
            now(),
        );
        assert!(text.contains("412/unlimited"), "{text}");
        assert!(text.contains("730 (top tier)"), "{text}");
        assert!(text.contains("(none)"), "{text}");
    }

    #[test]
    fn a_reported_raise_and_an_open_webhook_stand_out() {
        let mut s = sender();
        s.reported_tier = Some("TIER_UNLIMITED".into());
        s.reported_at = Some(now() - chrono::Duration::minutes(5));
        let text = render_status(
            &StatusReport {
                senders: vec![s],
                campaigns: vec![],
                webhooks: Some(WebhookHealth {
                    warnings: vec!["http.insecure_open_webhooks is on".into()],
                    ..WebhookHealth::default()
                }),
                optouts: None,
                not_loaded: vec![],
            },
            now(),
        );
        assert!(
            text.contains(
                "TIER_UNLIMITED REPORTED (5m ago), unconfirmed: `tierpace tier confirm acme`"
            ),
            "{text}"
        );
        assert!(
            text.contains("WARNING: http.insecure_open_webhooks is on"),
            "{text}"
        );
    }

    #[test]
    fn dropped_callbacks_and_opt_out_scopes_stand_out() {
        use crate::http::unreadable::{UnreadableCount, UnreadableReason};
        let report = StatusReport {
            senders: vec![],
            campaigns: vec![],
            webhooks: Some(WebhookHealth {
                unreadable_last_hour: 2,
                unreadable_since_start: 5,
                last_unreadable_at: Some(now() - chrono::Duration::minutes(12)),
                by_reason: vec![UnreadableCount {
                    source: "gupshup".into(),
                    reason: UnreadableReason::Malformed,
                    last_hour: 2,
                    since_start: 5,
                }],
                warnings: vec![],
            }),
            optouts: Some(OptOutCounts {
                marketing: 3,
                all: 7,
            }),
            not_loaded: vec![],
        };
        let text = render_status(&report, now());
        assert!(
            text.contains("WARNING: callbacks dropped as unreadable: 2 in the last hour, 5 since start, last (12m ago)"),
            "{text}"
        );
        assert!(
            text.contains("gupshup malformed: 2 in the last hour, 5 since start"),
            "{text}"
        );
        assert!(
            text.contains("all templates: 7  marketing only: 3"),
            "{text}"
        );
        let quiet = StatusReport {
            webhooks: Some(WebhookHealth::default()),
            ..report
        };
        assert!(render_status(&quiet, now()).contains("every callback read"));
    }

    #[test]
    fn campaigns_that_did_not_load_are_listed_with_their_error() {
        let report = StatusReport {
            senders: vec![],
            campaigns: vec![],
            webhooks: None,
            optouts: None,
            not_loaded: vec![
                "b.toml:1:10: sender: unknown sender `vendas`, expected one of the daemon config's senders: demo".into(),
            ],
        };
        let text = render_status(&report, now());
        assert!(
            text.contains("NOT LOADED (the other campaigns run; `tierpace check` shows every error)\n  b.toml:1:10: sender: unknown sender `vendas`"),
            "{text}"
        );
    }

    #[test]
    fn durations_pick_two_units() {
        assert_eq!(duration(40), "40s");
        assert_eq!(duration(12 * 60 + 5), "12m");
        assert_eq!(duration(3 * 3600 + 5 * 60), "3h 05m");
        assert_eq!(duration(86_400 + 4 * 3600 + 59), "1d 4h");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Against the naive model: the bar has `width` cells, and the filled ones are the largest
        /// count whose share of the bar does not exceed the share of the work done.
        #[test]
        fn progress_bar_matches_naive_model(total in 0u64..10_000, done in 0u64..12_000, width in 1usize..60) {
            let bar = progress_bar(done, total, width);
            let filled = bar.matches('#').count();
            prop_assert_eq!(bar.chars().count(), width + 2);
            let mut expected = 0;
            if total > 0 {
                let d = done.min(total);
                while expected < width && (expected as u64 + 1) * total <= d * width as u64 {
                    expected += 1;
                }
            }
            prop_assert_eq!(filled, expected);
        }
    }
}
