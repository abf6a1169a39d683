//! Built-in holiday sets, computed for any year.
//!
//! A calendar may name sets in `holiday_sets = ["BR"]` instead of listing every date by hand
//! (DOMAIN.md §6: business hours are the operator's "horário padrão"; holidays are closed). Each
//! set is data: fixed-date holidays (with the first year they apply) and holidays at a fixed
//! distance from Easter Sunday. Adding a country is one more [`SetRules`] constant and one more
//! [`HolidaySet`] variant.
//!
//! State sets (`BR-AC` … `BR-TO`, one per federative unit) are a business in that state: the
//! national set plus the state's own holidays. Federal law (Lei 9.093/1995) allows a state one
//! holiday, its "data magna", and a municipality up to four religious ones; several states have
//! more by their own laws, kept as the source gives them. For SP, RJ and CE the capital's
//! municipal days are included too. Sources:
//! - SP: 9 July, Revolução Constitucionalista de 1932 (Lei estadual 9.497 of 5 March 1997;
//!   saopaulo.sp.gov.br, "Nove de Julho é feriado no Estado desde 1997"). São Paulo city: 25
//!   January, the city's anniversary (Lei municipal 7.008 of 6 April 1967, from 1968; Exame,
//!   2026-01-04), and 20 November 2004-2023 (Lei municipal 13.707 of 7 January 2004).
//! - RJ: 23 April, São Jorge (Lei estadual 5.198 of 5 March 2008); 20 November 2002-2023.
//!   Rio de Janeiro city: 20 January, São Sebastião (Lei municipal 1.271/1988; Folha do Leste,
//!   2026-01). Carnival Tuesday (Lei estadual 5.243/2008) is already in `BR`.
//! - CE: 25 March, Data Magna, the abolition of slavery in Ceará in 1884 (amendment to the state
//!   constitution of 6 December 2011; Diário do Nordeste, 2026-03-09). Fortaleza: 19 March, São
//!   José, and 15 August, Nossa Senhora da Assunção (Lei municipal 8.796 of 9 December 2003;
//!   same source).
//! - PR: 19 December (Emancipação do Paraná) until 2013, replaced by 15 November, Nossa Senhora
//!   do Rocio, from 2014 (Lei estadual 18.384 of 17 December 2014).
//! - PE: Revolução Pernambucana de 1817, first Sunday of March from 2008 (Lei estadual 13.386 of
//!   24 December 2007), 6 March from 2018 (Lei estadual 16.059 of 8 June 2017).
//! - The other states, as the `holidays` Python package (python-holidays 0.109, module
//!   `holidays.countries.brazil`, which cites no law for them) gives them: AC 23 Jan (from 2005),
//!   8 Mar (from 2002), 15 Jun, 5 Sep (from 2004), 17 Nov, each but 15 Jun moved from a
//!   Tuesday, Wednesday or Thursday to that week's Friday from 2009; AL 24 Jun, 29 Jun, 16 Sep,
//!   20 Nov (until 2023), 30 Nov (from 2013); AM 5 Sep, 20 Nov 2010-2023; AP 19 Mar (from
//!   2003), 25 Jul (from 2012), 13 Sep, 20 Nov 2008-2023; BA 2 Jul; DF 21 Apr, 30 Nov; ES
//!   Nossa Senhora da Penha, Easter + 8 days (from 2020); GO 26 Jul, 24 Oct; MA 28 Jul; MG 21
//!   Apr; MS 11 Oct; MT 20 Nov 2003-2023; PA 15 Aug; PB 5 Aug; PI 19 Oct; RN 7 Aug (from 2000),
//!   3 Oct (from 2007); RO 4 Jan, 18 Jun (from 2002); RR 5 Oct; RS 20 Sep; SC Dia do Estado,
//!   11 Aug in 2004 then the first Sunday from 11 Aug, and Santa Catarina de Alexandria, 25 Nov,
//!   the first Sunday from it in 1999-2003 and from 2005; SE 8 Jul; TO 18 Mar (from 1998), 8
//!   Sep, 5 Oct. Days without a start year apply in every year. Every set was compared with
//!   python-holidays for 2020-2030 (the ignored test `print_state_days` prints ours): same
//!   days, apart from the capital days python-holidays does not model (Rio's 20 January).
//!
//! Left out: the municipal holidays of the capitals other than São Paulo, Rio de Janeiro and
//! Fortaleza (no source at hand as firm as a law), so `BR-BA` is Bahia, not Salvador.
//! python-holidays' floor (no state holidays before Lei 9.093/1995) is not modelled; it only
//! matters before 1996.
//!
//! Dates are computed on demand (the Easter computation is a few integer operations), so a set
//! holds no table and never runs out of years.
use chrono::{Datelike, NaiveDate, Weekday};

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

