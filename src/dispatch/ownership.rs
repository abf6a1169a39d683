//! Which live replica should pace which sender: the ownership plan (issue #19).
//!
//! Pure: the live replicas (from the register in [`super::sender_lease`]) and who holds each
//! sender's lease now go in, a replica per sender comes out. Every replica computes the same
//! plan from the same inputs, so no coordinator is needed; the sender lease makes sure that
//! even when two replicas briefly disagree, only one sends.
//!
//! The plan is even and sticky: no replica gets more than `ceil(senders / replicas)`; a sender
//! stays with its current holder while that holder is live and under that share (a move costs
//! the sender a pause of one second plus a tick, see `sender_lease`); the others go, in name
//! order, to the replica with the highest rendezvous score (a keyed hash of sender and replica)
//! among those under their share, so a change in the replica set moves as few senders as
//! possible.
use std::collections::BTreeMap;
use std::hash::Hasher as _;
use std::sync::RwLock;

use siphasher::sip::SipHasher13;

/// Rendezvous (highest random weight) score of `replica` for `sender`: the same on every
/// replica and every release (SipHash-1-3 with fixed keys).
fn score(sender: &str, replica: &str) -> u64 {
    let mut h = SipHasher13::new_with_keys(0x7469_6572_7061_6365, 0x7265_706c_6963_6173);
    h.write(sender.as_bytes());
    h.write_u8(0xff);
    h.write(replica.as_bytes());
    h.finish()
}

/// The plan: for each sender (all of `senders`), the live replica that should pace it. Empty
/// when no replica is live. `holders` maps a sender to the replica holding its lease now.
pub fn plan(
    senders: &[String],
    live: &[String],
    holders: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if live.is_empty() {
        return out;
    }
    let mut senders: Vec<&String> = senders.iter().collect();
    senders.sort();
    senders.dedup();
    let share = senders.len().div_ceil(live.len());
    let mut load: BTreeMap<&str, usize> = live.iter().map(|r| (r.as_str(), 0)).collect();
    for s in &senders {
        if let Some(h) = holders.get(*s) {
            if let Some(n) = load.get_mut(h.as_str()).filter(|n| **n < share) {
                *n += 1;
                out.insert((*s).clone(), h.clone());
            }
        }
    }
    for s in senders {
        if out.contains_key(s) {
            continue;
        }
        let best: Option<&str> = load
            .iter()
            .filter(|(_, n)| **n < share)
            .max_by_key(|(r, _)| (score(s, r), **r))
            .map(|(r, _)| *r);
        if let Some(r) = best {
            if let Some(n) = load.get_mut(r) {
                *n += 1;
            }
            out.insert(s.clone(), r.to_string());
        }
    }
    out
}

/// What a dispatcher reads of the plan for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// No plan yet (the register was not read), or the plan leaves the sender out: take the
    /// lease when it is free.
    Unknown,
    /// This replica should pace the sender.
    Here,
    /// Another live replica should.
    There(String),
}

/// The latest plan, written by the daemon's register task and read by every dispatcher.
#[derive(Debug)]
pub struct Ownership {
    /// This replica's id (`instance_id` or the host name, then the process id).
    pub replica: String,
    plan: RwLock<Option<BTreeMap<String, String>>>,
    live: RwLock<Vec<String>>,
}

impl Ownership {
    pub fn new(replica: String) -> Self {
        Self {
            replica,
            plan: RwLock::new(None),
            live: RwLock::new(Vec::new()),
        }
    }

    pub fn set(&self, live: Vec<String>, plan: BTreeMap<String, String>) {
        *self.plan.write().unwrap_or_else(|e| e.into_inner()) = Some(plan);
        *self.live.write().unwrap_or_else(|e| e.into_inner()) = live;
    }

    pub fn planned(&self, sender: &str) -> Planned {
        let plan = self.plan.read().unwrap_or_else(|e| e.into_inner());
        match plan.as_ref().and_then(|p| p.get(sender)) {
            None => Planned::Unknown,
            Some(r) if *r == self.replica => Planned::Here,
            Some(r) => Planned::There(r.clone()),
        }
    }

    /// The live replicas at the last look, sorted.
    pub fn live(&self) -> Vec<String> {
        self.live.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn loads(p: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in p.values() {
            *m.entry(r.clone()).or_default() += 1;
        }
        m
    }

    #[test]
    fn every_sender_gets_one_live_replica_and_no_replica_more_than_its_share() {
        for n_senders in 1..12 {
            for n_live in 1..5 {
                let senders: Vec<String> = (0..n_senders).map(|i| format!("s{i}")).collect();
                let live: Vec<String> = (0..n_live).map(|i| format!("r{i}")).collect();
                let p = plan(&senders, &live, &BTreeMap::new());
                assert_eq!(p.len(), n_senders);
                let share = n_senders.div_ceil(n_live);
                assert!(loads(&p).values().all(|n| *n <= share), "{p:?}");
                assert!(p.values().all(|r| live.contains(r)));
            }
        }
    }

    #[test]
    fn two_senders_on_three_replicas_go_to_two_different_replicas() {
        let p = plan(
            &names(&["sac", "vendas"]),
            &names(&["r0-1", "r1-2", "r2-3"]),
            &BTreeMap::new(),
        );
        assert_ne!(p["sac"], p["vendas"]);
    }

    #[test]
    fn a_live_holder_keeps_its_sender() {
        let holders = BTreeMap::from([("sac".to_string(), "r2".to_string())]);
        let p = plan(&names(&["sac"]), &names(&["r0", "r1", "r2"]), &holders);
        assert_eq!(p["sac"], "r2");
    }

    #[test]
    fn a_dead_holders_sender_moves_to_a_live_replica() {
        let holders = BTreeMap::from([("sac".to_string(), "gone".to_string())]);
        let p = plan(&names(&["sac"]), &names(&["r0", "r1"]), &holders);
        assert!(p["sac"] == "r0" || p["sac"] == "r1");
    }

    #[test]
    fn a_holder_over_its_share_gives_the_excess_to_a_new_replica() {
        // r0 started first and took both; r1 joins: one sender moves, one stays.
        let holders = BTreeMap::from([
            ("sac".to_string(), "r0".to_string()),
            ("vendas".to_string(), "r0".to_string()),
        ]);
        let p = plan(&names(&["sac", "vendas"]), &names(&["r0", "r1"]), &holders);
        assert_eq!(loads(&p).values().copied().collect::<Vec<_>>(), vec![1, 1]);
        assert_eq!(p["sac"], "r0", "the first in name order stays put");
    }

    #[test]
    fn a_replica_leaving_moves_only_its_own_senders() {
        let senders: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        let three = names(&["r0", "r1", "r2"]);
        let before = plan(&senders, &three, &BTreeMap::new());
        let two = names(&["r0", "r1"]);
        let after = plan(&senders, &two, &before);
        for (s, r) in &before {
            if r != "r2" {
                assert_eq!(&after[s], r, "{s} moved although its replica stayed");
            }
        }
    }

    #[test]
    fn no_live_replica_means_no_plan() {
        assert!(plan(&names(&["sac"]), &[], &BTreeMap::new()).is_empty());
    }
}
