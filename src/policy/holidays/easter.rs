//! Western (Gregorian) Easter Sunday, from which Brazil's moveable holidays are counted
//! (Carnaval, Good Friday, Corpus Christi; Espírito Santo's Nossa Senhora da Penha).
use chrono::NaiveDate;

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
    use chrono::Datelike;

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
}
