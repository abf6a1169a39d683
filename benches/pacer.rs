//! Cost of the pure pacing decisions, per call: the throughput cap, one pacer tick with 1, 10
//! and 100 campaigns on a sender, and the priority/weight share. The dispatcher calls `plan` once
//! per sender per tick, so these figures bound how many senders one core can pace.
//!
//! Run: `cargo bench --bench pacer -- --warm-up-time 1 --measurement-time 3`
use std::hint::black_box;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use tierpace::policy::brake::BrakeState;
use tierpace::policy::growth::PacingMode;
use tierpace::policy::pacer::{CampaignView, Pacer, PacerSettings, SenderView};
use tierpace::policy::rate::Gcra;
use tierpace::policy::share::{share, Claim};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The sender at call `k` of a 24/7 day ticking every 100 ms (the day rolls over every 864,000
/// calls, as it would).
fn view(k: i64) -> SenderView {
    let now = t0() + Duration::milliseconds(100 * k);
    let day_start = t0() + Duration::days((now - t0()).num_days());
    SenderView {
        now,
        limit: Some(100_000),
        headroom: Some(90_000),
        unique_24h: 5_000,
        unique_7d: 60_000,
        upgrade_threshold: Some(50_000),
        upgrade_at: None,
        limit_frees_at: None,
        day_start,
        open_seconds_left_today: 86_400 - (now - day_start).num_seconds(),
        open_now: true,
        new_uniques_today: 1_000,
        max_mps: 80,
        group_share: 1.0,
        throughput_room: None,
    }
}

fn campaigns(n: usize) -> Vec<CampaignView> {
    let modes = [PacingMode::Grow, PacingMode::Steady, PacingMode::Asap];
    (0..n)
        .map(|i| CampaignView {
            id: format!("campaign-{i}"),
            priority: (i % 3) as u32,
            weight: 1 + (i % 4) as u32,
            age_rank: i as u64,
            mode: modes[i % 3],
            marketing: i % 2 == 0,
            daily_max: (i % 3 == 1).then_some(50_000),
            sent_today: 0,
            template_sends: 5_000,
            remaining: 1_000_000,
            open_now: true,
        })
        .collect()
}

fn bench_rate(c: &mut Criterion) {
    c.bench_function("rate/try_take (80/s cap, a call every 10 ms)", |b| {
        let mut cap = Gcra::new(80);
        let mut k = 0i64;
        b.iter(|| {
            k += 1;
            black_box(cap.try_take(t0() + Duration::milliseconds(10 * k), 3))
        });
    });
}

fn bench_plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("pacer/plan");
    let brakes = BrakeState::default();
    for n in [1usize, 10, 100] {
        let list = campaigns(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &list, |b, list| {
            let mut pacer = Pacer::new(PacerSettings::default());
            let mut k = 0i64;
            b.iter(|| {
                k += 1;
                black_box(pacer.plan(&view(k), &brakes, list))
            });
        });
    }
    group.finish();
}

fn bench_share(c: &mut Criterion) {
    let claims: Vec<Claim> = (0..100)
        .map(|i| Claim {
            priority: i % 3,
            weight: 1 + i % 4,
            age_rank: u64::from(i),
            want: 10 + u64::from(i),
        })
        .collect();
    c.bench_function("share/100 claims", |b| {
        b.iter(|| black_box(share(black_box(1_000), &claims)))
    });
}

criterion_group!(benches, bench_rate, bench_plan, bench_share);
criterion_main!(benches);
