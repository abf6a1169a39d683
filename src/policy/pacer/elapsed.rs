//! The time a tick pays for. Spreads pay in arrears for the *open* time elapsed since the
//! previous tick, so breaks and nights accrue nothing and the first tick of a day pays nothing;
//! asap pays for the wall time elapsed. A gap longer than `catch_up` (an outage) is paid as
//! `catch_up`.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};

/// What the previous tick left to measure the next one from.
#[derive(Debug, Clone, Default)]
pub(super) struct Elapsed {
    last_tick: Option<DateTime<Utc>>,
    /// Exact open seconds left today at the previous tick (spreads pay for the open time since).
    last_open_left: Option<f64>,
}

impl Elapsed {
    /// A new local day: its first tick pays no open time (the wall clock runs on).
    pub(super) fn new_day(&mut self) {
        self.last_open_left = None;
    }

    /// The open time left at the previous tick of this day, and the open time elapsed since then
    /// (at most `catch_up`; zero on the first tick of a day). Open time, not wall time: a break
    /// or the night does not accrue anything.
    pub(super) fn open(&mut self, open_left: f64, catch_up: StdDuration) -> (f64, f64) {
        let before = self.last_open_left.unwrap_or(open_left);
        self.last_open_left = Some(open_left);
        let elapsed = (before - open_left).clamp(0.0, catch_up.as_secs_f64());
        (before, elapsed)
    }

    /// Wall seconds since the previous tick, at most `catch_up`; zero on the first tick.
    pub(super) fn wall(&mut self, now: DateTime<Utc>, catch_up: StdDuration) -> f64 {
        let elapsed = self.last_tick.map_or(0.0, |last| {
            let nanos = (now - last).num_nanoseconds().unwrap_or(i64::MAX);
            (nanos as f64 / 1e9).clamp(0.0, catch_up.as_secs_f64())
        });
        self.last_tick = Some(self.last_tick.map_or(now, |last| last.max(now)));
        elapsed
    }
}

/// The open time left today to the nanosecond. The calendar rounds it down to whole seconds and
/// its open stretches begin and end on whole seconds (hours are `HH:MM`, zone offsets whole
/// seconds), so while open the missing fraction is the rest of the current second (and while
/// closed there is none). Without it ticks that do not fall on whole seconds would be paid
/// unevenly, up to twice their share in the last seconds of a day.
pub(super) fn open_seconds_left_exact(now: DateTime<Utc>, whole: i64, open_now: bool) -> f64 {
    if whole < 0 || (whole == 0 && !open_now) {
        return 0.0;
    }
    if !open_now {
        return whole as f64;
    }
    // Leap seconds show as nanos >= 1e9; they count as the end of the second.
    let nanos = now.timestamp_subsec_nanos().min(999_999_999);
    let rest = if nanos == 0 {
        0.0
    } else {
        f64::from(1_000_000_000 - nanos) / 1e9
    };
    whole as f64 + rest
}
