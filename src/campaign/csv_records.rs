//! CSV records with the file's own line numbers, for an audience reader that must name the line
//! an operator sees in their editor.
//!
//! The `csv` crate's reader stamps each record with the position where it *started looking* for
//! it, which is before the `\n` of the previous row's CRLF and before any blank lines: on Excel's
//! CRLF files every row came out one line too early. So this drives the same parser (`csv-core`,
//! what `csv` is built on) with its own buffer: it consumes the line ends and blank lines between
//! records itself, counting each `\n`, then counts the `\n` inside the record (a quoted cell may
//! span lines). A record's line is where its first byte is.
//!
//! Records stay bytes here: cells are decoded to text by the caller, in the file's
//! [`super::text_encoding::TextEncoding`]. `,`, `;`, `"`, `\r` and `\n` are the same byte in
//! UTF-8 and Windows-1252, so splitting before decoding is correct for both.
//!
//! Byte offsets are the ones `csv` reported (the parser consumes exactly the same bytes), so a
//! cursor saved by an older build still resumes.
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use super::text_encoding::TextEncoding;

/// Where a reader stands: the byte offset of the next record, the line that byte is on, and a
/// fingerprint of every byte before it (FNV-1a, 64 bits), so a resume can tell that the part of
/// the file already read is still the same (issue 16 §3: an audience edited under its run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPosition {
    pub byte: u64,
    pub line: u64,
    pub fingerprint: u64,
}

impl RecordPosition {
    pub const START: Self = Self {
        byte: 0,
        line: 1,
        fingerprint: FNV_OFFSET,
    };

    /// Moves past `bytes` (the next bytes of the file).
    fn advance(&mut self, bytes: &[u8]) {
        self.byte += bytes.len() as u64;
        self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        self.fingerprint = fnv1a(self.fingerprint, bytes);
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `h`: a fingerprint, not a defence against a forger (an
/// operator's editor is not an adversary), and its state is one `u64`, so a position can carry it.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One record's cells, as bytes.
#[derive(Debug, Default, Clone)]
pub struct RawRecord {
    /// The line of the record's first byte (1-based).
    pub line: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
    len: usize,
}

impl RawRecord {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.bytes[start..self.ends[i]])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len).filter_map(|i| self.get(i))
    }

    /// Decodes every cell into `out` (reusing its buffers); false when the bytes are not text in
    /// `encoding` (only possible for UTF-8).
    pub fn decode_into(&self, encoding: TextEncoding, out: &mut TextRecord) -> bool {
        out.text.clear();
        out.ends.clear();
        let used = if self.len == 0 {
            0
        } else {
            self.ends[self.len - 1]
        };
        // An ASCII row is the same text in both encodings: no per-cell decoding.
        let encoding = if self.bytes[..used].is_ascii() {
            TextEncoding::Utf8
        } else {
            encoding
        };
        match encoding {
            // One validation for the whole row; the cell boundaries stay where they were.
            TextEncoding::Utf8 => match std::str::from_utf8(&self.bytes[..used]) {
                // A cell cut inside a character (bytes valid only once joined) is not text.
                Ok(text)
                    if self.ends[..self.len]
                        .iter()
                        .all(|&e| text.is_char_boundary(e)) =>
                {
                    out.text.push_str(text);
                    out.ends.extend_from_slice(&self.ends[..self.len]);
                }
                _ => return false,
            },
            TextEncoding::Windows1252 => {
                for cell in self.iter() {
                    match encoding.decode(cell) {
                        Some(text) => out.text.push_str(&text),
                        None => return false,
                    }
                    out.ends.push(out.text.len());
                }
            }
        }
        true
    }
}

/// One record's cells as UTF-8 text.
#[derive(Debug, Default, Clone)]
pub struct TextRecord {
    text: String,
    ends: Vec<usize>,
}

impl TextRecord {
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).filter_map(|i| self.get(i))
    }
}

/// Reads CSV records one at a time from a byte stream.
pub struct RecordReader<R> {
    core: csv_core::Reader,
    input: BufReader<R>,
    pos: RecordPosition,
    eof: bool,
}

