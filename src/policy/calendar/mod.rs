//! Business hours: a named calendar of open intervals in a time zone (the operator's "horário
//! padrão", DOMAIN.md §6), answering in instants (UTC) for the pacer and the dispatcher.
//!
//! Guarantee 2 of DESIGN.md (never outside business hours) rests on this file, so its semantics
//! are spelled out here and checked by `tests/calendar_props.rs` against a minute-walking model:
//!
//! * Each local date has a list of open [`Span`]s, in minutes from that date's local midnight. An
//!   interval that crosses midnight (`22:00-02:00`) belongs to the day it starts: its span runs
//!   past 1440. The spans of a date come from, in order of precedence: an exception for that date
//!   (taken literally), a holiday (closed), the weekday's hours minus the breaks.
//! * A local time that does not exist (spring forward) is skipped: a span boundary inside the gap
//!   moves to the first local time after it. A local time that happens twice (fall back) is open
//!   once, during its first occurrence: the repeated stretch is closed on its second pass. So the
//!   real length of an interval is always its wall-clock length minus any skipped time.
//!
//! Everything is computed per local day from the spans, with three or four time-zone look-ups
//! per day (more only on a day the offset changes): no minute scanning, so `open_seconds` over
//! a month costs microseconds. The code assumes a zone changes its offset at most once within
//! any 48 hours, which holds for every zone in the tz database in modern times. Queries look
//! at most [`HORIZON_DAYS`] ahead; a calendar that stays closed (or open) beyond that is reported
//! as never opening (or never closing).
//!
//! What lives here:
//! - [`span`]: [`Span`], one open stretch of a local day, and how a day's stretches are merged;
//! - [`hours`]: [`Calendar`] itself: its rules (weekday hours, breaks, holidays, exceptions),
//!   the spans each local date opens, and where they fall in UTC;
//! - [`zone`]: local wall-clock time to UTC across offset changes (gaps and repeats);
//! - [`open_intervals`]: [`OpenIntervals`], the open stretches of a range, one day at a time;
//! - [`queries`]: the questions asked in instants (`is_open`, `next_open`, `open_seconds`, ...).
//!
//! Built from config by [`super::calendar_config`]; holidays from [`super::holidays`].
mod hours;
mod open_intervals;
mod queries;
mod span;
mod zone;

pub use hours::{Calendar, ALWAYS};
pub use open_intervals::OpenIntervals;
pub use queries::HORIZON_DAYS;
pub use span::{Span, MINUTES_PER_DAY};

#[cfg(test)]
mod tests;
