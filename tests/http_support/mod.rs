//! Test doubles of the daemon's traits that record what the HTTP layer asked of them, and a
//! helper that serves the real router on 127.0.0.1:0. No Redis here: the HTTP layer only talks
//! to the traits; end-to-end tests with Redis belong to the daemon.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tierpace::http::admin::{Brake, CampaignTotals, LadderStep};
use tierpace::http::{
    router, serve, AdminError, AdminOps, CampaignAction, CampaignStatus, EventOutcome, EventSink,
    HttpConfig, HttpState, Metrics, ProviderEvent, Readiness, SenderStatus, SinkError,
    WebhookSource,
};
use tierpace::ledger::LedgerError;
use tokio_util::sync::CancellationToken;

/// Records every event; can be told to fail or to be slow.
#[derive(Default)]
pub struct RecordingSink {
    pub events: Mutex<Vec<(WebhookSource, ProviderEvent)>>,
    pub fail: AtomicBool,
    pub delay: Mutex<Option<Duration>>,
}

impl RecordingSink {
    pub fn events(&self) -> Vec<(WebhookSource, ProviderEvent)> {
        self.events.lock().expect("lock").clone()
    }
    pub fn take(&self) -> Vec<ProviderEvent> {
        std::mem::take(&mut *self.events.lock().expect("lock"))
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }
}

#[async_trait::async_trait]
impl EventSink for RecordingSink {
    async fn handle(
        &self,
        source: WebhookSource,
        event: ProviderEvent,
        _at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<EventOutcome, SinkError> {
        let delay = *self.delay.lock().expect("lock");
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(SinkError::Ledger(LedgerError::Unavailable(
                "redis unreachable".into(),
            )));
        }
        self.events.lock().expect("lock").push((source, event));
        Ok(EventOutcome::Applied)
    }
}

/// A tiny in-memory daemon: one sender, campaigns whose state the actions change.
pub struct FakeAdmin {
    pub calls: Mutex<Vec<String>>,
    pub campaigns: Mutex<BTreeMap<String, CampaignStatus>>,
    pub sender: Mutex<SenderStatus>,
    pub optouts: Mutex<Vec<String>>,
}

impl Default for FakeAdmin {
    fn default() -> Self {
        let mut campaigns = BTreeMap::new();
        campaigns.insert("black-friday".to_string(), sample_campaign("black-friday"));
        FakeAdmin {
            calls: Mutex::new(Vec::new()),
            campaigns: Mutex::new(campaigns),
            sender: Mutex::new(sample_sender()),
            optouts: Mutex::new(Vec::new()),
        }
    }
}

