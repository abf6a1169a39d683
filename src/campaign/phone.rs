//! The E.164 normaliser: the only way an audience row, an opt-out file line or the admin API turns
//! what a person typed into an [`E164`] number (DOMAIN.md §6).
//!
//! Rules, from the operator's guide we were given:
//! - the number is the row's `ddi` (country code) or the campaign's `default_ddi`, then the phone
//!   (area code + number); a leading `+` means the phone already holds the country code;
//! - punctuation (spaces, `()-./`) is stripped, then leading zeros (the Brazilian trunk prefix `0`);
//! - Brazil (`55`): a 2-digit DDD that Anatel assigns, then an 8-digit landline starting 2-5 or a
//!   9-digit mobile starting with 9; a phone typed with the `55` already in front is accepted;
//! - other countries: North America (`1`) needs 10 national digits; anything else is checked by
//!   length only (E.164 allows 8 to 15 digits in all).
//!
//! Why not the `phonenumber` crate: it is not in the build (no network to fetch it here) and its
//! metadata would weigh far more than the one country tierpace's users send to; the rules above are
//! what the guide asks for, and this file is where a fuller check would go.
use crate::contact::E164;

/// Why a number could not be normalised; the text goes into skip details and error messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone is empty")]
    Empty,
    #[error("phone holds `{0}`, expected digits, spaces, ( ) - . / or a leading +")]
    BadCharacter(char),
    #[error("country code `{0}` is not 1 to 3 digits without a leading 0")]
    BadCountryCode(String),
    #[error("Brazilian number has {0} digits after the country code, expected 10 (landline) or 11 (mobile)")]
    BrazilLength(usize),
    #[error("DDD {0} is not a Brazilian area code")]
    BrazilAreaCode(String),
    #[error("Brazilian mobile numbers have 9 digits starting with 9, got `{0}`")]
    BrazilMobile(String),
    #[error("Brazilian landlines have 8 digits starting with 2 to 5, got `{0}`")]
    BrazilLandline(String),
    #[error("North American numbers have 10 digits after the country code, got {0}")]
    NanpLength(usize),
    #[error("number has {0} digits with the country code, expected 8 to 15")]
    Length(usize),
}

/// Area codes (DDD) in use in Brazil, per Anatel's numbering plan.
const BRAZIL_DDD: [u8; 67] = [
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
];

/// Normalises one contact's number. `ddi` is the row's country code column (empty or absent: use
/// `default_ddi`); `phone` is area code + number as typed, or a full number with a leading `+`.
pub fn normalise(ddi: Option<&str>, phone: &str, default_ddi: &str) -> Result<E164, PhoneError> {
    let (international, national) = strip(phone)?;
    if international {
        return split_international(&national);
    }
    let ddi = match ddi.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => d,
        None => default_ddi.trim(),
    };
    let ddi = country_code(ddi)?;
    let national = national.trim_start_matches('0');
    if national.is_empty() {
        return Err(PhoneError::Empty);
    }
    // A Brazilian phone column often already starts with 55; only the length tells them apart,
    // because 55 is also a DDD (Rio Grande do Sul): 10-11 digits are national, 12-13 are not.
    if ddi == "55" && (national.len() == 12 || national.len() == 13) && national.starts_with("55") {
        return full(&ddi, &national[2..]);
    }
    full(&ddi, national)
}

/// Strips punctuation; returns whether a leading `+` was present and the digits.
fn strip(phone: &str) -> Result<(bool, String), PhoneError> {
    let trimmed = phone.trim();
    let (international, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '(' | ')' | '-' | '.' | '/' | '\u{a0}' | '\t' => {}
            other => return Err(PhoneError::BadCharacter(other)),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    Ok((international, digits))
}

fn country_code(ddi: &str) -> Result<String, PhoneError> {
    let digits: String = ddi.trim_start_matches('+').to_string();
    let ok = (1..=3).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(digits)
    } else {
        Err(PhoneError::BadCountryCode(ddi.to_string()))
    }
}

