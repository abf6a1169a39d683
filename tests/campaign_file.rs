//! The campaign file: what loads, and for each mistake the exact error (file:line:column: key:
//! message) an operator sees.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use tierpace::campaign::validate::parse_campaign;
use tierpace::campaign::{
    load_campaign, CalendarRef, CampaignContext, Category, PacingMode, TemplateRef,
};

fn ctx() -> CampaignContext {
    CampaignContext {
        senders: BTreeSet::from(["sac".to_string(), "demo".to_string()]),
        calendars: BTreeSet::from(["comercial".to_string(), "always".to_string()]),
        providers: Default::default(),
    }
}

const GOOD: &str = r#"
id = "black-friday-2026"
sender = "sac"
priority = 1
[template]
id = "6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f"
category = "marketing"
params = ["{{name}}", "20%"]
[audience]
file = "contacts.csv"
default_ddi = "55"
[schedule]
start = "2026-11-27T09:00:00-03:00"
end = 2026-11-30T18:00:00-03:00
cron = "0 0 9 * * Mon"
calendar = "comercial"
[pacing]
mode = "grow"
daily_max = 5000
"#;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("contacts.csv"),
            "name,phone,opt_in\nAna,85999990000,sim\n",
        )
        .unwrap();
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn ok(&self, text: &str) -> tierpace::campaign::Campaign {
        parse_campaign(&self.path("bf.toml"), text, &ctx()).expect("valid")
    }
    /// The single error line for `text` written as `bf.toml`, with the directory stripped.
    fn error(&self, text: &str) -> String {
        let path = self.path("bf.toml");
        let problems = parse_campaign(&path, text, &ctx()).expect_err("should be refused");
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems[0].render(Path::new("bf.toml"))
    }
}

#[test]
fn a_complete_file_loads_with_every_field() {
    let d = Dir::new();
    std::fs::write(d.path("bf.toml"), GOOD).unwrap();
    let c = load_campaign(&d.path("bf.toml"), &ctx()).unwrap();
    assert_eq!(c.id, "black-friday-2026");
    assert_eq!(c.sender, "sac");
    assert_eq!((c.priority, c.weight), (1, 1));
    assert_eq!(
        c.template.template,
        TemplateRef::Id("6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f".into())
    );
    assert_eq!(c.template.category, Category::Marketing);
    let params: Vec<_> = c.template.params.iter().map(|p| p.as_str()).collect();
    assert_eq!(params, ["{{name}}", "20%"]);
    assert_eq!(c.audience.file, d.path("contacts.csv"));
    assert_eq!(c.audience.max_bad_share, 0.2);
    assert_eq!(
        c.schedule.start,
        Some(Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap())
    );
    assert_eq!(
        c.schedule.end,
        Some(Utc.with_ymd_and_hms(2026, 11, 30, 21, 0, 0).unwrap())
    );
    assert_eq!(c.schedule.cron.as_deref(), Some("0 0 9 * * Mon"));
    assert_eq!(c.schedule.calendar, CalendarRef::Named("comercial".into()));
    assert_eq!(c.pacing.mode, PacingMode::Grow);
    assert_eq!(c.pacing.daily_max, Some(5000));
}

#[test]
fn id_defaults_to_the_file_stem_and_utility_defaults_to_asap() {
    let d = Dir::new();
    let text = r#"
sender = "demo"
[template]
name = "boleto_vencendo"
language = "pt_BR"
category = "utility"
[audience]
file = "contacts.csv"
[schedule.hours]
timezone = "America/Sao_Paulo"
mon = ["08:00-18:00"]
"#;
    let c = parse_campaign(&d.path("lembrete-boleto.toml"), text, &ctx()).unwrap();
    assert_eq!(c.id, "lembrete-boleto");
    assert_eq!(c.pacing.mode, PacingMode::Asap);
    assert_eq!(c.audience.default_ddi, "55");
    assert!(
        matches!(c.schedule.calendar, CalendarRef::Inline(ref h) if h.timezone == "America/Sao_Paulo")
    );
}

