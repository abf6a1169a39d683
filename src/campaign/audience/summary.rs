//! A whole pass over an audience, counted: rows, sendable contacts, skips by reason with their
//! first lines, and the `max_bad_share` rule that refuses a broken export (only bad data counts,
//! see [`SkipReason::is_bad_data`]). What `tierpace check` prints and the registry checks on load.
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{AudienceError, AudienceReader, AudienceRow, RowSkip, SkipReason};
use crate::campaign::file::AudienceSpec;
use crate::campaign::params::ParamTemplate;
use crate::contact::{ContactHasher, ContactKey};

/// How many example lines a summary keeps per skip reason.
const FIRST_LINES: usize = 5;

/// Skips of one reason: how many, and the first few lines with their details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipTally {
    pub count: u64,
    pub first: Vec<(u64, String)>,
}

/// What a full pass over an audience found.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceSummary {
    pub file: PathBuf,
    /// Data rows (the header excluded).
    pub rows: u64,
    pub valid: u64,
    /// Valid rows whose number was completed: old Brazilian mobiles given their 9th digit.
    pub normalised: u64,
    /// Parameters whose newlines, tabs or long runs of spaces were collapsed to one space.
    pub params_normalised: u64,
    pub skips: BTreeMap<SkipReason, SkipTally>,
    pub max_bad_share: f64,
}

impl AudienceSummary {
    pub fn new(file: PathBuf, max_bad_share: f64) -> Self {
        Self {
            file,
            rows: 0,
            valid: 0,
            normalised: 0,
            params_normalised: 0,
            skips: BTreeMap::new(),
            max_bad_share,
        }
    }

    pub fn record(&mut self, item: &Result<AudienceRow, RowSkip>) {
        self.rows += 1;
        match item {
            Ok(row) => {
                self.valid += 1;
                self.params_normalised += u64::from(row.params_normalised);
            }
            Err(skip) => self.record_skip(skip),
        }
    }

    pub fn record_skip(&mut self, skip: &RowSkip) {
        let tally = self.skips.entry(skip.reason).or_default();
        tally.count += 1;
        if tally.first.len() < FIRST_LINES {
            tally.first.push((skip.line, skip.detail.clone()));
        }
    }

    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skips.get(&reason).map_or(0, |t| t.count)
    }

    pub fn bad_rows(&self) -> u64 {
        self.skips
            .iter()
            .filter(|(r, _)| r.is_bad_data())
            .map(|(_, t)| t.count)
            .sum()
    }

    pub fn bad_share(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.bad_rows() as f64 / self.rows as f64
        }
    }

    pub fn refused(&self) -> bool {
        self.bad_share() > self.max_bad_share
    }
}

/// Reads a whole audience offline (for `tierpace check` and the load-time refusal rule).
pub fn scan_audience(
    spec: &AudienceSpec,
    params: &[ParamTemplate],
    hasher: &ContactHasher,
) -> Result<AudienceSummary, AudienceError> {
    scan_audience_with(spec, params, hasher, &|_| false)
}

/// Like [`scan_audience`], also counting sendable rows that `opted_out` says must not be sent.
pub fn scan_audience_with(
    spec: &AudienceSpec,
    params: &[ParamTemplate],
    hasher: &ContactHasher,
    opted_out: &dyn Fn(ContactKey) -> bool,
) -> Result<AudienceSummary, AudienceError> {
    let mut reader = AudienceReader::open(spec, params, hasher)?;
    let mut summary = AudienceSummary::new(spec.file.clone(), spec.max_bad_share);
    for item in reader.by_ref() {
        match item {
            Ok(row) if opted_out(row.key) => summary.record(&Err(RowSkip {
                line: row.line,
                reason: SkipReason::OptedOut,
                detail: format!("contact {} opted out", row.key.to_hex()),
            })),
            other => summary.record(&other),
        }
    }
    if let Some(e) = reader.take_error() {
        return Err(e);
    }
    summary.normalised = reader.normalised();
    if summary.refused() {
        return Err(AudienceError::Refused {
            summary: Box::new(summary),
        });
    }
    Ok(summary)
}
