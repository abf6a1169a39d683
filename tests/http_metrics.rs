//! `/metrics` over real HTTP: the text parses with a Prometheus text parser (prometheus-parse),
//! holds every family issue #6 §3 asks for, carries the values the daemon set, and has no phone
//! number or secret in it.

mod http_support;

use http_support::*;
use prometheus_parse::{Scrape, Value};
use tierpace::http::metrics::{
    GroupLabels, HttpErrorLabels, ReasonLabels, ResultLabels, SendOutcomeLabels, SenderLabels,
    UnknownCodeLabels, UnreadableLabels,
};

const FAMILIES: [&str; 24] = [
    "tierpace_group_tier_limit",
    "tierpace_group_unique_customers_24h",
    "tierpace_group_unique_customers_7d",
    "tierpace_group_upgrade_threshold",
    "tierpace_group_headroom",
    "tierpace_group_upgrade_pending_timestamp_seconds",
    "tierpace_group_quality",
    "tierpace_group_brake_active",
    "tierpace_sender_sends",
    "tierpace_sender_provider_latency_seconds",
    "tierpace_sender_http_errors",
    "tierpace_sender_rate_messages_per_second",
    "tierpace_sender_sends_in_flight",
    "tierpace_sender_in_flight_limit",
    "tierpace_campaign_contacts",
    "tierpace_campaign_skipped_contacts",
    "tierpace_campaign_failed_contacts",
    "tierpace_campaign_eta_seconds",
    "tierpace_campaign_state",
    "tierpace_config_reloads",
    "tierpace_redis_errors",
    "tierpace_redis_up",
    "tierpace_webhook_events",
    "tierpace_build_info",
];

