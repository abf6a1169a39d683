//! How many sends in flight still buy throughput (issue #15): the in-flight ceiling of a sender
//! that its cap does not bound.
//!
//! Little's law (`in_flight.rs`) sizes the sends in flight from the sender's cap: a sender at
//! `max_mps = 1000` and 300 ms needs about 500 of them (a slot is held from its reserved start
//! to its answer). A sender whose cap is far above what the machine and the provider can take
//! (a capacity run, a fast provider and a high cap) gets `concurrency` from it, 1,024 by
//! default, and each send in flight holds an HTTP/1.1 connection: about 55 KB of buffers and
//! task state. Measured against the loopback fake, 1,024 in flight took 80 MB of memory where
//! 64 took 26 MB, for 1.2 times the throughput.
//!
//! So past the provider's first answers the ceiling grows only on evidence. It starts at
//! [`CapacityProbe::INITIAL`] and, until the first answer is measured, doubles each tick in
//! which the sender uses half of it or more: a slow provider's first round (300 ms at 1,000/s
//! is about 500 in flight with the starts reserved ahead) must not wait for evidence that takes
//! a round to come. Then, while the free slots bound the sender, the probe measures the answers
//! a second over a window (at least 100 ms and two p99 latencies), raises the ceiling by half
//! and measures again: a window at least [`CapacityProbe::GAIN`] faster keeps the step and
//! tries the next; any other takes the step back and settles there for
//! [`CapacityProbe::RETRY_AFTER`], since the provider and the machine change. A plan that the
//! timeline, the pacer or the audience bounded proves nothing and drops the window. The
//! ceiling is only lowered by taking back a step that bought nothing, so a provider that slows
//! down for its own reasons still gets the sends in flight its rate needs, one step at a time.
use tokio::time::{Duration, Instant};

/// The in-flight ceiling and the window that tests the next step.
#[derive(Debug, Clone)]
pub struct CapacityProbe {
    ceiling: usize,
    /// True once an answer has been measured: growth then needs a measured gain.
    measured: bool,
    /// The open window: when it started and the answers since.
    window: Option<(Instant, u64)>,
    /// The ceiling before the step under test, and its rate in answers a second.
    baseline: Option<(usize, f64)>,
    /// Set when a step did not pay: no step is tried before then.
    settled_until: Option<Instant>,
}

impl Default for CapacityProbe {
    fn default() -> Self {
        Self {
            ceiling: Self::INITIAL,
            measured: false,
            window: None,
            baseline: None,
            settled_until: None,
        }
    }
}

impl CapacityProbe {
    /// The ceiling a sender starts with: 64 in flight already passed BullMQ's limiter-less
    /// worker on loopback (issue #15).
    pub const INITIAL: usize = 64;
    /// The ceiling never falls below this.
    pub const FLOOR: usize = 16;
    /// The least gain in answers a second for which a step of half again is kept: a third of
    /// what the step would bring if every send in flight carried as much as before, so a
    /// connection added must carry at least a third of what one already carries. With 10 %,
    /// one capacity run in seven kept a step past 144 in flight on loopback (35 MB).
    pub const GAIN: f64 = 1.0 + 0.5 / 3.0;
    /// A settled sender tries a step again after this long.
    pub const RETRY_AFTER: Duration = Duration::from_secs(10);
    /// The shortest window a rate is measured over.
    const MIN_WINDOW: Duration = Duration::from_millis(100);

    /// The sends in flight the probe allows now, within `bound`.
    pub fn ceiling(&self, bound: usize) -> usize {
        self.ceiling.min(bound)
    }

    /// An answer was measured (a send's latency observed).
    pub fn answered(&mut self) {
        self.measured = true;
        if let Some((_, answers)) = self.window.as_mut() {
            *answers += 1;
        }
    }

    /// A plan was made: `slot_bound` when the free slots, not the timeline or the pacer,
    /// bounded what was granted. A plan that was not bound ends the window unmeasured.
    pub fn planned(&mut self, slot_bound: bool, now: Instant) {
        if !slot_bound {
            self.window = None;
            self.baseline = None;
        } else if self.window.is_none() {
            self.window = Some((now, 0));
        }
    }

    /// Once a tick: before the first answer, doubles the ceiling while the sender uses half
    /// of it or more; after, judges the window when it is long enough. `bound`: the ceiling
    /// from Little's law and `concurrency`; `in_flight`: the sender's sends in flight now;
    /// `p99`: the provider's recent p99 answer time.
    pub fn tick(
        &mut self,
        now: Instant,
        bound: usize,
        in_flight: usize,
        p99: Option<Duration>,
    ) -> Option<Step> {
        let current = self.ceiling.min(bound);
        if !self.measured {
            if self.window.is_none() && in_flight.saturating_mul(2) < current {
                return None;
            }
            self.window = self.window.map(|_| (now, 0));
            self.ceiling = current.saturating_mul(2).min(bound).max(Self::FLOOR);
            return (self.ceiling != current).then_some(Step::Doubled);
        }
        let (start, answers) = self.window?;
        if self.settled_until.is_some_and(|t| now < t) {
            return None;
        }
        let length = Self::MIN_WINDOW.max(p99.unwrap_or_default() * 2);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < length {
            return None;
        }
        self.window = Some((now, 0));
        let rate = answers as f64 / elapsed.as_secs_f64();
        match self.baseline.take() {
            Some((before, base_rate)) if rate < base_rate * Self::GAIN => {
                self.ceiling = before.max(Self::FLOOR);
                self.settled_until = Some(now + Self::RETRY_AFTER);
                Some(Step::TakenBack { rate, base_rate })
            }
            _ if current >= bound => None,
            _ => {
                self.baseline = Some((current, rate));
                self.ceiling = (current + current.div_ceil(2)).min(bound);
                Some(Step::Tried { rate })
            }
        }
    }
}