#[test]
fn run_key_changes_with_template_or_audience_file_only() {
    let d = Dir::new();
    std::fs::write(d.path("other.csv"), "name,phone,opt_in\n").unwrap();
    let base = parse_campaign(&d.path("bf.toml"), GOOD, &ctx()).unwrap();
    let same = |from: &str, to: &str| {
        let c = parse_campaign(&d.path("bf.toml"), &GOOD.replace(from, to), &ctx()).unwrap();
        c.run_key() == base.run_key()
    };
    assert!(same("daily_max = 5000", "daily_max = 100"));
    assert!(same("priority = 1", "priority = 2"));
    assert!(same("\"20%\"", "\"30%\""));
    assert!(!same(
        "6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f",
        "00000000-8b1d-4f2a-9c3e-1d2b3c4d5e6f"
    ));
    assert!(!same("contacts.csv", "other.csv"));
}

#[test]
fn run_key_survives_moving_the_campaigns_directory() {
    let (a, b) = (Dir::new(), Dir::new());
    let ka = parse_campaign(&a.path("bf.toml"), GOOD, &ctx())
        .unwrap()
        .run_key();
    let kb = parse_campaign(&b.path("bf.toml"), GOOD, &ctx())
        .unwrap()
        .run_key();
    assert_eq!(ka, kb);
    assert!(ka.starts_with("black-friday-2026@"));
}

#[test]
fn unknown_key_names_the_key_and_what_is_allowed() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("daily_max = 5000", "daily_maxx = 5000"));
    assert_eq!(e, "bf.toml:19:1: pacing.daily_maxx: unknown field `daily_maxx`, expected one of `mode`, `daily_max`, `daily_budget`");
}

#[test]
fn toml_syntax_error_points_at_the_spot() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("priority = 1", "priority = "));
    assert!(e.starts_with("bf.toml:4:12: priority: "), "{e}");
}

#[test]
fn wrong_type_says_what_was_expected() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("priority = 1", "priority = \"high\""));
    assert_eq!(
        e,
        "bf.toml:4:12: priority: invalid type: string \"high\", expected a whole number of 0 or more, without quotes"
    );
}

#[test]
fn bad_category_lists_the_categories() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("\"marketing\"", "\"promo\""));
    assert_eq!(e, "bf.toml:7:12: template.category: unknown variant `promo`, expected one of `marketing`, `utility`, `authentication`");
}

#[test]
fn missing_sender_is_named() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("sender = \"sac\"\n", ""));
    assert!(e.ends_with("missing field `sender`"), "{e}");
}

#[test]
fn unknown_sender_lists_the_configured_ones() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("\"sac\"", "\"vendas\""));
    assert_eq!(e, "bf.toml:3:10: sender: unknown sender `vendas`, expected one of the daemon config's senders: demo, sac");
}

#[test]
fn unknown_calendar_lists_the_configured_ones() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("\"comercial\"", "\"noturno\""));
    assert_eq!(e, "bf.toml:16:12: schedule.calendar: unknown calendar `noturno`, expected one of the daemon config's calendars: always, comercial");
}

#[test]
fn no_calendar_at_all_is_refused() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("calendar = \"comercial\"\n", ""));
    assert_eq!(e, "bf.toml:12:1: schedule.calendar: expected `calendar = \"NAME\"` or a [schedule.hours] table: a campaign never sends outside business hours");
}

#[test]
fn end_before_start_is_refused() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("2026-11-30T18:00:00-03:00", "2026-11-26T18:00:00-03:00"));
    assert_eq!(e, "bf.toml:14:7: schedule.end: end 2026-11-26 21:00:00 UTC is not after start 2026-11-27 12:00:00 UTC, expected a later time");
}

#[test]
fn a_time_without_offset_is_refused() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("\"2026-11-27T09:00:00-03:00\"", "2026-11-27T09:00:00"));
    assert_eq!(e, "bf.toml:13:9: schedule.start: `2026-11-27T09:00:00` is not a time with an offset, expected a time with its UTC offset, e.g. 2026-11-27T09:00:00-03:00");
}

