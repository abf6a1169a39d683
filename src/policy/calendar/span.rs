//! A local day's open stretch, in minutes from that day's local midnight, and how a day's
//! stretches are kept: sorted, merged, never past the end of the next day.

/// Minutes in a wall-clock day.
pub const MINUTES_PER_DAY: u16 = 1440;

/// An open stretch of one local day, in minutes since that day's local midnight.
///
/// `start < end`, `start < 1440` and `end <= 2880`: an end past 1440 is the part of an interval
/// that crosses midnight, which still belongs to the day it started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: u16,
    pub end: u16,
}

/// Sorts spans and merges touching or overlapping ones; drops empty ones. Nothing may run past
/// the end of the next day: `is_open` only looks one day back.
pub(super) fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    for s in &mut spans {
        s.end = s.end.min(2 * MINUTES_PER_DAY);
    }
    spans.retain(|s| s.start < s.end);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}
