//! How fast the HTTP surface answers: parsing callbacks, checking Meta signatures, a whole
//! webhook round trip over 127.0.0.1, and encoding `/metrics` for a busy daemon.
//! Run: `cargo bench --bench http_webhooks -- --warm-up-time 1 --measurement-time 3`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prometheus_client::registry::Registry;
use tierpace::http::admin::CampaignTotals;
use tierpace::http::meta_webhook::meta_signature;
use tierpace::http::{
    parse_gupshup, parse_meta, router, serve, verify_meta_signature, AdminError, AdminOps,
    CampaignAction, CampaignStatus, EventSink, HttpConfig, HttpState, Metrics, ProviderEvent,
    Readiness, SenderStatus, WebhookSource,
};
use tokio_util::sync::CancellationToken;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

struct Noop;

#[async_trait::async_trait]
impl EventSink for Noop {
    async fn handle(
        &self,
        _: WebhookSource,
        _: ProviderEvent,
        _: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<tierpace::http::EventOutcome, tierpace::http::SinkError> {
        Ok(tierpace::http::EventOutcome::Applied)
    }
}

#[async_trait::async_trait]
impl AdminOps for Noop {
    async fn senders(&self) -> Result<Vec<SenderStatus>, AdminError> {
        Ok(vec![])
    }
    async fn campaigns(&self) -> Result<Vec<CampaignStatus>, AdminError> {
        Ok(vec![])
    }
    async fn campaign_action(
        &self,
        id: &str,
        _: CampaignAction,
    ) -> Result<CampaignStatus, AdminError> {
        Err(AdminError::NotFound(id.into()))
    }
    async fn optout(&self, _: &str, _: bool) -> Result<(), AdminError> {
        Ok(())
    }
    async fn set_tier(&self, s: &str, _: &str) -> Result<SenderStatus, AdminError> {
        Err(AdminError::NotFound(s.into()))
    }
    async fn set_brake(
        &self,
        s: &str,
        _: bool,
        _: Option<String>,
    ) -> Result<SenderStatus, AdminError> {
        Err(AdminError::NotFound(s.into()))
    }
}

impl Readiness for Noop {
    fn ready(&self) -> Result<(), Vec<String>> {
        Ok(())
    }
}

fn parsing(c: &mut Criterion) {
    let gupshup = fixture("gupshup_message_event_failed.json");
    let meta = fixture("meta_statuses.json");
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("gupshup_message_event", |b| {
        b.iter(|| parse_gupshup(&gupshup))
    });
    g.bench_function("meta_two_statuses", |b| b.iter(|| parse_meta(&meta)));
    g.finish();

    let body = vec![b'x'; 4096];
    let sig = meta_signature(b"app-secret", &body);
    c.bench_function("verify_meta_signature_4KiB", |b| {
        b.iter(|| verify_meta_signature(b"app-secret", &body, Some(&sig)))
    });
}

fn round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let noop = Arc::new(Noop);
    let state = HttpState {
        sink: noop.clone(),
        admin: noop.clone(),
        readiness: noop,
        registry: Arc::new(registry),
        metrics,
        // Secret as in production; no per-source limit, since every request comes from 127.0.0.1.
        config: Arc::new(HttpConfig {
            gupshup_secret: Some(tierpace::http::Secret::new("bench-secret")),
            webhook_rate: None,
            ..HttpConfig::default()
        }),
    };
    let shutdown = CancellationToken::new();
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/webhooks/gupshup/bench-secret",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(serve(
            listener,
            router(state),
            shutdown.clone(),
            tierpace::http::ListenerLimits::default(),
        ));
        url
    });
    let client = reqwest::Client::new();
    let body = fixture("gupshup_message_event_delivered.json");
    c.bench_function("gupshup_webhook_round_trip", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = client
                .post(&url)
                .body(body.clone())
                .send()
                .await
                .expect("post");
            assert_eq!(resp.status(), 200);
        })
    });
    shutdown.cancel();
}

fn encode_metrics(c: &mut Criterion) {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    for i in 0..50 {
        metrics.observe_campaign(&CampaignStatus {
            id: format!("campaign-{i}"),
            sender: format!("sender-{}", i % 10),
            template: None,
            state: "running".into(),
            why: None,
            until: None,
            totals: CampaignTotals {
                total: 100_000,
                pending: 50_000,
                skipped: [("opted_out".to_string(), 10)].into_iter().collect(),
                failed_by_code: [("131048".to_string(), 3), ("1002".to_string(), 5)]
                    .into_iter()
                    .collect(),
                ..CampaignTotals::default()
            },
            rate_per_second: 3.0,
            eta_seconds: Some(3600),
        });
    }
    c.bench_function("encode_metrics_50_campaigns", |b| {
        b.iter(|| {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
            text.len()
        })
    });
}

criterion_group!(benches, parsing, round_trip, encode_metrics);
criterion_main!(benches);
