//! The audience's `opt_in` column: whether the contact authorised business-initiated messages
//! (DOMAIN.md §6: opt-in is mandatory for active messages; Gupshup no longer checks it, so it is
//! entirely tierpace's job, DOMAIN.md §4).
//!
//! Spreadsheets from Brazilian operators say `sim`/`não`; others say yes/no, true/false, 1/0, or
//! write the date consent was given. Anything else is not consent: a value we cannot read is
//! treated as "no" (and the skip detail says why), never as "yes".
use chrono::NaiveDate;

/// What the `opt_in` cell says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptIn {
    /// Consent given; with the date when the cell held one.
    Granted(Option<NaiveDate>),
    /// No consent (explicit "no" or an empty cell).
    Refused,
}

/// The cell held something that is neither a yes/no word nor a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("opt_in `{0}` is not sim/não, yes/no, true/false, 1/0 or a date YYYY-MM-DD")]
pub struct OptInError(pub String);

/// Reads one `opt_in` cell.
pub fn parse_opt_in(cell: &str) -> Result<OptIn, OptInError> {
    let value = cell.trim();
    let lower = value.to_lowercase();
    match lower.as_str() {
        "sim" | "s" | "yes" | "y" | "true" | "1" | "x" => return Ok(OptIn::Granted(None)),
        "não" | "nao" | "n" | "no" | "false" | "0" | "" => return Ok(OptIn::Refused),
        _ => {}
    }
    // A date, or a timestamp whose date part is enough (RFC 3339 or "YYYY-MM-DD HH:MM:SS").
    let date_part = value.get(..10).unwrap_or(value);
    match NaiveDate::parse_from_str(date_part, "%Y-%m-%d") {
        Ok(date) if matches!(value.as_bytes().get(10), None | Some(b'T' | b' ')) => {
            Ok(OptIn::Granted(Some(date)))
        }
        _ => Err(OptInError(value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_in_portuguese_and_english() {
        for yes in ["sim", "SIM", "Yes", "true", "1", " s "] {
            assert_eq!(parse_opt_in(yes), Ok(OptIn::Granted(None)), "{yes}");
        }
        for no in ["não", "NÃO", "nao", "no", "false", "0", ""] {
            assert_eq!(parse_opt_in(no), Ok(OptIn::Refused), "{no}");
        }
    }

    #[test]
    fn a_date_of_consent_is_consent() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 14);
        assert_eq!(parse_opt_in("2026-03-14"), Ok(OptIn::Granted(d)));
        assert_eq!(
            parse_opt_in("2026-03-14T10:00:00-03:00"),
            Ok(OptIn::Granted(d))
        );
    }

    #[test]
    fn anything_else_is_an_error_that_says_what_was_expected() {
        assert_eq!(
            parse_opt_in("talvez").unwrap_err().to_string(),
            "opt_in `talvez` is not sim/não, yes/no, true/false, 1/0 or a date YYYY-MM-DD"
        );
        assert!(parse_opt_in("2026-13-01").is_err());
        assert!(parse_opt_in("2026-03-14x").is_err());
        assert_eq!(
            parse_opt_in("2026-3-1"),
            Ok(OptIn::Granted(NaiveDate::from_ymd_opt(2026, 3, 1)))
        );
    }
}
