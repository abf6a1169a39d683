//! The text encoding of an audience file: operators' CSVs come from two places, and they do not
//! agree on how to write `João`.
//!
//! - Excel in pt-BR saves "CSV (separado por vírgulas)" in Windows-1252 (one byte per letter,
//!   `ã` = 0xE3), and "CSV UTF-8" with a byte-order mark; CRMs and scripts write UTF-8 without one.
//! - `audience.encoding` says which: `"utf-8"`, `"windows-1252"`, or `"auto"` (the default):
//!   a file that is valid UTF-8 from end to end (with or without a BOM) is UTF-8, any other is
//!   Windows-1252. Every byte sequence is valid Windows-1252 (encoding_rs maps the five undefined
//!   bytes to C1 controls, as the WHATWG Encoding Standard does), so auto never fails.
//! - A UTF-8 BOM at the start of the file means UTF-8 whatever the setting (WHATWG's BOM sniffing),
//!   and it is never part of the first header name.
//!
//! Why a whole-file check and not one per row: the encoding is a property of the file, and a
//! per-row guess would read two rows of the same export two different ways. The check streams
//! (64 KiB at a time) and stops at the first byte that is not UTF-8, which in an Excel export is
//! usually the first accented name; only UTF-8 files are read to the end. Detection is rare
//! text's only blind spot: Windows-1252 text whose bytes happen to form valid UTF-8 (mojibake
//! like `Ã©`, never a real name) reads as UTF-8 under auto; set the encoding to be exact.
use std::borrow::Cow;
use std::io::{self, Read};

/// The UTF-8 byte-order mark Excel writes at the start of "CSV UTF-8" files.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `audience.encoding` as written in the campaign file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EncodingSetting {
    #[default]
    Auto,
    Utf8,
    Windows1252,
}

/// The encoding a file is read in, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Windows1252,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
        }
    }

    /// One cell's bytes as text. `None` only for UTF-8 that is not valid (a file declared UTF-8
    /// that is not, or one that changed after detection).
    pub fn decode(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        match self {
            Self::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            Self::Windows1252 => Some(
                encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(bytes)
                    .0,
            ),
        }
    }
}

impl std::fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides the encoding of the text `input` holds, reading it as far as needed.
pub fn resolve(setting: EncodingSetting, mut input: impl Read) -> io::Result<TextEncoding> {
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if head[..got] == *UTF8_BOM {
        return Ok(TextEncoding::Utf8);
    }
    match setting {
        EncodingSetting::Utf8 => Ok(TextEncoding::Utf8),
        EncodingSetting::Windows1252 => Ok(TextEncoding::Windows1252),
        EncodingSetting::Auto => {
            let rest = io::Cursor::new(head[..got].to_vec()).chain(input);
            Ok(if is_utf8(rest)? {
                TextEncoding::Utf8
            } else {
                TextEncoding::Windows1252
            })
        }
    }
}

/// Whether everything `input` holds is valid UTF-8, in constant memory: a character split
/// across two reads is carried over (at most 3 bytes), the first invalid one ends the read.
fn is_utf8(mut input: impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0;
    loop {
        let n = match input.read(&mut buf[carry..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An invalid sequence, or a truncated one at the very end of the input.
            Err(e) if e.error_len().is_some() || n == 0 => return Ok(false),
            Err(e) => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn auto(bytes: &[u8]) -> TextEncoding {
        resolve(EncodingSetting::Auto, bytes).unwrap()
    }

    #[test]
    fn excel_pt_br_bytes_are_windows_1252_and_read_as_written() {
        let bytes = b"Jo\xE3o Ara\xFAjo";
        assert_eq!(auto(bytes), TextEncoding::Windows1252);
        assert_eq!(
            TextEncoding::Windows1252.decode(bytes).as_deref(),
            Some("João Araújo")
        );
    }

    #[test]
    fn utf8_with_or_without_bom_is_utf8_whatever_the_setting_says_for_the_bom() {
        assert_eq!(auto("João".as_bytes()), TextEncoding::Utf8);
        assert_eq!(auto(b"\xEF\xBB\xBFJo\xC3\xA3o"), TextEncoding::Utf8);
        let bom_file: &[u8] = b"\xEF\xBB\xBFname";
        assert_eq!(
            resolve(EncodingSetting::Windows1252, bom_file).unwrap(),
            TextEncoding::Utf8
        );
        assert_eq!(
            resolve(EncodingSetting::Windows1252, "João".as_bytes()).unwrap(),
            TextEncoding::Windows1252
        );
    }

    #[test]
    fn a_declared_utf8_file_that_is_not_gives_no_text() {
        assert_eq!(TextEncoding::Utf8.decode(b"Jo\xE3o"), None);
    }

    #[test]
    fn a_character_split_across_reads_is_still_utf8() {
        // 64 KiB of ASCII then `ã`, so the two bytes of `ã` straddle the first read.
        let mut text = "a".repeat(64 * 1024 - 1);
        text.push_str("ãé");
        assert_eq!(auto(text.as_bytes()), TextEncoding::Utf8);
        let mut cut = text.into_bytes();
        cut.pop();
        assert_eq!(
            auto(&cut),
            TextEncoding::Windows1252,
            "truncated at the end"
        );
    }

    fn cp1252_text() -> impl Strategy<Value = String> {
        // Every character Windows-1252 can write: ASCII, the 0x80-0x9F punctuation (€, “, ”, –,
        // Š...) and Latin-1 letters.
        let chars: Vec<char> = (0u8..=255)
            .filter_map(|b| {
                let byte = [b];
                let s = encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(&byte)
                    .0;
                s.chars().next()
            })
            .filter(|c| !c.is_control())
            .collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..40)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn any_cp1252_text_round_trips_through_a_windows_1252_file(text in cp1252_text()) {
            let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
            prop_assert!(!unmappable);
            let enc = resolve(EncodingSetting::Windows1252, &bytes[..]).unwrap();
            let read = enc.decode(&bytes).map(|t| t.into_owned());
            prop_assert_eq!(read, Some(text.clone()));
            // Auto finds the same text unless the bytes are themselves valid UTF-8 (then the
            // text is ASCII, or mojibake like `Ã©`).
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert_eq!(auto(&bytes), TextEncoding::Windows1252);
            } else {
                prop_assert_eq!(auto(&bytes), TextEncoding::Utf8);
            }
        }

        #[test]
        fn any_text_round_trips_through_utf8_with_or_without_bom(text in any::<String>(), bom: bool) {
            let mut bytes = if bom { UTF8_BOM.to_vec() } else { Vec::new() };
            bytes.extend_from_slice(text.as_bytes());
            prop_assert_eq!(auto(&bytes), TextEncoding::Utf8);
            let body = bytes.strip_prefix(UTF8_BOM).filter(|_| bom).unwrap_or(&bytes);
            let read = TextEncoding::Utf8.decode(body).map(|t| t.into_owned());
            prop_assert_eq!(read, Some(text));
        }
    }
}
