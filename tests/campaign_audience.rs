//! The audience CSV: which rows are sent, which are skipped (with line and reason), resuming
//! after a restart, and the bad-data refusal.
use std::path::{Path, PathBuf};

use tierpace::campaign::audience::scan_audience_with;
use tierpace::campaign::{
    scan_audience, AudienceError, AudienceReader, AudienceSpec, ColumnNames, EncodingSetting,
    ParamTemplate, SkipReason,
};
use tierpace::contact::{ContactHasher, E164};

fn hasher() -> ContactHasher {
    ContactHasher::new(b"test-secret")
}

fn spec(file: &Path) -> AudienceSpec {
    AudienceSpec {
        file: file.to_path_buf(),
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    }
}

fn params(p: &[&str]) -> Vec<ParamTemplate> {
    p.iter().map(|s| ParamTemplate::parse(s).unwrap()).collect()
}

fn write(dir: &tempfile::TempDir, name: &str, body: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/campaigns/contacts/example.csv")
}

#[test]
fn the_example_audience_sends_sixteen_and_says_why_four_are_skipped() {
    let s = scan_audience(
        &spec(&example()),
        &params(&["{{name}}", "{{cupom}}"]),
        &hasher(),
    )
    .unwrap();
    assert_eq!((s.rows, s.valid), (20, 16));
    let lines = |r| {
        s.skips[&r]
            .first
            .iter()
            .map(|(l, _)| *l)
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(SkipReason::NoOptIn), [7, 12, 16]);
    assert_eq!(lines(SkipReason::Duplicate), [17]);
    // Line 11, `(85) 9981-2310`, is a mobile saved before the 9th digit: sent, counted.
    assert_eq!(s.normalised, 1);
    assert_eq!(s.bad_rows(), 0);
}

#[test]
fn rows_carry_the_normalised_number_key_name_and_params() {
    let mut r = AudienceReader::open(
        &spec(&example()),
        &params(&["Olá {{name}}", "{{cupom}}"]),
        &hasher(),
    )
    .unwrap();
    let first = r.next().unwrap().unwrap();
    assert_eq!(first.line, 2);
    assert_eq!(first.number.as_str(), "5585998123401");
    assert_eq!(first.key, hasher().key(&first.number));
    assert_eq!(first.name.as_deref(), Some("Ana Souza"));
    assert_eq!(first.params, ["Olá Ana Souza", "BF20"]);
}

#[test]
fn the_same_number_typed_differently_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        b"phone,opt_in\n(85) 99999-0000,sim\n+55 85 999990000,sim\n085999990000,sim\n",
    );
    let items: Vec<_> = AudienceReader::open(&spec(&f), &[], &hasher())
        .unwrap()
        .collect();
    assert!(items[0].is_ok());
    for (item, line) in items[1..].iter().zip([3, 4]) {
        let skip = item.as_ref().unwrap_err();
        assert_eq!((skip.line, skip.reason), (line, SkipReason::Duplicate));
    }
}

#[test]
fn a_row_without_opt_in_does_not_block_a_later_row_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        b"phone,opt_in\n85999990000,no\n85999990000,sim\n",
    );
    let items: Vec<_> = AudienceReader::open(&spec(&f), &[], &hasher())
        .unwrap()
        .collect();
    assert_eq!(items[0].as_ref().unwrap_err().reason, SkipReason::NoOptIn);
    assert!(items[1].is_ok());
}

#[test]
fn an_empty_parameter_cell_skips_the_row_as_missing_param() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "a.csv", b"name,phone,opt_in\n,85999990000,sim\n");
    let skip = AudienceReader::open(&spec(&f), &params(&["{{name}}"]), &hasher())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (skip.reason, skip.detail.as_str()),
        (SkipReason::MissingParam, "column `name` is empty")
    );
}

#[test]
fn semicolons_bom_and_renamed_columns_from_a_spreadsheet_export() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        "\u{feff}Nome;Telefone;Aceite\nAna;(85) 99999-0000;Sim\n".as_bytes(),
    );
    let mut s = spec(&f);
    s.columns = ColumnNames {
        name: "Nome".into(),
        phone: "telefone".into(),
        opt_in: "aceite".into(),
        ..ColumnNames::default()
    };
    let row = AudienceReader::open(&s, &params(&["{{nome}}"]), &hasher())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.number.as_str(), row.params[0].as_str()),
        ("5585999990000", "Ana")
    );
}