/// What a tick did to the ceiling, for the `tierpace::pace` debug log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// No answer measured yet: doubled.
    Doubled,
    /// Raised by half; `rate`: answers a second at the ceiling before.
    Tried { rate: f64 },
    /// The last step bought less than [`CapacityProbe::GAIN`]: taken back, settled.
    TakenBack { rate: f64, base_rate: f64 },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Doubled => f.write_str("doubled before the first answer"),
            Step::Tried { rate } => write!(f, "tried half again ({rate:.0} answers/s before)"),
            Step::TakenBack { rate, base_rate } => {
                write!(f, "taken back ({rate:.0} answers/s against {base_rate:.0})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the probe against a machine whose throughput is `rate_at(in_flight)`, ticking
    /// every 50 ms for `secs` seconds, always slot-bound.
    fn drive(
        probe: &mut CapacityProbe,
        start: Instant,
        secs: u64,
        bound: usize,
        rate_at: impl Fn(usize) -> f64,
    ) -> Instant {
        let mut now = start;
        let tick = Duration::from_millis(50);
        for _ in 0..(secs * 20) {
            probe.planned(true, now);
            let answers = (rate_at(probe.ceiling(bound)) * tick.as_secs_f64()) as u64;
            for _ in 0..answers {
                probe.answered();
            }
            now += tick;
            probe.tick(now, bound, 0, Some(Duration::from_millis(2)));
        }
        now
    }

    #[test]
    fn grows_while_throughput_grows_and_settles_where_it_stops() {
        let mut probe = CapacityProbe::default();
        // The machine saturates at 200 in flight: 100/s per slot up to there.
        let rate_at = |n: usize| 100.0 * n.min(200) as f64;
        drive(&mut probe, Instant::now(), 5, 1024, rate_at);
        let c = probe.ceiling(1024);
        assert!((200..300).contains(&c), "settled at {c}");
    }

    #[test]
    fn a_sender_with_no_saturation_reaches_its_bound() {
        let mut probe = CapacityProbe::default();
        drive(&mut probe, Instant::now(), 5, 700, |n| 100.0 * n as f64);
        assert_eq!(probe.ceiling(700), 700);
    }

    #[test]
    fn before_the_first_answer_the_ceiling_doubles_each_tick() {
        let mut probe = CapacityProbe::default();
        let mut now = Instant::now();
        for _ in 0..4 {
            probe.planned(true, now);
            now += Duration::from_millis(50);
            probe.tick(now, 1024, 0, None);
        }
        assert_eq!(probe.ceiling(1024), 1024);
    }

    #[test]
    fn before_the_first_answer_a_sender_using_half_its_ceiling_grows_too() {
        let mut probe = CapacityProbe::default();
        let now = Instant::now();
        // Not bound by its slots (the timeline reserved fewer starts), but using half of them.
        probe.planned(false, now);
        probe.tick(now, 1024, 31, None);
        assert_eq!(probe.ceiling(1024), 64);
        probe.tick(now, 1024, 32, None);
        assert_eq!(probe.ceiling(1024), 128);
        // The bound caps it.
        probe.tick(now, 100, 100, None);
        assert_eq!(probe.ceiling(1024), 100);
    }

    #[test]
    fn windows_the_slots_did_not_bound_prove_nothing() {
        let mut probe = CapacityProbe::default();
        probe.answered();
        let mut now = Instant::now();
        for _ in 0..40 {
            probe.planned(false, now);
            now += Duration::from_millis(50);
            probe.tick(now, 1024, 0, Some(Duration::from_millis(2)));
        }
        assert_eq!(probe.ceiling(1024), CapacityProbe::INITIAL);
    }

    #[test]
    fn a_settled_sender_tries_again_later() {
        let mut probe = CapacityProbe::default();
        let start = Instant::now();
        let now = drive(&mut probe, start, 3, 1024, |n| 100.0 * n.min(100) as f64);
        let settled = probe.ceiling(1024);
        assert!(settled < 160, "settled at {settled}");
        // The machine frees up: a later try finds more.
        drive(&mut probe, now, 15, 1024, |n| 100.0 * n.min(400) as f64);
        assert!(probe.ceiling(1024) >= 400, "{}", probe.ceiling(1024));
    }
}
