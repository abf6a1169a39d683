//! Throughput of the Gupshup provider against the loopback fake: a measurement, not a test
//! (no timed assertions; STYLE.md). Run it on purpose:
//!
//! `cargo test --test provider_throughput -- --ignored --nocapture`
//! (`PROVIDER_BENCH_SENDS` and `PROVIDER_BENCH_CONCURRENCY` change the sizes.)
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use tierpace::contact::E164;
use tierpace::provider::{
    http_client, GupshupConfig, GupshupProvider, Provider, TemplateMessage, TemplateRef,
};
use tierpace::secret::Secret;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn gupshup_sends_per_second_against_the_loopback_fake() {
    let sends = env_or("PROVIDER_BENCH_SENDS", 20_000);
    let concurrency = env_or("PROVIDER_BENCH_CONCURRENCY", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
        let cfg = GupshupConfig {
            base_url: fake.base_url(),
            ..GupshupConfig::new("5585999990000", "Bench", Secret::new("test-gupshup-key"))
        };
        let provider = Arc::new(GupshupProvider::new(cfg, http_client(Duration::from_secs(1)).unwrap()));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..concurrency {
            let provider = provider.clone();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = worker;
                while i < sends {
                    let msg = TemplateMessage {
                        to: E164::from_validated_digits(format!("55859{i:08}")),
                        template: TemplateRef {
                            id: Some("8f1e2d3c-0000-4000-8000-000000000001".into()),
                            ..TemplateRef::default()
                        },
                        params: vec!["Ana".into(), "sexta".into()],
                        media: None,
                        header_params: vec![],
                        buttons: vec![],
                    };
                    let t = Instant::now();
                    assert!(provider.send(&msg).await.is_accepted());
                    latencies.push(t.elapsed());
                    i += concurrency;
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
        println!(
            "gupshup provider -> loopback fake: {sends} sends, concurrency {concurrency}: {:.0} sends/s, p50 {:?}, p99 {:?} (client and fake share 2 worker threads)",
            sends as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
        assert_eq!(fake.sends().len(), sends);
    });
}
