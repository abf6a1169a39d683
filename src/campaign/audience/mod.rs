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
//! Duplicates inside one file are caught here too (guarantee 4 needs it before the ledger, and
//! operators want them counted), by the filter in `seen.rs`; across restarts the reader rebuilds
//! it by re-reading up to the saved position ([`AudienceReader::seek`]).
//!
//! Here: the reader, its position and errors. `row.rs` checks one row and says why it is
//! skipped; `summary.rs` counts a whole pass (`tierpace check`, the `max_bad_share` refusal).
mod row;
mod seen;
mod summary;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::csv_records::{RawRecord, RecordPosition, RecordReader, TextRecord};
use super::file::AudienceSpec;
use super::file::ParamCleanup;
use super::params::{header_index, BoundParam, ParamError, ParamTemplate};
use super::text_encoding::{resolve, TextEncoding};
use crate::contact::ContactHasher;
pub use row::{AudienceRow, RowSkip, SkipReason};
use seen::SeenFilter;
pub use summary::{scan_audience, scan_audience_with, AudienceSummary, SkipTally};

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
