//! One conformance suite for every ledger backend: each rule is a generic async fn, and the
//! `conformance!` macro runs it against the in-memory ledger, a real private redis-server and a
//! private 3-master Redis Cluster (tests/support). Test names say the rule.
mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tierpace::campaign::phone::{normalise, parse_provider_number};
use tierpace::contact::{ContactHasher, ContactKey};
use tierpace::ledger::{
    AdmitDecision, Ledger, LedgerError, LedgerSettings, LimitGroup, MemoryLedger, RedisLedger,
};
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::{Quality, Tier};
use tierpace::policy::tier_event::TierEvent;

use support::redis_server::RedisServer;

// ---------------------------------------------------------------- harness

/// Builds a fresh, empty ledger of one backend with the given settings.
trait Backend {
    type L: Ledger;
    fn make(settings: LedgerSettings) -> impl Future<Output = Self::L>;
}

struct Memory;
impl Backend for Memory {
    type L = MemoryLedger;
    async fn make(settings: LedgerSettings) -> MemoryLedger {
        MemoryLedger::new(settings)
    }
}

struct Redis;
impl Backend for Redis {
    type L = RedisLedger<redis::aio::ConnectionManager>;
    async fn make(settings: LedgerSettings) -> Self::L {
        let conn = connect(RedisServer::shared()).await;
        // A fresh prefix per ledger isolates tests sharing the server.
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        RedisLedger::new(conn, &prefix, settings)
    }
}

/// The same ledger over the async Cluster client: every script must touch one slot.
struct Cluster;
impl Backend for Cluster {
    type L = RedisLedger<redis::cluster_async::ClusterConnection>;
    async fn make(settings: LedgerSettings) -> Self::L {
        let conn = support::redis_cluster::RedisCluster::shared()
            .connect()
            .await;
        let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
        RedisLedger::new(conn, &prefix, settings)
    }
}

async fn connect(server: &RedisServer) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(server.url()).unwrap();
    redis::aio::ConnectionManager::new_with_config(
        client,
        tierpace::ledger::redis::manager_config(),
    )
    .await
    .unwrap()
}

macro_rules! conformance {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test] async fn $rule() { super::$rule::<super::Memory>().await } )*
        }
        mod redis_backend {
            $( #[tokio::test] async fn $rule() { super::$rule::<super::Redis>().await } )*
        }
        mod cluster_backend {
            $( #[tokio::test] async fn $rule() { super::$rule::<super::Cluster>().await } )*
        }
    };
}

conformance!(
    first_admission_counts_once_in_24h_and_7d,
    second_template_within_24h_uses_no_headroom,
    contact_counts_again_after_the_window_but_once_in_the_lookback,
    limit_is_never_exceeded_and_refusals_say_when_a_slot_frees,
    allowance_is_limit_times_safety_share_minus_reserve,
    budget_caps_new_uniques_per_call_but_not_free_sends,
    batch_is_decided_in_order_and_duplicates_are_free,
    service_window_admits_without_headroom_until_it_closes,
    release_gives_the_slot_back_only_for_that_admission,
    seed_example_500_on_day_1_gives_10k_from_15h_day_2,
    upgrade_raises_the_allowance_only_from_its_effective_time,
    refusal_retry_time_is_the_upgrade_when_that_comes_first,
    low_quality_cancels_a_pending_upgrade_and_unknown_does_not_block,
    quality_low_for_7_days_lowers_the_limit,
    tier_events_from_provider_and_operator_set_the_tier,
    unlimited_tier_admits_everyone_within_the_budget,
    groups_are_independent,
    reloaded_settings_apply_to_later_calls,
    old_entries_leave_the_lookback,
    one_customer_in_both_spellings_of_a_mobile_counts_once,
);

fn t(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, h, m, 0).unwrap()
}

fn c(i: u64) -> ContactKey {
    ContactKey((0xfeed_u128 << 64) | u128::from(i))
}

fn contacts(range: std::ops::Range<u64>) -> Vec<ContactKey> {
    range.map(c).collect()
}

fn group(name: &str) -> LimitGroup {
    LimitGroup::new(name)
}

