//! `tierpace check`: validates the daemon config, every campaign file and every audience offline,
//! like `nginx -t`. Prints each error with file:line, per campaign the valid contacts, the skips
//! by reason (first lines of each) and the next send window; exits 1 on any error. Warns (exit 0)
//! when a campaign's forecast finishes after its `end`, and for each calendar warning that `run`
//! would log (a break outside the open hours, a calendar that never opens).
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::campaign::check::{check_campaigns, CheckOutcome};
use crate::campaign::file::{CalendarRef, CampaignContext};
use crate::cli::plan::check_campaign;
use crate::config::LoadedConfig;
use crate::contact::ContactHasher;
use crate::policy::calendar::Calendar;
use crate::policy::calendar_config::build_calendars;

/// Runs the check; returns the exit code.
pub fn run(config: &Path, now: DateTime<Utc>) -> Result<i32> {
    let loaded = match LoadedConfig::load(config) {
        Ok(l) => l,
        Err(e) => {
            emit(&format!("{e}\nconfig: FAILED\n"));
            return Ok(1);
        }
    };
    let cfg = &loaded.config;
    super::out::println(&format!(
        "{}: config ok ({} senders, {} calendars)",
        config.display(),
        cfg.senders.len(),
        cfg.calendars.len()
    ));
    // Tier truth (issue 12 §2): say once which senders cannot ask their provider for the tier.
    for (id, sc) in &cfg.senders {
        if sc.provider == crate::config::ProviderChoice::Gupshup && !sc.tier_poll_configured() {
            super::out::println(&format!(
                "note: senders.{id}: tier poll not configured (partner_app_id_env/_file and partner_token_env/_file): tierpace relies on Gupshup's tier callbacks"
            ));
        }
    }
    // Calendar warnings (valid, but almost certainly not meant): `run` logs the same ones.
    let calendars = match build_calendars(&cfg.calendars) {
        Ok((calendars, warnings)) => {
            for w in warnings {
                super::out::println(&format!("warning: {w}"));
            }
            calendars
        }
        Err(_) => Default::default(),
    };
    let ctx = CampaignContext::from(cfg);
    // The real key is not needed to validate: hashes only group duplicates here.
    let hasher = ContactHasher::new(b"tierpace-check");
    let report = check_campaigns(&loaded.campaigns_dir(), &ctx, &hasher);
    let window = |c: &crate::campaign::file::Campaign| next_window(c, &calendars, now);
    let mut out = report.render(&window);
    let mut failed = report.has_errors();
    // Pre-flight (DESIGN.md §7, glific/glific#3541): a campaign that cannot reach its audience
    // before its `end` at the sender's tier is a warning, not an error: it still runs.
    for outcome in &report.outcomes {
        if let CheckOutcome::Ok { campaign, summary } = outcome {
            match check_campaign(&loaded, campaign, summary.valid, now) {
                Ok(Some(warning)) => out.push_str(&format!("warning: {warning}\n")),
                Ok(None) => {}
                Err(e) => out.push_str(&format!(
                    "warning: campaign {}: no forecast: {e:#}\n",
                    campaign.id
                )),
            }
        }
    }
    // Template pre-flight (issue #18): what the provider says the template is.
    let valid: Vec<crate::campaign::file::Campaign> = report
        .outcomes
        .iter()
        .filter_map(|o| match o {
            CheckOutcome::Ok { campaign, .. } => Some(campaign.clone()),
            _ => None,
        })
        .collect();
    out.push_str(&crate::cli::template_preflight::check_templates(
        &loaded,
        &valid,
        &mut failed,
    ));
    // `tierpace init`'s placeholders left in: `run` would start and every send would fail.
    for line in init_placeholders(cfg, &valid) {
        failed = true;
        out.push_str(&format!("{}: {line}\n", config.display()));
    }
    // Secrets can be checked offline too: a missing key would only surface at `run`.
    for (id, sender) in &cfg.senders {
        if sender.provider == crate::config::ProviderChoice::Dryrun {
            continue;
        }
        if let Err(e) = sender.api_key() {
            failed = true;
            out.push_str(&format!("{}: senders.{id}: {e}\n", config.display()));
        }
    }
    // The hash key: `run` refuses to start without it on Redis state.
    if cfg.state == crate::config::StateBackend::Redis {
        if let Err(e) = crate::daemon::hash_key(cfg, config.parent().unwrap_or(Path::new(""))) {
            failed = true;
            out.push_str(&format!("{}: {e:#}\n", config.display()));
        }
    }
    match cfg.http.resolve(|v| std::env::var(v).ok()) {
        Err(errors) => {
            failed = true;
            for e in errors {
                out.push_str(&format!("{}: {e}\n", config.display()));
            }
        }
        // Without a secret the Gupshup webhook refuses every callback (issue #22): opt-outs,
        // delivery reports and tier events of these senders would never arrive.
        Ok(http) if http.gupshup_secret.is_none() => {
            for (id, sc) in &cfg.senders {
                if sc.provider != crate::config::ProviderChoice::Gupshup {
                    continue;
                }
                if http.insecure_open_webhooks {
                    out.push_str(&format!(
                        "warning: senders.{id}: http.insecure_open_webhooks is on: anyone can post Gupshup callbacks (development only; see SECURITY.md)\n"
                    ));
                } else {
                    failed = true;
                    out.push_str(&format!(
                        "{}: senders.{id}: Gupshup callbacks would be refused: set http.gupshup_secret_env or http.gupshup_secret_file and put the secret in the callback URL (https://HOST/webhooks/gupshup/SECRET)\n",
                        config.display()
                    ));
                }
            }
        }
        Ok(_) => {}
    }
    // The Redis TLS files and Sentinel passwords, read and parsed offline like the API keys.
    if cfg.state == crate::config::StateBackend::Redis {
        if let Err(e) = crate::daemon::redis_connect::check_offline(cfg) {
            failed = true;
            out.push_str(&format!("{}: {e}\n", config.display()));
        }
    }
    // Redis, when reachable from here: an evicting or full Redis would stop `run` from sending.
    if let Some(line) = redis_line(cfg, &mut failed) {
        out.push_str(&line);
    }
    out.push_str(if failed {
        "check: FAILED\n"
    } else {
        "check: ok\n"
    });
    emit(&out);
    Ok(i32::from(failed))
}

