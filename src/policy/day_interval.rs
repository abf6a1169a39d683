//! One interval of a day as a calendar file writes it (`"08:00-12:00"`, in minutes since
//! midnight) and the arithmetic of breaks on a day's spans. `calendar_config` reads the
//! `[calendars]` tables through it; `calendar/` holds the spans it produces.
use super::calendar::{Span, MINUTES_PER_DAY};

/// Why a business-hours interval's text is not `HH:MM-HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    #[error("missing '-' between start and end")]
    NoDash,
    #[error("24:00 can only end an interval")]
    MidnightStart,
    #[error("\"{0}\" is not a time HH:MM")]
    NotATime(String),
    #[error("\"{0}\" is out of range (00:00 to 24:00)")]
    OutOfRange(String),
}

pub(super) fn parse_interval(text: &str) -> Result<(u16, u16), IntervalError> {
    let (start, end) = text.split_once('-').ok_or(IntervalError::NoDash)?;
    let start = parse_time(start.trim())?;
    let end = parse_time(end.trim())?;
    if start == MINUTES_PER_DAY {
        return Err(IntervalError::MidnightStart);
    }
    Ok((start, end))
}

/// `HH:MM` (hour 00-24, `24:00` only) into minutes since midnight.
fn parse_time(text: &str) -> Result<u16, IntervalError> {
    let bad = || IntervalError::NotATime(text.to_string());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(IntervalError::OutOfRange(text.to_string()));
    }
    Ok(h * 60 + m)
}

/// Whether a break cuts into any of the spans (at its own time, or on the after-midnight part
/// of an interval that crossed midnight).
pub(super) fn hits_any(b: Span, spans: &[Span]) -> bool {
    spans.iter().any(|s| {
        let shifted = (b.start + MINUTES_PER_DAY, b.end + MINUTES_PER_DAY);
        (b.start < s.end && s.start < b.end) || (shifted.0 < s.end && s.start < shifted.1)
    })
}

/// The spans minus the breaks. A break also applies to the after-midnight part of an interval
/// that crossed midnight, since that part still belongs to the same day.
pub(super) fn subtract(spans: Vec<Span>, breaks: &[Span]) -> Vec<Span> {
    let cuts: Vec<Span> = breaks
        .iter()
        .flat_map(|b| {
            [
                *b,
                Span {
                    start: b.start + MINUTES_PER_DAY,
                    end: b.end + MINUTES_PER_DAY,
                },
            ]
        })
        .collect();
    let mut out = spans;
    for cut in cuts {
        out = out
            .into_iter()
            .flat_map(|s| {
                let left = Span {
                    start: s.start,
                    end: s.end.min(cut.start),
                };
                let right = Span {
                    start: s.start.max(cut.end),
                    end: s.end,
                };
                [left, right].into_iter().filter(|p| p.start < p.end)
            })
            .collect();
    }
    out
}