/// One holiday of a set in a given year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: &'static str,
}

/// A fixed-date holiday: month, day, name, the years it applies (`since..=until`) and whether a
/// law moves it to another day of the week.
#[derive(Clone, Copy)]
struct FixedRule {
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
enum Move {
    /// Kept on its date.
    OnTheDay,
    /// A Tuesday, Wednesday or Thursday moves to that week's Friday (Acre, from 2009).
    TueWedThuToNextFriday,
    /// The first Sunday on or after the date (Santa Catarina; Pernambuco 2008-2017).
    FirstSundayOnOrAfter,
}

impl FixedRule {
    /// Every year, on its date.
    const fn on(month: u32, day: u32, name: &'static str) -> FixedRule {
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
    const fn since(self, year: i32) -> FixedRule {
        FixedRule {
            since: year,
            ..self
        }
    }

    /// Last year the holiday applies (a later law abolished or replaced it).
    const fn until(self, year: i32) -> FixedRule {
        FixedRule {
            until: year,
            ..self
        }
    }

    /// Moved by `moved` from `year` on.
    const fn moved(self, moved: Move, year: i32) -> FixedRule {
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
struct EasterRule {
    offset_days: i64,
    name: &'static str,
    /// First year it applies.
    since: i32,
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
        FixedRule::on(1, 1, "Confraternização Universal"),
        FixedRule::on(4, 21, "Tiradentes"),
        FixedRule::on(5, 1, "Dia do Trabalho"),
        FixedRule::on(9, 7, "Independência do Brasil"),
        // Lei 6.802/1980.
        FixedRule::on(10, 12, "Nossa Senhora Aparecida").since(1980),
        FixedRule::on(11, 2, "Finados"),
        FixedRule::on(11, 15, "Proclamação da República"),
        // Lei 14.759/2023 made it a national holiday from 2024 on.
        FixedRule::on(11, 20, "Dia Nacional de Zumbi e da Consciência Negra").since(2024),
        FixedRule::on(12, 25, "Natal"),
    ],
    easter: &[
        EasterRule {
            offset_days: -48,
            name: "Carnaval (segunda-feira)",
            since: i32::MIN,
        },
        EasterRule {
            offset_days: -47,
            name: "Carnaval (terça-feira)",
            since: i32::MIN,
        },
        EasterRule {
            offset_days: -2,
            name: "Sexta-feira Santa",
            since: i32::MIN,
        },
        EasterRule {
            offset_days: 60,
            name: "Corpus Christi",
            since: i32::MIN,
        },
    ],
    includes: &[],
};

const BR_SP: SetRules = SetRules {
    fixed: &[
        FixedRule::on(1, 25, "Aniversário da cidade de São Paulo").since(1968),
        // Lei municipal 13.707/2004; national from 2024.
        FixedRule::on(11, 20, "Consciência Negra")
            .since(2004)
            .until(2023),
        FixedRule::on(7, 9, "Revolução Constitucionalista de 1932").since(1997),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_RJ: SetRules = SetRules {
    fixed: &[
        FixedRule::on(1, 20, "São Sebastião").since(1988),
        FixedRule::on(4, 23, "São Jorge").since(2008),
        FixedRule::on(11, 20, "Consciência Negra")
            .since(2002)
            .until(2023),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_CE: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 19, "São José").since(2004),
        FixedRule::on(3, 25, "Data Magna do Ceará").since(2012),
        FixedRule::on(8, 15, "Nossa Senhora da Assunção").since(2004),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_AC: SetRules = SetRules {
    fixed: &[
        FixedRule::on(1, 23, "Dia do Evangélico")
            .since(2005)
            .moved(Move::TueWedThuToNextFriday, 2009),
        FixedRule::on(3, 8, "Dia Internacional da Mulher")
            .since(2002)
            .moved(Move::TueWedThuToNextFriday, 2009),
        FixedRule::on(6, 15, "Aniversário do Acre"),
        FixedRule::on(9, 5, "Dia da Amazônia")
            .since(2004)
            .moved(Move::TueWedThuToNextFriday, 2009),
        FixedRule::on(11, 17, "Assinatura do Tratado de Petrópolis")
            .moved(Move::TueWedThuToNextFriday, 2009),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_AL: SetRules = SetRules {
    fixed: &[
        FixedRule::on(6, 24, "São João"),
        FixedRule::on(6, 29, "São Pedro"),
        FixedRule::on(9, 16, "Emancipação Política de Alagoas"),
        FixedRule::on(11, 20, "Consciência Negra").until(2023),
        FixedRule::on(11, 30, "Dia do Evangélico").since(2013),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_AM: SetRules = SetRules {
    fixed: &[
        FixedRule::on(9, 5, "Elevação do Amazonas à categoria de província"),
        FixedRule::on(11, 20, "Consciência Negra")
            .since(2010)
            .until(2023),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_AP: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 19, "São José").since(2003),
        FixedRule::on(7, 25, "São Tiago").since(2012),
        FixedRule::on(9, 13, "Criação do Território Federal"),
        FixedRule::on(11, 20, "Consciência Negra")
            .since(2008)
            .until(2023),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_BA: SetRules = SetRules {
    fixed: &[FixedRule::on(7, 2, "Independência da Bahia")],
    easter: &[],
    includes: &[&BR],
};

const BR_DF: SetRules = SetRules {
    fixed: &[
        FixedRule::on(4, 21, "Fundação de Brasília"),
        FixedRule::on(11, 30, "Dia do Evangélico"),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_ES: SetRules = SetRules {
    fixed: &[],
    easter: &[EasterRule {
        offset_days: 8,
        name: "Nossa Senhora da Penha",
        since: 2020,
    }],
    includes: &[&BR],
};

const BR_GO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(7, 26, "Fundação da cidade de Goiás"),
        FixedRule::on(10, 24, "Pedra fundamental de Goiânia"),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_MA: SetRules = SetRules {
    fixed: &[FixedRule::on(
        7,
        28,
        "Adesão do Maranhão à independência do Brasil",
    )],
    easter: &[],
    includes: &[&BR],
};

const BR_MG: SetRules = SetRules {
    fixed: &[FixedRule::on(4, 21, "Execução de Tiradentes")],
    easter: &[],
    includes: &[&BR],
};

const BR_MS: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 11, "Criação do Estado")],
    easter: &[],
    includes: &[&BR],
};

const BR_MT: SetRules = SetRules {
    fixed: &[FixedRule::on(11, 20, "Consciência Negra")
        .since(2003)
        .until(2023)],
    easter: &[],
    includes: &[&BR],
};

const BR_PA: SetRules = SetRules {
    fixed: &[FixedRule::on(
        8,
        15,
        "Adesão do Grão-Pará à independência do Brasil",
    )],
    easter: &[],
    includes: &[&BR],
};

const BR_PB: SetRules = SetRules {
    fixed: &[FixedRule::on(8, 5, "Fundação do Estado")],
    easter: &[],
    includes: &[&BR],
};

const BR_PE: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 1, "Revolução Pernambucana de 1817")
            .since(2008)
            .until(2017)
            .moved(Move::FirstSundayOnOrAfter, 2008),
        FixedRule::on(3, 6, "Revolução Pernambucana de 1817").since(2018),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_PI: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 19, "Dia do Piauí")],
    easter: &[],
    includes: &[&BR],
};

const BR_PR: SetRules = SetRules {
    fixed: &[
        FixedRule::on(11, 15, "Nossa Senhora do Rocio").since(2014),
        FixedRule::on(12, 19, "Emancipação do Paraná").until(2013),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_RN: SetRules = SetRules {
    fixed: &[
        FixedRule::on(8, 7, "Dia do Rio Grande do Norte").since(2000),
        FixedRule::on(10, 3, "Mártires de Cunhaú e Uruaçu").since(2007),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_RO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(1, 4, "Criação do Estado"),
        FixedRule::on(6, 18, "Dia do Evangélico").since(2002),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_RR: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 5, "Criação do Estado")],
    easter: &[],
    includes: &[&BR],
};

const BR_RS: SetRules = SetRules {
    fixed: &[FixedRule::on(9, 20, "Dia do Gaúcho")],
    easter: &[],
    includes: &[&BR],
};

const BR_SC: SetRules = SetRules {
    fixed: &[
        FixedRule::on(8, 11, "Dia do Estado de Santa Catarina")
            .since(2004)
            .moved(Move::FirstSundayOnOrAfter, 2005),
        FixedRule::on(11, 25, "Dia de Santa Catarina de Alexandria")
            .until(2003)
            .moved(Move::FirstSundayOnOrAfter, 1999),
        FixedRule::on(11, 25, "Dia de Santa Catarina de Alexandria")
            .since(2004)
            .until(2004),
        FixedRule::on(11, 25, "Dia de Santa Catarina de Alexandria")
            .since(2005)
            .moved(Move::FirstSundayOnOrAfter, 2005),
    ],
    easter: &[],
    includes: &[&BR],
};

const BR_SE: SetRules = SetRules {
    fixed: &[FixedRule::on(7, 8, "Emancipação política de Sergipe")],
    easter: &[],
    includes: &[&BR],
};

const BR_TO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 18, "Dia da Autonomia").since(1998),
        FixedRule::on(9, 8, "Nossa Senhora da Natividade"),
        FixedRule::on(10, 5, "Criação do Estado"),
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
            HolidaySet::Br => &BR,
            HolidaySet::BrSp => &BR_SP,
            HolidaySet::BrRj => &BR_RJ,
            HolidaySet::BrCe => &BR_CE,
            HolidaySet::BrAc => &BR_AC,
            HolidaySet::BrAl => &BR_AL,
            HolidaySet::BrAm => &BR_AM,
            HolidaySet::BrAp => &BR_AP,
            HolidaySet::BrBa => &BR_BA,
            HolidaySet::BrDf => &BR_DF,
            HolidaySet::BrEs => &BR_ES,
            HolidaySet::BrGo => &BR_GO,
            HolidaySet::BrMa => &BR_MA,
            HolidaySet::BrMg => &BR_MG,
            HolidaySet::BrMs => &BR_MS,
            HolidaySet::BrMt => &BR_MT,
            HolidaySet::BrPa => &BR_PA,
            HolidaySet::BrPb => &BR_PB,
            HolidaySet::BrPe => &BR_PE,
            HolidaySet::BrPi => &BR_PI,
            HolidaySet::BrPr => &BR_PR,
            HolidaySet::BrRn => &BR_RN,
            HolidaySet::BrRo => &BR_RO,
            HolidaySet::BrRr => &BR_RR,
            HolidaySet::BrRs => &BR_RS,
            HolidaySet::BrSc => &BR_SC,
            HolidaySet::BrSe => &BR_SE,
            HolidaySet::BrTo => &BR_TO,
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

impl SetRules {
    fn contains(&self, date: NaiveDate) -> bool {
        let mut own = Vec::new();
        self.collect(date.year(), &mut own);
        own.iter().any(|h| h.date == date)
    }

    fn collect(&self, year: i32, out: &mut Vec<Holiday>) {
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
