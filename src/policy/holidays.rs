//! Built-in holiday sets, computed for any year.
//!
//! A calendar may name sets in `holiday_sets = ["BR"]` instead of listing every date by hand
//! (DOMAIN.md §6: business hours are the operator's "horário padrão"; holidays are closed). Each
//! set is data: fixed-date holidays (with the first year they apply) and holidays at a fixed
//! distance from Easter Sunday. Adding a country is one more [`SetRules`] constant and one more
//! [`HolidaySet`] variant.
//!
//! State sets (`BR-SP`, `BR-RJ`, `BR-CE`) are a business in that state's capital: the national
//! set, the state's own holiday and the capital's municipal ones. Federal law (Lei 9.093/1995)
//! allows a state one holiday, its "data magna", and a municipality up to four religious ones
//! (Good Friday and, in these capitals, Corpus Christi among them, already in `BR`). Sources:
//! - SP: 9 July, Revolução Constitucionalista de 1932 (Lei estadual 9.497 of 5 March 1997;
//!   saopaulo.sp.gov.br, "Nove de Julho é feriado no Estado desde 1997"). São Paulo city: 25
//!   January, the city's anniversary (Exame, 2026-01-04, "Janeiro terá mais dois feriados").
//! - RJ: 23 April, São Jorge (Lei estadual 5.198 of 5 March 2008). Rio de Janeiro city: 20
//!   January, São Sebastião (Lei municipal 1.271/1988; Folha do Leste, 2026-01).
//! - CE: 25 March, Data Magna, the abolition of slavery in Ceará in 1884 (amendment to the state
//!   constitution of 6 December 2011; Diário do Nordeste, 2026-03-09). Fortaleza: 19 March, São
//!   José, and 15 August, Nossa Senhora da Assunção (Lei municipal 8.796 of 9 December 2003;
//!   same source). 19 March is not a state holiday (only "ponto facultativo" for the state).
//!
//! Other states and capitals are left out until their dates are sourced the same way.
//!
//! Dates are computed on demand (the Easter computation is a few integer operations), so a set
//! holds no table and never runs out of years.
use chrono::{Datelike, NaiveDate};

/// A built-in holiday set, named in config by [`HolidaySet::name`] (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HolidaySet {
    /// Brazil's national holidays (Lei 662/1949, Lei 6.802/1980, Lei 14.759/2023) plus the
    /// Easter-based days most businesses close: Carnaval Monday and Tuesday, Good Friday and
    /// Corpus Christi (officially "pontos facultativos", closed in practice).
    Br,
    /// `BR` + São Paulo state + São Paulo city (see the module doc for sources).
    BrSp,
    /// `BR` + Rio de Janeiro state + Rio de Janeiro city.
    BrRj,
    /// `BR` + Ceará state + Fortaleza.
    BrCe,
}

/// One holiday of a set in a given year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

/// A fixed-date holiday: month, day, name, first year it applies.
struct FixedRule {
    month: u32,
    day: u32,
    name: &'static str,
    since: i32,
}

/// A holiday a fixed number of days from Easter Sunday (negative: before it).
struct EasterRule {
    offset_days: i64,
    name: &'static str,
}

/// The data of one holiday set.
struct SetRules {
    fixed: &'static [FixedRule],
    easter: &'static [EasterRule],
    /// Sets whose holidays this one also has (a state's sets include the national one).
    includes: &'static [&'static SetRules],
}

const BR: SetRules = SetRules {
    fixed: &[
        FixedRule {
            month: 1,
            day: 1,
            name: "Confraternização Universal",
            since: i32::MIN,
        },
        FixedRule {
            month: 4,
            day: 21,
            name: "Tiradentes",
            since: i32::MIN,
        },
        FixedRule {
            month: 5,
            day: 1,
            name: "Dia do Trabalho",
            since: i32::MIN,
        },
        FixedRule {
            month: 9,
            day: 7,
            name: "Independência do Brasil",
            since: i32::MIN,
        },
        // Lei 6.802/1980.
        FixedRule {
            month: 10,
            day: 12,
            name: "Nossa Senhora Aparecida",
            since: 1980,
        },
        FixedRule {
            month: 11,
            day: 2,
            name: "Finados",
            since: i32::MIN,
        },
        FixedRule {
            month: 11,
            day: 15,
            name: "Proclamação da República",
            since: i32::MIN,
        },
        // Lei 14.759/2023 made it a national holiday from 2024 on.
        FixedRule {
            month: 11,
            day: 20,
            name: "Dia Nacional de Zumbi e da Consciência Negra",
            since: 2024,
        },
        FixedRule {
            month: 12,
            day: 25,
            name: "Natal",
            since: i32::MIN,
        },
    ],
    easter: &[
        EasterRule {
            offset_days: -48,
            name: "Carnaval (segunda-feira)",
        },
        EasterRule {
            offset_days: -47,
            name: "Carnaval (terça-feira)",
        },
        EasterRule {
            offset_days: -2,
            name: "Sexta-feira Santa",
        },
        EasterRule {
            offset_days: 60,
            name: "Corpus Christi",
        },
    ],
    includes: &[],
};