#[test]
fn a_bad_cron_is_refused() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("0 0 9 * * Mon", "every monday"));
    assert!(
        e.starts_with("bf.toml:15:8: schedule.cron: cron `every monday` does not parse ("),
        "{e}"
    );
    assert!(
        e.ends_with("expected five fields like \"30 9 * * 1-5\" (minute hour day month weekday) or six with seconds first like \"0 30 9 * * Mon-Fri\""),
        "{e}"
    );
}

#[test]
fn five_field_cron_and_late_start_are_read() {
    let d = Dir::new();
    let c = d.ok(&GOOD
        .replace("0 0 9 * * Mon", "30 9 * * 1-5")
        .replace("cron = ", "late_start = \"30m\"\ncron = "));
    assert_eq!(c.schedule.cron.as_deref(), Some("30 9 * * 1-5"));
    assert_eq!(
        c.schedule.late_start,
        std::time::Duration::from_secs(30 * 60)
    );
    let c = d.ok(GOOD);
    assert_eq!(c.schedule.late_start, std::time::Duration::from_secs(3600));
}

#[test]
fn a_bad_late_start_is_refused_with_its_place() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("cron = ", "late_start = \"soon\"\ncron = "));
    assert!(
        e.starts_with("bf.toml:15:14: schedule.late_start: late_start `soon` is not a duration"),
        "{e}"
    );
}

#[test]
fn a_missing_audience_file_is_refused() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("contacts.csv", "nope.csv"));
    let shown = d.path("nope.csv");
    assert_eq!(e, format!("bf.toml:10:8: audience.file: audience file {} does not exist, expected a CSV path relative to this file", shown.display()));
}

#[test]
fn template_needs_an_id_or_a_name_with_language() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace(
        "id = \"6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f\"\n",
        "name = \"bf\"\n",
    ));
    assert_eq!(
        e,
        "bf.toml:6:8: template.language: `name` needs `language` (e.g. \"pt_BR\")"
    );
    let e = d.error(&GOOD.replace("6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f", "6f1c"));
    assert_eq!(e, "bf.toml:6:6: template.id: template id `6f1c` is not a UUID, expected Gupshup's template id like 6f1c2a9e-...");
}

#[test]
fn a_bad_param_points_at_its_index() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("[\"{{name}}\", \"20%\"]", "[\"20%\", \"{{name\"]"));
    assert_eq!(
        e,
        "bf.toml:8:18: template.params[1]: `{{` at byte 0 is not closed, expected `{{column}}`"
    );
}

#[test]
fn steady_needs_a_daily_budget_and_caps_must_be_positive() {
    let d = Dir::new();
    let e = d.error(&GOOD.replace("mode = \"grow\"", "mode = \"steady\""));
    assert_eq!(e, "bf.toml:17:1: pacing.daily_budget: mode \"steady\" needs `daily_budget`, the fixed number of sends a day");
    let e = d.error(&GOOD.replace("daily_max = 5000", "daily_max = 0"));
    assert_eq!(e, "bf.toml:19:13: pacing.daily_max: 0 sends a day, expected a positive number (omit the key for no cap)");
}

#[test]
fn several_problems_are_reported_at_once() {
    let d = Dir::new();
    let text = GOOD
        .replace("\"sac\"", "\"x\"")
        .replace("\"comercial\"", "\"y\"")
        .replace("0.2", "2");
    let problems = parse_campaign(&d.path("bf.toml"), &text, &ctx()).unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["sender", "schedule.calendar"]);
}

#[test]
fn unreadable_file_is_a_read_error() {
    let d = Dir::new();
    let err = load_campaign(&d.path("missing.toml"), &ctx()).unwrap_err();
    assert!(err.to_string().starts_with(&format!(
        "{}: cannot read: ",
        d.path("missing.toml").display()
    )));
}