/// Settings that start `g` on `tier`, with the whole limit usable unless told otherwise.
fn settings(g: &str, tier: Tier, safety_share: f64, reserve: u64) -> LedgerSettings {
    LedgerSettings {
        policy: Policy::legacy(),
        safety_share,
        reserve,
        initial_tiers: BTreeMap::from([(group(g), tier)]),
    }
}

const COUNTED: AdmitDecision = AdmitDecision::Admitted { counted: true };
const FREE: AdmitDecision = AdmitDecision::Admitted { counted: false };

fn counted(d: &[AdmitDecision]) -> usize {
    d.iter().filter(|x| **x == COUNTED).count()
}

// ---------------------------------------------------------------- rules

async fn first_admission_counts_once_in_24h_and_7d<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    let d = l.admit(&g, t(2, 9, 0), &[c(1)], 10).await.unwrap();
    assert_eq!(d, vec![COUNTED]);
    let s = l.stats(&g, t(2, 9, 0)).await.unwrap();
    assert_eq!(
        (s.tier, s.limit, s.allowed),
        (Tier::T1K, Some(1000), Some(1000))
    );
    assert_eq!((s.unique_24h, s.unique_7d, s.headroom), (1, 1, Some(999)));
    assert_eq!(s.upgrade_threshold, Some(500));
    assert_eq!(s.next_slot_at, Some(t(3, 9, 0)));
}

async fn second_template_within_24h_uses_no_headroom<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &[c(1)], 10).await.unwrap();
    let d = l.admit(&g, t(3, 8, 59), &[c(1)], 10).await.unwrap();
    assert_eq!(d, vec![FREE]);
    let s = l.stats(&g, t(3, 8, 59)).await.unwrap();
    assert_eq!(s.unique_24h, 1);
    // The re-send did not move the conversation: it still leaves the window at 09:00.
    assert_eq!(s.next_slot_at, Some(t(3, 9, 0)));
}

async fn contact_counts_again_after_the_window_but_once_in_the_lookback<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &[c(1)], 10).await.unwrap();
    let d = l.admit(&g, t(3, 9, 0), &[c(1)], 10).await.unwrap();
    assert_eq!(
        d,
        vec![COUNTED],
        "exactly 24 h later the conversation has closed"
    );
    let s = l.stats(&g, t(3, 9, 0)).await.unwrap();
    assert_eq!((s.unique_24h, s.unique_7d), (1, 1));
}

async fn limit_is_never_exceeded_and_refusals_say_when_a_slot_frees<B: Backend>() {
    // 250 x 1.0 - 247 = 3 new uniques per 24 h.
    let l = B::make(settings("g", Tier::T250, 1.0, 247)).await;
    let g = group("g");
    assert_eq!(
        l.admit(&g, t(2, 8, 0), &[c(1)], 10).await.unwrap(),
        vec![COUNTED]
    );
    let d = l.admit(&g, t(2, 10, 0), &contacts(2..6), 10).await.unwrap();
    let refused = AdmitDecision::LimitReached {
        retry_at: t(3, 8, 0),
    };
    assert_eq!(d, vec![COUNTED, COUNTED, refused, refused]);
    let s = l.stats(&g, t(2, 10, 0)).await.unwrap();
    assert_eq!((s.unique_24h, s.headroom), (3, Some(0)));
    // One second before the oldest leaves: still full. At 08:00: one slot.
    let d = l.admit(&g, t(3, 7, 59), &[c(4)], 10).await.unwrap();
    assert!(matches!(d[0], AdmitDecision::LimitReached { .. }));
    let d = l.admit(&g, t(3, 8, 0), &contacts(4..6), 10).await.unwrap();
    assert_eq!(d[0], COUNTED);
    assert_eq!(
        d[1],
        AdmitDecision::LimitReached {
            retry_at: t(3, 10, 0)
        }
    );
}

async fn allowance_is_limit_times_safety_share_minus_reserve<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 0.95, 50)).await;
    let g = group("g");
    let s = l.stats(&g, t(2, 0, 0)).await.unwrap();
    assert_eq!(
        (s.limit, s.allowed, s.headroom),
        (Some(1000), Some(900), Some(900))
    );
    let d = l
        .admit(&g, t(2, 9, 0), &contacts(0..1000), 1000)
        .await
        .unwrap();
    assert_eq!(counted(&d), 900);
    assert!(d[900..]
        .iter()
        .all(|x| matches!(x, AdmitDecision::LimitReached { .. })));
}

