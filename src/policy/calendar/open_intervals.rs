//! The merged open stretches of a calendar inside a range, expanded one local day at a time.
use chrono::{DateTime, NaiveDate, Utc};

use super::hours::Calendar;

/// Iterator over the merged open stretches of a calendar inside a range; see
/// [`Calendar::open_intervals_between`]. It expands one local day at a time.
#[derive(Debug, Clone)]
pub struct OpenIntervals<'a> {
    cal: &'a Calendar,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    /// The next local day to expand, and the instant it starts.
    day: Option<NaiveDate>,
    day_start: DateTime<Utc>,
    /// Merged stretches, sorted; those ending before `day_start` can grow no more.
    pending: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    done: bool,
}

impl<'a> OpenIntervals<'a> {
    pub(super) fn new(cal: &'a Calendar, lo: DateTime<Utc>, hi: DateTime<Utc>) -> Self {
        let mut it = OpenIntervals {
            cal,
            lo,
            hi,
            day: None,
            day_start: lo,
            pending: Vec::new(),
            done: lo >= hi,
        };
        if it.done {
            return it;
        }
        if cal.always_open {
            it.pending.push((lo, hi));
            it.done = true;
            return it;
        }
        // The day before `lo` may have an interval crossing midnight into it.
        match cal.first_day_reaching(cal.local_date(lo)) {
            Some(d) => {
                it.day = Some(d);
                it.day_start = cal.day_start(d);
            }
            None => it.done = true,
        }
        it
    }

    /// Expands the next local day into `pending`, or marks the iterator done.
    fn expand(&mut self) {
        let day = match self.day {
            Some(day) if self.day_start < self.hi => day,
            _ => {
                self.done = true;
                return;
            }
        };
        let before = self.pending.len();
        let pending = &mut self.pending;
        self.cal.for_each_piece(day, |s, e| pending.push((s, e)));
        if self.pending.len() != before {
            // Merge in place: a day's pieces may touch or overlap the previous day's tail.
            self.pending.sort_unstable_by_key(|&(s, _)| s);
            let mut kept = 0;
            for i in 1..self.pending.len() {
                let (s, e) = self.pending[i];
                if s <= self.pending[kept].1 {
                    self.pending[kept].1 = self.pending[kept].1.max(e);
                } else {
                    kept += 1;
                    self.pending[kept] = (s, e);
                }
            }
            self.pending.truncate(kept + 1);
        }
        self.day = day.succ_opt();
        match self.day {
            Some(next) => self.day_start = self.cal.day_start(next),
            None => self.done = true,
        }
    }
}

impl Iterator for OpenIntervals<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(&(s, e)) = self.pending.first() {
                // Later days only add pieces starting at or after `day_start`.
                if self.done || e < self.day_start {
                    self.pending.remove(0);
                    let (s, e) = (s.max(self.lo), e.min(self.hi));
                    if s < e {
                        return Some((s, e));
                    }
                    continue;
                }
            }
            if self.done {
                return None;
            }
            self.expand();
        }
    }
}
