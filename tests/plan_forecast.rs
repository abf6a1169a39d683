//! `tierpace plan --audience N` / `--campaign ID` and the pre-flight warning of `tierpace check`
//! (issue #5, part 7; DESIGN.md §7: warn when an audience exceeds what the tier allows before
//! the deadline, and say when it will finish).
//!
//! The forecast runs the real pacer and the memory ledger on virtual time, so these tests read
//! as the rules: from 1K on a 24/7 calendar each upgrade lands one day after the previous one
//! (the same days `tests/pacer_props.rs` finds with the pure pacer and a naive tier model), the
//! ledger never refuses what the pacer grants, a weekend shifts the days, and the chart and the
//! warning say the same. The CLI tests run the real binary.
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use support::scenario::{self, ScenarioSpec};
use tierpace::cli::plan::forecast::simulate;
use tierpace::cli::plan::{Forecast, ForecastInput};
use tierpace::policy::calendar::Calendar;
use tierpace::policy::growth::PacingMode;
use tierpace::policy::pacer::PacerSettings;
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::Tier;

/// Monday 2 March 2026, 00:00 UTC.
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

fn input(audience: u64) -> ForecastInput {
    ForecastInput {
        policy: Policy::legacy(),
        safety_share: 0.95,
        reserve: 0,
        tier: Tier::T1K,
        calendar: Calendar::always(),
        start: monday(),
        audience,
        mode: PacingMode::Grow,
        daily_max: None,
        marketing: true,
        // Past the warm-up, like the campaigns of tests/pacer_props.rs.
        template_sends: 1_000_000,
        max_mps: 20,
        pacing: PacerSettings::default(),
        tick: StdDuration::from_secs(60),
        horizon: Duration::days(30),
    }
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .arg("plan")
        .args(args)
        .env_remove("TIERPACE_CONFIG")
        .output()
        .expect("run tierpace plan")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `tiers:` lines as (tier name, local date).
fn tier_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|l| *l != "tiers:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_string(), words[2].to_string())
        })
        .collect()
}

/// Unique customers sent in `(t - 24 h, t]`, from the cumulative series.
fn sent_in_24h_before(f: &Forecast, t: DateTime<Utc>) -> u64 {
    let upto = |at: DateTime<Utc>| {
        f.cumulative
            .iter()
            .take_while(|(s, _)| *s <= at)
            .last()
            .map_or(0, |(_, n)| *n)
    };
    upto(t) - upto(t - Duration::hours(24))
}

#[test]
fn from_1k_on_a_24_7_calendar_unlimited_comes_on_the_fourth_day_as_the_pacer_simulation_finds() {
    let f = simulate(&input(300_000)).unwrap();
    let day_of = |at: DateTime<Utc>| (at - monday()).num_days();
    // tests/pacer_props.rs: upgrades on days 1, 2 and 3 after the start, each threshold crossed
    // on the day the previous limit took effect.
    let steps: Vec<(Tier, i64)> = f.tiers.iter().map(|(t, at)| (*t, day_of(*at))).collect();
    assert_eq!(
        steps,
        vec![
            (Tier::T1K, 0),
            (Tier::T10K, 1),
            (Tier::T100K, 2),
            (Tier::Unlimited, 3)
        ]
    );
    let crossed: Vec<i64> = f
        .days
        .iter()
        .flat_map(|d| d.crossed.iter())
        .map(|p| day_of(p.crossed_at))
        .collect();
    assert_eq!(crossed, vec![0, 1, 2]);
    // The pacer never grants what the ledger then refuses, and no rolling 24 h holds more than
    // the allowance of the limit in force.
    assert!(f.days.iter().all(|d| d.refused == 0), "{:?}", f.days);
    for &(t, _) in &f.cumulative {
        let tier = f
            .tiers
            .iter()
            .take_while(|(_, at)| *at <= t)
            .last()
            .unwrap()
            .0;
        if let Some(limit) = tier.limit() {
            let allowance = (limit as f64 * 0.95).floor() as u64;
            assert!(sent_in_24h_before(&f, t) <= allowance, "over at {t}");
        }
    }
    assert_eq!(f.sent, 300_000);
}

