use super::brazil::DDD;
use super::*;
use crate::contact::ContactHasher;
use proptest::prelude::*;

fn ok(ddi: Option<&str>, phone: &str) -> String {
    normalise(ddi, phone, "55")
        .map(|n| n.number.to_string())
        .unwrap_or_else(|e| panic!("{phone}: {e}"))
}

fn err(ddi: Option<&str>, phone: &str) -> String {
    normalise(ddi, phone, "55").unwrap_err().to_string()
}

#[test]
fn brazilian_mobile_and_landline_with_punctuation() {
    assert_eq!(ok(None, "(85) 99999-0000"), "5585999990000");
    assert_eq!(ok(Some("55"), "11 3456-7890"), "551134567890");
    assert_eq!(ok(None, "011 91234.5678"), "5511912345678");
    assert_eq!(ok(None, "+55 (21) 98765-4321"), "5521987654321");
    assert_eq!(ok(None, "5521987654321"), "5521987654321");
    // DDD 55 itself, national form.
    assert_eq!(ok(None, "55 99123-4567"), "5555991234567");
}

#[test]
fn an_old_mobile_gains_its_ninth_digit_and_says_so() {
    let n = normalise(None, "(85) 9999-0014", "55").unwrap();
    assert_eq!(n.number.as_str(), "5585999990014");
    assert!(n.gained_ninth_digit);
    assert_eq!(ok(None, "+55 85 8888-0006"), "5585988880006");
    assert_eq!(ok(None, "55 11 6123-4567"), "5511961234567");
    let today = normalise(None, "(85) 99999-0014", "55").unwrap();
    assert!(!today.gained_ninth_digit);
    // Why Brazil is tierpace's own layer: libphonenumber refuses the old form outright.
    let old = phonenumber::parse(None, "+558599990014").expect("parses");
    assert!(!old.is_valid());
    let landline = normalise(None, "(85) 3222-0014", "55").unwrap();
    assert_eq!(landline.number.as_str(), "558532220014");
    assert!(!landline.gained_ninth_digit);
}

#[test]
fn other_countries_use_libphonenumber_metadata() {
    assert_eq!(ok(Some("1"), "(201) 555-0123"), "12015550123");
    assert_eq!(ok(Some("351"), "912 345 678"), "351912345678");
    assert_eq!(ok(None, "+44 20 7946 0958"), "442079460958");
    // The UK trunk 0 is dropped, Italy's leading 0 is part of the number.
    assert_eq!(ok(Some("44"), "020 7946 0958"), "442079460958");
    assert_eq!(ok(Some("39"), "06 6982 1234"), "390669821234");
    assert_eq!(ok(Some("+54"), "11 2345-6789"), "541123456789");
}

#[test]
fn each_error_says_what_was_expected() {
    assert_eq!(err(None, "  "), "phone is empty");
    assert_eq!(
        err(None, "85 9999x0000"),
        "phone holds `x`, expected digits, spaces, ( ) - . / or a leading +"
    );
    assert_eq!(
        err(Some("0055"), "85999990000"),
        "country code `0055` is not 1 to 3 digits without a leading 0"
    );
    assert_eq!(
        err(None, "859999"),
        "Brazilian number has 6 digits after the country code, expected 10 (landline) or 11 (mobile)"
    );
    assert_eq!(
        err(None, "20 99999-0000"),
        "DDD 20 is not a Brazilian area code"
    );
    assert_eq!(
        err(None, "85 89999-0000"),
        "Brazilian mobile numbers have 9 digits starting with 9, got `899990000`"
    );
    assert_eq!(
        err(None, "85 1999-0000"),
        "Brazilian 8-digit numbers start with 2 to 5 (landline) or 6 to 9 (mobile without the 9th digit), got `19990000`"
    );
    assert_eq!(
        err(Some("1"), "555-2671"),
        "+15552671 is not a number in use in its country (libphonenumber's metadata)"
    );
    assert_eq!(
        err(Some("351"), "12"),
        "+35112 is not a number in use in its country (libphonenumber's metadata)"
    );
    assert_eq!(
        err(None, "+999 1234 5678"),
        "country code `999` is not 1 to 3 digits without a leading 0"
    );
}

#[test]
fn provider_numbers_are_normalised_and_never_dropped() {
    let p = |s: &str| parse_provider_number(s).map(|n| n.to_string());
    assert_eq!(p("558599990001").as_deref(), Some("5585999990001"));
    assert_eq!(p("+55 85 99999-0001").as_deref(), Some("5585999990001"));
    assert_eq!(p("14155552671").as_deref(), Some("14155552671"));
    // Unknown to the metadata but a WhatsApp id all the same: kept as given.
    assert_eq!(p("99912345678").as_deref(), Some("99912345678"));
    assert_eq!(p("abc"), None);
    assert_eq!(p("1234"), None);
}

