//! Brazilian numbers, tierpace's own layer over the normaliser (Anatel's numbering plan):
//! 55 + a 2-digit DDD + either an 8-digit landline starting 2-5 or a 9-digit mobile starting 9.
//!
//! Mobiles gained the leading 9 between 2012 and 2016; files, CRMs and WhatsApp ids created
//! before then still spell them with 8 digits starting 6-9. Such a number is the same line: it is
//! given its 9 here ([`Normalised::gained_ninth_digit`]), never refused as a bad landline.
//! Landlines (2-5) never gain a digit.
use super::{Normalised, PhoneError};
use crate::contact::{is_old_mobile_subscriber, E164};

/// Area codes (DDD) in use in Brazil, per Anatel's numbering plan.
pub(super) const DDD: [u8; 67] = [
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
];

/// A number typed in Brazil's national form: trunk zeros (`0`, `0 85 ...`) dropped, and a phone
/// column that already holds the 55 in front accepted.
pub(super) fn national(digits: &str) -> Result<Normalised, PhoneError> {
    let national = digits.trim_start_matches('0');
    if national.is_empty() {
        return Err(PhoneError::Empty);
    }
    // 55 is also a DDD (Rio Grande do Sul): only the length tells them apart. DDD + number is
    // 10 or 11 digits, so 12-13 digits starting 55 hold the country code.
    if (national.len() == 12 || national.len() == 13) && national.starts_with("55") {
        return after_country_code(&national[2..]);
    }
    after_country_code(national)
}

/// DDD + subscriber number, after the 55.
pub(super) fn after_country_code(national: &str) -> Result<Normalised, PhoneError> {
    if national.len() != 10 && national.len() != 11 {
        return Err(PhoneError::BrazilLength(national.len()));
    }
    let (ddd, subscriber) = national.split_at(2);
    let ddd_ok = ddd.parse::<u8>().is_ok_and(|d| DDD.contains(&d));
    if !ddd_ok {
        return Err(PhoneError::BrazilAreaCode(ddd.to_string()));
    }
    let first = subscriber.as_bytes()[0];
    if subscriber.len() == 9 {
        if first != b'9' {
            return Err(PhoneError::BrazilMobile(subscriber.to_string()));
        }
        return Ok(Normalised {
            number: E164::from_validated_digits(format!("55{national}")),
            gained_ninth_digit: false,
        });
    }
    if is_old_mobile_subscriber(subscriber) {
        return Ok(Normalised {
            number: E164::from_validated_digits(format!("55{ddd}9{subscriber}")),
            gained_ninth_digit: true,
        });
    }
    if !(b'2'..=b'5').contains(&first) {
        return Err(PhoneError::BrazilEightDigits(subscriber.to_string()));
    }
    Ok(Normalised {
        number: E164::from_validated_digits(format!("55{national}")),
        gained_ninth_digit: false,
    })
}
