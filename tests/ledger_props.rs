//! Both ledger backends against a deliberately naive reference model: a `Vec` of (time, contact)
//! conversation openings and another of service windows, counted by brute force on every
//! question. Random sequences of admits, releases, service windows, tier events and time jumps
//! (a second to ten days) must give the same decisions and the same stats everywhere.
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use tierpace::contact::ContactKey;
use tierpace::ledger::{
    AdmitDecision, Ledger, LedgerSettings, LedgerStats, LimitGroup, MemoryLedger, RedisLedger,
};
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::{Quality, Tier, ALL_TIERS};
use tierpace::policy::tier_event::TierEvent;
use tierpace::policy::tier_state::TierState;

use support::redis_server::RedisServer;

#[derive(Debug, Clone)]
enum Op {
    Admit(Vec<u64>, u32),
    Service(u64),
    /// Release the n-th admission seen so far (counted or not; a free one is a no-op).
    Release(usize),
    Event(TierEvent),
    Advance(i64),
}

enum Raw {
    Free,
    Counted,
    OverBudget,
    Full,
}

/// The naive model: brute force over every opening ever recorded.
struct Model {
    settings: LedgerSettings,
    group: LimitGroup,
    opens: Vec<(i64, u64)>,
    service: Vec<(i64, u64)>,
    state: Option<TierState>,
}

impl Model {
    fn stored(&self) -> TierState {
        self.state
            .clone()
            .unwrap_or_else(|| self.settings.initial_state(&self.group))
    }

    fn ms(now: DateTime<Utc>) -> i64 {
        now.timestamp_millis()
    }

    /// Distinct contacts with an opening after `cutoff`.
    fn unique_after(&self, cutoff: i64) -> u64 {
        self.opens
            .iter()
            .filter(|(t, _)| *t > cutoff)
            .map(|(_, c)| *c)
            .collect::<BTreeSet<_>>()
            .len() as u64
    }

    fn window(&self) -> i64 {
        self.settings.policy.window.num_milliseconds()
    }

    fn lookback(&self) -> i64 {
        self.settings.policy.lookback.num_milliseconds()
    }

    fn oldest_after(&self, cutoff: i64) -> Option<i64> {
        self.opens
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t > cutoff)
            .min()
    }

    fn admit(&mut self, now: DateTime<Utc>, contacts: &[u64], budget: u32) -> Vec<AdmitDecision> {
        let policy = self.settings.policy.clone();
        let now_ms = Self::ms(now);
        let wcut = now_ms - self.window();
        let settled = self.stored().settle(&policy, now);
        let allowed = self.settings.allowance(settled.tier);
        let mut counted = 0u32;
        let mut raw = Vec::new();
        for &c in contacts {
            let open = self.opens.iter().any(|(t, x)| *x == c && *t > wcut);
            let svc = self.service.iter().any(|(t, x)| *x == c && *t > wcut);
            raw.push(if open || svc {
                Raw::Free
            } else if allowed.is_some_and(|a| self.unique_after(wcut) >= a) {
                Raw::Full
            } else if counted >= budget {
                Raw::OverBudget
            } else {
                self.opens.push((now_ms, c));
                counted += 1;
                Raw::Counted
            });
        }
        // Crossing: the lookback count after the batch, judged by the pure policy.
        let unique_7d = self.unique_after(now_ms - self.lookback());
        if let Some((threshold, crossed)) = settled.upgrade_on_crossing(&policy, now) {
            if unique_7d >= threshold {
                self.state = Some(crossed);
            }
        }
        let after = self.stored().settle(&policy, now);
        let mut retry = self.oldest_after(wcut).unwrap_or(now_ms) + self.window();
        if let Some(p) = after.pending_upgrade {
            if p.effective_at.timestamp_millis() > now_ms {
                retry = retry.min(p.effective_at.timestamp_millis());
            }
        }
        let retry_at = DateTime::from_timestamp_millis(retry).unwrap();
        raw.into_iter()
            .map(|r| match r {
                Raw::Free => AdmitDecision::Admitted { counted: false },
                Raw::Counted => AdmitDecision::Admitted { counted: true },
                Raw::OverBudget => AdmitDecision::OverBudget,
                Raw::Full => AdmitDecision::LimitReached { retry_at },
            })
            .collect()
    }

    fn release(&mut self, c: u64, at: DateTime<Utc>) {
        let at = Self::ms(at);
        let latest = self
            .opens
            .iter()
            .filter(|(_, x)| *x == c)
            .map(|(t, _)| *t)
            .max();
        if latest == Some(at) {
            self.opens.retain(|(_, x)| *x != c);
        }
    }

    fn stats(&self, now: DateTime<Utc>) -> (u64, u64, Option<i64>, TierState) {
        let now_ms = Self::ms(now);
        let wcut = now_ms - self.window();
        (
            self.unique_after(wcut),
            self.unique_after(now_ms - self.lookback()),
            self.oldest_after(wcut).map(|t| t + self.window()),
            self.stored().settle(&self.settings.policy, now),
        )
    }
}