/// A campaign's next send window, in its calendar's local time: from its `start` (or `now`),
/// and for a recurring campaign from its firing, to the calendar's next close.
pub fn next_window(
    c: &crate::campaign::file::Campaign,
    calendars: &std::collections::BTreeMap<String, Calendar>,
    now: DateTime<Utc>,
) -> Option<String> {
    let cal: Calendar = match &c.schedule.calendar {
        CalendarRef::Named(n) => calendars.get(n)?.clone(),
        CalendarRef::Inline(cfg) => cfg.build(&c.id).ok()?.0,
    };
    let tz = cal.timezone();
    let mut from = c.schedule.start.map_or(now, |s| s.max(now));
    // A recurring campaign sends from its firing (in the calendar's zone), not from when the
    // calendar opens: the latest firing if it may still start, else the next one.
    if let Some(cron) = c
        .schedule
        .cron
        .as_deref()
        .and_then(|p| crate::policy::cron::parse(p).ok())
    {
        let late = chrono::Duration::from_std(c.schedule.late_start).unwrap_or_default();
        let firing = crate::policy::cron::latest_firing(&cron, tz, from)
            .filter(|f| from - *f <= late)
            .or_else(|| crate::policy::cron::next_firing(&cron, tz, from))?;
        from = from.max(firing);
    }
    if c.schedule.end.is_some_and(|e| e <= from) {
        return Some("none: the schedule has ended".into());
    }
    let open = cal.next_open(from)?;
    let close = cal.next_close(open);
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M");
    Some(match close {
        Some(close) => format!("{} to {} ({tz})", local(open), local(close)),
        None => format!("{} onwards ({tz}, always open)", local(open)),
    })
}

/// One line about the configured Redis (none for memory state). An evicting or write-refusing
/// Redis is an error; one this machine cannot reach is only a note (check stays offline-safe).
fn redis_line(cfg: &crate::config::DaemonConfig, failed: &mut bool) -> Option<String> {
    use crate::daemon::redis_health::RedisProblem;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let probe = rt.block_on(crate::daemon::probe_redis(
        cfg,
        std::time::Duration::from_secs(3),
    ))?;
    Some(match probe {
        Ok(()) => "redis: ok (reachable, maxmemory-policy noeviction, accepts writes)\n".into(),
        Err(RedisProblem::Unreachable(e)) => {
            format!("note: redis not reachable from here ({e}): maxmemory-policy not checked\n")
        }
        Err(p) => {
            *failed = true;
            format!("error: {p}\n")
        }
    })
}

/// Writes to stdout, quietly giving up on a closed pipe (`tierpace check | head`).
fn emit(text: &str) {
    super::out::print(text);
}

/// The values `tierpace init` writes for the operator to replace, each as `key: why` when one is
/// still there (a sender's `source` or `app_name`, a campaign's template id).
fn init_placeholders(
    cfg: &crate::config::DaemonConfig,
    campaigns: &[crate::campaign::file::Campaign],
) -> Vec<String> {
    use crate::cli::init::{PLACEHOLDER_APP_NAME, PLACEHOLDER_SOURCE, PLACEHOLDER_TEMPLATE_ID};
    let mut out = Vec::new();
    for (id, sc) in &cfg.senders {
        if sc.source.as_deref() == Some(PLACEHOLDER_SOURCE) {
            out.push(format!(
                "senders.{id}.source: still `tierpace init`'s placeholder: put your business number, digits only"
            ));
        }
        if sc.app_name.as_deref() == Some(PLACEHOLDER_APP_NAME) {
            out.push(format!(
                "senders.{id}.app_name: still `tierpace init`'s placeholder: put the Gupshup app's name"
            ));
        }
    }
    for c in campaigns {
        if let crate::campaign::file::TemplateRef::Id(t) = &c.template.template {
            if t == PLACEHOLDER_TEMPLATE_ID {
                out.push(format!(
                    "campaign {} ({}): template.id: still `tierpace init`'s placeholder: put the Gupshup template id (a UUID)",
                    c.id,
                    c.file.display()
                ));
            }
        }
    }
    out
}
