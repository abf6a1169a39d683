//! How many sends a sender keeps in flight: sized from the provider's measured latency by
//! Little's law (issue #15), never above the configured `concurrency`.
//!
//! A send holds its slot from its reserved start to its recorded outcome, so at `rate` sends a
//! second and `latency` seconds each, `rate x latency` slots are busy on average. Too few slots
//! cap the sender at `slots / latency` (16 slots at Gupshup's 300 ms is 53/s, under any tier's
//! cap); too many only cost memory when the provider slows down. The limit is
//! `rate x (p99 latency + lookahead) x 1.5 + 16`, where the lookahead is how far ahead starts are
//! reserved, so the slots never bound a sender below its rate while latency holds, and a provider
//! that slows down (p99 up) gets more in flight only up to `concurrency`.
use std::collections::VecDeque;
use std::time::Duration;

/// Latencies of the most recent sends, and the limit they imply.
#[derive(Debug, Clone)]
pub struct InFlightLimit {
    recent: VecDeque<Duration>,
    capacity: usize,
    /// The p99 as of the last [`InFlightLimit::REFRESH`] observations: sorting 512 latencies
    /// for each refill of a fast sender's slots was 3 % of its CPU (issue #15).
    p99: Option<Duration>,
    /// Observations since `p99` was computed.
    unsorted: usize,
}

impl Default for InFlightLimit {
    fn default() -> Self {
        Self::new(512)
    }
}

impl InFlightLimit {
    /// Keeps the last `capacity` latencies (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            recent: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
            p99: None,
            unsorted: 0,
        }
    }

    /// The p99 is recomputed after this many observations (and after the first).
    pub const REFRESH: usize = 32;

    /// A send's time at the provider, from request to answer.
    pub fn observe(&mut self, latency: Duration) {
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(latency);
        self.unsorted += 1;
        if self.p99.is_none() || self.unsorted >= Self::REFRESH {
            self.p99 = self.compute_p99();
            self.unsorted = 0;
        }
    }

    /// The 99th percentile of the recent latencies (`None` before the first answer), as of
    /// the last [`InFlightLimit::REFRESH`] observations.
    pub fn p99(&self) -> Option<Duration> {
        self.p99
    }

    fn compute_p99(&self) -> Option<Duration> {
        if self.recent.is_empty() {
            return None;
        }
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let index = (sorted.len() * 99).div_ceil(100).saturating_sub(1);
        sorted.get(index).copied()
    }

    /// Sends to keep in flight at `rate` sends a second with starts reserved `lookahead` ahead,
    /// at most `concurrency`. Before any answer it assumes one second of latency (a new sender
    /// starts generously, then settles).
    pub fn limit(&self, rate: f64, lookahead: Duration, concurrency: usize) -> usize {
        let latency = self.p99().unwrap_or(Duration::from_secs(1));
        let busy = rate.max(0.0) * (latency + lookahead).as_secs_f64() * 1.5;
        // Float to int casts saturate.
        ((busy.ceil() as usize).saturating_add(16)).min(concurrency.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn littles_law_with_headroom_bounded_by_concurrency() {
        let mut l = InFlightLimit::default();
        for _ in 0..100 {
            l.observe(Duration::from_millis(300));
        }
        // 80/s x (0.3 + 0.1) s x 1.5 = 48, + 16.
        assert_eq!(l.limit(80.0, Duration::from_millis(100), 1024), 64);
        // 1000/s at 500 ms fits the default concurrency.
        let mut slow = InFlightLimit::default();
        slow.observe(Duration::from_millis(500));
        assert_eq!(slow.limit(1000.0, Duration::from_millis(100), 1024), 916);
        assert_eq!(slow.limit(1000.0, Duration::from_millis(100), 64), 64);
    }

    #[test]
    fn the_p99_follows_the_slow_tail_and_forgets_old_answers() {
        let mut l = InFlightLimit::new(100);
        for i in 0..100 {
            l.observe(Duration::from_millis(if i % 50 == 0 { 900 } else { 100 }));
        }
        assert_eq!(l.p99(), Some(Duration::from_millis(900)));
        for _ in 0..100 {
            l.observe(Duration::from_millis(100));
        }
        assert_eq!(l.p99(), Some(Duration::from_millis(100)));
        assert_eq!(InFlightLimit::default().p99(), None);
    }
}
