//! Parse and validate an audience: rows/s of the streaming reader (normalise, opt-in, params,
//! contact key, duplicate filter). Rows: `AUDIENCE_BENCH_ROWS` (default 1,000,000). Peak RSS is
//! measured separately with `examples/audience_scan.rs` under `/usr/bin/time -v`.
use std::io::{BufWriter, Write};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tierpace::campaign::{scan_audience, AudienceSpec, ColumnNames, ParamTemplate};
use tierpace::contact::ContactHasher;

fn generate(path: &std::path::Path, rows: u64) -> std::io::Result<()> {
    const DDD: [u32; 10] = [11, 21, 31, 41, 51, 61, 71, 81, 85, 92];
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "name,ddi,phone,email,opt_in,cupom")?;
    for i in 0..rows {
        let n = if i % 100 == 99 { i - 50 } else { i };
        let ddd = DDD[(n % 10) as usize];
        let sub = 10_000_000 + n * 7 % 89_999_999;
        let phone = if i % 50 == 7 {
            format!("({ddd}) 123")
        } else {
            format!("({ddd}) 9{:04}-{:04}", sub / 10_000, sub % 10_000)
        };
        let opt_in = if i % 20 == 3 { "não" } else { "sim" };
        writeln!(
            out,
            "Cliente {i},55,{phone},cliente{i}@example.com.br,{opt_in},BF{}",
            i % 97
        )?;
    }
    out.flush()
}

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
