//! How several campaigns on one sender share what the sender may send now (DESIGN.md §3: "by
//! priority, then weight, then age").
//!
//! - **Priority** is strict: a lower number is served first, and a campaign of a later priority
//!   gets only what the earlier ones do not want.
//! - **Weight** is proportional inside one priority (a weighted fair share): with 30 to give,
//!   weights 2 and 1 get 20 and 10. A weight of 0 counts as 1, so no running campaign starves.
//! - **Age** breaks what is left after the proportional split (the indivisible units): older
//!   campaigns (lower `age_rank`) get them first, one each in turn.
//!
//! Nobody gets more than they asked for; what one does not want flows to the others.

/// One campaign's request for a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// Lower is served first.
    pub priority: u32,
    /// Proportional share among claims of the same priority.
    pub weight: u32,
    /// Lower is older; it gets the indivisible units first.
    pub age_rank: u64,
    /// At most this much is given.
    pub want: u64,
}

/// Splits `available` among `claims`; the result is index-aligned with `claims`, each entry at
/// most its `want`, and the sum is `min(available, total want)`.
pub fn share(available: u64, claims: &[Claim]) -> Vec<u64> {
    let mut given = vec![0u64; claims.len()];
    let mut order: Vec<usize> = (0..claims.len()).collect();
    order.sort_by_key(|&i| (claims[i].priority, claims[i].age_rank, i));

    let mut left = available;
    let mut start = 0;
    while start < order.len() && left > 0 {
        let priority = claims[order[start]].priority;
        let end = order[start..]
            .iter()
            .position(|&i| claims[i].priority != priority)
            .map_or(order.len(), |p| start + p);
        left -= share_one_priority(left, claims, &order[start..end], &mut given);
        start = end;
    }
    given
}

/// Weighted water-filling among one priority group (`members` sorted oldest first); returns
/// how much it gave.
fn share_one_priority(
    available: u64,
    claims: &[Claim],
    members: &[usize],
    given: &mut [u64],
) -> u64 {
    let mut left = available;
    loop {
        let hungry: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| given[i] < claims[i].want)
            .collect();
        if hungry.is_empty() || left == 0 {
            break;
        }
        let total_weight: u128 = hungry
            .iter()
            .map(|&i| u128::from(claims[i].weight.max(1)))
            .sum();
        let mut handed = 0u64;
        for &i in &hungry {
            let fair = u128::from(left) * u128::from(claims[i].weight.max(1)) / total_weight;
            // `fair <= left`, so it fits in u64.
            let fair = u64::try_from(fair).unwrap_or(u64::MAX);
            let take = fair.min(claims[i].want - given[i]);
            given[i] += take;
            handed += take;
        }
        if handed == 0 {
            // Fewer units left than hungry members: one each, oldest first.
            for &i in &hungry {
                if left == 0 {
                    break;
                }
                given[i] += 1;
                left -= 1;
            }
            continue;
        }
        left -= handed;
    }
    available - left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(priority: u32, weight: u32, age_rank: u64, want: u64) -> Claim {
        Claim {
            priority,
            weight,
            age_rank,
            want,
        }
    }

    #[test]
    fn lower_priority_number_is_served_first() {
        let claims = [claim(2, 1, 0, 50), claim(1, 1, 1, 40)];
        assert_eq!(share(60, &claims), vec![20, 40]);
    }

    #[test]
    fn weights_split_one_priority_proportionally() {
        let claims = [claim(1, 2, 0, 100), claim(1, 1, 1, 100)];
        assert_eq!(share(30, &claims), vec![20, 10]);
    }

    #[test]
    fn what_one_does_not_want_flows_to_the_others() {
        let claims = [claim(1, 5, 0, 3), claim(1, 1, 1, 100), claim(3, 1, 2, 100)];
        assert_eq!(share(30, &claims), vec![3, 27, 0]);
        assert_eq!(share(200, &claims), vec![3, 100, 97]);
    }

    #[test]
    fn older_campaigns_get_the_indivisible_units() {
        let claims = [claim(1, 1, 7, 10), claim(1, 1, 3, 10), claim(1, 1, 5, 10)];
        assert_eq!(share(2, &claims), vec![0, 1, 1]);
        assert_eq!(share(4, &claims), vec![1, 2, 1]);
    }

    #[test]
    fn nothing_available_gives_nothing() {
        assert_eq!(share(0, &[claim(1, 1, 0, 10)]), vec![0]);
        assert_eq!(share(10, &[]), Vec::<u64>::new());
    }
}
