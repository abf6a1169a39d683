//! The day table `tierpace plan` prints in both of its modes (the replay of given day totals and
//! the forecast of a campaign), seed style: one row a day with the new business-initiated
//! conversations, the unique customers of the last 7 days, the limit in force at the end of the
//! day and the upgrades (DOMAIN.md §1). Shared formatting only: no decision is made here.
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::policy::tier::Tier;
use crate::policy::tier_state::PendingUpgrade;

/// One row of the day table.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanDay {
    pub day: usize,
    pub date: NaiveDate,
    /// New business-initiated conversations actually opened (admitted sends).
    pub new_conversations: u64,
    /// Sends of this day the limit refused.
    pub refused: u64,
    pub unique_7d: u64,
    pub tier_at_end: Tier,
    pub limit_at_end: Option<u64>,
    /// Upgrades earned this day (the crossing conversation's time and when it takes effect).
    pub crossed: Vec<PendingUpgrade>,
    /// Upgrades that took effect this day.
    pub upgraded: Vec<PendingUpgrade>,
}

/// The settings the table's first line states.
#[derive(Debug, Clone, PartialEq)]
pub struct TableHeading {
    /// The tier policy profile's name (`legacy`, `meta-2025`).
    pub profile: String,
    pub tier: Tier,
    pub safety_share: f64,
    pub reserve: u64,
    /// The zone the dates and times are local to.
    pub timezone: Tz,
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The table, seed style.
pub fn render(heading: &TableHeading, days: &[PlanDay]) -> String {
    let tz = heading.timezone;
    let hm = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M").to_string();
    let date_hm = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "profile {}, starting tier {}, safety share {}, reserve {}, times in {}",
        heading.profile, heading.tier, heading.safety_share, heading.reserve, tz
    );
    let _ = writeln!(
        out,
        "{:>4}  {:<10}  {:>17}  {:>16}  {:>11}  upgrade",
        "day", "date", "new conversations", "unique in 7 days", "limit (end)"
    );
    for d in days {
        let mut notes = Vec::new();
        for p in d.upgraded.iter().filter(|p| !d.crossed.contains(p)) {
            notes.push(format!("{} from {}", p.to, hm(p.effective_at)));
        }
        for p in &d.crossed {
            let from = if d.upgraded.contains(p) {
                hm(p.effective_at)
            } else {
                date_hm(p.effective_at)
            };
            notes.push(format!(
                "threshold hit {}, {} from {}",
                hm(p.crossed_at),
                p.to,
                from
            ));
        }
        if d.refused > 0 {
            notes.push(format!(
                "OVER LIMIT: {} of {} sends refused",
                thousands(d.refused),
                thousands(d.refused + d.new_conversations)
            ));
        }
        let limit = d
            .limit_at_end
            .map_or_else(|| "unlimited".to_string(), thousands);
        let _ = writeln!(
            out,
            "{:>4}  {:<10}  {:>17}  {:>16}  {:>11}  {}",
            d.day,
            d.date,
            thousands(d.new_conversations),
            thousands(d.unique_7d),
            limit,
            notes.join("; ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