async fn budget_caps_new_uniques_per_call_but_not_free_sends<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &[c(1)], 1).await.unwrap();
    let d = l
        .admit(&g, t(2, 10, 0), &[c(2), c(3), c(1), c(4)], 1)
        .await
        .unwrap();
    assert_eq!(
        d,
        vec![
            COUNTED,
            AdmitDecision::OverBudget,
            FREE,
            AdmitDecision::OverBudget
        ]
    );
    assert_eq!(l.stats(&g, t(2, 10, 0)).await.unwrap().unique_24h, 2);
}

async fn batch_is_decided_in_order_and_duplicates_are_free<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 248)).await; // 2 a day
    let g = group("g");
    let d = l
        .admit(&g, t(2, 9, 0), &[c(1), c(1), c(2), c(3), c(2)], 10)
        .await
        .unwrap();
    let refused = AdmitDecision::LimitReached {
        retry_at: t(3, 9, 0),
    };
    assert_eq!(d, vec![COUNTED, FREE, COUNTED, refused, FREE]);
}

/// The ledger counts unique customers by key: an audience row in the old 8-digit form and one in
/// today's form, and an inbound message from the old WhatsApp id, are one customer.
async fn one_customer_in_both_spellings_of_a_mobile_counts_once<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 248)).await; // 2 a day
    let g = group("g");
    let h = ContactHasher::new(b"ledger-identity");
    let row = |phone: &str| h.key(&normalise(None, phone, "55").unwrap().number);
    let (old_row, new_row) = (row("(85) 9999-0001"), row("+55 85 99999-0001"));
    let d = l
        .admit(&g, t(2, 9, 0), &[old_row, new_row], 10)
        .await
        .unwrap();
    assert_eq!(d, [COUNTED, FREE]);
    assert_eq!(l.stats(&g, t(2, 9, 0)).await.unwrap().unique_24h, 1);
    // An inbound from the 12-digit id opens the service window of the 13-digit contact.
    let other_old_id = h.key(&parse_provider_number("558599990002").unwrap());
    l.open_service_window(&g, other_old_id, t(2, 9, 30))
        .await
        .unwrap();
    let d = l
        .admit(
            &g,
            t(2, 10, 0),
            &[row("85 99999-0002"), row("85 99999-0003")],
            10,
        )
        .await
        .unwrap();
    assert_eq!(d, [FREE, COUNTED]);
    assert_eq!(l.stats(&g, t(2, 10, 0)).await.unwrap().unique_24h, 2);
}

async fn service_window_admits_without_headroom_until_it_closes<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 249)).await; // 1 a day
    let g = group("g");
    l.open_service_window(&g, c(7), t(2, 9, 0)).await.unwrap();
    // A late, out-of-order webhook must not shorten the window.
    l.open_service_window(&g, c(7), t(2, 8, 0)).await.unwrap();
    let d = l
        .admit(&g, t(2, 10, 0), &[c(7), c(1), c(2)], 10)
        .await
        .unwrap();
    assert_eq!(d[..2], [FREE, COUNTED]);
    assert!(matches!(d[2], AdmitDecision::LimitReached { .. }));
    assert_eq!(l.stats(&g, t(2, 10, 0)).await.unwrap().unique_24h, 1);
    let d = l.admit(&g, t(3, 8, 59), &[c(7)], 10).await.unwrap();
    assert_eq!(d, vec![FREE]);
    // At 09:00 next day the service window is closed and the limit is still used by c(1).
    let d = l.admit(&g, t(3, 9, 0), &[c(7)], 10).await.unwrap();
    assert_eq!(
        d,
        vec![AdmitDecision::LimitReached {
            retry_at: t(3, 10, 0)
        }]
    );
}

async fn release_gives_the_slot_back_only_for_that_admission<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 249)).await; // 1 a day
    let g = group("g");
    assert_eq!(
        l.admit(&g, t(2, 9, 0), &[c(1)], 10).await.unwrap(),
        vec![COUNTED]
    );
    // Releasing at another instant is a no-op (e.g. the free re-send of an open conversation).
    l.release(&g, c(1), t(2, 9, 30)).await.unwrap();
    l.release(&g, c(2), t(2, 9, 0)).await.unwrap();
    assert_eq!(l.stats(&g, t(2, 10, 0)).await.unwrap().unique_24h, 1);
    l.release(&g, c(1), t(2, 9, 0)).await.unwrap();
    let s = l.stats(&g, t(2, 10, 0)).await.unwrap();
    assert_eq!((s.unique_24h, s.unique_7d), (0, 0));
    assert_eq!(
        l.admit(&g, t(2, 10, 0), &[c(2)], 10).await.unwrap(),
        vec![COUNTED]
    );
}