#[test]
fn a_finer_tick_moves_the_upgrades_by_less_than_two_ticks() {
    let coarse = simulate(&input(300_000)).unwrap();
    let fine = simulate(&ForecastInput {
        tick: StdDuration::from_secs(10),
        ..input(300_000)
    })
    .unwrap();
    assert_eq!(coarse.tiers.len(), fine.tiers.len());
    for ((a, at), (b, bt)) in coarse.tiers.iter().zip(&fine.tiers) {
        assert_eq!(a, b);
        assert!((*at - *bt).num_seconds().abs() <= 120, "{a}: {at} vs {bt}");
    }
}

#[test]
fn the_cli_prints_the_day_each_tier_and_the_campaign_are_reached() {
    let out = plan(&[
        "--audience",
        "300000",
        "--tier",
        "1k",
        "--start",
        "2026-03-02",
        "--template-sends",
        "1000",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        tier_lines(&text),
        vec![
            ("1K".into(), "2026-03-02".into()),
            ("10K".into(), "2026-03-03".into()),
            ("100K".into(), "2026-03-04".into()),
            ("unlimited".into(), "2026-03-05".into()),
        ],
        "{text}"
    );
    assert!(
        text.contains("campaign: all 300,000 contacts reached by 2026-03-05"),
        "{text}"
    );
    // The plan's own table: day 1 sends the 1K allowance and crosses 500 one hour in
    // (`pacing.cross_within`), each next threshold one hour after its limit took effect.
    assert!(
        text.contains("threshold hit 01:00, 10K from 2026-03-03 01:00"),
        "{text}"
    );
    assert!(
        text.contains("threshold hit 02:00, 100K from 2026-03-04 02:00"),
        "{text}"
    );
}

#[test]
fn the_audience_finishes_on_the_day_the_limit_allows() {
    // 2,000 on 1K: 949 on day 1, the rest on day 2 once 10K holds.
    let text = stdout(&plan(&[
        "--audience",
        "2000",
        "--start",
        "2026-03-02",
        "--template-sends",
        "1000",
    ]));
    assert!(
        text.contains("campaign: all 2,000 contacts reached by 2026-03-03"),
        "{text}"
    );
    assert!(text.contains("(day 2)"), "{text}");
    // Steady 400 a day: three days, whatever the tier allows.
    let text = stdout(&plan(&[
        "--audience",
        "1200",
        "--mode",
        "steady",
        "--daily-max",
        "400",
        "--start",
        "2026-03-02",
        "--template-sends",
        "1000",
    ]));
    assert!(text.contains("reached by 2026-03-05"), "{text}");
    // The spread's last fraction of a day goes out just after midnight (the pacer pays a spread
    // in arrears), so each day sends 399 or 400 and the rest follows on day 4.
    let day1 = text
        .lines()
        .find(|l| l.contains("   1  2026-03-02"))
        .unwrap();
    assert!(day1.contains(" 399 ") || day1.contains(" 400 "), "{text}");
}

#[test]
fn a_new_template_warms_up_its_rate_and_still_crosses_on_day_one() {
    // DESIGN.md §3: the warm-up halves the rate of the first 1,000 sends, never the day's
    // budget, so a new template crosses 500 on day 1 like a warmed-up one (issue #14).
    let new = stdout(&plan(&["--audience", "20000", "--start", "2026-03-02"]));
    let warm = stdout(&plan(&[
        "--audience",
        "20000",
        "--start",
        "2026-03-02",
        "--template-sends",
        "1000",
    ]));
    assert_eq!(
        tier_lines(&new)[1],
        ("10K".to_string(), "2026-03-03".to_string()),
        "{new}"
    );
    assert_eq!(tier_lines(&new), tier_lines(&warm), "{new}\n{warm}");
}

fn weekday_scenario(mode: &str) -> scenario::Scenario {
    scenario::write(&ScenarioSpec {
        calendar: Some(
            "timezone = \"UTC\"\nmon = [\"08:00-18:00\"]\ntue = [\"08:00-18:00\"]\n\
             wed = [\"08:00-18:00\"]\nthu = [\"08:00-18:00\"]\nfri = [\"08:00-18:00\"]",
        ),
        mode,
        contacts: 50,
        ..ScenarioSpec::default()
    })
}

#[test]
fn a_calendar_with_weekends_closed_shifts_the_days() {
    let s = weekday_scenario("grow");
    let config = s.config.to_str().unwrap();
    // Start on Friday 6 March: 10K arrives on Saturday, but nothing goes out before Monday.
    let args = |calendar: &'static str| {
        vec![
            "--config",
            config,
            "--campaign",
            "bf",
            "--audience",
            "300000",
            "--start",
            "2026-03-06",
            "--template-sends",
            "1000",
            "--calendar",
            calendar,
        ]
    };
    let closed = stdout(&plan(&args("hours")));
    let open = stdout(&plan(&args("always")));
    let dates =
        |text: &str| -> Vec<String> { tier_lines(text).into_iter().map(|(_, d)| d).collect() };
    assert_eq!(
        dates(&open),
        ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09"],
        "{open}"
    );
    assert_eq!(
        dates(&closed),
        ["2026-03-06", "2026-03-07", "2026-03-10", "2026-03-11"],
        "{closed}"
    );
    for weekend in ["2026-03-07", "2026-03-08"] {
        let row: Vec<&str> = closed
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.get(1) == Some(&weekend))
            .unwrap();
        assert_eq!(row[2], "0", "{row:?}");
    }
    // The campaign's own calendar is the default.
    assert_eq!(dates(&stdout(&plan(&args("hours")[..10]))), dates(&closed));
}

