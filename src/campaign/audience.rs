//! The audience CSV, streamed: one row at a time, so a million-row file costs the same few
//! kilobytes of buffer as a ten-row one (plus the duplicate filter, below).
//!
//! Columns follow the operator's contact form (DOMAIN.md §6): `name`, `ddi`, `phone` (area code +
//! number), `email`, `opt_in`, plus any column a template parameter names; the header names are
//! configurable per campaign. `phone` and `opt_in` are required; `ddi` falls back to the campaign's
//! `default_ddi`. The delimiter is `,` or `;` (Brazilian spreadsheet exports), told from the header.
//! The text is UTF-8 (with or without a BOM) or Windows-1252 (Excel pt-BR's "CSV"), told from the
//! whole file or set by `audience.encoding` ([`super::text_encoding`]); rows and line numbers
//! come from [`super::csv_records`], so a row's line is the file's own, CRLF or not.
//!
//! A bad row is never fatal (guarantee 6): it becomes a [`RowSkip`] with its line and reason, and
//! [`scan_audience`] counts them. Rows are checked in this order: phone, opt-in, parameters, then
//! duplicates, so the first *sendable* occurrence of a number is the one kept.
//!
//! Duplicates inside one file are caught here (guarantee 4 needs it before the ledger too, and
//! operators want them counted). The filter keeps 8 bytes per distinct number (a 64-bit
//! fingerprint of the contact key, in 65,536 sorted buckets): about 11 MB per million rows,
//! without the doubling spikes of a hash set. A fingerprint collision (odds ~3e-8 for a million
//! rows) would skip a contact as a duplicate, the safe direction. Across restarts the reader
//! rebuilds the filter by re-reading up to the saved position ([`AudienceReader::seek`]).
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::csv_records::{RawRecord, RecordPosition, RecordReader, TextRecord};
use super::file::AudienceSpec;
use super::file::ParamCleanup;
use super::opt_in::{parse_opt_in, OptIn};
use super::params::{
    collapse_whitespace, header_index, text_flaw, BoundParam, ParamError, ParamTemplate, ValueShape,
};
use super::phone::normalise;
use super::text_encoding::{resolve, TextEncoding};
use crate::contact::{ContactHasher, ContactKey, E164};

/// How many example lines a summary keeps per skip reason.
const FIRST_LINES: usize = 5;

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

/// Where a reader stands, to resume after a restart. Store it with the campaign's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AudiencePosition {
    /// Data rows consumed so far (skipped ones included).
    pub rows: u64,
    /// Byte offset of the next row: checked on resume to notice a file that changed.
    pub byte: u64,
    /// Fingerprint of the file's bytes before `byte` (see [`RecordPosition`]): checked on resume,
    /// so an edit that keeps the rows' lengths is noticed too. `None` in cursors saved by
    /// builds before it.
    #[serde(default)]
    pub fingerprint: Option<u64>,
}

/// Why an audience cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error("{}: cannot open audience: {source}", file.display())]
    Open {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: cannot read audience: {message}", file.display())]
    Read {
        file: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}:1: header has no `{column}` column (set audience.columns.{key} if it is named otherwise); columns: {header}", file.display())]
    MissingColumn {
        file: PathBuf,
        column: String,
        key: &'static str,
        header: String,
    },
    #[error("{}:1: {key}: {error}", file.display())]
    Param {
        file: PathBuf,
        /// The campaign-file key of the parameter, e.g. `template.params[1]`.
        key: String,
        error: ParamError,
    },
    #[error("{}: cannot resume: {detail}; the file changed since the position was saved", file.display())]
    Changed { file: PathBuf, detail: String },
    #[error("{}", refused_message(summary))]
    Refused { summary: Box<AudienceSummary> },
}

fn refused_message(s: &AudienceSummary) -> String {
    format!(
        "{}: {} of {} rows ({:.1}%) have bad data, over max_bad_share {:.1}%: audience refused",
        s.file.display(),
        s.bad_rows(),
        s.rows,
        s.bad_share() * 100.0,
        s.max_bad_share * 100.0
    )
}

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

