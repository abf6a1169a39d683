//! How a holiday set is written down: fixed-date rules (with the years they apply and how a law
//! moves them to another weekday) and rules at a fixed distance from Easter Sunday, and the
//! holidays they give in a year. The sets themselves are data ([`super::brazil`]).
use chrono::{Datelike, NaiveDate, Weekday};

use super::easter::easter_sunday;

/// One holiday of a set in a given year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

/// A fixed-date holiday: month, day, name, the years it applies (`since..=until`) and whether a
/// law moves it to another day of the week.
#[derive(Clone, Copy)]
pub(super) struct FixedRule {
    month: u32,
    day: u32,
    name: &'static str,
    since: i32,
    until: i32,
    moved: Move,
    /// First year `moved` applies; before it the holiday falls on its date.
    moved_since: i32,
}

/// How a law moves a fixed-date holiday.
#[derive(Clone, Copy)]
pub(super) enum Move {
    /// Kept on its date.
    OnTheDay,
    /// A Tuesday, Wednesday or Thursday moves to that week's Friday (Acre, from 2009).
    TueWedThuToNextFriday,
    /// The first Sunday on or after the date (Santa Catarina; Pernambuco 2008-2017).
    FirstSundayOnOrAfter,
}

impl FixedRule {
    /// Every year, on its date.
    pub(super) const fn on(month: u32, day: u32, name: &'static str) -> FixedRule {
        FixedRule {
            month,
            day,
            name,
            since: i32::MIN,
            until: i32::MAX,
            moved: Move::OnTheDay,
            moved_since: i32::MIN,
        }
    }

    /// First year the holiday applies (the year of the law that created it).
    pub(super) const fn since(self, year: i32) -> FixedRule {
        FixedRule {
            since: year,
            ..self
        }
    }

    /// Last year the holiday applies (a later law abolished or replaced it).
    pub(super) const fn until(self, year: i32) -> FixedRule {
        FixedRule {
            until: year,
            ..self
        }
    }

    /// Moved by `moved` from `year` on.
    pub(super) const fn moved(self, moved: Move, year: i32) -> FixedRule {
        FixedRule {
            moved,
            moved_since: year,
            ..self
        }
    }

    /// The day it falls on in `year`, if it applies that year.
    fn date_in(&self, year: i32) -> Option<NaiveDate> {
        if year < self.since || year > self.until {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(year, self.month, self.day)?;
        let moved = if year >= self.moved_since {
            self.moved
        } else {
            Move::OnTheDay
        };
        let weekday = date.weekday();
        let shift = match moved {
            Move::OnTheDay => 0,
            Move::TueWedThuToNextFriday => match weekday {
                Weekday::Tue | Weekday::Wed | Weekday::Thu => {
                    4 - i64::from(weekday.num_days_from_monday())
                }
                _ => 0,
            },
            Move::FirstSundayOnOrAfter => (7 - i64::from(weekday.num_days_from_sunday())) % 7,
        };
        date.checked_add_signed(chrono::Duration::days(shift))
    }
}

/// A holiday a fixed number of days from Easter Sunday (negative: before it).
pub(super) struct EasterRule {
    pub(super) offset_days: i64,
    pub(super) name: &'static str,
    /// First year it applies.
    pub(super) since: i32,
}

/// The data of one holiday set.
pub(super) struct SetRules {
    pub(super) fixed: &'static [FixedRule],
    pub(super) easter: &'static [EasterRule],
    /// Sets whose holidays this one also has (a state's sets include the national one).
    pub(super) includes: &'static [&'static SetRules],
}

impl SetRules {
    pub(super) fn contains(&self, date: NaiveDate) -> bool {
        let mut own = Vec::new();
        self.collect(date.year(), &mut own);
        own.iter().any(|h| h.date == date)
    }

    pub(super) fn collect(&self, year: i32, out: &mut Vec<Holiday>) {
        for r in self.includes {
            r.collect(year, out);
        }
        out.extend(
            self.fixed
                .iter()
                .filter_map(|r| r.date_in(year).map(|date| Holiday { date, name: r.name })),
        );
        if let Some(easter) = easter_sunday(year) {
            out.extend(
                self.easter
                    .iter()
                    .filter(|r| year >= r.since)
                    .filter_map(|r| {
                        easter
                            .checked_add_signed(chrono::Duration::days(r.offset_days))
                            .map(|date| Holiday { date, name: r.name })
                    }),
            );
        }
    }
}
