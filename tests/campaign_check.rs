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
