//! Scrubbing secret values out of log lines, the last step before a line is written.
//!
//! Secrets should never be logged in the first place (they live in `secret::Secret`, which prints
//! `<redacted>`), but one careless `{:?}` of a request, an error text that quotes a header, or a
//! dependency at trace level is enough to put an API key in the journal, where every admin
//! can read it for months (DESIGN.md §2, guarantee 7). So the writer behind the subscriber
//! replaces every registered value, raw and in the escaped forms JSON and `Debug` give it, by
//! `[redacted]`. The formatter hands over one whole event per write, so a value is never split
//! across two writes where neither half would match.
use std::io::{self, Write};
use std::sync::{Arc, RwLock};

use tracing_subscriber::fmt::MakeWriter;

/// The shortest value [`super::redact_secret`] scrubs: shorter ones would mangle ordinary words
/// and protect nothing.
pub const MIN_SECRET_LEN: usize = 6;

/// What a scrubbed secret is replaced with.
const REDACTED: &str = "[redacted]";

/// The secret values to scrub, as the byte patterns they take in a log line.
#[derive(Debug, Default)]
pub(super) struct Secrets {
    patterns: RwLock<Vec<String>>,
}

impl Secrets {
    pub(super) fn add(&self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN {
            return;
        }
        // The raw value, and the escaped forms it takes inside JSON strings and `{:?}` output
        // (a key with a quote or backslash would otherwise slip through in JSON mode).
        let json = serde_json::to_string(secret).unwrap_or_default();
        let debug = format!("{secret:?}");
        let forms = [
            secret,
            json.trim_matches('"'),
            debug.trim_start_matches('"').trim_end_matches('"'),
        ];
        let mut patterns = self.patterns.write().unwrap_or_else(|p| p.into_inner());
        for form in forms {
            if form.len() >= MIN_SECRET_LEN && !patterns.iter().any(|p| p == form) {
                patterns.push(form.to_string());
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    }

    /// `line` with every secret replaced, or None when it holds none (the common case: no copy).
    pub(super) fn scrub(&self, line: &[u8]) -> Option<Vec<u8>> {
        let patterns = self.patterns.read().unwrap_or_else(|p| p.into_inner());
        if patterns.is_empty() {
            return None;
        }
        // The formatter writes UTF-8; `str::find` is much faster than a byte-by-byte scan.
        let Ok(text) = std::str::from_utf8(line) else {
            return scrub_bytes(line, &patterns);
        };
        if !patterns.iter().any(|p| text.contains(p.as_str())) {
            return None;
        }
        let mut out = text.to_string();
        for pattern in patterns.iter() {
            if out.contains(pattern.as_str()) {
                out = out.replace(pattern.as_str(), REDACTED);
            }
        }
        Some(out.into_bytes())
    }
}

/// [`Secrets::scrub`] for a line that is not UTF-8 (never written by the formatter, but a
/// writer must not pass anything through unchecked).
fn scrub_bytes(line: &[u8], patterns: &[String]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied_up_to = 0;
    let mut i = 0;
    while i < line.len() {
        match patterns
            .iter()
            .find(|p| line[i..].starts_with(p.as_bytes()))
        {
            Some(pattern) => {
                let buf = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
                buf.extend_from_slice(&line[copied_up_to..i]);
                buf.extend_from_slice(REDACTED.as_bytes());
                i += pattern.len();
                copied_up_to = i;
            }
            None => i += 1,
        }
    }
    if let Some(buf) = out.as_mut() {
        buf.extend_from_slice(&line[copied_up_to..]);
    }
    out
}

/// A [`MakeWriter`] whose writers scrub secrets before passing lines on.
pub(super) struct Redacting<M> {
    inner: M,
    secrets: Arc<Secrets>,
}

impl<M> Redacting<M> {
    pub(super) fn new(inner: M, secrets: Arc<Secrets>) -> Self {
        Self { inner, secrets }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<'a, M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            secrets: &self.secrets,
        }
    }
}

pub(super) struct RedactingWriter<'a, W> {
    inner: W,
    secrets: &'a Secrets,
}

impl<W: Write> Write for RedactingWriter<'_, W> {
    /// Takes the whole buffer every time (the formatter hands over one whole event per write),
    /// so a secret is never split across two calls where neither half would match.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.secrets.scrub(buf) {
            Some(scrubbed) => self.inner.write_all(&scrubbed)?,
            None => self.inner.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unregistered_text_passes_untouched() {
        let secrets = Secrets::default();
        assert_eq!(secrets.scrub(b"nothing registered"), None);
        secrets.add("abc"); // too short to be a secret
        secrets.add("topsecret");
        assert_eq!(secrets.scrub(b"a plain line"), None);
        assert_eq!(
            secrets
                .scrub(b"topsecret,topsecrettopsecret abc")
                .as_deref(),
            Some(&b"[redacted],[redacted][redacted] abc"[..])
        );
    }

    #[test]
    fn lines_that_are_not_utf8_are_scrubbed_too() {
        let secrets = Secrets::default();
        secrets.add("topsecret");
        assert_eq!(
            secrets.scrub(b"\xff topsecret \xfe").as_deref(),
            Some(&b"\xff [redacted] \xfe"[..])
        );
        assert_eq!(secrets.scrub(b"\xff plain"), None);
    }
}
