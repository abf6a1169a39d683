//! Parse and validate an audience: rows/s of the streaming reader (normalise, opt-in, params,
//! contact key, duplicate filter). Rows: `AUDIENCE_BENCH_ROWS` (default 1,000,000). Peak RSS is
//! measured separately with `examples/audience_scan.rs` under `/usr/bin/time -v`.
#[path = "support/audience_gen.rs"]
mod audience_gen;
use audience_gen::generate;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tierpace::campaign::{scan_audience, AudienceSpec, ColumnNames, ParamTemplate};
use tierpace::contact::ContactHasher;

fn audience(c: &mut Criterion) {
    let rows: u64 = std::env::var("AUDIENCE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audience.csv");
    generate(&path, rows).expect("generate audience");
    let spec = AudienceSpec {
        file: path,
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    };
    let params = [
        ParamTemplate::parse("{{name}}").expect("param"),
        ParamTemplate::parse("{{cupom}}").expect("param"),
    ];
    let hasher = ContactHasher::new(b"bench");
    let mut group = c.benchmark_group("audience");
    group.throughput(Throughput::Elements(rows));
    group.sample_size(10);
    group.bench_function(format!("scan_{rows}_rows"), |b| {
        b.iter(|| scan_audience(&spec, &params, &hasher).expect("scan").valid)
    });
    group.finish();
}

criterion_group!(benches, audience);
criterion_main!(benches);