/// A number typed with `+`: find its country by the prefixes we validate specially.
fn split_international(digits: &str) -> Result<E164, PhoneError> {
    if digits.starts_with('0') {
        return Err(PhoneError::BadCountryCode(digits.chars().take(3).collect()));
    }
    if let Some(rest) = digits.strip_prefix("55") {
        return full("55", rest);
    }
    if let Some(rest) = digits.strip_prefix('1') {
        return full("1", rest);
    }
    generic(digits)
}

fn full(ddi: &str, national: &str) -> Result<E164, PhoneError> {
    match ddi {
        "55" => brazil(national),
        "1" if national.len() != 10 => Err(PhoneError::NanpLength(national.len())),
        _ => generic(&format!("{ddi}{national}")),
    }
}

fn brazil(national: &str) -> Result<E164, PhoneError> {
    if national.len() != 10 && national.len() != 11 {
        return Err(PhoneError::BrazilLength(national.len()));
    }
    let (ddd, subscriber) = national.split_at(2);
    let ddd_ok = ddd
        .parse::<u8>()
        .map(|d| BRAZIL_DDD.contains(&d))
        .unwrap_or(false);
    if !ddd_ok {
        return Err(PhoneError::BrazilAreaCode(ddd.to_string()));
    }
    let first = subscriber.as_bytes()[0];
    if subscriber.len() == 9 && first != b'9' {
        return Err(PhoneError::BrazilMobile(subscriber.to_string()));
    }
    if subscriber.len() == 8 && !(b'2'..=b'5').contains(&first) {
        return Err(PhoneError::BrazilLandline(subscriber.to_string()));
    }
    Ok(E164::from_validated_digits(format!("55{national}")))
}

fn generic(digits: &str) -> Result<E164, PhoneError> {
    if !(8..=15).contains(&digits.len()) {
        return Err(PhoneError::Length(digits.len()));
    }
    Ok(E164::from_validated_digits(digits.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(ddi: Option<&str>, phone: &str) -> String {
        normalise(ddi, phone, "55")
            .map(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{phone}: {e}"))
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
    fn other_countries_use_the_row_ddi() {
        assert_eq!(ok(Some("1"), "(415) 555-2671"), "14155552671");
        assert_eq!(ok(Some("351"), "912 345 678"), "351912345678");
        assert_eq!(ok(None, "+44 20 7946 0958"), "442079460958");
    }

    #[test]
    fn each_error_says_what_was_expected() {
        let err = |ddi: Option<&str>, p: &str| normalise(ddi, p, "55").unwrap_err().to_string();
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
            err(None, "85 9999-0000"),
            "Brazilian landlines have 8 digits starting with 2 to 5, got `99990000`"
        );
        assert_eq!(
            err(Some("1"), "555-2671"),
            "North American numbers have 10 digits after the country code, got 7"
        );
        assert_eq!(
            err(Some("351"), "12"),
            "number has 5 digits with the country code, expected 8 to 15"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Any valid Brazilian mobile, typed with any punctuation, trunk zero or country code,
        /// normalises to the same digits (the naive model: concatenation).
        #[test]
        fn any_typing_of_a_brazilian_mobile_normalises_the_same(
            ddd_idx in 0..BRAZIL_DDD.len(),
            sub in 0u32..100_000_000,
            seps in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("(")], 13),
            form in 0..3u8,
        ) {
            let national = format!("{}9{:08}", BRAZIL_DDD[ddd_idx], sub);
            let typed_digits = match form { 0 => national.clone(), 1 => format!("0{national}"), _ => format!("55{national}") };
            let typed: String = typed_digits.chars().zip(seps.iter().cycle())
                .map(|(c, s)| format!("{s}{c}")).collect();
            let got = normalise(None, &typed, "55").map(|e| e.to_string());
            prop_assert_eq!(got, Ok(format!("55{national}")));
        }

        #[test]
        fn arbitrary_input_never_panics(ddi in ".{0,5}", phone in ".{0,30}") {
            let _ = normalise(Some(&ddi), &phone, "55");
        }
    }
}