async fn seed_example_500_on_day_1_gives_10k_from_15h_day_2<B: Backend>() {
    // The operator's guide: 500 new customers on day 1 on a 1K limit, the 500th at 15:00.
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    for i in 0..499u64 {
        let at = t(2, 8, 0) + Duration::seconds(i as i64 * 50);
        assert_eq!(l.admit(&g, at, &[c(i)], 1).await.unwrap(), vec![COUNTED]);
    }
    assert_eq!(
        l.stats(&g, t(2, 14, 59)).await.unwrap().pending_upgrade,
        None
    );
    assert_eq!(
        l.admit(&g, t(2, 15, 0), &[c(499)], 1).await.unwrap(),
        vec![COUNTED]
    );
    let s = l.stats(&g, t(2, 23, 59)).await.unwrap();
    assert_eq!((s.unique_24h, s.unique_7d, s.tier), (500, 500, Tier::T1K));
    let p = s.pending_upgrade.unwrap();
    assert_eq!(
        (p.to, p.crossed_at, p.effective_at),
        (Tier::T10K, t(2, 15, 0), t(3, 15, 0))
    );
    // Day 2: 500 more; 1,000 unique in 7 days, 10K from 15:00.
    let d = l
        .admit(&g, t(3, 15, 0), &contacts(500..1000), 500)
        .await
        .unwrap();
    assert_eq!(counted(&d), 500);
    let s = l.stats(&g, t(3, 23, 59)).await.unwrap();
    assert_eq!(
        (s.unique_7d, s.tier, s.limit, s.pending_upgrade),
        (1000, Tier::T10K, Some(10_000), None)
    );
    assert_eq!(l.stats(&g, t(3, 14, 59)).await.unwrap().tier, Tier::T1K);
}

async fn upgrade_raises_the_allowance_only_from_its_effective_time<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    let d = l
        .admit(&g, t(2, 15, 0), &contacts(0..500), 500)
        .await
        .unwrap();
    assert_eq!(counted(&d), 500);
    // 500 more fit into 1K at 15:01; the 1,001st does not until the upgrade at 15:00 next day.
    let d = l
        .admit(&g, t(2, 15, 1), &contacts(500..1001), 1000)
        .await
        .unwrap();
    assert_eq!(counted(&d), 500);
    assert_eq!(
        d[500],
        AdmitDecision::LimitReached {
            retry_at: t(3, 15, 0)
        }
    );
    let d = l.admit(&g, t(3, 14, 59), &[c(1000)], 10).await.unwrap();
    assert!(matches!(d[0], AdmitDecision::LimitReached { .. }));
    let d = l.admit(&g, t(3, 15, 0), &[c(1000)], 10).await.unwrap();
    assert_eq!(d, vec![COUNTED]);
}

async fn refusal_retry_time_is_the_upgrade_when_that_comes_first<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 500)).await; // 500 a day, threshold 500
    let g = group("g");
    let d = l
        .admit(&g, t(2, 9, 0), &contacts(0..501), 1000)
        .await
        .unwrap();
    // The crossing happened in this very batch: the upgrade at 09:00 next day is the retry time
    // (equal to the oldest slot here), and a later batch sees the same.
    assert_eq!(
        d[500],
        AdmitDecision::LimitReached {
            retry_at: t(3, 9, 0)
        }
    );
    let d = l.admit(&g, t(2, 20, 0), &[c(600)], 1).await.unwrap();
    assert_eq!(
        d,
        vec![AdmitDecision::LimitReached {
            retry_at: t(3, 9, 0)
        }]
    );
}

