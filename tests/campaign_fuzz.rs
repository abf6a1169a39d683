//! Fuzzing the two parsers that read operators' files, with proptest and arbitrary input: the
//! campaign TOML and the audience CSV must never panic, and what they report must stay sane.
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use tierpace::campaign::validate::parse_campaign;
use tierpace::campaign::{
    AudienceReader, AudienceSpec, CampaignContext, ColumnNames, ParamTemplate,
};
use tierpace::contact::ContactHasher;

const GOOD: &str = r#"id = "bf"
sender = "demo"
[template]
id = "6f1c2a9e-8b1d-4f2a-9c3e-1d2b3c4d5e6f"
category = "marketing"
params = ["{{name}}", "20%"]
[audience]
file = "contacts.csv"
[schedule]
start = "2026-11-27T09:00:00-03:00"
cron = "0 0 9 * * Mon"
calendar = "always"
[pacing]
daily_max = 10
"#;

fn ctx() -> CampaignContext {
    CampaignContext {
        senders: BTreeSet::from(["demo".to_string()]),
        calendars: BTreeSet::from(["always".to_string()]),
        providers: Default::default(),
    }
}

fn check_toml(text: &str) {
    let lines = text.lines().count().max(1) + 1;
    if let Err(problems) = parse_campaign(Path::new("/nonexistent/bf.toml"), text, &ctx()) {
        assert!(!problems.is_empty());
        for p in problems {
            assert!(p.line <= lines, "line {} of {lines}: {p:?}", p.line);
            assert!(!p.message.is_empty());
            assert!(!p.message.contains('\n'));
        }
    }
}

fn scan(bytes: &[u8]) -> (u64, u64) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let spec = AudienceSpec {
        file: file.path().to_path_buf(),
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    };
    let params = [ParamTemplate::parse("{{name}}").unwrap()];
    let Ok(mut reader) = AudienceReader::open(&spec, &params, &ContactHasher::new(b"fuzz")) else {
        return (0, 0);
    };
    let (mut ok, mut all) = (0, 0);
    for item in reader.by_ref() {
        all += 1;
        if let Ok(row) = item {
            ok += 1;
            let digits = row.number.as_str();
            assert!(
                (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
                "{digits}"
            );
            assert!(!row.params[0].is_empty());
        }
    }
    assert_eq!(reader.position().rows, all);
    (ok, all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_as_a_campaign_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_toml(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn a_good_file_with_one_edit_never_panics(at in 0..GOOD.len(), cut in 0..8usize, insert in "[\\[\\]=\"{}.\\n a-z0-9#'é]{0,6}") {
        let at = (0..=at).rev().find(|i| GOOD.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut..=GOOD.len()).find(|i| GOOD.is_char_boundary(*i)).unwrap_or(GOOD.len());
        let text = format!("{}{}{}", &GOOD[..at], insert, &GOOD[end..]);
        check_toml(&text);
    }

    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = b"name,ddi,phone,opt_in\n".to_vec();
        bytes.extend(body);
        scan(&bytes);
    }

    #[test]
    fn arbitrary_csv_like_text_never_panics(rows in proptest::collection::vec("[A-Za-z ]{0,6},[0-9+]{0,3},[0-9()+ .-]{0,16},(sim|não|yes|0|1|2026-01-0[1-9]|x?)", 0..30)) {
        let text = format!("name,ddi,phone,opt_in\n{}\n", rows.join("\n"));
        let (_, all) = scan(text.as_bytes());
        prop_assert_eq!(all, rows.len() as u64);
    }
}

#[test]
fn arbitrary_whole_files_never_panic() {
    // The header itself fuzzed is covered here by a few hand-picked nasty shapes.
    for bytes in [
        &b""[..],
        b"\n\n\n",
        b"\xff\xfe\xfd",
        b"phone",
        b"\"unterminated,quote\n1,2",
        b";;;;\n;;;;",
    ] {
        scan(bytes);
    }
}
