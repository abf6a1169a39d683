//! `tierpace check`: validates the daemon config, every campaign file and every audience offline,
//! like `nginx -t`. Prints each error with file:line, per campaign the valid contacts, the skips
//! by reason (first lines of each) and the next send window; exits 1 on any error. Warns (exit 0)
//! when a campaign's forecast finishes after its `end`.
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::campaign::check::{check_campaigns, CheckOutcome};
use crate::campaign::file::{CalendarRef, CampaignContext};
use crate::cli::preflight::check_campaign;
use crate::config::LoadedConfig;
use crate::contact::ContactHasher;
use crate::policy::calendar::Calendar;
use crate::policy::calendar_config::build_calendars;

/// Runs the check; returns the exit code.
pub fn run(config: &Path, now: DateTime<Utc>) -> Result<i32> {
    let loaded = match LoadedConfig::load(config) {
        Ok(l) => l,
        Err(e) => {
            println!("{e}");
            println!("config: FAILED");
            return Ok(1);
        }
    };
    let cfg = &loaded.config;
    println!(
        "{}: config ok ({} senders, {} calendars)",
        config.display(),
        cfg.senders.len(),
        cfg.calendars.len()
    );
    let calendars = build_calendars(&cfg.calendars)
        .map(|(c, _)| c)
        .unwrap_or_default();
    let mut names: std::collections::BTreeSet<String> = cfg.calendars.keys().cloned().collect();
    names.insert("always".into());
    let ctx = CampaignContext {
        senders: cfg.senders.keys().cloned().collect(),
        calendars: names,
    };
    // The real key is not needed to validate: hashes only group duplicates here.
    let hasher = ContactHasher::new(b"tierpace-check");
    let report = check_campaigns(&loaded.campaigns_dir(), &ctx, &hasher);
    let window = |c: &crate::campaign::file::Campaign| -> Option<String> {
        let cal: Calendar = match &c.schedule.calendar {
            CalendarRef::Named(n) => calendars.get(n)?.clone(),
            CalendarRef::Inline(cfg) => cfg.build(&c.id).ok()?.0,
        };
        let from = c.schedule.start.map_or(now, |s| s.max(now));
        if c.schedule.end.is_some_and(|e| e <= from) {
            return Some("none: the schedule has ended".into());
        }
        let open = cal.next_open(from)?;
        let close = cal.next_close(open);
        Some(match close {
            Some(close) => format!(
                "{} to {} (calendar time zone {})",
                open,
                close,
                cal.timezone()
            ),
            None => format!("{open} onwards (always open)"),
        })
    };
    print!("{}", report.render(&window));
    // Pre-flight (DESIGN.md §7, glific/glific#3541): a campaign that cannot reach its audience
    // before its `end` at the sender's tier is a warning, not an error: it still runs.
    for outcome in &report.outcomes {
        if let CheckOutcome::Ok { campaign, summary } = outcome {
            match check_campaign(&loaded, campaign, summary.valid, now) {
                Ok(Some(warning)) => println!("warning: {warning}"),
                Ok(None) => {}
                Err(e) => println!("warning: campaign {}: no forecast: {e:#}", campaign.id),
            }
        }
    }
    if report.has_errors() {
        println!("check: FAILED");
        Ok(1)
    } else {
        println!("check: ok");
        Ok(0)
    }
}