async fn low_quality_cancels_a_pending_upgrade_and_unknown_does_not_block<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    l.apply_tier_event(&g, t(2, 0, 0), TierEvent::Quality(Quality::Unknown))
        .await
        .unwrap();
    l.admit(&g, t(2, 9, 0), &contacts(0..500), 500)
        .await
        .unwrap();
    assert!(l
        .stats(&g, t(2, 9, 0))
        .await
        .unwrap()
        .pending_upgrade
        .is_some());
    let s = l
        .apply_tier_event(&g, t(2, 10, 0), TierEvent::Quality(Quality::Low))
        .await
        .unwrap();
    assert_eq!(s.pending_upgrade, None);
    l.admit(&g, t(2, 11, 0), &contacts(500..600), 500)
        .await
        .unwrap();
    let s = l.stats(&g, t(4, 0, 0)).await.unwrap();
    assert_eq!(
        (s.tier, s.pending_upgrade, s.quality),
        (Tier::T1K, None, Quality::Low)
    );
    // Back to medium: the next admit notices the lookback is above the threshold.
    l.apply_tier_event(&g, t(4, 1, 0), TierEvent::Quality(Quality::Medium))
        .await
        .unwrap();
    l.admit(&g, t(4, 2, 0), &[c(0)], 1).await.unwrap();
    let p = l
        .stats(&g, t(4, 2, 0))
        .await
        .unwrap()
        .pending_upgrade
        .unwrap();
    assert_eq!((p.crossed_at, p.effective_at), (t(4, 2, 0), t(5, 2, 0)));
}

async fn quality_low_for_7_days_lowers_the_limit<B: Backend>() {
    let l = B::make(settings("g", Tier::T10K, 1.0, 0)).await;
    let g = group("g");
    l.apply_tier_event(&g, t(1, 0, 0), TierEvent::Quality(Quality::Low))
        .await
        .unwrap();
    let s = l.stats(&g, t(7, 23, 0)).await.unwrap();
    assert_eq!((s.tier, s.downgrade_at), (Tier::T10K, Some(t(8, 0, 0))));
    let s = l.stats(&g, t(8, 0, 0)).await.unwrap();
    assert_eq!((s.tier, s.limit), (Tier::T1K, Some(1000)));
}

async fn tier_events_from_provider_and_operator_set_the_tier<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 0)).await;
    let g = group("g");
    let s = l
        .apply_tier_event(&g, t(2, 0, 0), TierEvent::Onboarding)
        .await
        .unwrap();
    assert_eq!(s.tier, Tier::T1K);
    l.apply_tier_event(&g, t(2, 1, 0), TierEvent::Upgrade { to: None })
        .await
        .unwrap();
    assert_eq!(l.stats(&g, t(2, 1, 0)).await.unwrap().tier, Tier::T10K);
    l.apply_tier_event(&g, t(2, 2, 0), TierEvent::Flagged)
        .await
        .unwrap();
    assert!(l.stats(&g, t(2, 2, 0)).await.unwrap().flagged);
    l.apply_tier_event(&g, t(2, 3, 0), TierEvent::Downgrade { to: None })
        .await
        .unwrap();
    assert_eq!(l.stats(&g, t(2, 3, 0)).await.unwrap().tier, Tier::T1K);
    l.apply_tier_event(
        &g,
        t(2, 4, 0),
        TierEvent::ProviderTier { tier: Tier::T100K },
    )
    .await
    .unwrap();
    assert_eq!(l.stats(&g, t(2, 4, 0)).await.unwrap().limit, Some(100_000));
    l.apply_tier_event(&g, t(2, 5, 0), TierEvent::OperatorSet(Tier::T250))
        .await
        .unwrap();
    let s = l.stats(&g, t(2, 5, 0)).await.unwrap();
    assert_eq!((s.tier, s.flagged), (Tier::T250, true));
    // Flagged: reaching the threshold earns nothing.
    l.admit(&g, t(2, 6, 0), &contacts(0..200), 500)
        .await
        .unwrap();
    assert_eq!(l.stats(&g, t(2, 6, 0)).await.unwrap().pending_upgrade, None);
    l.apply_tier_event(&g, t(2, 7, 0), TierEvent::Unflagged)
        .await
        .unwrap();
    l.admit(&g, t(2, 8, 0), &[], 0).await.unwrap();
    assert!(l
        .stats(&g, t(2, 8, 0))
        .await
        .unwrap()
        .pending_upgrade
        .is_some());
}

