//! Brazil's holiday sets, as data: the national set `BR` and one set per federative unit.
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
use super::rule::{EasterRule, FixedRule, Move, SetRules};

pub(super) const BR: SetRules = SetRules {
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

pub(super) const BR_SP: SetRules = SetRules {
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

pub(super) const BR_RJ: SetRules = SetRules {
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

pub(super) const BR_CE: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 19, "São José").since(2004),
        FixedRule::on(3, 25, "Data Magna do Ceará").since(2012),
        FixedRule::on(8, 15, "Nossa Senhora da Assunção").since(2004),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_AC: SetRules = SetRules {
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

pub(super) const BR_AL: SetRules = SetRules {
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

pub(super) const BR_AM: SetRules = SetRules {
    fixed: &[
        FixedRule::on(9, 5, "Elevação do Amazonas à categoria de província"),
        FixedRule::on(11, 20, "Consciência Negra")
            .since(2010)
            .until(2023),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_AP: SetRules = SetRules {
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

pub(super) const BR_BA: SetRules = SetRules {
    fixed: &[FixedRule::on(7, 2, "Independência da Bahia")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_DF: SetRules = SetRules {
    fixed: &[
        FixedRule::on(4, 21, "Fundação de Brasília"),
        FixedRule::on(11, 30, "Dia do Evangélico"),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_ES: SetRules = SetRules {
    fixed: &[],
    easter: &[EasterRule {
        offset_days: 8,
        name: "Nossa Senhora da Penha",
        since: 2020,
    }],
    includes: &[&BR],
};

pub(super) const BR_GO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(7, 26, "Fundação da cidade de Goiás"),
        FixedRule::on(10, 24, "Pedra fundamental de Goiânia"),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_MA: SetRules = SetRules {
    fixed: &[FixedRule::on(
        7,
        28,
        "Adesão do Maranhão à independência do Brasil",
    )],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_MG: SetRules = SetRules {
    fixed: &[FixedRule::on(4, 21, "Execução de Tiradentes")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_MS: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 11, "Criação do Estado")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_MT: SetRules = SetRules {
    fixed: &[FixedRule::on(11, 20, "Consciência Negra")
        .since(2003)
        .until(2023)],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_PA: SetRules = SetRules {
    fixed: &[FixedRule::on(
        8,
        15,
        "Adesão do Grão-Pará à independência do Brasil",
    )],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_PB: SetRules = SetRules {
    fixed: &[FixedRule::on(8, 5, "Fundação do Estado")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_PE: SetRules = SetRules {
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

pub(super) const BR_PI: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 19, "Dia do Piauí")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_PR: SetRules = SetRules {
    fixed: &[
        FixedRule::on(11, 15, "Nossa Senhora do Rocio").since(2014),
        FixedRule::on(12, 19, "Emancipação do Paraná").until(2013),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_RN: SetRules = SetRules {
    fixed: &[
        FixedRule::on(8, 7, "Dia do Rio Grande do Norte").since(2000),
        FixedRule::on(10, 3, "Mártires de Cunhaú e Uruaçu").since(2007),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_RO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(1, 4, "Criação do Estado"),
        FixedRule::on(6, 18, "Dia do Evangélico").since(2002),
    ],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_RR: SetRules = SetRules {
    fixed: &[FixedRule::on(10, 5, "Criação do Estado")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_RS: SetRules = SetRules {
    fixed: &[FixedRule::on(9, 20, "Dia do Gaúcho")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_SC: SetRules = SetRules {
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

pub(super) const BR_SE: SetRules = SetRules {
    fixed: &[FixedRule::on(7, 8, "Emancipação política de Sergipe")],
    easter: &[],
    includes: &[&BR],
};

pub(super) const BR_TO: SetRules = SetRules {
    fixed: &[
        FixedRule::on(3, 18, "Dia da Autonomia").since(1998),
        FixedRule::on(9, 8, "Nossa Senhora da Natividade"),
        FixedRule::on(10, 5, "Criação do Estado"),
    ],
    easter: &[],
    includes: &[&BR],
};
