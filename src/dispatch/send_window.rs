//! The throughput cap as the provider sees it (issue #19): sends *started* in the last second,
//! plus a little slack for the time between the pacer's grant and the request reaching the
//! provider.
//!
//! The pacer's cap ([`crate::policy::rate::Gcra`]) is exact at the instants it grants: the tick's
//! `now`. The sends of a tick start later, one campaign batch after another (admission, claim:
//! Redis round trips), so with several campaigns on a sender the first sends of one second and
//! the last of the previous one arrived less than a second apart: the fake Gupshup counted up to
//! 15 in one second at `max_mps = 10` with six campaigns. This log stamps each send when it is
//! started and lets a tick start no more than `max_mps` minus those started within the last
//! `1 s + SLACK`.
use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// Room for the spread of request arrival at the provider after the send starts (loopback
/// measured 1 to 6 ms; a real network adds its own jitter, which the provider's cap also
/// tolerates or not: this keeps tierpace's side exact).
pub const SLACK: Duration = Duration::milliseconds(25);

/// Send start instants of one sender in the last `1 s + SLACK`.
#[derive(Debug, Default)]
pub struct SendWindow {
    started: VecDeque<DateTime<Utc>>,
}

impl SendWindow {
    fn expire(&mut self, now: DateTime<Utc>) {
        let cutoff = now - Duration::seconds(1) - SLACK;
        while self.started.front().is_some_and(|t| *t <= cutoff) {
            self.started.pop_front();
        }
    }

    /// How many sends may start at `now` under `max_mps`.
    pub fn available(&mut self, now: DateTime<Utc>, max_mps: u32) -> usize {
        self.expire(now);
        (max_mps as usize).saturating_sub(self.started.len())
    }

    /// A send started at `at`.
    pub fn started(&mut self, at: DateTime<Utc>) {
        self.started.push_back(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap() + Duration::milliseconds(ms)
    }

    #[test]
    fn a_send_counts_for_one_second_and_the_slack() {
        let mut w = SendWindow::default();
        for i in 0..10 {
            w.started(t(i));
        }
        assert_eq!(w.available(t(20), 10), 0);
        assert_eq!(
            w.available(t(1000), 10),
            0,
            "exactly a second later is too early"
        );
        assert_eq!(w.available(t(1020), 10), 0);
        assert_eq!(
            w.available(t(1026), 10),
            2,
            "the sends at 0 and 1 ms are out"
        );
        assert_eq!(w.available(t(1040), 10), 10);
    }
}