async fn unlimited_tier_admits_everyone_within_the_budget<B: Backend>() {
    let l = B::make(settings("g", Tier::Unlimited, 0.95, 100)).await;
    let g = group("g");
    let d = l
        .admit(&g, t(2, 9, 0), &contacts(0..2000), 1500)
        .await
        .unwrap();
    assert_eq!(counted(&d), 1500);
    assert!(d[1500..].iter().all(|x| *x == AdmitDecision::OverBudget));
    let s = l.stats(&g, t(2, 9, 0)).await.unwrap();
    assert_eq!(
        (s.limit, s.allowed, s.headroom, s.upgrade_threshold),
        (None, None, None, None)
    );
}

async fn groups_are_independent<B: Backend>() {
    let mut s = settings("a", Tier::T250, 1.0, 249);
    s.initial_tiers.insert(group("b"), Tier::T250);
    let l = B::make(s).await;
    assert_eq!(
        l.admit(&group("a"), t(2, 9, 0), &[c(1)], 10).await.unwrap(),
        vec![COUNTED]
    );
    assert_eq!(
        l.admit(&group("b"), t(2, 9, 0), &[c(1)], 10).await.unwrap(),
        vec![COUNTED]
    );
    l.apply_tier_event(&group("a"), t(2, 9, 0), TierEvent::OperatorSet(Tier::T10K))
        .await
        .unwrap();
    assert_eq!(
        l.stats(&group("b"), t(2, 9, 0)).await.unwrap().tier,
        Tier::T250
    );
}

async fn reloaded_settings_apply_to_later_calls<B: Backend>() {
    let l = B::make(settings("g", Tier::T250, 1.0, 249)).await;
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &[c(1)], 10).await.unwrap();
    assert!(matches!(
        l.admit(&g, t(2, 9, 0), &[c(2)], 10).await.unwrap()[0],
        AdmitDecision::LimitReached { .. }
    ));
    // A group with no recorded tier follows the configured initial tier; the reserve changes too.
    l.update_settings(settings("g", Tier::T1K, 1.0, 0));
    assert_eq!(
        l.admit(&g, t(2, 9, 0), &[c(2)], 10).await.unwrap(),
        vec![COUNTED]
    );
    let s = l.stats(&g, t(2, 9, 0)).await.unwrap();
    assert_eq!((s.tier, s.allowed), (Tier::T1K, Some(1000)));
    // Once a tier is recorded, it wins over the configured initial tier.
    l.apply_tier_event(&g, t(2, 10, 0), TierEvent::OperatorSet(Tier::T10K))
        .await
        .unwrap();
    l.update_settings(settings("g", Tier::T250, 1.0, 0));
    assert_eq!(l.stats(&g, t(2, 10, 0)).await.unwrap().tier, Tier::T10K);
    // An unknown group starts on the policy's first rung.
    assert_eq!(
        l.stats(&group("new"), t(2, 10, 0)).await.unwrap().tier,
        Tier::T250
    );
}

async fn old_entries_leave_the_lookback<B: Backend>() {
    let l = B::make(settings("g", Tier::T1K, 1.0, 0)).await;
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &contacts(0..10), 100)
        .await
        .unwrap();
    l.admit(&g, t(5, 9, 0), &contacts(10..15), 100)
        .await
        .unwrap();
    assert_eq!(l.stats(&g, t(9, 8, 59)).await.unwrap().unique_7d, 15);
    let s = l.stats(&g, t(9, 9, 0)).await.unwrap();
    assert_eq!((s.unique_7d, s.unique_24h, s.next_slot_at), (5, 0, None));
    // Trimming happened on the way; the counts stay right after more admissions.
    l.admit(&g, t(9, 9, 0), &contacts(0..3), 100).await.unwrap();
    let s = l.stats(&g, t(9, 9, 0)).await.unwrap();
    assert_eq!((s.unique_7d, s.unique_24h), (8, 3));
}

// ---------------------------------------------------------------- Redis only

