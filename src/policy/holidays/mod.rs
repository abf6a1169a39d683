//! Built-in holiday sets, computed for any year.
//!
//! A calendar may name sets in `holiday_sets = ["BR"]` instead of listing every date by hand
//! (DOMAIN.md §6: business hours are the operator's "horário padrão"; holidays are closed). Each
//! set is data: fixed-date holidays (with the first year they apply) and holidays at a fixed
//! distance from Easter Sunday. Adding a country is one more file of [`rule::SetRules`]
//! constants like [`brazil`] and one more [`HolidaySet`] variant per set.
//!
//! Dates are computed on demand (the Easter computation is a few integer operations), so a set
//! holds no table and never runs out of years.
//!
//! What lives here:
//! - this file: [`HolidaySet`], the sets a calendar may name, and their names in config;
//! - [`rule`]: how a set is written (fixed-date and Easter-based rules) and the [`Holiday`]s a
//!   rule gives in a year;
//! - [`brazil`]: the Brazilian sets as data, with the laws and sources for each state;
//! - [`easter`]: [`easter_sunday`], the date the moveable feasts count from.
mod brazil;
mod easter;
mod rule;

use chrono::NaiveDate;

pub use easter::easter_sunday;
pub use rule::Holiday;
use rule::SetRules;

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
    /// `BR` + Acre state.
    BrAc,
    /// `BR` + Alagoas state.
    BrAl,
    /// `BR` + Amazonas state.
    BrAm,
    /// `BR` + Amapá state.
    BrAp,
    /// `BR` + Bahia state.
    BrBa,
    /// `BR` + Distrito Federal state.
    BrDf,
    /// `BR` + Espírito Santo state.
    BrEs,
    /// `BR` + Goiás state.
    BrGo,
    /// `BR` + Maranhão state.
    BrMa,
    /// `BR` + Minas Gerais state.
    BrMg,
    /// `BR` + Mato Grosso do Sul state.
    BrMs,
    /// `BR` + Mato Grosso state.
    BrMt,
    /// `BR` + Pará state.
    BrPa,
    /// `BR` + Paraíba state.
    BrPb,
    /// `BR` + Pernambuco state.
    BrPe,
    /// `BR` + Piauí state.
    BrPi,
    /// `BR` + Paraná state.
    BrPr,
    /// `BR` + Rio Grande do Norte state.
    BrRn,
    /// `BR` + Rondônia state.
    BrRo,
    /// `BR` + Roraima state.
    BrRr,
    /// `BR` + Rio Grande do Sul state.
    BrRs,
    /// `BR` + Santa Catarina state.
    BrSc,
    /// `BR` + Sergipe state.
    BrSe,
    /// `BR` + Tocantins state.
    BrTo,
}