#[test]
fn short_rows_and_non_utf8_rows_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        b"phone,opt_in\n85999990000\n\xff\xfe,sim\n85999990001,sim\n",
    );
    // Declared UTF-8, the row that is not is malformed.
    let utf8 = AudienceSpec {
        encoding: EncodingSetting::Utf8,
        param_cleanup: Default::default(),
        ..spec(&f)
    };
    let items: Vec<_> = AudienceReader::open(&utf8, &[], &hasher())
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap_err().reason, SkipReason::NoOptIn);
    assert_eq!(
        items[1].as_ref().unwrap_err().reason,
        SkipReason::MalformedRow
    );
    assert_eq!(items[1].as_ref().unwrap_err().line, 3);
    assert!(items[2].is_ok());
    // Told from the file, it is Windows-1252 text: `ÿþ` is read, and is no phone number.
    let items: Vec<_> = AudienceReader::open(&spec(&f), &[], &hasher())
        .unwrap()
        .collect();
    let skip = items[1].as_ref().unwrap_err();
    assert_eq!((skip.line, skip.reason), (3, SkipReason::InvalidPhone));
    assert!(items[2].is_ok());
}

#[test]
fn missing_required_column_and_unknown_param_column_refuse_the_audience() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "a.csv", b"name,telefone,opt_in\n");
    let e = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap_err();
    assert_eq!(e.to_string(), format!("{}:1: header has no `phone` column (set audience.columns.phone if it is named otherwise); columns: name, telefone, opt_in", f.display()));
    let f = write(&dir, "b.csv", b"name,phone,opt_in\n");
    let e = AudienceReader::open(&spec(&f), &params(&["x", "{{city}}"]), &hasher()).unwrap_err();
    assert_eq!(e.to_string(), format!("{}:1: template.params[1]: column `city` is not in the audience header (columns: name, phone, opt_in)", f.display()));
    let e = AudienceReader::open(&spec(&dir.path().join("none.csv")), &[], &hasher()).unwrap_err();
    assert!(matches!(e, AudienceError::Open { .. }));
}

#[test]
fn too_much_bad_data_refuses_the_audience_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    // 2 bad phones of 8 rows = 25% > 20%; 3 rows without opt-in do not count as bad data.
    let f = write(&dir, "a.csv", b"phone,opt_in\n1,sim\n2,sim\n85999990001,no\n85999990002,no\n85999990003,no\n85999990004,sim\n85999990005,sim\n85999990006,sim\n");
    let e = scan_audience(&spec(&f), &[], &hasher()).unwrap_err();
    let AudienceError::Refused { summary } = &e else {
        panic!("{e}")
    };
    assert_eq!((summary.rows, summary.valid, summary.bad_rows()), (8, 3, 2));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: 2 of 8 rows (25.0%) have bad data, over max_bad_share 20.0%: audience refused",
            f.display()
        )
    );
    let mut lenient = spec(&f);
    lenient.max_bad_share = 0.25;
    assert_eq!(scan_audience(&lenient, &[], &hasher()).unwrap().valid, 3);
}

#[test]
fn opted_out_contacts_are_counted_by_the_scan() {
    let h = hasher();
    let ana = h.key(&tierpace::contact::E164::from_validated_digits(
        "5585998123401".into(),
    ));
    let s = scan_audience_with(&spec(&example()), &[], &h, &|k| k == ana).unwrap();
    assert_eq!((s.valid, s.skipped(SkipReason::OptedOut)), (15, 1));
}

/// `../shared/field/csv-old-mobile/`: `(85) 9999-0014`, a mobile saved before the 9th digit, is
/// the mobile 55 85 9 9999-0014 (sent in that form) and counted as normalised, not refused.
#[test]
fn field_csv_old_mobile_is_read_as_todays_mobile_and_counted_as_normalised() {
    let f = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/field/csv-old-mobile/contacts.csv"
    ));
    let rows: Vec<_> = AudienceReader::open(&spec(f), &[], &hasher())
        .unwrap()
        .collect();
    let [Ok(row)] = rows.as_slice() else {
        panic!("expected one sendable row, got {rows:?}")
    };
    assert_eq!(row.number.as_str(), "5585999990014");
    assert_eq!(
        row.key,
        hasher().key(&E164::from_validated_digits("5585999990014".into()))
    );
    let s = scan_audience(&spec(f), &[], &hasher()).unwrap();
    assert_eq!((s.rows, s.valid, s.normalised, s.bad_rows()), (1, 1, 1, 0));
}

#[test]
fn both_spellings_of_one_mobile_in_one_file_are_one_contact() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        "name,phone,opt_in\nA,(85) 9999-0014,sim\nA,+55 85 99999-0014,sim\nB,(85) 3222-0014,sim\n"
            .as_bytes(),
    );
    let s = scan_audience(&spec(&f), &[], &hasher()).unwrap();
    assert_eq!((s.valid, s.skipped(SkipReason::Duplicate)), (2, 1));
    assert_eq!(s.normalised, 1, "the landline gained nothing");
}