#[tokio::test]
async fn redis_unreachable_is_a_typed_error_not_an_admission() {
    let server = RedisServer::start();
    let conn = connect(&server).await;
    let l = RedisLedger::new(conn, "down", settings("g", Tier::T1K, 1.0, 0));
    let g = group("g");
    assert_eq!(
        l.admit(&g, t(2, 9, 0), &[c(1)], 1).await.unwrap(),
        vec![COUNTED]
    );
    server.stop();
    let err = l.admit(&g, t(2, 9, 1), &[c(2)], 1).await.unwrap_err();
    assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
    let err = l.stats(&g, t(2, 9, 1)).await.unwrap_err();
    assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
    let err = l
        .apply_tier_event(&g, t(2, 9, 1), TierEvent::Flagged)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
    // Back up (empty, like a restart without persistence): the same ledger answers again, and
    // knows it lost its records (see the data-loss test below).
    server.restart();
    let mut recovered = None;
    for _ in 0..50 {
        match l.admit(&g, t(2, 9, 2), &[c(3)], 1).await {
            Ok(d) => {
                recovered = Some(d);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    assert_eq!(
        recovered,
        Some(vec![AdmitDecision::LimitReached {
            retry_at: t(3, 9, 2)
        }])
    );
}

#[tokio::test]
async fn replicas_sharing_one_redis_never_exceed_the_limit() {
    let server = RedisServer::shared();
    let prefix = format!("r{}", uuid::Uuid::new_v4().simple());
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(Arc::new(RedisLedger::new(
            connect(server).await,
            &prefix,
            settings("g", Tier::T1K, 0.95, 0),
        )));
    }
    let mut tasks = Vec::new();
    for (r, l) in replicas.iter().enumerate() {
        let l = Arc::clone(l);
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0;
            for b in 0..20u64 {
                // Overlapping audiences: every replica tries the same 2,000 contacts.
                let start = (b * 100 + r as u64 * 37) % 2000;
                let batch = contacts(start..start + 100);
                let d = l.admit(&group("g"), t(2, 9, 0), &batch, 100).await.unwrap();
                admitted += counted(&d);
            }
            admitted
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 950, "exactly the allowance, never more");
    let s = replicas[0].stats(&group("g"), t(2, 9, 0)).await.unwrap();
    assert_eq!(s.unique_24h, 950);
}

#[tokio::test]
async fn a_replica_sees_the_tier_another_replica_changed() {
    let server = RedisServer::shared();
    let prefix = format!("x{}", uuid::Uuid::new_v4().simple());
    let a = RedisLedger::new(
        connect(server).await,
        &prefix,
        settings("g", Tier::T250, 1.0, 249),
    );
    let b = RedisLedger::new(
        connect(server).await,
        &prefix,
        settings("g", Tier::T250, 1.0, 249),
    );
    let g = group("g");
    assert_eq!(
        b.admit(&g, t(2, 9, 0), &[c(1)], 1).await.unwrap(),
        vec![COUNTED]
    );
    a.apply_tier_event(&g, t(2, 9, 0), TierEvent::OperatorSet(Tier::T1K))
        .await
        .unwrap();
    // b's cached state is stale; its script notices the version and recomputes the allowance.
    assert_eq!(
        b.admit(&g, t(2, 9, 1), &[c(2)], 1).await.unwrap(),
        vec![COUNTED]
    );
}

#[tokio::test]
async fn redis_holds_no_raw_numbers_and_uses_hash_tagged_keys() {
    let server = RedisServer::shared();
    let prefix = format!("k{}", uuid::Uuid::new_v4().simple());
    let l = RedisLedger::new(
        connect(server).await,
        &prefix,
        settings("sac", Tier::T1K, 1.0, 0),
    );
    let g = group("sac");
    l.admit(&g, t(2, 9, 0), &[c(1)], 1).await.unwrap();
    l.open_service_window(&g, c(2), t(2, 9, 0)).await.unwrap();
    let mut conn = connect(server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("{prefix}:{{sac}}:conv"),
            format!("{prefix}:{{sac}}:epoch"),
            format!("{prefix}:{{sac}}:svc"),
            format!("{prefix}:{{sac}}:tier"),
        ]
    );
    let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}:{{sac}}:conv"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, vec![(c(1).0 as u64).to_be_bytes().to_vec()]);
}

