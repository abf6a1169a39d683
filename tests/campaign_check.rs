//! Golden test for the campaign half of `tierpace check`: a directory with one good campaign and
//! several broken ones must print exactly `tests/fixtures/campaigns/check.golden`.
//! Regenerate after an intended change with `UPDATE_GOLDEN=1 cargo test --test campaign_check`.
use std::collections::BTreeSet;
use std::path::Path;

use tierpace::campaign::{check_campaigns, CampaignContext, CheckOutcome};
use tierpace::contact::ContactHasher;

fn ctx() -> CampaignContext {
    CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["comercial".to_string()]),
        providers: Default::default(),
    }
}

#[test]
fn check_prints_every_campaign_and_every_error_with_its_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/campaigns");
    let report = check_campaigns(&root.join("check"), &ctx(), &ContactHasher::new(b"golden"));
    assert!(report.has_errors());
    let ok: Vec<_> = report.campaigns().map(|c| c.id.as_str()).collect();
    assert_eq!(ok, ["good"]);
    let rendered = report.render(&|c| {
        (c.id == "good").then(|| "Fri 2026-11-27 09:00-18:00 America/Sao_Paulo".to_string())
    });
    let golden = root.join("check.golden");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &rendered).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        rendered, want,
        "\n--- got ---\n{rendered}\n--- want ---\n{want}"
    );
}

#[test]
fn the_shipped_example_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/campaigns");
    let ctx = CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    };
    let report = check_campaigns(&dir, &ctx, &ContactHasher::new(b"example"));
    assert!(!report.has_errors(), "{}", report.render(&|_| None));
    let CheckOutcome::Ok { summary, .. } = &report.outcomes[0] else {
        unreachable!()
    };
    assert_eq!((summary.rows, summary.valid), (20, 16));
}

#[test]
fn a_missing_directory_is_an_error_and_an_empty_one_is_not() {
    let empty = tempfile::tempdir().unwrap();
    let h = ContactHasher::new(b"x");
    let report = check_campaigns(empty.path(), &ctx(), &h);
    assert!(!report.has_errors());
    assert!(report
        .render(&|_| None)
        .starts_with("no campaign files (*.toml) in "));
    let report = check_campaigns(&empty.path().join("nope"), &ctx(), &h);
    assert!(report.has_errors());
    assert!(report
        .render(&|_| None)
        .contains("cannot list campaigns directory"));
}

/// `check`'s next send window of a recurring campaign starts at its cron firing in the calendar's
/// zone (not when the calendar opens), printed in local time.
#[test]
fn the_next_window_of_a_cron_campaign_starts_at_its_firing_in_local_time() {
    use chrono::{TimeZone, Utc};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = tierpace::config::LoadedConfig::load(&root.join("config/tierpace.toml")).unwrap();
    let (calendars, _) =
        tierpace::policy::calendar_config::build_calendars(&loaded.config.calendars).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("contacts")).unwrap();
    std::fs::copy(
        root.join("config/campaigns/contacts/example.csv"),
        dir.path().join("contacts/example.csv"),
    )
    .unwrap();
    let example = std::fs::read_to_string(root.join("config/campaigns/example.toml")).unwrap();
    let file = dir.path().join("bom.toml");
    let with = |schedule: &str| {
        let text = example.replace("[schedule]\n", &format!("[schedule]\n{schedule}\n"));
        let text = text.replace("calendar = \"always\"", "calendar = \"comercial\"");
        std::fs::write(&file, text).unwrap();
        let ctx = CampaignContext {
            senders: BTreeSet::from(["demo".to_string()]),
            calendars: BTreeSet::from(["comercial".to_string(), "always".to_string()]),
            providers: Default::default(),
        };
        tierpace::campaign::load_campaign(&file, &ctx).unwrap()
    };
    // Monday 2026-11-30 19:00 in São Paulo: closed until Tuesday 08:00.
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 22, 0, 0).unwrap();
    let window =
        |schedule: &str| tierpace::cli::check::next_window(&with(schedule), &calendars, now);
    assert_eq!(
        window("cron = \"0 9 * * 1-5\"").as_deref(),
        Some("Tue 2026-12-01 09:00 to Tue 2026-12-01 12:00 (America/Sao_Paulo)")
    );
    // Without cron: when the calendar opens.
    assert_eq!(
        window("").as_deref(),
        Some("Tue 2026-12-01 08:00 to Tue 2026-12-01 12:00 (America/Sao_Paulo)")
    );
}
