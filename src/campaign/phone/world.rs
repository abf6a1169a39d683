//! Numbers outside Brazil, checked with libphonenumber's metadata (the `phonenumber` crate): the
//! lengths and number ranges each region uses, and its national trunk prefix (`020 ...` in the UK
//! is `+44 20 ...`; Italy's leading 0 is part of the number and stays).
use phonenumber::PhoneNumber;

use super::PhoneError;
use crate::contact::E164;

/// The country code `ddi` and the number as typed in that country.
pub(super) fn national(ddi: &str, digits: &str) -> Result<E164, PhoneError> {
    international(&format!("{ddi}{digits}"))
}

/// Digits with the country code in front.
pub(super) fn international(digits: &str) -> Result<E164, PhoneError> {
    let parsed: PhoneNumber =
        phonenumber::parse(None, format!("+{digits}")).map_err(|e| match e {
            phonenumber::ParseError::InvalidCountryCode => {
                PhoneError::BadCountryCode(digits.chars().take(3).collect())
            }
            other => PhoneError::Unreadable {
                number: digits.to_string(),
                reason: other.to_string(),
            },
        })?;
    let e164 = format!("{}{}", parsed.code().value(), parsed.national());
    if !parsed.is_valid() {
        return Err(PhoneError::NotInUse(e164));
    }
    Ok(E164::from_validated_digits(e164))
}