impl HolidaySet {
    /// Every built-in set, for error messages and docs.
    pub const ALL: &'static [HolidaySet] = &[
        HolidaySet::Br,
        HolidaySet::BrSp,
        HolidaySet::BrRj,
        HolidaySet::BrCe,
        HolidaySet::BrAc,
        HolidaySet::BrAl,
        HolidaySet::BrAm,
        HolidaySet::BrAp,
        HolidaySet::BrBa,
        HolidaySet::BrDf,
        HolidaySet::BrEs,
        HolidaySet::BrGo,
        HolidaySet::BrMa,
        HolidaySet::BrMg,
        HolidaySet::BrMs,
        HolidaySet::BrMt,
        HolidaySet::BrPa,
        HolidaySet::BrPb,
        HolidaySet::BrPe,
        HolidaySet::BrPi,
        HolidaySet::BrPr,
        HolidaySet::BrRn,
        HolidaySet::BrRo,
        HolidaySet::BrRr,
        HolidaySet::BrRs,
        HolidaySet::BrSc,
        HolidaySet::BrSe,
        HolidaySet::BrTo,
    ];

    /// The name used in config.
    pub fn name(self) -> &'static str {
        match self {
            HolidaySet::Br => "BR",
            HolidaySet::BrSp => "BR-SP",
            HolidaySet::BrRj => "BR-RJ",
            HolidaySet::BrCe => "BR-CE",
            HolidaySet::BrAc => "BR-AC",
            HolidaySet::BrAl => "BR-AL",
            HolidaySet::BrAm => "BR-AM",
            HolidaySet::BrAp => "BR-AP",
            HolidaySet::BrBa => "BR-BA",
            HolidaySet::BrDf => "BR-DF",
            HolidaySet::BrEs => "BR-ES",
            HolidaySet::BrGo => "BR-GO",
            HolidaySet::BrMa => "BR-MA",
            HolidaySet::BrMg => "BR-MG",
            HolidaySet::BrMs => "BR-MS",
            HolidaySet::BrMt => "BR-MT",
            HolidaySet::BrPa => "BR-PA",
            HolidaySet::BrPb => "BR-PB",
            HolidaySet::BrPe => "BR-PE",
            HolidaySet::BrPi => "BR-PI",
            HolidaySet::BrPr => "BR-PR",
            HolidaySet::BrRn => "BR-RN",
            HolidaySet::BrRo => "BR-RO",
            HolidaySet::BrRr => "BR-RR",
            HolidaySet::BrRs => "BR-RS",
            HolidaySet::BrSc => "BR-SC",
            HolidaySet::BrSe => "BR-SE",
            HolidaySet::BrTo => "BR-TO",
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
            HolidaySet::Br => &brazil::BR,
            HolidaySet::BrSp => &brazil::BR_SP,
            HolidaySet::BrRj => &brazil::BR_RJ,
            HolidaySet::BrCe => &brazil::BR_CE,
            HolidaySet::BrAc => &brazil::BR_AC,
            HolidaySet::BrAl => &brazil::BR_AL,
            HolidaySet::BrAm => &brazil::BR_AM,
            HolidaySet::BrAp => &brazil::BR_AP,
            HolidaySet::BrBa => &brazil::BR_BA,
            HolidaySet::BrDf => &brazil::BR_DF,
            HolidaySet::BrEs => &brazil::BR_ES,
            HolidaySet::BrGo => &brazil::BR_GO,
            HolidaySet::BrMa => &brazil::BR_MA,
            HolidaySet::BrMg => &brazil::BR_MG,
            HolidaySet::BrMs => &brazil::BR_MS,
            HolidaySet::BrMt => &brazil::BR_MT,
            HolidaySet::BrPa => &brazil::BR_PA,
            HolidaySet::BrPb => &brazil::BR_PB,
            HolidaySet::BrPe => &brazil::BR_PE,
            HolidaySet::BrPi => &brazil::BR_PI,
            HolidaySet::BrPr => &brazil::BR_PR,
            HolidaySet::BrRn => &brazil::BR_RN,
            HolidaySet::BrRo => &brazil::BR_RO,
            HolidaySet::BrRr => &brazil::BR_RR,
            HolidaySet::BrRs => &brazil::BR_RS,
            HolidaySet::BrSc => &brazil::BR_SC,
            HolidaySet::BrSe => &brazil::BR_SE,
            HolidaySet::BrTo => &brazil::BR_TO,
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
        // Stable: where a state day falls on a national one (DF's 21 April), the national name
        // is kept and the date listed once.
        out.sort_by_key(|h| h.date);
        out.dedup_by_key(|h| h.date);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
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

    #[test]
    fn every_state_set_has_its_state_days_in_2026() {
        // Per set: the 2026 days that are not national (python-holidays 0.109 agrees 2020-2030).
        let cases: &[(HolidaySet, &[&str])] = &[
            // Acre: 23 Jan (Fri), 8 Mar (Sun), 15 Jun, 5 Sep (Sat), 17 Nov Tue -> Fri 20 (national).
            (
                HolidaySet::BrAc,
                &["2026-01-23", "2026-03-08", "2026-06-15", "2026-09-05"],
            ),
            (
                HolidaySet::BrAl,
                &["2026-06-24", "2026-06-29", "2026-09-16", "2026-11-30"],
            ),
            (HolidaySet::BrAm, &["2026-09-05"]),
            (
                HolidaySet::BrAp,
                &["2026-03-19", "2026-07-25", "2026-09-13"],
            ),
            (HolidaySet::BrBa, &["2026-07-02"]),
            (HolidaySet::BrDf, &["2026-11-30"]),
            // Nossa Senhora da Penha: Easter (5 April) + 8 days.
            (HolidaySet::BrEs, &["2026-04-13"]),
            (HolidaySet::BrGo, &["2026-07-26", "2026-10-24"]),
            (HolidaySet::BrMa, &["2026-07-28"]),
            (HolidaySet::BrMg, &[]),
            (HolidaySet::BrMs, &["2026-10-11"]),
            (HolidaySet::BrMt, &[]),
            (HolidaySet::BrPa, &["2026-08-15"]),
            (HolidaySet::BrPb, &["2026-08-05"]),
            (HolidaySet::BrPe, &["2026-03-06"]),
            (HolidaySet::BrPi, &["2026-10-19"]),
            (HolidaySet::BrPr, &[]),
            (HolidaySet::BrRn, &["2026-08-07", "2026-10-03"]),
            (HolidaySet::BrRo, &["2026-01-04", "2026-06-18"]),
            (HolidaySet::BrRr, &["2026-10-05"]),
            (HolidaySet::BrRs, &["2026-09-20"]),
            // First Sundays on or after 11 August and 25 November.
            (HolidaySet::BrSc, &["2026-08-16", "2026-11-29"]),
            (HolidaySet::BrSe, &["2026-07-08"]),
            (
                HolidaySet::BrTo,
                &["2026-03-18", "2026-09-08", "2026-10-05"],
            ),
        ];
        for (set, own) in cases {
            for d in *own {
                assert!(set.contains(date(d)), "{} {d}", set.name());
                assert!(!HolidaySet::Br.contains(date(d)), "{d} is not national");
            }
            let list = set.holidays_in(2026);
            assert_eq!(list.len(), 13 + own.len(), "{}: {list:?}", set.name());
            assert!(list.iter().all(|h| set.contains(h.date)));
            assert!(
                set.contains(date("2026-06-04")),
                "{} Corpus Christi",
                set.name()
            );
        }
    }

    #[test]
    fn acre_moves_tuesday_to_thursday_holidays_to_friday_from_2009() {
        // 17 Nov 2026 is a Tuesday: observed Friday 20 Nov.
        assert!(!HolidaySet::BrAc.contains(date("2026-11-17")));
        // 23 Jan 2008 was a Wednesday, before the move.
        assert!(HolidaySet::BrAc.contains(date("2008-01-23")));
        // 23 Jan 2030 is a Wednesday: Friday 25 Jan.
        assert!(HolidaySet::BrAc.contains(date("2030-01-25")));
        assert!(!HolidaySet::BrAc.contains(date("2030-01-23")));
        // Dia do Evangélico only from 2005.
        assert!(!HolidaySet::BrAc.contains(date("2004-01-23")));
    }

    #[test]
    fn state_days_start_and_end_with_their_laws() {
        // Espírito Santo: Nossa Senhora da Penha from 2020 (Easter 2019 was 21 April).
        assert!(!HolidaySet::BrEs.contains(date("2019-04-29")));
        assert!(HolidaySet::BrEs.contains(date("2020-04-20")));
        // Paraná: 19 Dec until 2013, Nossa Senhora do Rocio (15 Nov) from 2014 (Lei 18.384/2014).
        assert!(HolidaySet::BrPr.contains(date("2013-12-19")));
        assert!(!HolidaySet::BrPr.contains(date("2014-12-19")));
        // Pernambuco: first Sunday of March 2008-2017, 6 March from 2018 (Lei 16.059/2017).
        assert!(HolidaySet::BrPe.contains(date("2017-03-05")));
        assert!(!HolidaySet::BrPe.contains(date("2017-03-06")));
        assert!(HolidaySet::BrPe.contains(date("2018-03-06")));
        assert!(!HolidaySet::BrPe.contains(date("2007-03-04")));
        // Rio Grande do Norte: 7 Aug from 2000; Alagoas: Dia do Evangélico from 2013.
        assert!(!HolidaySet::BrRn.contains(date("1999-08-07")));
        assert!(!HolidaySet::BrAl.contains(date("2012-11-30")));
        // Tocantins: Dia da Autonomia from 1998.
        assert!(!HolidaySet::BrTo.contains(date("1997-03-18")));
        assert!(HolidaySet::BrTo.contains(date("1998-03-18")));
    }

    #[test]
    fn state_consciencia_negra_before_it_became_national() {
        // State (or São Paulo city) law before Lei 14.759/2023.
        for (set, first) in [
            (HolidaySet::BrAm, 2010),
            (HolidaySet::BrAp, 2008),
            (HolidaySet::BrMt, 2003),
            (HolidaySet::BrRj, 2002),
            (HolidaySet::BrSp, 2004),
        ] {
            let nov20 = |y| NaiveDate::from_ymd_opt(y, 11, 20).unwrap();
            assert!(!set.contains(nov20(first - 1)), "{}", set.name());
            assert!(set.contains(nov20(first)), "{}", set.name());
            assert!(set.contains(nov20(2023)), "{}", set.name());
        }
        assert!(HolidaySet::BrAl.contains(date("2015-11-20")));
        assert!(!HolidaySet::BrBa.contains(date("2023-11-20")));
        // Listed once when it is national too.
        let list = HolidaySet::BrAl.holidays_in(2026);
        assert_eq!(
            list.iter().filter(|h| h.date == date("2026-11-20")).count(),
            1
        );
    }

    #[test]
    fn a_state_day_on_a_national_one_is_listed_once() {
        // DF's Fundação de Brasília and MG's Execução de Tiradentes are 21 April.
        for set in [HolidaySet::BrDf, HolidaySet::BrMg] {
            let list = set.holidays_in(2026);
            let apr21: Vec<_> = list
                .iter()
                .filter(|h| h.date == date("2026-04-21"))
                .collect();
            assert_eq!(apr21.len(), 1, "{}", set.name());
            assert_eq!(apr21[0].name, "Tiradentes");
        }
    }

    #[test]
    fn every_set_is_found_by_its_name() {
        assert_eq!(HolidaySet::ALL.len(), 28, "BR and the 27 federative units");
        for set in HolidaySet::ALL {
            assert_eq!(
                HolidaySet::from_name(&set.name().to_lowercase()),
                Some(*set)
            );
        }
    }

    /// Prints every state's own days 2020-2030, to compare with python-holidays
    /// (`cargo test --lib holidays::tests::print_state_days -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn print_state_days() {
        for set in &HolidaySet::ALL[1..] {
            for year in 2020..=2030 {
                for h in set.holidays_in(year) {
                    if !HolidaySet::Br.contains(h.date) {
                        println!("{} {}", set.name(), h.date);
                    }
                }
            }
        }
    }
}