fn key(c: u64) -> ContactKey {
    ContactKey((0xabcd_u128 << 64) | u128::from(c))
}

fn tier_strategy() -> impl Strategy<Value = Tier> {
    prop::sample::select(ALL_TIERS.to_vec())
}

fn event_strategy() -> impl Strategy<Value = TierEvent> {
    prop_oneof![
        tier_strategy().prop_map(|tier| TierEvent::ProviderTier { tier }),
        prop::option::of(tier_strategy()).prop_map(|to| TierEvent::Upgrade { to }),
        prop::option::of(tier_strategy()).prop_map(|to| TierEvent::Downgrade { to }),
        Just(TierEvent::Flagged),
        Just(TierEvent::Unflagged),
        Just(TierEvent::Onboarding),
        prop::sample::select(vec![
            Quality::Unknown,
            Quality::Low,
            Quality::Medium,
            Quality::High
        ])
        .prop_map(TierEvent::Quality),
        tier_strategy().prop_map(TierEvent::OperatorSet),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(0u64..60, 0..12), 0u32..10).prop_map(|(c, b)| Op::Admit(c, b)),
        1 => (0u64..60).prop_map(Op::Service),
        1 => any::<usize>().prop_map(Op::Release),
        1 => event_strategy().prop_map(Op::Event),
        3 => prop_oneof![0i64..120, 120i64..86_400, 86_400i64..=864_000].prop_map(Op::Advance),
    ]
}

/// Small limits so a 60-contact pool hits them: a ladder from 50, a reserve, short delays.
fn settings_strategy() -> impl Strategy<Value = LedgerSettings> {
    (
        prop::sample::select(vec![0u64, 30, 45, 60]),
        prop::sample::select(vec![1.0f64, 0.95]),
        prop::sample::select(vec![0.1f64, 0.5, 1.0]),
        prop::sample::select(vec![6i64, 24]),
        prop::option::of(prop::sample::select(vec![2i64, 7])),
        prop::sample::select(vec![Tier::T50, Tier::T250]),
    )
        .prop_map(
            |(reserve, share, upgrade_share, delay_h, down_d, start)| LedgerSettings {
                policy: Policy {
                    ladder: vec![Tier::T50, Tier::T250, Tier::T1K, Tier::T10K],
                    upgrade_share,
                    upgrade_delay: Duration::hours(delay_h),
                    downgrade_after_low: down_d.map(Duration::days),
                    ..Policy::legacy()
                },
                safety_share: share,
                reserve,
                initial_tiers: BTreeMap::from([(LimitGroup::new("g"), start)]),
            },
        )
}

struct Env {
    rt: tokio::runtime::Runtime,
    conn: redis::aio::ConnectionManager,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let url = RedisServer::shared().url();
        let conn = rt.block_on(async {
            let client = redis::Client::open(url).unwrap();
            redis::aio::ConnectionManager::new(client).await.unwrap()
        });
        Env { rt, conn }
    })
}