async fn scrape(server: &TestServer) -> (String, Scrape) {
    let resp = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = resp.text().await.expect("text");
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    (text, scrape)
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

/// Fill every family the way the daemon would.
async fn populate(server: &TestServer) {
    let m = &server.metrics;
    let mut sender = sample_sender();
    sender.upgrade_at = chrono::DateTime::from_timestamp(1_764_244_800, 0);
    let mut unlimited = sample_sender();
    unlimited.limit_group = "portfolio-2".into();
    unlimited.id = "vendas".into();
    unlimited.limit = None;
    unlimited.threshold = None;
    unlimited.quality = "YELLOW".into();
    unlimited.brakes = vec![tierpace::http::admin::Brake {
        reason: "quality_medium".into(),
        since: None,
        effect: "halve".into(),
    }];
    // A second sender in the first group, braked and at LOW quality: the group shows both.
    let mut braked = sample_sender();
    braked.id = "sac-2".into();
    braked.quality = "RED".into();
    braked.brakes = unlimited.brakes.clone();
    braked.rate_per_second = 0.0;
    m.observe_senders(&[sender, braked, unlimited]);
    m.observe_campaign(&sample_campaign("black-friday"));
    m.sender_sends
        .get_or_create(&SendOutcomeLabels {
            sender: "sac".into(),
            outcome: "accepted".into(),
        })
        .inc_by(7);
    m.sender_provider_latency_seconds
        .get_or_create(&SenderLabels {
            sender: "sac".into(),
        })
        .observe(0.12);
    m.sender_http_errors
        .get_or_create(&HttpErrorLabels {
            sender: "sac".into(),
            status: "429".into(),
        })
        .inc();
    m.config_reloads
        .get_or_create(&ResultLabels {
            result: "error".into(),
        })
        .inc();
    m.redis_errors.inc();
    m.redis_up.set(1);
    m.redis_refusing
        .get_or_create(&ReasonLabels {
            reason: "eviction_policy".into(),
        })
        .set(0);
    m.group_provider_tier_limit
        .get_or_create(&GroupLabels {
            group: "portfolio-1".into(),
        })
        .set(1000.0);
    m.webhook_unreadable
        .get_or_create(&UnreadableLabels {
            source: "gupshup".into(),
            reason: "malformed".into(),
        })
        .inc();
    m.sender_unknown_failure_codes
        .get_or_create(&UnknownCodeLabels {
            sender: "sac".into(),
            code: "999999".into(),
        })
        .inc();
    // One webhook through HTTP, so its counter comes from the real route.
    let body = fixture("gupshup_message_optout.json");
    let resp = client()
        .post(format!("{}{GUPSHUP_HOOK}", server.url))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn metrics_parse_and_hold_every_family() {
    let server = TestServer::start(full_config()).await;
    populate(&server).await;
    let (text, scrape) = scrape(&server).await;
    for family in FAMILIES {
        assert!(
            scrape.samples.iter().any(|s| s.metric.starts_with(family)),
            "no samples for {family}\n{text}"
        );
    }
    for family in FAMILIES.iter().filter(|f| !f.ends_with("_info")) {
        assert!(scrape.docs.contains_key(*family), "no HELP for {family}");
    }
}

#[tokio::test]
async fn metrics_carry_the_values_the_daemon_set() {
    let server = TestServer::start(full_config()).await;
    populate(&server).await;
    let (text, s) = scrape(&server).await;
    let acme = [("group", "acme")];
    assert_eq!(value(&s, "tierpace_group_tier_limit", &acme), Some(1000.0));
    assert_eq!(value(&s, "tierpace_group_headroom", &acme), Some(538.0));
    assert_eq!(
        value(&s, "tierpace_group_unique_customers_24h", &acme),
        Some(412.0)
    );
    assert_eq!(
        value(&s, "tierpace_group_unique_customers_7d", &acme),
        Some(730.0)
    );
    assert_eq!(
        value(&s, "tierpace_group_upgrade_threshold", &acme),
        Some(500.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_group_upgrade_pending_timestamp_seconds",
            &acme
        ),
        Some(1_764_244_800.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_group_quality",
            &[("group", "acme"), ("quality", "high")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_group_quality",
            &[("group", "acme"), ("quality", "low")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&s, "tierpace_group_brake_active", &acme), Some(1.0));
    assert_eq!(
        value(
            &s,
            "tierpace_sender_rate_messages_per_second",
            &[("sender", "sac-2")]
        ),
        Some(0.0)
    );

    let sac = [("sender", "sac")];
    assert_eq!(
        value(&s, "tierpace_sender_sends_in_flight", &sac),
        Some(12.0)
    );
    assert_eq!(
        value(&s, "tierpace_sender_in_flight_limit", &sac),
        Some(96.0)
    );

    let p2 = [("group", "portfolio-2")];
    assert_eq!(
        value(&s, "tierpace_group_tier_limit", &p2),
        Some(f64::INFINITY)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_group_quality",
            &[("group", "portfolio-2"), ("quality", "medium")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&s, "tierpace_group_brake_active", &p2), Some(1.0));

    let bf = |state: &str| {
        value(
            &s,
            "tierpace_campaign_contacts",
            &[("campaign", "black-friday"), ("state", state)],
        )
    };
    assert_eq!(bf("pending"), Some(600.0));
    assert_eq!(bf("failed"), Some(30.0));
    assert_eq!(bf("skipped"), Some(18.0));
    assert_eq!(
        value(
            &s,
            "tierpace_campaign_failed_contacts",
            &[("code", "131048")]
        ),
        Some(20.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_campaign_skipped_contacts",
            &[("reason", "opted_out")]
        ),
        Some(18.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_campaign_eta_seconds",
            &[("campaign", "black-friday")]
        ),
        Some(400.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_campaign_state",
            &[("campaign", "black-friday"), ("state", "running")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_campaign_state",
            &[("campaign", "black-friday"), ("state", "paused")]
        ),
        Some(0.0)
    );

    assert_eq!(
        value(
            &s,
            "tierpace_sender_sends_total",
            &[("sender", "sac"), ("outcome", "accepted")]
        ),
        Some(7.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_sender_http_errors_total",
            &[("status", "429")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "tierpace_sender_rate_messages_per_second",
            &[("sender", "sac")]
        ),
        Some(2.5)
    );
    assert_eq!(
        value(&s, "tierpace_config_reloads_total", &[("result", "error")]),
        Some(1.0)
    );
    assert_eq!(value(&s, "tierpace_redis_errors_total", &[]), Some(1.0));
    assert_eq!(
        value(
            &s,
            "tierpace_webhook_events_total",
            &[
                ("provider", "gupshup"),
                ("type", "opt_out"),
                ("result", "ok")
            ]
        ),
        Some(1.0)
    );
    assert!(
        text.contains(
            "tierpace_sender_provider_latency_seconds_bucket{le=\"0.16\",sender=\"sac\"} 1"
        ) || text.contains(
            "tierpace_sender_provider_latency_seconds_bucket{sender=\"sac\",le=\"0.16\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tierpace_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

#[tokio::test]
async fn no_phone_numbers_or_secrets_in_metrics() {
    let server = TestServer::start(full_config()).await;
    populate(&server).await;
    let (text, scrape) = scrape(&server).await;
    for sample in &scrape.samples {
        for (name, label_value) in sample.labels.iter() {
            let digits = label_value.chars().filter(char::is_ascii_digit).count();
            assert!(
                digits < 8,
                "label {name}={label_value} on {} looks like a phone number",
                sample.metric
            );
        }
    }
    for secret in [
        ADMIN_TOKEN,
        META_APP_SECRET,
        META_VERIFY,
        GUPSHUP_SECRET,
        "5585999990003",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into /metrics");
    }
}

#[tokio::test]
async fn a_campaign_can_be_forgotten() {
    let server = TestServer::start(full_config()).await;
    let old = sample_campaign("old");
    server.metrics.observe_campaign(&old);
    server.metrics.observe_campaign(&sample_campaign("new"));
    let (text, _) = scrape(&server).await;
    assert!(text.contains("campaign=\"old\""), "{text}");
    server.metrics.forget_campaign(&old);
    let (text, _) = scrape(&server).await;
    assert!(!text.contains("campaign=\"old\""), "{text}");
    assert!(text.contains("campaign=\"new\""), "{text}");
}

/// The shipped Grafana dashboard and alert rules use only metric names `/metrics` exports.
#[tokio::test]
async fn dashboard_and_alerts_name_only_exported_metrics() {
    let server = TestServer::start(full_config()).await;
    populate(&server).await;
    let (_, scrape) = scrape(&server).await;
    let exported: std::collections::HashSet<String> =
        scrape.samples.iter().map(|s| s.metric.clone()).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "config/grafana-dashboard.json",
        "config/prometheus-alerts.yml",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).expect("read");
        let mut names = 0;
        for (i, _) in text.match_indices("tierpace_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names += 1;
            let known = exported.contains(&name)
                || exported.contains(&format!("{name}_total"))
                || ["_bucket", "_sum", "_count"].iter().any(|sfx| {
                    name.strip_suffix(sfx)
                        .is_some_and(|base| exported.iter().any(|e| e == base))
                });
            assert!(known, "{file} names {name}, which /metrics does not export");
        }
        assert!(names > 10, "{file} names only {names} metrics");
    }
}