/// Column positions in this file's header.
#[derive(Debug, Clone)]
struct Columns {
    name: Option<usize>,
    ddi: Option<usize>,
    phone: usize,
    opt_in: usize,
}

/// Streams an audience file row by row.
pub struct AudienceReader {
    file: PathBuf,
    csv: RecordReader<File>,
    encoding: TextEncoding,
    data_start: RecordPosition,
    columns: Columns,
    params: Vec<BoundParam>,
    default_ddi: String,
    cleanup: ParamCleanup,
    hasher: ContactHasher,
    seen: SeenFilter,
    raw: RawRecord,
    record: TextRecord,
    rows: u64,
    /// Sendable rows whose number the normaliser completed (an old mobile given its 9th digit).
    normalised: u64,
    error: Option<AudienceError>,
    done: bool,
}

impl fmt::Debug for AudienceReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudienceReader")
            .field("file", &self.file)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl AudienceReader {
    /// Opens the CSV, reads its header and binds the template parameters to it.
    pub fn open(
        spec: &AudienceSpec,
        params: &[ParamTemplate],
        hasher: &ContactHasher,
    ) -> Result<Self, AudienceError> {
        let file = spec.file.clone();
        let open_err = |source| AudienceError::Open {
            file: file.clone(),
            source,
        };
        let delimiter = sniff_delimiter(&file).map_err(open_err)?;
        let encoding = resolve(
            spec.encoding,
            BufReader::new(File::open(&file).map_err(open_err)?),
        )
        .map_err(open_err)?;
        let mut csv = RecordReader::new(File::open(&file).map_err(open_err)?, delimiter);
        let mut raw = RawRecord::default();
        let mut record = TextRecord::default();
        let read_err = |line, message: String| AudienceError::Read {
            file: file.clone(),
            line,
            message,
        };
        if !csv.read(&mut raw).map_err(|e| read_err(1, e.to_string()))? {
            return Err(read_err(
                1,
                "the file is empty, expected a header row".into(),
            ));
        }
        if !raw.decode_into(encoding, &mut record) {
            return Err(read_err(
                raw.line,
                "the header is not valid UTF-8; set audience.encoding = \"windows-1252\" or \"auto\""
                    .into(),
            ));
        }
        let header: Vec<String> = record.iter().map(|h| h.trim().to_string()).collect();
        let data_start = csv.position();
        let cols = &spec.columns;
        let required = |column: &str, key: &'static str| {
            header_index(&header, column).ok_or_else(|| AudienceError::MissingColumn {
                file: file.clone(),
                column: column.to_string(),
                key,
                header: header.join(", "),
            })
        };
        let columns = Columns {
            phone: required(&cols.phone, "phone")?,
            opt_in: required(&cols.opt_in, "opt_in")?,
            name: header_index(&header, &cols.name),
            ddi: header_index(&header, &cols.ddi),
        };
        let params = params
            .iter()
            .enumerate()
            .map(|(index, p)| {
                p.bind(&header).map_err(|error| AudienceError::Param {
                    file: file.clone(),
                    key: match p.key() {
                        "" => format!("template.params[{index}]"),
                        key => key.to_string(),
                    },
                    error,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            file,
            csv,
            encoding,
            data_start,
            columns,
            params,
            default_ddi: spec.default_ddi.clone(),
            cleanup: spec.param_cleanup,
            hasher: hasher.clone(),
            seen: SeenFilter::new(),
            raw,
            record,
            rows: 0,
            normalised: 0,
            error: None,
            done: false,
        })
    }

    pub fn position(&self) -> AudiencePosition {
        let p = self.csv.position();
        AudiencePosition {
            rows: self.rows,
            byte: p.byte,
            fingerprint: Some(p.fingerprint),
        }
    }

    /// The encoding the file is read in (detected or as set).
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// Resumes at a saved position. Re-reads the rows before it (to rebuild the duplicate filter)
    /// and refuses if the file no longer matches: a changed file is a new run, not a resume.
    pub fn seek(&mut self, pos: &AudiencePosition) -> Result<(), AudienceError> {
        self.csv
            .seek(self.data_start)
            .map_err(|e| AudienceError::Read {
                file: self.file.clone(),
                line: self.data_start.line,
                message: e.to_string(),
            })?;
        self.seen = SeenFilter::new();
        self.rows = 0;
        self.normalised = 0;
        self.done = false;
        self.error = None;
        while self.rows < pos.rows {
            if self.next().is_none() {
                if let Some(e) = self.error.take() {
                    return Err(e);
                }
                return Err(AudienceError::Changed {
                    file: self.file.clone(),
                    detail: format!(
                        "it has {} rows, the position is at row {}",
                        self.rows, pos.rows
                    ),
                });
            }
        }
        let here = self.csv.position();
        if here.byte != pos.byte {
            return Err(AudienceError::Changed {
                file: self.file.clone(),
                detail: format!(
                    "row {} ends at byte {}, not {}",
                    pos.rows, here.byte, pos.byte
                ),
            });
        }
        if pos.fingerprint.is_some_and(|f| f != here.fingerprint) {
            return Err(AudienceError::Changed {
                file: self.file.clone(),
                detail: format!("the first {} rows are not the ones read before", pos.rows),
            });
        }
        Ok(())
    }

    /// Sendable rows read so far whose number was written the old way (a Brazilian mobile without
    /// its 9th digit) and is sent in today's form.
    pub fn normalised(&self) -> u64 {
        self.normalised
    }

    /// The I/O error that ended iteration early, if any: the rows after it were not seen.
    pub fn take_error(&mut self) -> Option<AudienceError> {
        self.error.take()
    }

    fn row(&mut self, line: u64) -> Result<AudienceRow, RowSkip> {
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

impl Iterator for AudienceReader {
    type Item = Result<AudienceRow, RowSkip>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.csv.read(&mut self.raw) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                self.rows += 1;
                let line = self.raw.line;
                if !self.raw.decode_into(self.encoding, &mut self.record) {
                    return Some(Err(RowSkip {
                        line,
                        reason: SkipReason::MalformedRow,
                        detail: "row is not valid UTF-8; set audience.encoding = \"auto\" or \"windows-1252\" for an Excel export".into(),
                    }));
                }
                Some(self.row(line))
            }
            Err(e) => {
                self.error = Some(AudienceError::Read {
                    file: self.file.clone(),
                    line: self.csv.position().line,
                    message: e.to_string(),
                });
                self.done = true;
                None
            }
        }
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

/// `;` when the header line has more semicolons than commas (Excel in pt-BR), else `,`.
fn sniff_delimiter(path: &Path) -> std::io::Result<u8> {
    let mut first = Vec::new();
    // A header is never longer than 64 KiB; do not read a newline-free file whole.
    BufReader::new(File::open(path)?)
        .take(64 * 1024)
        .read_until(b'\n', &mut first)?;
    let count = |b: u8| first.iter().filter(|&&c| c == b).count();
    Ok(if count(b';') > count(b',') {
        b';'
    } else {
        b','
    })
}

/// Exact set of 64-bit contact fingerprints, bucketed by their top 16 bits, each bucket sorted.
struct SeenFilter {
    buckets: Vec<Vec<u64>>,
}

impl SeenFilter {
    fn new() -> Self {
        Self {
            buckets: vec![Vec::new(); 1 << 16],
        }
    }

    /// False when the fingerprint was already present.
    fn insert(&mut self, key: ContactKey) -> bool {
        // Both halves folded: the key is a keyed hash, so any 64 bits of it are uniform.
        let fp = (key.0 as u64) ^ ((key.0 >> 64) as u64);
        let bucket = &mut self.buckets[(fp >> 48) as usize];
        match bucket.binary_search(&fp) {
            Ok(_) => false,
            Err(at) => {
                bucket.insert(at, fp);
                true
            }
        }
    }
}