impl FakeAdmin {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
    fn record(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
}

pub fn sample_sender() -> SenderStatus {
    SenderStatus {
        id: "sac".into(),
        limit_group: "acme".into(),
        provider: "gupshup".into(),
        tier: "TIER_1K".into(),
        limit: Some(1000),
        allowance: Some(950),
        unique_24h: 412,
        unique_7d: 730,
        threshold: Some(500),
        headroom: 538,
        upgrade_at: None,
        upgrade_to: None,
        quality: "HIGH".into(),
        brakes: vec![],
        rate_per_second: 2.5,
        rate_limit_mps: 20,
        max_mps: 20,
        sends_in_flight: 12,
        in_flight_limit: 96,
        provider_tier: None,
        provider_limit: None,
        provider_quality: None,
        provider_poll: None,
        reported_tier: None,
        reported_at: None,
        replica: "host-a-1234".into(),
        sent_by: Some("host-a-1234".into()),
        go_live_failed: vec![],
        ladder: vec![
            LadderStep {
                tier: "TIER_250".into(),
                limit: Some(250),
            },
            LadderStep {
                tier: "TIER_1K".into(),
                limit: Some(1000),
            },
            LadderStep {
                tier: "TIER_UNLIMITED".into(),
                limit: None,
            },
        ],
    }
}

pub fn sample_campaign(id: &str) -> CampaignStatus {
    CampaignStatus {
        id: id.into(),
        sender: "sac".into(),
        template: Some("promo_black_friday".into()),
        state: "running".into(),
        why: None,
        until: None,
        totals: CampaignTotals {
            total: 1000,
            pending: 600,
            in_flight: 10,
            sent: 200,
            delivered: 100,
            read: 40,
            failed: 30,
            unknown: 2,
            retrying: 0,
            deferred: 0,
            invalid: 0,
            skipped: [("opted_out".to_string(), 18)].into_iter().collect(),
            failed_by_code: [("131048".to_string(), 20), ("1002".to_string(), 10)]
                .into_iter()
                .collect(),
        },
        rate_per_second: 1.5,
        eta_seconds: Some(400),
        template_check: None,
    }
}

#[async_trait::async_trait]
impl AdminOps for FakeAdmin {
    async fn senders(&self) -> Result<Vec<SenderStatus>, AdminError> {
        self.record("senders".into());
        Ok(vec![self.sender.lock().expect("lock").clone()])
    }
    async fn campaigns(&self) -> Result<Vec<CampaignStatus>, AdminError> {
        self.record("campaigns".into());
        Ok(self
            .campaigns
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect())
    }
    async fn campaign_action(
        &self,
        id: &str,
        action: CampaignAction,
    ) -> Result<CampaignStatus, AdminError> {
        self.record(format!("{} {id}", action.as_str()));
        let mut campaigns = self.campaigns.lock().expect("lock");
        let c = campaigns
            .get_mut(id)
            .ok_or_else(|| AdminError::NotFound(format!("campaign {id}")))?;
        match (action, c.state.as_str()) {
            (_, "cancelled") => {
                return Err(AdminError::Conflict(format!("campaign {id} is cancelled")))
            }
            (CampaignAction::Pause, _) => {
                c.state = "paused".into();
                c.why = Some("operator".into());
            }
            (CampaignAction::Resume, _) => {
                c.state = "running".into();
                c.why = None;
            }
            (CampaignAction::Cancel, _) => c.state = "cancelled".into(),
            (CampaignAction::RetryFailed, _) => {
                c.totals.pending += c.totals.failed;
                c.totals.failed = 0;
            }
        }
        Ok(c.clone())
    }
    async fn optout(&self, number: &str, add: bool) -> Result<(), AdminError> {
        self.record(format!("optout {number} {add}"));
        let mut optouts = self.optouts.lock().expect("lock");
        if add {
            optouts.push(number.to_string());
        } else {
            optouts.retain(|n| n != number);
        }
        Ok(())
    }
    async fn set_tier(&self, sender: &str, tier: &str) -> Result<SenderStatus, AdminError> {
        self.record(format!("tier {sender} {tier}"));
        let mut s = self.sender.lock().expect("lock");
        if s.id != sender {
            return Err(AdminError::NotFound(format!("sender {sender}")));
        }
        if !tier.starts_with("TIER_") {
            return Err(AdminError::Invalid(format!("unknown tier {tier}")));
        }
        s.tier = tier.to_string();
        Ok(s.clone())
    }
    async fn set_brake(
        &self,
        sender: &str,
        on: bool,
        reason: Option<String>,
    ) -> Result<SenderStatus, AdminError> {
        self.record(format!(
            "brake {sender} {on} {}",
            reason.clone().unwrap_or_default()
        ));
        let mut s = self.sender.lock().expect("lock");
        if s.id != sender {
            return Err(AdminError::NotFound(format!("sender {sender}")));
        }
        s.brakes = if on {
            vec![Brake {
                reason: reason.unwrap_or_else(|| "operator".into()),
                since: None,
                effect: "pause".into(),
            }]
        } else {
            vec![]
        };
        Ok(s.clone())
    }
}

/// Ready unless told otherwise.
#[derive(Default)]
pub struct SwitchReadiness {
    pub reasons: Mutex<Vec<String>>,
}

impl Readiness for SwitchReadiness {
    fn ready(&self) -> Result<(), Vec<String>> {
        let reasons = self.reasons.lock().expect("lock").clone();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

/// The router served on 127.0.0.1:0 with the doubles above.
pub struct TestServer {
    pub url: String,
    pub sink: Arc<RecordingSink>,
    pub admin: Arc<FakeAdmin>,
    pub readiness: Arc<SwitchReadiness>,
    pub metrics: Metrics,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const READ_TOKEN: &str = "read-token-0123456789";
pub const GUPSHUP_SECRET: &str = "gs-secret-abc";
/// The Gupshup webhook with the secret in the path, as README's set-up configures it.
pub const GUPSHUP_HOOK: &str = "/webhooks/gupshup/gs-secret-abc";
pub const META_VERIFY: &str = "meta-verify-xyz";
pub const META_APP_SECRET: &str = "meta-app-secret";

/// A config with every secret set (tests that want one unset change it).
pub fn full_config() -> HttpConfig {
    use tierpace::http::Secret;
    HttpConfig {
        admin_tokens: vec![Secret::new(ADMIN_TOKEN)],
        read_tokens: vec![],
        gupshup_secret: Some(Secret::new(GUPSHUP_SECRET)),
        meta_verify_token: Some(Secret::new(META_VERIFY)),
        meta_app_secret: Some(Secret::new(META_APP_SECRET)),
        sink_timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

impl TestServer {
    pub async fn start(config: HttpConfig) -> TestServer {
        let sink = Arc::new(RecordingSink::default());
        let admin = Arc::new(FakeAdmin::default());
        let readiness = Arc::new(SwitchReadiness::default());
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let state = HttpState {
            sink: sink.clone(),
            admin: admin.clone(),
            readiness: readiness.clone(),
            registry: Arc::new(registry),
            metrics: metrics.clone(),
            config: Arc::new(config),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            router(state),
            shutdown.clone(),
            tierpace::http::ListenerLimits::default(),
        ));
        TestServer {
            url,
            sink,
            admin,
            readiness,
            metrics,
            shutdown,
            task: Some(task),
        }
    }

    /// Cancel and wait for the server to finish (graceful shutdown must end the task).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("serve ok");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// The value of one `tierpace_webhook_events_total` series, read from `/metrics` text.
pub async fn webhook_count(url: &str, provider: &str, kind: &str, result: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    let prefix = format!(
        "tierpace_webhook_events_total{{provider=\"{provider}\",type=\"{kind}\",result=\"{result}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
