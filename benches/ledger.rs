//! Ledger benchmarks: admissions per second for both backends at batch sizes 1, 100 and 1,000,
//! and Redis bytes per tracked customer (MEMORY USAGE / INFO memory over many contacts).
//!
//! Run: `cargo bench --bench ledger -- --warm-up-time 1 --measurement-time 3`.
//! `TIERPACE_BENCH_CONTACTS` sets how many contacts the memory measurement loads (default
//! 1,000,000). Needs `redis-server` on PATH (scripts/test.sh installs it).
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tierpace::contact::ContactKey;
use tierpace::ledger::{Ledger, LedgerSettings, LimitGroup, MemoryLedger, RedisLedger};
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::Tier;

use support::redis_server::RedisServer;

const BATCHES: [usize; 3] = [1, 100, 1_000];

fn settings(tier: Tier) -> LedgerSettings {
    LedgerSettings {
        policy: Policy::legacy(),
        safety_share: 1.0,
        reserve: 0,
        initial_tiers: BTreeMap::from([(LimitGroup::new("bench"), tier)]),
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
}

/// A key whose low 64 bits (what the ledger stores) are spread like a real hash.
fn key(i: u64) -> ContactKey {
    ContactKey(u128::from(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | (7u128 << 64))
}

/// Admits `iters` batches of fresh contacts on a 100K tier, one contact a second of virtual
/// time, so the 24 h window stays under the limit and the 7 d lookback keeps trimming: the
/// realistic path (counting, recording, crossing checks), not the refusal shortcut.
async fn admit_batches<L: Ledger>(
    ledger: &L,
    next: &mut u64,
    batch: usize,
    iters: u64,
) -> StdDuration {
    let group = LimitGroup::new("bench");
    let mut total = StdDuration::ZERO;
    for _ in 0..iters {
        let contacts: Vec<ContactKey> = (0..batch as u64).map(|k| key(*next + k)).collect();
        let now = start() + Duration::seconds(*next as i64);
        *next += batch as u64;
        let t0 = Instant::now();
        let d = ledger
            .admit(&group, now, &contacts, batch as u32)
            .await
            .expect("admit");
        total += t0.elapsed();
        assert_eq!(d.len(), batch);
    }
    total
}

fn admissions(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = RedisServer::start();
    let conn = rt.block_on(async {
        let client = redis::Client::open(server.url()).expect("client");
        redis::aio::ConnectionManager::new(client)
            .await
            .expect("connect")
    });

    let mut group = c.benchmark_group("admit");
    for batch in BATCHES {
        group.throughput(Throughput::Elements(batch as u64));
        let memory = MemoryLedger::new(settings(Tier::T100K));
        let mut next = 0u64;
        group.bench_with_input(BenchmarkId::new("memory", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| rt.block_on(admit_batches(&memory, &mut next, batch, iters)))
        });
        let redis = RedisLedger::new(
            conn.clone(),
            &format!("bench{batch}"),
            settings(Tier::T100K),
        );
        let mut next = 0u64;
        group.bench_with_input(BenchmarkId::new("redis", batch), &batch, |b, &batch| {
            b.iter_custom(|iters| rt.block_on(admit_batches(&redis, &mut next, batch, iters)))
        });
    }
    group.finish();

    rt.block_on(bytes_per_customer(conn));
}

fn used_memory(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Loads N contacts into one group through the ledger and reports Redis memory per contact.
async fn bytes_per_customer(mut conn: redis::aio::ConnectionManager) {
    let n: u64 = std::env::var("TIERPACE_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut conn)
        .await
        .expect("flush");
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("info");
    let before = used_memory(&info);
    let ledger = RedisLedger::new(conn.clone(), "mem", settings(Tier::Unlimited));
    let group = LimitGroup::new("bench");
    let t0 = Instant::now();
    let mut i = 0u64;
    while i < n {
        let batch: Vec<ContactKey> = (i..(i + 1_000).min(n)).map(key).collect();
        let now = start() + Duration::milliseconds(i as i64);
        ledger
            .admit(&group, now, &batch, batch.len() as u32)
            .await
            .expect("admit");
        i += batch.len() as u64;
    }
    let load = t0.elapsed();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("info");
    let after = used_memory(&info);
    let usage: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(ledger.conversations_key(&group))
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut conn)
        .await
        .expect("memory usage");
    println!(
        "redis memory: {n} contacts loaded in {:.1} s ({:.0} admissions/s in batches of 1,000); \
         MEMORY USAGE {:.1} bytes/contact; INFO used_memory delta {:.1} bytes/contact",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64(),
        usage as f64 / n as f64,
        after.saturating_sub(before) as f64 / n as f64,
    );
}

criterion_group!(benches, admissions);
criterion_main!(benches);
