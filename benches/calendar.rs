//! How fast the calendar answers the pacer's questions (issue #3 targets: `next_open` under
//! 2 µs, a 30-day `open_seconds` under 20 µs). Instants are random over 2026-2027 so every
//! weekday, break, holiday and DST change is hit; each zone is measured separately.
use chrono::{DateTime, Duration, Offset, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tierpace::policy::calendar::Calendar;
use tierpace::policy::calendar_config::CalendarConfig;

fn comercial(timezone: &str) -> Calendar {
    let cfg: CalendarConfig = toml::from_str(&format!(
        r#"
        timezone = "{timezone}"
        mon = ["08:00-18:00"]
        tue = ["08:00-18:00"]
        wed = ["08:00-18:00"]
        thu = ["08:00-18:00"]
        fri = ["08:00-18:00"]
        sat = ["09:00-13:00"]
        breaks = ["12:00-13:00"]
        holidays = ["2026-12-24", "2026-12-31"]
        holiday_sets = ["BR"]
        [exceptions]
        "2026-12-24" = ["08:00-12:00"]
        "#
    ))
    .expect("valid TOML");
    cfg.build("comercial").expect("valid calendar").0
}

fn instants(n: usize) -> Vec<DateTime<Utc>> {
    let mut rng = StdRng::seed_from_u64(7);
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    (0..n)
        .map(|_| start + Duration::seconds(rng.gen_range(0..2 * 365 * 86_400)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let ts = instants(1024);
    let mut group = c.benchmark_group("calendar");
    for zone in ["America/Sao_Paulo", "America/New_York"] {
        let cal = comercial(zone);
        let tz = cal.timezone();
        let mut i = 0;
        // A yardstick: one chrono-tz offset look-up, the unit the calendar's work is made of.
        // On a loaded machine, read the other figures relative to it.
        group.bench_function(BenchmarkId::new("tz_offset_lookup", zone), |b| {
            b.iter(|| {
                i = (i + 1) % ts.len();
                black_box(
                    tz.offset_from_utc_datetime(&black_box(ts[i]).naive_utc())
                        .fix(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("next_open", zone), |b| {
            b.iter(|| {
                i = (i + 1) % ts.len();
                black_box(cal.next_open(black_box(ts[i])))
            })
        });
        group.bench_function(BenchmarkId::new("open_seconds_30d", zone), |b| {
            b.iter(|| {
                i = (i + 1) % ts.len();
                black_box(cal.open_seconds(black_box(ts[i]), ts[i] + Duration::days(30)))
            })
        });
        group.bench_function(BenchmarkId::new("is_open", zone), |b| {
            b.iter(|| {
                i = (i + 1) % ts.len();
                black_box(cal.is_open(black_box(ts[i])))
            })
        });
        group.bench_function(BenchmarkId::new("open_seconds_left_today", zone), |b| {
            b.iter(|| {
                i = (i + 1) % ts.len();
                black_box(cal.open_seconds_left_today(black_box(ts[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