#[test]
fn resuming_at_a_saved_position_continues_with_the_next_row_and_remembers_duplicates() {
    let spec = spec(&example());
    let mut r = AudienceReader::open(&spec, &[], &hasher()).unwrap();
    let all: Vec<_> = r.by_ref().collect();
    let mut first = AudienceReader::open(&spec, &[], &hasher()).unwrap();
    for _ in 0..5 {
        first.next();
    }
    let pos = first.position();
    let mut resumed = AudienceReader::open(&spec, &[], &hasher()).unwrap();
    resumed.seek(&pos).unwrap();
    let rest: Vec<_> = resumed.collect();
    assert_eq!(rest, all[5..].to_vec());
    // Line 17 duplicates line 2, which was before the resume point: still a duplicate.
    assert!(rest
        .iter()
        .any(|i| matches!(i, Err(s) if s.line == 17 && s.reason == SkipReason::Duplicate)));
}

#[test]
fn resuming_into_a_changed_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        b"phone,opt_in\n85999990000,sim\n85999990001,sim\n",
    );
    let mut r = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap();
    r.next();
    let pos = r.position();
    write(
        &dir,
        "a.csv",
        b"phone,opt_in\n+55 85 99999-0000,sim\n85999990001,sim\n",
    );
    let mut again = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap();
    let e = again.seek(&pos).unwrap_err();
    assert!(matches!(e, AudienceError::Changed { .. }), "{e}");
}

#[test]
fn resuming_into_a_file_edited_without_changing_row_lengths_is_refused_by_the_fingerprint() {
    // Row 1's number changed digit for digit: same rows, same byte offsets. Only the fingerprint
    // of the bytes already read tells the file is not the one the run read.
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "a.csv",
        b"phone,opt_in\n85999990000,sim\n85999990001,sim\n",
    );
    let mut r = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap();
    r.next();
    let pos = r.position();
    assert!(pos.fingerprint.is_some());
    // The same file, untouched, resumes.
    let mut same = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap();
    same.seek(&pos).unwrap();
    write(
        &dir,
        "a.csv",
        b"phone,opt_in\n85999990009,sim\n85999990001,sim\n",
    );
    let mut again = AudienceReader::open(&spec(&f), &[], &hasher()).unwrap();
    let e = again.seek(&pos).unwrap_err();
    assert!(matches!(e, AudienceError::Changed { .. }), "{e}");
    assert!(e.to_string().contains("not the ones read before"), "{e}");
}

mod encodings {
    use super::*;
    use proptest::prelude::*;

    /// Names a spreadsheet cell can hold without quoting, in Windows-1252's repertoire.
    fn cp1252_name() -> impl Strategy<Value = String> {
        let chars: Vec<char> = (0x20u8..=0xFF)
            .filter_map(|b| {
                let byte = [b];
                let text = encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(&byte)
                    .0;
                text.chars().next()
            })
            .filter(|c| !c.is_control() && !matches!(c, ',' | ';' | '"'))
            .collect();
        proptest::collection::vec(proptest::sample::select(chars), 1..30)
            .prop_map(|v| v.into_iter().collect::<String>().trim().to_string())
            .prop_filter("a name is not blank", |s| !s.is_empty())
    }

    fn read_names(file: &Path, encoding: EncodingSetting) -> Vec<(u64, String)> {
        let spec = AudienceSpec {
            encoding,
            ..spec(file)
        };
        AudienceReader::open(&spec, &[], &hasher())
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.line, r.name.unwrap())
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_name_round_trips_through_a_windows_1252_excel_file(a in cp1252_name(), b in cp1252_name()) {
            let dir = tempfile::tempdir().unwrap();
            let text = format!("name;phone;opt_in\r\n{a};85999990001;sim\r\n{b};85999990002;sim\r\n");
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
            prop_assert!(!unmappable);
            let f = write(&dir, "a.csv", &bytes);
            let want = vec![(2, a.clone()), (3, b.clone())];
            prop_assert_eq!(read_names(&f, EncodingSetting::Windows1252), want.clone());
            // Told from the file: the same, unless the bytes happen to be valid UTF-8 too (only
            // ASCII names, or mojibake like `Ã©`, where UTF-8 reads the same or is the guess).
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert_eq!(read_names(&f, EncodingSetting::Auto), want);
            }
        }

        #[test]
        fn any_name_round_trips_through_utf8_with_or_without_bom(a in "[^,;\"\\p{Cc}\u{feff}]{1,30}", bom: bool) {
            let a = a.trim().to_string();
            prop_assume!(!a.is_empty());
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            bytes.extend_from_slice(format!("name,phone,opt_in\n{a},85999990001,sim\n").as_bytes());
            let f = write(&dir, "a.csv", &bytes);
            prop_assert_eq!(read_names(&f, EncodingSetting::Auto), vec![(2, a.clone())]);
            prop_assert_eq!(read_names(&f, EncodingSetting::Utf8), vec![(2, a)]);
        }
    }
}