impl<R: Read> RecordReader<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        Self {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            input: BufReader::with_capacity(64 * 1024, input),
            pos: RecordPosition::START,
            eof: false,
        }
    }

    /// The position after the last record read.
    pub fn position(&self) -> RecordPosition {
        self.pos
    }

    /// Reads the next record into `rec`; false at the end of the input.
    pub fn read(&mut self, rec: &mut RawRecord) -> io::Result<bool> {
        rec.len = 0;
        if self.eof {
            return Ok(false);
        }
        // Line ends left over from the previous record, and blank lines, are not records (the
        // parser would skip them too, without telling where the record then starts).
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let skip = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            // Only a buffer of nothing but line ends (a long run of blank lines) goes round again.
            let whole = skip == buf.len();
            self.pos.advance(&buf[..skip]);
            self.input.consume(skip);
            if !whole {
                break;
            }
        }
        rec.line = self.pos.line;
        if rec.bytes.is_empty() {
            rec.bytes.resize(1024, 0);
        }
        if rec.ends.is_empty() {
            rec.ends.resize(16, 0);
        }
        let (mut out, mut ends) = (0, 0);
        loop {
            let input = self.input.fill_buf()?;
            let (res, nin, nout, nend) =
                self.core
                    .read_record(input, &mut rec.bytes[out..], &mut rec.ends[ends..]);
            // Lines inside the record (quoted cells), and the `\n` ending it when it is LF.
            self.pos.advance(&input[..nin]);
            self.input.consume(nin);
            // csv-core keeps `ends` relative to the record's start across calls.
            out += nout;
            ends += nend;
            match res {
                csv_core::ReadRecordResult::InputEmpty => continue,
                csv_core::ReadRecordResult::OutputFull => {
                    let grown = rec.bytes.len() * 2;
                    rec.bytes.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = rec.ends.len() * 2;
                    rec.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    rec.len = ends;
                    return Ok(true);
                }
                csv_core::ReadRecordResult::End => {
                    self.eof = true;
                    return Ok(false);
                }
            }
        }
    }
}

impl<R: Read + Seek> RecordReader<R> {
    /// Moves to a position this reader reported earlier (or [`RecordPosition::START`]).
    pub fn seek(&mut self, to: RecordPosition) -> io::Result<()> {
        self.input.seek(SeekFrom::Start(to.byte))?;
        self.core.reset();
        self.pos = to;
        self.eof = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8]) -> Vec<(u64, Vec<String>)> {
        let mut r = RecordReader::new(text, b';');
        let mut rec = RawRecord::default();
        let mut out = Vec::new();
        while r.read(&mut rec).unwrap() {
            let cells = rec
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            out.push((rec.line, cells));
        }
        out
    }

    #[test]
    fn crlf_rows_are_on_their_own_lines() {
        let got = lines(b"a;b\r\n1;2\r\n3;4\r\n");
        let at: Vec<u64> = got.iter().map(|(l, _)| *l).collect();
        assert_eq!(at, [1, 2, 3]);
        assert_eq!(got[2].1, ["3", "4"]);
    }

    #[test]
    fn blank_lines_and_quoted_cells_spanning_lines_count() {
        let got = lines(b"a;b\n\n\"x\ny\";1\r\n\r\nlast;2");
        assert_eq!(got[1], (3, vec!["x\ny".to_string(), "1".to_string()]));
        assert_eq!(got[2], (6, vec!["last".to_string(), "2".to_string()]));
    }

    #[test]
    fn a_bom_is_not_part_of_the_first_cell_nor_a_line() {
        let got = lines(b"\xEF\xBB\xBFname;x\r\nA;1\r\n");
        assert_eq!(got[0], (1, vec!["name".to_string(), "x".to_string()]));
        assert_eq!(got[1].0, 2);
    }

    #[test]
    fn long_records_grow_their_buffers() {
        let cell = "x".repeat(5000);
        let row: Vec<&str> = vec![cell.as_str(); 40];
        let text = format!("h\n{}\n", row.join(";"));
        let got = lines(text.as_bytes());
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.len(), 40);
        assert!(got[1].1.iter().all(|c| c == &cell));
    }

    #[test]
    fn seeking_back_reads_the_same_records_with_the_same_lines() {
        let text = b"h\r\n1\r\n\"2\r\n2\"\r\n3\r\n".to_vec();
        let mut r = RecordReader::new(io::Cursor::new(text), b',');
        let mut rec = RawRecord::default();
        r.read(&mut rec).unwrap();
        let data = r.position();
        let mut first = Vec::new();
        while r.read(&mut rec).unwrap() {
            first.push((rec.line, rec.get(0).unwrap().to_vec()));
        }
        r.seek(data).unwrap();
        let mut again = Vec::new();
        while r.read(&mut rec).unwrap() {
            again.push((rec.line, rec.get(0).unwrap().to_vec()));
        }
        assert_eq!(first, again);
        assert_eq!(first.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [2, 3, 5]);
    }
}