/// A start tag: its name and attributes in order.
type Tag = (String, Vec<(String, String)>);

/// A tiny well-formedness check: tags nest and close, attributes are quoted, `&` starts an
/// entity. Returns every start tag with its attributes, in order.
fn parse_xml(xml: &str) -> Result<Vec<Tag>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut rest = xml;
    let mut roots = 0;
    loop {
        let Some(open) = rest.find('<') else {
            check_text(rest)?;
            break;
        };
        check_text(&rest[..open])?;
        let close = rest[open..].find('>').ok_or("unclosed tag")? + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(decl) = tag.strip_prefix('?') {
            if !decl.ends_with('?') || !tags.is_empty() {
                return Err(format!("bad declaration <{tag}>"));
            }
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => continue,
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name_end = body.find(char::is_whitespace).unwrap_or(body.len());
        let name = &body[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(format!("bad tag name in <{tag}>"));
        }
        let mut attrs = Vec::new();
        let mut a = body[name_end..].trim_start();
        while !a.is_empty() {
            let eq = a
                .find("=\"")
                .ok_or(format!("unquoted attribute in <{tag}>"))?;
            let key = a[..eq].trim();
            let end = a[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
            let value = &a[eq + 2..end];
            check_text(value)?;
            attrs.push((key.to_string(), value.to_string()));
            a = a[end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        tags.push((name.to_string(), attrs));
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    if !stack.is_empty() || roots != 1 {
        return Err(format!("unclosed {stack:?} or {roots} roots"));
    }
    Ok(tags)
}

fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity) {
            return Err(format!("bare & in {text:?}"));
        }
    }
    if text.contains('>') {
        return Err(format!("stray > in {text:?}"));
    }
    Ok(())
}

fn count_class(tags: &[Tag], class: &str) -> usize {
    tags.iter()
        .filter(|(_, attrs)| attrs.iter().any(|(k, v)| k == "class" && v == class))
        .count()
}

fn chart(dir: &Path, audience: &str) -> Vec<Tag> {
    let file = dir.join(format!("{audience}.svg"));
    let out = plan(&[
        "--audience",
        audience,
        "--start",
        "2026-03-02",
        "--template-sends",
        "1000",
        "--svg",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let svg = std::fs::read_to_string(&file).unwrap();
    parse_xml(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"))
}

#[test]
fn the_svg_is_well_formed_with_one_step_per_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let tags = chart(dir.path(), "300000");
    assert_eq!(tags[0].0, "svg");
    // 1K -> 10K -> 100K -> unlimited: four levels, three steps, one sends line.
    assert_eq!(count_class(&tags, "tier"), 4);
    assert_eq!(count_class(&tags, "step"), 3);
    assert_eq!(count_class(&tags, "sends"), 1);
    // 500 contacts never leave 1K: one level, no step.
    let tags = chart(dir.path(), "500");
    assert_eq!(
        (count_class(&tags, "tier"), count_class(&tags, "step")),
        (1, 0)
    );
    // The checker itself rejects what is broken.
    assert!(parse_xml("<svg><g></svg>").is_err());
    assert!(parse_xml("<svg a=b/>").is_err());
    assert!(parse_xml("<svg>R&D</svg>").is_err());
}

#[test]
fn the_sends_flag_keeps_its_table_and_exit_code() {
    let out = plan(&[
        "--sends",
        "500,500",
        "--at",
        "15:00",
        "--start",
        "2026-03-02",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text.contains("threshold hit 15:00, 10K from 2026-03-03 15:00"),
        "{text}"
    );
    let out = plan(&["--sends", "1200", "--at", "09:00"]);
    assert_eq!(out.status.code(), Some(1), "over the limit");
    // A forecast and --sends do not mix.
    assert_eq!(
        plan(&["--sends", "1", "--audience", "5"]).status.code(),
        Some(2)
    );
}

/// `bf` with 3,000 contacts on 1K (24/7), starting on a fixed future Monday, ending `days` later.
fn check_with_end(days: i64) -> (String, Option<i32>) {
    let s = scenario::write(&ScenarioSpec {
        mode: "grow",
        contacts: 3_000,
        ..ScenarioSpec::default()
    });
    let file = s.dir.path().join("campaigns/bf.toml");
    let start = NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
    let end = start + Duration::days(days);
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "[schedule]\n",
        &format!("[schedule]\nstart = \"{start}T00:00:00Z\"\nend = \"{end}T00:00:00Z\"\n"),
    );
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["check", "--config", s.config.to_str().unwrap()])
        .output()
        .unwrap();
    (stdout(&out), out.status.code())
}

#[test]
fn check_warns_when_the_end_comes_before_the_forecast_finish_and_still_passes() {
    // 3,000 contacts: 949 on day 1, the rest on day 2 once 10K holds (a new template goes at
    // half pace first, so day 2 too is needed). An end after one day cannot be met.
    let (text, code) = check_with_end(1);
    assert_eq!(code, Some(0), "a warning, not an error:\n{text}");
    assert!(text.contains("check: ok"), "{text}");
    let warning = text
        .lines()
        .find(|l| l.starts_with("warning: campaign bf"))
        .unwrap_or_else(|| panic!("no warning:\n{text}"));
    assert!(warning.contains("at tier 1K"), "{warning}");
    assert!(
        warning.contains("after its end 2030-03-05 00:00"),
        "{warning}"
    );
    assert!(warning.contains("finishes 2030-03-0"), "{warning}");
    // Four days are enough: no warning.
    let (text, code) = check_with_end(4);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("warning:"), "{text}");
}

/// The `unlimited` line's local date and time, and the earliest the rules allow.
fn unlimited_line(text: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("unlimited from"))
        .unwrap_or_else(|| panic!("no unlimited line:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = format!("{} {}", words[2], words[3]);
    let rules = line
        .split("earliest the rules allow ")
        .nth(1)
        .map(|r| r.chars().take(16).collect())
        .unwrap_or_default();
    (at, rules)
}

/// Issue #14's campaign: 200,000 contacts in grow mode from Monday 7 Dec 2026 on the example
/// config's `comercial` calendar (Mon-Fri 08-18 with a 12-13 break, Sat 09-13, São Paulo),
/// 20 msg/s, a new template. Each rung is crossed within `cross_within` of the moment the tier
/// allows it, and `plan` prints the earliest the rules allow next to it.
#[test]
fn grow_mode_reaches_unlimited_as_early_as_the_rules_allow_plus_the_ramp() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tierpace.toml");
    let run = |profile: &str, tier: &str, cross_within: &str| {
        let out = plan(&[
            "--config",
            config,
            "--calendar",
            "comercial",
            "--audience",
            "200000",
            "--start",
            "2026-12-07",
            "--max-mps",
            "20",
            "--profile",
            profile,
            "--tier",
            tier,
            "--cross-within",
            cross_within,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        unlimited_line(&stdout(&out))
    };
    // Before issue #14: Fri 2026-12-11 15:03 and Wed 2026-12-09 17:46.
    let (legacy, legacy_rules) = run("legacy", "1k", "1h");
    assert!(legacy.as_str() <= "2026-12-10 12:00", "legacy: {legacy}");
    assert_eq!(legacy_rules, "2026-12-10 08:36");
    let (meta, meta_rules) = run("meta-2025", "2k", "1h");
    assert!(meta.as_str() <= "2026-12-08 18:00", "meta-2025: {meta}");
    assert_eq!(meta_rules, "2026-12-08 14:34");
    // A shorter ramp costs less against the rules: the cost of the setting is visible.
    let (fast, _) = run("legacy", "1k", "15m");
    assert!(fast < legacy, "15m {fast} vs 1h {legacy}");
}
