//! One audience row, checked: phone, opt-in, parameters, then duplicates, so the first
//! *sendable* occurrence of a number is the one kept. A row that fails becomes a [`RowSkip`]
//! with its line and [`SkipReason`], never a fatal error (guarantee 6).
use std::fmt;

use super::AudienceReader;
use crate::campaign::file::ParamCleanup;
use crate::campaign::opt_in::{parse_opt_in, OptIn};
use crate::campaign::params::{collapse_whitespace, text_flaw, ValueShape};
use crate::campaign::phone::normalise;
use crate::contact::{ContactKey, E164};

/// One sendable contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudienceRow {
    /// Line in the file where the row starts (the header is line 1).
    pub line: u64,
    pub number: E164,
    pub key: ContactKey,
    pub name: Option<String>,
    /// Rendered template parameters, in the campaign's order.
    pub params: Vec<String>,
    /// How many of them had newlines, tabs or long runs of spaces collapsed
    /// (`audience.param_cleanup = "normalise"`).
    pub params_normalised: u32,
}

/// Why a contact is not sent; `as_str` is the stable label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    InvalidPhone,
    NoOptIn,
    MissingParam,
    /// A filled parameter WhatsApp would refuse: a link that is not https, an amount that is
    /// not a whole number, or (with `param_cleanup = "skip_row"`) a newline, tab or long run of
    /// spaces.
    InvalidParam,
    Duplicate,
    /// The contact opted out of everything.
    OptedOut,
    /// The contact opted out of marketing templates, and this campaign's template is marketing.
    OptedOutMarketing,
    /// The CSV row itself could not be read (not UTF-8 in a file declared UTF-8).
    MalformedRow,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPhone => "invalid_phone",
            Self::NoOptIn => "no_opt_in",
            Self::MissingParam => "missing_param",
            Self::InvalidParam => "invalid_param",
            Self::Duplicate => "duplicate",
            Self::OptedOut => "opted_out",
            Self::OptedOutMarketing => "opted_out_marketing",
            Self::MalformedRow => "malformed_row",
        }
    }

    /// Bad data, as opposed to a contact who simply may not be sent (no consent, a duplicate,
    /// an opt-out). Only bad data counts towards `max_bad_share`: an audience where many people
    /// did not opt in is normal, one where many numbers are garbage is a broken export.
    pub fn is_bad_data(self) -> bool {
        matches!(
            self,
            Self::InvalidPhone | Self::MissingParam | Self::InvalidParam | Self::MalformedRow
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row that is not sent, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSkip {
    pub line: u64,
    pub reason: SkipReason,
    pub detail: String,
}

impl AudienceReader {
    pub(super) fn row(&mut self, line: u64) -> Result<AudienceRow, RowSkip> {
        let skip = |reason, detail: String| RowSkip {
            line,
            reason,
            detail,
        };
        let rec = &self.record;
        let phone = rec.get(self.columns.phone).unwrap_or("");
        let ddi = self.columns.ddi.and_then(|i| rec.get(i));
        let normalised = normalise(ddi, phone, &self.default_ddi)
            .map_err(|e| skip(SkipReason::InvalidPhone, e.to_string()))?;
        let number = normalised.number;
        match parse_opt_in(rec.get(self.columns.opt_in).unwrap_or("")) {
            Ok(OptIn::Granted(_)) => {}
            Ok(OptIn::Refused) => {
                let v = rec.get(self.columns.opt_in).unwrap_or("").trim();
                return Err(skip(SkipReason::NoOptIn, format!("opt_in is `{v}`")));
            }
            Err(e) => return Err(skip(SkipReason::NoOptIn, e.to_string())),
        }
        let mut params = Vec::with_capacity(self.params.len());
        let mut params_normalised = 0;
        for p in &self.params {
            let value = p
                .render(|i| rec.get(i))
                .map_err(|empty| skip(SkipReason::MissingParam, empty.to_string()))?;
            let invalid = |why: String| skip(SkipReason::InvalidParam, why);
            let value = match p.shape() {
                ValueShape::HttpsLink if !value.starts_with("https://") => {
                    return Err(invalid(format!("link `{value}` is not https://")));
                }
                ValueShape::Integer if value.trim().parse::<i64>().is_err() => {
                    return Err(invalid(format!(
                        "amount_1000 `{value}` is not a whole number (the amount times 1000)"
                    )));
                }
                _ => match (text_flaw(&value), self.cleanup) {
                    (None, _) => value,
                    (Some(flaw), ParamCleanup::SkipRow) => {
                        return Err(invalid(format!("a parameter has {flaw}")));
                    }
                    (Some(_), ParamCleanup::Normalise) => {
                        params_normalised += 1;
                        collapse_whitespace(&value)
                    }
                },
            };
            params.push(value);
        }
        let key = self.hasher.key(&number);
        if !self.seen.insert(key) {
            return Err(skip(
                SkipReason::Duplicate,
                format!("contact {} is listed earlier in the file", key.to_hex()),
            ));
        }
        if normalised.gained_ninth_digit {
            self.normalised += 1;
        }
        let name = self
            .columns
            .name
            .and_then(|i| rec.get(i))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        Ok(AudienceRow {
            line,
            number,
            key,
            name,
            params,
            params_normalised,
        })
    }
}
