//! tierpace on a Redis Cluster (issue #8, item 4): a private 3-master cluster (tests/support).
//!
//! The ledger, progress and consent contracts themselves run on the cluster in their conformance
//! suites (`cluster_backend` / `cluster` tests there). This file checks what only a cluster can
//! show: each limit group's and each run's keys share one slot while different groups and runs
//! spread over every master (so each script touches one slot, on whichever master), replicas
//! admitting concurrently on groups of every master never exceed the limit, and the daemon
//! configured with `redis_cluster = [...]` sends every contact once and holds the tier limit.
mod support;

use support::daemon::{start_in_process, wait_for};

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_cluster::RedisCluster;
use support::scenario::{self, ScenarioSpec};
use tierpace::campaign::consent::{ConsentStore, OptOutSource, RedisConsent};
use tierpace::clock::SystemClock;
use tierpace::contact::ContactKey;
use tierpace::dispatch::progress::{ContactState, LeaseStatus, ProgressStore, RunId, Write};
use tierpace::dispatch::progress_redis::RedisProgress;
use tierpace::http::CampaignStatus;
use tierpace::ledger::{AdmitDecision, Ledger, LedgerSettings, LimitGroup, RedisLedger};
use tierpace::policy::profile::Policy;
use tierpace::policy::tier::Tier;
use tierpace::policy::tier_event::TierEvent;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
}

fn c(i: u64) -> ContactKey {
    ContactKey((0xc1u128 << 64) | u128::from(i))
}

fn settings(groups: &[String], tier: Tier, safety_share: f64) -> LedgerSettings {
    LedgerSettings {
        policy: Policy::legacy(),
        safety_share,
        reserve: 0,
        initial_tiers: groups
            .iter()
            .map(|g| (LimitGroup::new(g.as_str()), tier))
            .collect(),
    }
}

/// The one master every key of a family lives on; panics if the family spans two slots.
fn master_of_family(cluster: &RedisCluster, keys: &[String]) -> u16 {
    let slots: BTreeSet<u16> = keys.iter().map(|k| cluster.keyslot(k)).collect();
    assert_eq!(slots.len(), 1, "{keys:?} span slots {slots:?}");
    cluster.master_of(&keys[0])
}