#[tokio::test]
async fn redis_restarted_empty_admits_no_new_unique_for_a_window_and_keeps_the_tier() {
    let server = RedisServer::start();
    let l = RedisLedger::new(
        connect(&server).await,
        "lost",
        settings("g", Tier::T250, 1.0, 0),
    );
    let g = group("g");
    assert_eq!(
        l.admit(&g, t(2, 9, 0), &[c(1)], 1).await.unwrap(),
        vec![COUNTED]
    );
    l.apply_tier_event(&g, t(2, 9, 0), TierEvent::OperatorSet(Tier::T10K))
        .await
        .unwrap();
    server.restart();
    let mut after = None;
    for _ in 0..50 {
        match l.admit(&g, t(2, 10, 0), &[c(1), c(2)], 2).await {
            Ok(d) => {
                after = Some(d);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    // Nobody knows who was reached before the loss: no new unique until a window has passed.
    let refused = AdmitDecision::LimitReached {
        retry_at: t(3, 10, 0),
    };
    assert_eq!(after, Some(vec![refused, refused]));
    let s = l.stats(&g, t(2, 10, 0)).await.unwrap();
    assert_eq!(
        (s.tier, s.recovering_until),
        (Tier::T10K, Some(t(3, 10, 0)))
    );
    // A second replica that knew nothing before the restart sees the same.
    let other = RedisLedger::new(
        connect(&server).await,
        "lost",
        settings("g", Tier::T250, 1.0, 0),
    );
    let d = other.admit(&g, t(2, 11, 0), &[c(3)], 1).await.unwrap();
    assert_eq!(d, vec![refused]);
    assert_eq!(
        l.admit(&g, t(3, 10, 0), &[c(2)], 1).await.unwrap(),
        vec![COUNTED]
    );
    assert_eq!(
        l.stats(&g, t(3, 10, 0)).await.unwrap().recovering_until,
        None
    );
}

#[tokio::test]
async fn redis_window_that_lost_members_admits_no_new_unique_for_a_window() {
    // Issue #16: an evicting Redis (or a DEL) can take the conversations set while the epoch
    // key stays; the count kept beside the set says records vanished.
    let server = RedisServer::shared();
    let prefix = format!("k{}", uuid::Uuid::new_v4().simple());
    let l = RedisLedger::new(
        connect(server).await,
        &prefix,
        settings("g", Tier::T250, 1.0, 0),
    );
    let g = group("g");
    assert_eq!(
        l.admit(&g, t(2, 9, 0), &[c(1), c(2), c(3)], 3)
            .await
            .unwrap(),
        vec![COUNTED, COUNTED, COUNTED]
    );
    // A release (send never reached WhatsApp) shrinks the set legitimately: no loss.
    l.release(&g, c(3), t(2, 9, 0)).await.unwrap();
    assert_eq!(
        l.admit(&g, t(2, 9, 1), &[c(4)], 1).await.unwrap(),
        vec![COUNTED]
    );
    let mut conn = connect(server).await;
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{prefix}:{{g}}:conv"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let refused = AdmitDecision::LimitReached {
        retry_at: t(3, 9, 2),
    };
    assert_eq!(
        l.admit(&g, t(2, 9, 2), &[c(5)], 1).await.unwrap(),
        vec![refused]
    );
    assert_eq!(
        l.stats(&g, t(2, 9, 2)).await.unwrap().recovering_until,
        Some(t(3, 9, 2))
    );
    // After one window the group admits again.
    assert_eq!(
        l.admit(&g, t(3, 9, 2), &[c(5)], 1).await.unwrap(),
        vec![COUNTED]
    );
}

#[tokio::test]
async fn redis_group_written_before_the_member_count_adopts_it_without_a_loss() {
    let server = RedisServer::shared();
    let prefix = format!("k{}", uuid::Uuid::new_v4().simple());
    let l = RedisLedger::new(
        connect(server).await,
        &prefix,
        settings("g", Tier::T250, 1.0, 0),
    );
    let g = group("g");
    l.admit(&g, t(2, 9, 0), &[c(1), c(2)], 2).await.unwrap();
    // As the ledger before issue #16 left it: no `n` in the tier hash.
    let mut conn = connect(server).await;
    let _: i64 = redis::cmd("HDEL")
        .arg(format!("{prefix}:{{g}}:tier"))
        .arg("n")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        l.admit(&g, t(2, 9, 1), &[c(3)], 1).await.unwrap(),
        vec![COUNTED]
    );
    assert_eq!(
        l.stats(&g, t(2, 9, 1)).await.unwrap().recovering_until,
        None
    );
}
