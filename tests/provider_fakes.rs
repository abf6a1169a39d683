//! The fakes' own arithmetic on time, checked against deliberately naive models: the over-limit
//! count (unique conversations in any rolling 24 h) and the busiest one-second interval.
mod support;

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use support::fake_gupshup::{max_in_window, over_limit_count};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Naive: walk the sends in time order; a send opens a conversation unless an earlier opening
/// to the same destination is less than a window old; it is over the limit when, counting it,
/// more than `limit` openings are less than a window old.
fn naive_over_limit(sends: &[(SystemTime, &str)], limit: u64, window: Duration) -> usize {
    let mut sorted = sends.to_vec();
    sorted.sort_by_key(|(t, _)| *t);
    let mut openings: Vec<(SystemTime, &str)> = Vec::new();
    let mut over = 0;
    for (t, d) in sorted {
        let young = |o: &&(SystemTime, &str)| o.0 + window > t;
        if openings.iter().filter(young).any(|o| o.1 == d) {
            continue;
        }
        openings.push((t, d));
        if openings.iter().filter(young).count() as u64 > limit {
            over += 1;
        }
    }
    over
}

/// Naive: for every instant, count the instants in `[it, it + window)`.
fn naive_max_in_window(times: &[SystemTime], window: Duration) -> usize {
    times
        .iter()
        .map(|s| {
            times
                .iter()
                .filter(|t| **t >= *s && **t < *s + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn at(minutes: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + minutes * 60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn over_limit_count_matches_the_naive_model(
        sends in prop::collection::vec((0u64..(4 * 24 * 60), 0usize..12), 0..60),
        limit in 0u64..8,
    ) {
        let names: Vec<String> = (0..12).map(|i| format!("55859000000{i:02}")).collect();
        let sends: Vec<(SystemTime, &str)> = sends.iter().map(|(m, d)| (at(*m), names[*d].as_str())).collect();
        prop_assert_eq!(over_limit_count(&sends, limit, DAY), naive_over_limit(&sends, limit, DAY));
    }

    #[test]
    fn busiest_second_matches_the_naive_model(millis in prop::collection::vec(0u64..5_000, 0..80)) {
        let times: Vec<SystemTime> = millis.iter().map(|m| SystemTime::UNIX_EPOCH + Duration::from_millis(*m)).collect();
        prop_assert_eq!(max_in_window(&times, Duration::from_secs(1)), naive_max_in_window(&times, Duration::from_secs(1)));
    }
}

#[test]
fn conversation_reopened_after_exactly_a_day_counts_again() {
    let sends = [(at(0), "a"), (at(0), "b"), (at(24 * 60), "a")];
    // At t = 24 h the first conversations have left the window: only "a" again is open.
    assert_eq!(
        over_limit_count(&sends, 1, DAY),
        1,
        "b over at t=0, a fine again at 24 h"
    );
}