#[tokio::test]
async fn each_group_and_run_lives_in_one_slot_and_they_spread_over_every_master() {
    let cluster = RedisCluster::shared();
    let prefix = format!("s{}", uuid::Uuid::new_v4().simple());
    let groups: Vec<String> = (0..9).map(|i| format!("sender{i}")).collect();
    let ledger = RedisLedger::new(
        cluster.connect().await,
        &prefix,
        settings(&groups, Tier::T1K, 1.0),
    );
    let mut group_masters = BTreeMap::new();
    for name in &groups {
        let g = LimitGroup::new(name.as_str());
        // Every script and command of the ledger, on this group's master.
        assert_eq!(
            ledger.admit(&g, t(9, 0), &[c(1), c(2)], 1).await.unwrap()[0],
            AdmitDecision::Admitted { counted: true }
        );
        ledger.open_service_window(&g, c(3), t(9, 0)).await.unwrap();
        ledger
            .apply_tier_event(&g, t(9, 0), TierEvent::OperatorSet(Tier::T10K))
            .await
            .unwrap();
        ledger.release(&g, c(1), t(9, 0)).await.unwrap();
        let s = ledger.stats(&g, t(9, 1)).await.unwrap();
        assert_eq!((s.tier, s.unique_24h), (Tier::T10K, 0), "group {name}");

        let family: Vec<String> = ["conv", "svc", "tier", "epoch"]
            .iter()
            .map(|k| format!("{prefix}:{{{name}}}:{k}"))
            .collect();
        let master = master_of_family(cluster, &family);
        // The keys are really there, on that master only (conv is empty after the release).
        let want: Vec<String> = family
            .iter()
            .filter(|k| !k.ends_with(":conv"))
            .cloned()
            .collect();
        for &port in cluster.ports() {
            let mut want = want.clone();
            if port != master {
                want.clear();
            }
            want.sort();
            let pattern = format!("{prefix}:{{{name}}}:*");
            assert_eq!(cluster.keys_on(port, &pattern), want, "node {port}");
        }
        group_masters.insert(name.clone(), master);
    }
    let used: BTreeSet<u16> = group_masters.values().copied().collect();
    assert_eq!(
        used.len(),
        3,
        "groups must reach every master: {group_masters:?}"
    );

    let progress = RedisProgress::new(cluster.connect().await, &prefix);
    let consent = RedisConsent::new(cluster.connect().await, &prefix);
    let mut run_masters = BTreeMap::new();
    for i in 0..9 {
        let run = RunId::new(&format!("camp{i}"), "r1");
        let fence = match progress
            .acquire_lease(&run, "a", t(9, 0), Duration::from_secs(15))
            .await
            .unwrap()
        {
            LeaseStatus::Held { fence, .. } => fence,
            other => panic!("lease on {run}: {other:?}"),
        };
        let claim = |f: &str, line| Write {
            field: f.into(),
            state: ContactState::InFlight { line },
        };
        progress
            .claim(&run, fence, &[claim("k1", 2), claim("k2", 3)])
            .await
            .unwrap();
        let failed = Write {
            field: "k1".into(),
            state: ContactState::Failed {
                line: 2,
                code: "131049".into(),
            },
        };
        assert_eq!(progress.update(&run, &[failed]).await.unwrap(), 1);
        assert_eq!(
            progress
                .retry_failed(&run, &["131049".to_string()])
                .await
                .unwrap(),
            1
        );
        progress.set_cursor(&run, fence, "9:1").await.unwrap();
        progress.clear_rewind(&run, fence).await.unwrap();
        // A second instance taking over turns k2 (in flight) into unknown in one script.
        progress.release_lease(&run, "a").await.unwrap();
        assert!(matches!(
            progress
                .acquire_lease(&run, "b", t(9, 1), Duration::from_secs(15))
                .await
                .unwrap(),
            LeaseStatus::Held { .. }
        ));
        let meta = progress.meta(&run).await.unwrap();
        assert_eq!((meta.count("unknown"), meta.count("failed")), (1, 0));

        let family: Vec<String> = ["states", "meta", "inflight"]
            .iter()
            .map(|k| format!("{prefix}:{{run:{}}}:{k}", run.0))
            .collect();
        run_masters.insert(run.0.clone(), master_of_family(cluster, &family));
    }
    let used: BTreeSet<u16> = run_masters.values().copied().collect();
    assert_eq!(
        used.len(),
        3,
        "runs must reach every master: {run_masters:?}"
    );

    consent
        .opt_out(c(9), OptOutSource::Admin, t(9, 0))
        .await
        .unwrap();
    assert_eq!(
        consent.opted_out(&[c(8), c(9)]).await.unwrap(),
        [false, true]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_cluster_never_exceed_the_limit_on_any_master() {
    let cluster = RedisCluster::shared();
    let prefix = format!("r{}", uuid::Uuid::new_v4().simple());
    // One group per master (names picked by the slot they hash to).
    let mut groups: Vec<String> = Vec::new();
    let mut masters = BTreeSet::new();
    for i in 0.. {
        let name = format!("g{i}");
        if masters.insert(cluster.master_of(&format!("{{{name}}}"))) {
            groups.push(name);
        }
        if groups.len() == 3 {
            break;
        }
    }
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(Arc::new(RedisLedger::new(
            cluster.connect().await,
            &prefix,
            settings(&groups, Tier::T1K, 0.95),
        )));
    }
    let mut tasks = Vec::new();
    for (r, l) in replicas.iter().enumerate() {
        let l = Arc::clone(l);
        let groups = groups.clone();
        tasks.push(tokio::spawn(async move {
            let mut admitted = BTreeMap::new();
            for b in 0..20u64 {
                for g in &groups {
                    // Overlapping audiences: every replica tries the same 2,000 contacts.
                    let start = (b * 100 + r as u64 * 37) % 2000;
                    let batch: Vec<ContactKey> = (start..start + 100).map(c).collect();
                    let d = l
                        .admit(&LimitGroup::new(g.as_str()), t(9, 0), &batch, 100)
                        .await
                        .unwrap();
                    *admitted.entry(g.clone()).or_insert(0) += d
                        .iter()
                        .filter(|x| **x == AdmitDecision::Admitted { counted: true })
                        .count();
                }
            }
            admitted
        }));
    }
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        for (g, n) in task.await.unwrap() {
            *total.entry(g).or_insert(0) += n;
        }
    }
    for g in &groups {
        // 1,000 x 0.95 = 950 new conversations per rolling 24 h, whichever replica asked.
        assert_eq!(total.get(g), Some(&950), "group {g}: {total:?}");
        let s = replicas[0]
            .stats(&LimitGroup::new(g.as_str()), t(9, 0))
            .await
            .unwrap();
        assert_eq!((s.unique_24h, s.headroom), (950, Some(0)), "group {g}");
    }
}

// ---------------------------------------------------------------- the daemon on the cluster

