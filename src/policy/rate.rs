//! The throughput cap of one sender: never more than `max_mps` sends in **any** one-second
//! interval (DOMAIN.md §2: Meta answers 130429 above the number's messages per second; Gupshup has
//! documented 20/s).
//!
//! Why not a textbook GCRA: a GCRA (or a continuously refilled token bucket) with a burst of
//! `max_mps` lets a full burst go at `t`, then refills one token every `1/max_mps` seconds, so the
//! second that starts at `t` can hold `2 x max_mps - 1` sends. That is the "sliding window that
//! bursts at the edges" users of other tools complain about (DESIGN.md §7). A GCRA with a burst of
//! one is exact but hands out one send per emission interval, which a dispatcher that works in
//! ticks cannot use at full rate.
//!
//! So [`Gcra`] is the exact variant of the same idea: `max_mps` tokens, and each token comes back
//! exactly one second after it was spent (the "generic cell rate" with a one-second memory).
//! Granting `n` at `now` is allowed while the sends in the half-open second `(now - 1 s, now]`
//! plus `n` stay within `max_mps`; that is precisely a sliding-window log, stored run-length
//! compressed (one entry per grant instant, at most `max_mps` entries), so each call is amortised
//! O(1) and a sender costs a few hundred bytes. Greedy: whenever demand is high the window ending
//! now is full, so the full rate is reached.
//!
//! Time is an argument. A `now` earlier than a previous call (a clock step backwards) is treated
//! as that previous instant, so the cap cannot be escaped by going back in time.
use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// The window every rate is measured over.
const WINDOW: Duration = Duration::seconds(1);

/// Exact per-second send cap of one sender; see the module docs for why it is shaped like this.
#[derive(Debug, Clone)]
pub struct Gcra {
    per_second: u32,
    /// Grants in the last second: (instant, how many), oldest first, instants non-decreasing.
    log: VecDeque<(DateTime<Utc>, u32)>,
    /// Sum of the counts in `log`.
    in_window: u32,
    /// The latest `now` seen, so time never runs backwards inside the cap.
    latest: Option<DateTime<Utc>>,
}

impl Gcra {
    /// A cap of `per_second` sends in any one-second interval. Zero means "send nothing".
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            log: VecDeque::new(),
            in_window: 0,
            latest: None,
        }
    }

    /// The cap in sends per second.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Changes the cap (config reload, or the dispatcher lowering it after a 130429). Sends
    /// already in the window keep counting, so lowering never lets a burst through.
    pub fn set_per_second(&mut self, per_second: u32) {
        self.per_second = per_second;
    }

    /// How many sends could be granted at `now` without taking them.
    pub fn available(&mut self, now: DateTime<Utc>) -> u32 {
        let now = self.settle(now);
        self.expire(now);
        self.per_second.saturating_sub(self.in_window)
    }

    /// Grants up to `n` sends at `now` and returns how many were granted (0..=n).
    pub fn try_take(&mut self, now: DateTime<Utc>, n: u32) -> u32 {
        let now = self.settle(now);
        self.expire(now);
        let granted = n.min(self.per_second.saturating_sub(self.in_window));
        if granted > 0 {
            match self.log.back_mut() {
                Some((at, count)) if *at == now => *count += granted,
                _ => self.log.push_back((now, granted)),
            }
            self.in_window += granted;
        }
        granted
    }

    /// The earliest instant at or after `now` at which at least one send will be granted
    /// (`now` itself when one is available). With a cap of zero nothing is ever granted and the
    /// answer is `now + 1 s`, so a caller that sleeps until it simply polls again.
    pub fn next_free(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        if self.per_second == 0 {
            return now + WINDOW;
        }
        if self.in_window < self.per_second {
            return now;
        }
        // Walk the log from the oldest grant: the first instant at which the grants that have
        // left the window leave fewer than `per_second` inside it frees a token.
        let mut inside = self.in_window;
        for &(at, count) in &self.log {
            inside -= count;
            if inside < self.per_second {
                return (at + WINDOW).max(now);
            }
        }
        now
    }

    fn settle(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        now
    }

    /// Drops grants that are a full second old or older: they are outside `(now - 1 s, now]`.
    fn expire(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, count)) = self.log.front() {
            if at + WINDOW > now {
                break;
            }
            self.log.pop_front();
            self.in_window -= count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_full_burst_blocks_the_rest_of_that_second() {
        let mut cap = Gcra::new(20);
        assert_eq!(cap.try_take(t0(), 25), 20);
        assert_eq!(cap.try_take(t0() + Duration::milliseconds(999), 1), 0);
        assert_eq!(cap.next_free(t0()), t0() + WINDOW);
        assert_eq!(cap.try_take(t0() + WINDOW, 25), 20);
    }

    #[test]
    fn tokens_return_one_second_after_they_were_spent() {
        let mut cap = Gcra::new(10);
        assert_eq!(cap.try_take(t0(), 4), 4);
        assert_eq!(cap.try_take(t0() + Duration::milliseconds(500), 10), 6);
        // At +1 s only the first 4 are outside the window.
        assert_eq!(
            cap.next_free(t0() + Duration::milliseconds(600)),
            t0() + WINDOW
        );
        assert_eq!(cap.try_take(t0() + WINDOW, 10), 4);
        assert_eq!(cap.available(t0() + Duration::milliseconds(1499)), 0);
        assert_eq!(cap.available(t0() + Duration::milliseconds(1500)), 6);
    }

    #[test]
    fn going_back_in_time_does_not_free_tokens() {
        let mut cap = Gcra::new(5);
        assert_eq!(cap.try_take(t0() + WINDOW, 5), 5);
        assert_eq!(cap.try_take(t0(), 5), 0);
    }

    #[test]
    fn a_zero_cap_grants_nothing() {
        let mut cap = Gcra::new(0);
        assert_eq!(cap.try_take(t0(), 1), 0);
        assert_eq!(cap.next_free(t0()), t0() + WINDOW);
    }
}