const BR_SP: SetRules = SetRules {
    fixed: &[
        FixedRule {
            month: 1,
            day: 25,
            name: "Aniversário da cidade de São Paulo",
            since: i32::MIN,
        },
        FixedRule {
            month: 7,
            day: 9,
            name: "Revolução Constitucionalista de 1932",
            since: 1997,
        },
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_RJ: SetRules = SetRules {
    fixed: &[
        FixedRule {
            month: 1,
            day: 20,
            name: "São Sebastião",
            since: 1988,
        },
        FixedRule {
            month: 4,
            day: 23,
            name: "São Jorge",
            since: 2008,
        },
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_CE: SetRules = SetRules {
    fixed: &[
        FixedRule {
            month: 3,
            day: 19,
            name: "São José",
            since: 2004,
        },
        FixedRule {
            month: 3,
            day: 25,
            name: "Data Magna do Ceará",
            since: 2012,
        },
        FixedRule {
            month: 8,
            day: 15,
            name: "Nossa Senhora da Assunção",
            since: 2004,
        },
    ],
    easter: &[],
    includes: &[&BR],
};

impl HolidaySet {
    /// Every built-in set, for error messages and docs.
    pub const ALL: &'static [HolidaySet] = &[
        HolidaySet::Br,
        HolidaySet::BrSp,
        HolidaySet::BrRj,
        HolidaySet::BrCe,
    ];

    /// The name used in config.
    pub fn name(self) -> &'static str {
        match self {
            HolidaySet::Br => "BR",
            HolidaySet::BrSp => "BR-SP",
            HolidaySet::BrRj => "BR-RJ",
            HolidaySet::BrCe => "BR-CE",
        }
    }

    /// Looks a set up by its config name, ignoring case (`"br"` is `BR`).
    pub fn from_name(name: &str) -> Option<HolidaySet> {
        Self::ALL
            .iter()
            .copied()
            .find(|set| set.name().eq_ignore_ascii_case(name.trim()))
    }

    fn rules(self) -> &'static SetRules {
        match self {
            HolidaySet::Br => &BR,
            HolidaySet::BrSp => &BR_SP,
            HolidaySet::BrRj => &BR_RJ,
            HolidaySet::BrCe => &BR_CE,
        }
    }

    /// Whether `date` is a holiday of this set.
    pub fn contains(self, date: NaiveDate) -> bool {
        self.rules().contains(date)
    }

    /// The holidays of this set in `year`, sorted by date.
    pub fn holidays_in(self, year: i32) -> Vec<Holiday> {
        let mut out = Vec::new();
        self.rules().collect(year, &mut out);
        out.sort_by_key(|h| h.date);
        out
    }
}

impl SetRules {
    fn contains(&self, date: NaiveDate) -> bool {
        if self.includes.iter().any(|r| r.contains(date)) {
            return true;
        }
        let rules = self;
        let year = date.year();
        let fixed = rules
            .fixed
            .iter()
            .any(|r| year >= r.since && date.month() == r.month && date.day() == r.day);
        if fixed {
            return true;
        }
        match easter_sunday(year) {
            Some(easter) => {
                let offset = date.signed_duration_since(easter).num_days();
                rules.easter.iter().any(|r| r.offset_days == offset)
            }
            None => false,
        }
    }

    fn collect(&self, year: i32, out: &mut Vec<Holiday>) {
        for r in self.includes {
            r.collect(year, out);
        }
        out.extend(
            self.fixed
                .iter()
                .filter(|r| year >= r.since)
                .filter_map(|r| {
                    NaiveDate::from_ymd_opt(year, r.month, r.day)
                        .map(|date| Holiday { date, name: r.name })
                }),
        );
        if let Some(easter) = easter_sunday(year) {
            out.extend(self.easter.iter().filter_map(|r| {
                easter
                    .checked_add_signed(chrono::Duration::days(r.offset_days))
                    .map(|date| Holiday { date, name: r.name })
            }));
        }
    }
}

/// Western (Gregorian) Easter Sunday of `year`, by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher). `None` before 1583, when the Gregorian rule did not exist yet.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    if year < 1583 {
        return None;
    }
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn easter_sundays_2024_to_2030() {
        let expected = [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2029, "2029-04-01"),
            (2030, "2030-04-21"),
        ];
        for (year, day) in expected {
            assert_eq!(easter_sunday(year), Some(date(day)), "Easter {year}");
        }
    }

    #[test]
    fn easter_is_always_a_sunday_between_march_22_and_april_25() {
        for year in 1583..3000 {
            let e = easter_sunday(year).unwrap();
            assert_eq!(e.weekday(), chrono::Weekday::Sun, "{year}");
            assert!(e >= NaiveDate::from_ymd_opt(year, 3, 22).unwrap(), "{year}");
            assert!(e <= NaiveDate::from_ymd_opt(year, 4, 25).unwrap(), "{year}");
        }
    }

    #[test]
    fn br_2026_has_carnaval_good_friday_and_corpus_christi_from_easter() {
        let br = HolidaySet::Br;
        // Easter 2026 is April 5.
        assert!(br.contains(date("2026-02-16")), "Carnaval Monday");
        assert!(br.contains(date("2026-02-17")), "Carnaval Tuesday");
        assert!(
            !br.contains(date("2026-02-18")),
            "Ash Wednesday is a working day"
        );
        assert!(br.contains(date("2026-04-03")), "Good Friday");
        assert!(br.contains(date("2026-06-04")), "Corpus Christi");
        assert!(
            !br.contains(date("2026-04-05")),
            "Easter Sunday itself is not listed"
        );
    }

    #[test]
    fn br_fixed_dates_and_consciencia_negra_from_2024() {
        let br = HolidaySet::Br;
        for d in [
            "2026-01-01",
            "2026-04-21",
            "2026-05-01",
            "2026-09-07",
            "2026-10-12",
            "2026-11-02",
            "2026-11-15",
            "2026-12-25",
        ] {
            assert!(br.contains(date(d)), "{d}");
        }
        assert!(br.contains(date("2024-11-20")));
        assert!(
            !br.contains(date("2023-11-20")),
            "national only since Lei 14.759/2023"
        );
        assert!(!br.contains(date("2026-12-24")));
    }

    #[test]
    fn holidays_in_lists_thirteen_days_sorted() {
        let list = HolidaySet::Br.holidays_in(2027);
        assert_eq!(list.len(), 13);
        assert!(list.windows(2).all(|w| w[0].date < w[1].date));
        assert!(list.iter().all(|h| HolidaySet::Br.contains(h.date)));
    }

    #[test]
    fn state_sets_add_the_state_and_capital_days_to_the_national_ones() {
        let cases = [
            (HolidaySet::BrSp, ["2026-07-09", "2026-01-25"].as_slice()),
            (HolidaySet::BrRj, ["2026-04-23", "2026-01-20"].as_slice()),
            (
                HolidaySet::BrCe,
                ["2026-03-25", "2026-03-19", "2026-08-15"].as_slice(),
            ),
        ];
        for (set, own) in cases {
            for d in own {
                assert!(set.contains(date(d)), "{} {d}", set.name());
                assert!(!HolidaySet::Br.contains(date(d)), "{d} is not national");
            }
            // The national days, Easter-based ones included.
            for d in ["2026-04-21", "2026-02-17", "2026-06-04", "2026-11-20"] {
                assert!(set.contains(date(d)), "{} {d}", set.name());
            }
            let list = set.holidays_in(2026);
            assert_eq!(list.len(), 13 + own.len(), "{}", set.name());
            assert!(list.windows(2).all(|w| w[0].date < w[1].date));
        }
        // Each state's days are its own.
        assert!(!HolidaySet::BrSp.contains(date("2026-04-23")));
        assert!(!HolidaySet::BrRj.contains(date("2026-07-09")));
        assert!(!HolidaySet::BrCe.contains(date("2026-01-25")));
        // Before the law that made it a holiday.
        assert!(!HolidaySet::BrSp.contains(date("1996-07-09")));
        assert!(!HolidaySet::BrCe.contains(date("2011-03-25")));
    }

    #[test]
    fn set_names_are_case_insensitive() {
        assert_eq!(HolidaySet::from_name("br-sp"), Some(HolidaySet::BrSp));
        assert_eq!(HolidaySet::from_name("BR-CE"), Some(HolidaySet::BrCe));
        assert_eq!(HolidaySet::from_name("br"), Some(HolidaySet::Br));
        assert_eq!(HolidaySet::from_name("BR"), Some(HolidaySet::Br));
        assert_eq!(HolidaySet::from_name("US"), None);
    }
}