/// Rewrites a scenario's `redis_url` line into a `redis_cluster` seed list.
fn use_cluster(config: &std::path::Path, seeds: &[String]) {
    let text = std::fs::read_to_string(config).unwrap();
    let list = seeds
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("redis_url = ") {
                format!("redis_cluster = [{list}]\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(text.contains("redis_cluster = ["), "{text}");
    std::fs::write(config, text).unwrap();
}

async fn campaigns(port: u16) -> Vec<CampaignStatus> {
    match reqwest::get(format!("http://127.0.0.1:{port}/api/v1/campaigns")).await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

async fn ready(port: u16) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}/readyz");
    Some(client.get(url).send().await.ok()?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_a_cluster_send_each_contact_once_and_hold_a_250_tier() {
    let cluster = RedisCluster::shared();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        tier_limit: Some(250),
        ..Default::default()
    })
    .await;
    let prefix = format!("d{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some("redis://replaced-by-redis-cluster/"),
        gupshup_url: &fake.base_url(),
        tier: "250",
        contacts: 400,
        key_prefix: &prefix,
        ..Default::default()
    });
    use_cluster(&s.config, &cluster.seeds());
    let (replica, replica_port) = s.replica_config();
    let (ta, ja) = start_in_process(s.config.clone(), Arc::new(SystemClock));
    let (tb, jb) = start_in_process(replica, Arc::new(SystemClock));

    // 250 x 0.95 = 237 new conversations may start in the rolling 24 h.
    let enough = wait_for(|| fake.sends().len() >= 237 || ja.is_finished(), 30).await;
    if ja.is_finished() {
        panic!("daemon stopped: {:?}", ja.await);
    }
    assert!(
        enough,
        "only {} sent; {:?}",
        fake.sends().len(),
        campaigns(s.http_port).await
    );
    // Whichever daemon holds the lease says the campaign waits for the limit (the other one
    // says standby).
    let mut waiting = false;
    for _ in 0..60 {
        let mut all = campaigns(s.http_port).await;
        all.extend(campaigns(replica_port).await);
        if all
            .iter()
            .any(|c| c.id == "bf" && c.state == "waiting_limit")
        {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waiting,
        "campaign should wait for the limit: {:?} {:?}",
        campaigns(s.http_port).await,
        campaigns(replica_port).await
    );
    // Readiness PINGs every master through the cluster client.
    assert_eq!(ready(s.http_port).await, Some(200));
    assert_eq!(ready(replica_port).await, Some(200));

    let sends = fake.sends();
    assert_eq!(sends.len(), 237, "never more than the allowance");
    assert_eq!(fake.over_limit_sends(), 0);
    let unique: HashSet<&String> = sends.iter().map(|s| &s.destination).collect();
    assert_eq!(unique.len(), sends.len(), "no contact twice");

    // The ledger the daemons shared is in the cluster, on the sender group's master.
    let conv = format!("{prefix}:{{sac}}:conv");
    let mut conn = cluster.connect().await;
    let counted: u64 = redis::cmd("ZCARD")
        .arg(&conv)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counted, 237);
    assert_eq!(
        cluster.keys_on(cluster.master_of(&conv), &conv),
        vec![conv.clone()]
    );

    ta.cancel();
    tb.cancel();
    ja.await.unwrap().unwrap();
    jb.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_stops_sends_fails_readiness_and_sends_resume_after() {
    // Its own cluster: freezing a master of the shared one would disturb the other tests.
    let cluster = RedisCluster::start();
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some("redis://replaced-by-redis-cluster/"),
        gupshup_url: &fake.base_url(),
        contacts: 120,
        max_mps: 20,
        ..Default::default()
    });
    use_cluster(&s.config, &cluster.seeds());
    let (token, daemon) = start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(wait_for(|| fake.sends().len() >= 30 || daemon.is_finished(), 30).await);
    assert!(!daemon.is_finished(), "daemon stopped: {:?}", daemon.await);
    assert_eq!(ready(s.http_port).await, Some(200));

    // The master of the sender's limit group: no admission can be decided without it.
    let master = cluster.master_of("tp:{sac}:conv");
    cluster.freeze(master, true);
    // Sends already admitted may finish; after that nothing more goes out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frozen_at = fake.sends().len();
    let mut saw_unready = false;
    for _ in 0..40 {
        if ready(s.http_port).await == Some(503) {
            saw_unready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        saw_unready,
        "/readyz must fail while a master does not answer"
    );
    assert_eq!(
        fake.sends().len(),
        frozen_at,
        "no sends while the group's master does not answer"
    );

    cluster.freeze(master, false);
    assert!(
        wait_for(|| fake.sends().len() >= 120, 60).await,
        "sends resume: {}",
        fake.sends().len()
    );
    let d: Vec<String> = fake.sends().into_iter().map(|s| s.destination).collect();
    assert_eq!(d.len(), 120, "every contact once");
    assert_eq!(
        d.iter().collect::<HashSet<_>>().len(),
        120,
        "no contact twice"
    );
    let mut back = false;
    for _ in 0..40 {
        if ready(s.http_port).await == Some(200) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(back, "ready again");
    token.cancel();
    daemon.await.unwrap().unwrap();
}
