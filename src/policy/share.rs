//! How several campaigns on one sender share what the sender may send now (DESIGN.md §3: "by
//! priority, then weight, then age").
//!
//! - **Priority** is strict: a lower number is served first, and a campaign of a later priority
//!   gets only what the earlier ones do not want.
//! - **Weight** is proportional inside one priority (a weighted fair share): with 30 to give,
//!   weights 2 and 1 get 20 and 10. A weight of 0 counts as 1, so no running campaign starves.
//! - **Age** breaks ties: the indivisible units left after the proportional split go to whoever
//!   is furthest behind their weight, and among equals to older campaigns (lower `age_rank`).
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
/// how much it gave. Members whose proportional share covers all they want are filled and leave;
/// when nobody is filled any more, everyone left gets the floor of their share, and the few units
/// that rounding leaves go one at a time to whoever is furthest behind their weight, older first.
fn share_one_priority(
    available: u64,
    claims: &[Claim],
    members: &[usize],
    given: &mut [u64],
) -> u64 {
    let weight = |i: usize| u128::from(claims[i].weight.max(1));
    let mut left = available;
    let mut hungry: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| claims[i].want > 0)
        .collect();
    while left > 0 && !hungry.is_empty() {
        let total_weight: u128 = hungry.iter().map(|&i| weight(i)).sum();
        // `fair <= left`, so it fits in u64.
        let fair = |i: usize| {
            u64::try_from(u128::from(left) * weight(i) / total_weight).unwrap_or(u64::MAX)
        };
        let filled: Vec<usize> = hungry
            .iter()
            .copied()
            .filter(|&i| fair(i) >= claims[i].want - given[i])
            .collect();
        if !filled.is_empty() {
            for &i in &filled {
                left -= claims[i].want - given[i];
                given[i] = claims[i].want;
            }
            hungry.retain(|i| !filled.contains(i));
            continue;
        }
        let shares: Vec<u64> = hungry.iter().map(|&i| fair(i)).collect();
        for (&i, share) in hungry.iter().zip(shares) {
            given[i] += share;
            left -= share;
        }
        // Fewer units than members are left: one at a time to whoever is furthest behind.
        while left > 0 {
            let behind = hungry
                .iter()
                .copied()
                .filter(|&i| given[i] < claims[i].want)
                .min_by(|&a, &b| {
                    // (given + 1) / weight, compared without division; ties keep the older.
                    let lhs = u128::from(given[a] + 1) * weight(b);
                    let rhs = u128::from(given[b] + 1) * weight(a);
                    lhs.cmp(&rhs)
                });
            match behind {
                Some(i) => {
                    given[i] += 1;
                    left -= 1;
                }
                None => break,
            }
        }
        break;
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