/// Regions whose example numbers libphonenumber's metadata itself gives: each, written with
/// its country code, normalises to itself and keeps its identity.
#[test]
fn every_region_accepts_its_own_example_numbers() {
    let mut checked = 0;
    for meta in phonenumber::metadata::DATABASE.iter() {
        if meta.country_code() == 55 {
            continue;
        }
        let examples = [meta.descriptors().mobile(), meta.descriptors().fixed_line()];
        for example in examples.into_iter().flatten().filter_map(|d| d.example()) {
            let full = format!("{}{example}", meta.country_code());
            let Ok(parsed) = phonenumber::parse(None, format!("+{full}")) else {
                continue;
            };
            if !parsed.is_valid() {
                continue;
            }
            let got = normalise(None, &format!("+{full}"), "55")
                .unwrap_or_else(|e| panic!("{} {full}: {e}", meta.id()));
            assert_eq!(got.number.as_str(), full, "{}", meta.id());
            assert_eq!(got.number.identity(), full, "{}", meta.id());
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} examples checked");
}

/// How an operator or WhatsApp may write one Brazilian line.
fn spelling(
    ddd: u8,
    sub8: &str,
    with_nine: bool,
    prefix: u8,
    seps: &[&str],
) -> (Option<&'static str>, String) {
    let national = if with_nine {
        format!("{ddd}9{sub8}")
    } else {
        format!("{ddd}{sub8}")
    };
    let (ddi, plus, digits) = match prefix {
        0 => (None, "", national),
        1 => (None, "", format!("0{national}")),
        2 => (None, "", format!("55{national}")),
        3 => (None, "+", format!("55{national}")),
        _ => (Some("55"), "", national),
    };
    let typed: String = digits
        .chars()
        .zip(seps.iter().cycle())
        .map(|(c, s)| format!("{s}{c}"))
        .collect();
    (ddi, format!("{plus}{typed}"))
}

fn seps() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::collection::vec(
        prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("(")],
        1..14,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Any Brazilian mobile, in every spelling an operator or WhatsApp uses (with or without the
    /// 9th digit, `+`, 55, trunk 0, punctuation; audience, admin API or webhook), is one contact:
    /// the 13-digit number on the wire and one key.
    #[test]
    fn every_spelling_of_a_brazilian_mobile_is_one_contact(
        ddd_idx in 0..DDD.len(),
        sub in 60_000_000u32..100_000_000,
        with_nine in any::<bool>(),
        prefix in 0..5u8,
        seps in seps(),
    ) {
        let ddd = DDD[ddd_idx];
        let sub8 = format!("{sub:08}");
        let want = format!("55{ddd}9{sub8}");
        let hasher = ContactHasher::new(b"prop");
        let want_key = hasher.key(&E164::from_validated_digits(want.clone()));
        let (ddi, typed) = spelling(ddd, &sub8, with_nine, prefix, &seps);
        let got = normalise(ddi, &typed, "55").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.number.as_str(), want.as_str());
        prop_assert_eq!(got.gained_ninth_digit, !with_nine);
        prop_assert_eq!(hasher.key(&got.number), want_key);
        // The same line as a webhook or the admin API names it.
        let international = if with_nine { want.clone() } else { format!("55{ddd}{sub8}") };
        let webhook = parse_provider_number(&international).expect("a number");
        prop_assert_eq!(hasher.key(&webhook), want_key);
        let admin = parse_international(&format!("+{international}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(hasher.key(&admin.number), want_key);
        // Raw digits as an old WhatsApp id, hashed without the normaliser: still one key.
        prop_assert_eq!(hasher.key(&E164::from_validated_digits(international)), want_key);
    }

    /// No landline ever gains a 9: its number and key are its own, in every spelling.
    #[test]
    fn no_landline_ever_gains_a_ninth_digit(
        ddd_idx in 0..DDD.len(),
        sub in 20_000_000u32..60_000_000,
        prefix in 0..5u8,
        seps in seps(),
    ) {
        let ddd = DDD[ddd_idx];
        let sub8 = format!("{sub:08}");
        let want = format!("55{ddd}{sub8}");
        let (ddi, typed) = spelling(ddd, &sub8, false, prefix, &seps);
        let got = normalise(ddi, &typed, "55").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.number.as_str(), want.as_str());
        prop_assert!(!got.gained_ninth_digit);
        prop_assert_eq!(got.number.identity(), want.as_str());
        prop_assert_eq!(got.number.pre_ninth_digit_form(), None);
        let webhook = parse_provider_number(&want).expect("a number");
        prop_assert_eq!(webhook.as_str(), want.as_str());
    }

    #[test]
    fn arbitrary_input_never_panics(ddi in ".{0,5}", phone in ".{0,30}") {
        let _ = normalise(Some(&ddi), &phone, "55");
        let _ = parse_provider_number(&phone);
    }
}
