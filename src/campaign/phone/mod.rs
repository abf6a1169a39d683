//! The E.164 normaliser: the one parser that turns a number, wherever it enters tierpace, into an
//! [`E164`] (DOMAIN.md §6). Every entry point goes through it: audience rows and the opt-out file
//! ([`normalise`], national numbers with a country code column or default), the admin API
//! ([`parse_international`]) and provider webhooks and answers ([`parse_provider_number`]).
//! Where a number is compared as a provider wrote it (Gupshup's `source`) or carried from a
//! webhook to [`parse_provider_number`], [`digits_of`] is the one way to read its digits, and a
//! campaign's `default_ddi` is checked by `country_code`.
//!
//! Rules:
//! - the number is the row's `ddi` (country code) or the campaign's `default_ddi`, then the phone
//!   (area code + number); a leading `+` means the phone already holds the country code;
//! - punctuation (spaces, `()-./`) is stripped;
//! - Brazil (`55`) is tierpace's own layer ([`brazil`]): Anatel's DDD list, landlines, mobiles,
//!   and mobiles written before the 9th digit, which are given it (the 9-digit form is what goes
//!   on the wire, and the contact's identity, see `crate::contact`);
//! - every other country is checked with libphonenumber's metadata through the `phonenumber`
//!   crate ([`world`]): valid lengths and number ranges per region, national trunk prefixes.
//!
//! Brazil does not go through `phonenumber` for two reasons: the crate refuses the pre-9th-digit
//! mobiles that operators' files and WhatsApp ids still carry, and its regex-based parse costs
//! microseconds a number where the Brazilian layer costs tens of nanoseconds (audiences are
//! millions of Brazilian rows).
mod brazil;
mod world;

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
    #[error("Brazilian 8-digit numbers start with 2 to 5 (landline) or 6 to 9 (mobile without the 9th digit), got `{0}`")]
    BrazilEightDigits(String),
    #[error("+{0} is not a number in use in its country (libphonenumber's metadata)")]
    NotInUse(String),
    #[error("+{number} cannot be read as an international number: {reason}")]
    Unreadable { number: String, reason: String },
}

/// A normalised number, and whether the normaliser completed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub number: E164,
    /// A Brazilian mobile written without its 9th digit, which the normaliser added
    /// (`tierpace check` counts these as `normalised`).
    pub gained_ninth_digit: bool,
}

impl Normalised {
    fn as_written(number: E164) -> Self {
        Self {
            number,
            gained_ninth_digit: false,
        }
    }
}

/// Normalises one contact's number. `ddi` is the row's country code column (empty or absent: use
/// `default_ddi`); `phone` is area code + number as typed, or a full number with a leading `+`.
pub fn normalise(
    ddi: Option<&str>,
    phone: &str,
    default_ddi: &str,
) -> Result<Normalised, PhoneError> {
    let (international, digits) = strip(phone)?;
    if international {
        return split_international(&digits);
    }
    let ddi = match ddi.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => d,
        None => default_ddi.trim(),
    };
    let ddi = country_code(ddi)?;
    if ddi == "55" {
        return brazil::national(&digits);
    }
    world::national(ddi, &digits).map(Normalised::as_written)
}

/// A full international number (country code first, `+` optional, punctuation allowed), as the
/// admin API takes it. Validated as strictly as an audience row.
pub fn parse_international(raw: &str) -> Result<Normalised, PhoneError> {
    let (_, digits) = strip(raw)?;
    split_international(&digits)
}

/// A customer's number as a provider names it (webhook `sender.phone`, `from`, `wa_id`, a send
/// answer): an international number, normalised like [`parse_international`] when it passes. A
/// WhatsApp id that the metadata does not know (a range newer than the crate) is still a real
/// customer, and an opt-out from it must never be dropped: it is then taken as its 8-15 digits.
/// `None` only for text that holds no such number.
pub fn parse_provider_number(raw: &str) -> Option<E164> {
    if let Ok(n) = parse_international(raw) {
        return Some(n.number);
    }
    let digits = digits_of(raw);
    (8..=15)
        .contains(&digits.len())
        .then(|| E164::from_validated_digits(digits))
}

/// The digits of a number as written (`+1 555-0100` and `15550100` give the same), everything
/// else dropped: for comparing numbers as a provider spells them, never a validation.
pub fn digits_of(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
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

/// A country code as written (`55` or `+55`): 1 to 3 digits without a leading 0.
pub(crate) fn country_code(ddi: &str) -> Result<&str, PhoneError> {
    let digits = ddi.trim_start_matches('+');
    let ok = (1..=3).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(digits)
    } else {
        Err(PhoneError::BadCountryCode(ddi.to_string()))
    }
}

/// A number with its country code in front: Brazil by our layer, the rest by libphonenumber.
fn split_international(digits: &str) -> Result<Normalised, PhoneError> {
    if digits.starts_with('0') {
        return Err(PhoneError::BadCountryCode(digits.chars().take(3).collect()));
    }
    if let Some(national) = digits.strip_prefix("55") {
        return brazil::after_country_code(national);
    }
    world::international(digits).map(Normalised::as_written)
}

#[cfg(test)]
mod tests;