fn compare(
    model: (u64, u64, Option<i64>, TierState),
    got: &LedgerStats,
    who: &str,
) -> Result<(), TestCaseError> {
    let (u24, u7, slot, state) = model;
    prop_assert_eq!(got.unique_24h, u24, "{} unique_24h", who);
    prop_assert_eq!(got.unique_7d, u7, "{} unique_7d", who);
    prop_assert_eq!(
        got.next_slot_at.map(|t| t.timestamp_millis()),
        slot,
        "{} next_slot_at",
        who
    );
    prop_assert_eq!(got.tier, state.tier, "{} tier", who);
    prop_assert_eq!(got.quality, state.quality, "{} quality", who);
    prop_assert_eq!(got.flagged, state.flagged, "{} flagged", who);
    prop_assert_eq!(
        got.pending_upgrade,
        state.pending_upgrade,
        "{} pending",
        who
    );
    Ok(())
}

async fn run_case(
    settings: LedgerSettings,
    ops: Vec<Op>,
    conn: redis::aio::ConnectionManager,
) -> Result<(), TestCaseError> {
    let group = LimitGroup::new("g");
    let prefix = format!("p{}", uuid::Uuid::new_v4().simple());
    let memory = MemoryLedger::new(settings.clone());
    let redis = RedisLedger::new(conn, &prefix, settings.clone());
    let mut model = Model {
        settings: settings.clone(),
        group: group.clone(),
        opens: Vec::new(),
        service: Vec::new(),
        state: None,
    };
    let mut now = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
    let mut admissions: Vec<(u64, DateTime<Utc>)> = Vec::new();
    for op in ops {
        match op {
            Op::Admit(contacts, budget) => {
                let keys: Vec<ContactKey> = contacts.iter().map(|&c| key(c)).collect();
                let allowed = settings.allowance(model.stats(now).3.tier);
                let want = model.admit(now, &contacts, budget);
                let mem = memory.admit(&group, now, &keys, budget).await.unwrap();
                let red = redis.admit(&group, now, &keys, budget).await.unwrap();
                prop_assert_eq!(&mem, &want, "memory admit");
                prop_assert_eq!(&red, &want, "redis admit");
                // Never over the limit, by the model's own count.
                let any_counted = want.contains(&AdmitDecision::Admitted { counted: true });
                if let (Some(a), true) = (allowed, any_counted) {
                    prop_assert!(model.stats(now).0 <= a, "over the allowance");
                }
                for (c, d) in contacts.iter().zip(&want) {
                    if matches!(d, AdmitDecision::Admitted { .. }) {
                        admissions.push((*c, now));
                    }
                }
            }
            Op::Service(c) => {
                model.service.push((now.timestamp_millis(), c));
                memory
                    .open_service_window(&group, key(c), now)
                    .await
                    .unwrap();
                redis
                    .open_service_window(&group, key(c), now)
                    .await
                    .unwrap();
            }
            Op::Release(n) => {
                if !admissions.is_empty() {
                    let (c, at) = admissions[n % admissions.len()];
                    model.release(c, at);
                    memory.release(&group, key(c), at).await.unwrap();
                    redis.release(&group, key(c), at).await.unwrap();
                }
            }
            Op::Event(e) => {
                let want = model.stored().apply(&settings.policy, now, e);
                model.state = Some(want.clone());
                let mem = memory.apply_tier_event(&group, now, e).await.unwrap();
                let red = redis.apply_tier_event(&group, now, e).await.unwrap();
                prop_assert_eq!(&mem, &want, "memory event");
                prop_assert_eq!(&red, &want, "redis event");
            }
            Op::Advance(secs) => now += Duration::seconds(secs),
        }
        let want = model.stats(now);
        compare(
            want.clone(),
            &memory.stats(&group, now).await.unwrap(),
            "memory",
        )?;
        compare(want, &redis.stats(&group, now).await.unwrap(), "redis")?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn both_backends_match_the_naive_model(
        settings in settings_strategy(),
        ops in prop::collection::vec(op_strategy(), 1..60),
        pool in prop::sample::select(vec![12u64, 30, 60]),
    ) {
        // A smaller pool of contacts makes re-sends and re-counts after the window common.
        let ops = ops
            .into_iter()
            .map(|op| match op {
                Op::Admit(c, b) => Op::Admit(c.into_iter().map(|x| x % pool).collect(), b),
                Op::Service(c) => Op::Service(c % pool),
                other => other,
            })
            .collect();
        let env = env();
        env.rt.block_on(run_case(settings, ops, env.conn.clone()))?;
    }
}
