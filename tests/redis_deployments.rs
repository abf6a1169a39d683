//! Redis as it is really deployed (issue #16 §2): over TLS (`rediss://`, a private CA, a client
//! certificate by reference) and behind Sentinel (a failover mid-run is followed by itself:
//! sends pause, then resume on the new master, nothing twice, nothing over the limit). And
//! `check` validates every Redis URL form, naming the key of a bad one.
mod support;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_deploy::{SentinelSet, TlsCluster, TlsRedis};
use support::redis_server::free_port;
use support::scenario::{self, ScenarioSpec};
use tierpace::clock::SystemClock;

/// Adds top-level config lines right after the scenario's `redis_url` line.
fn add_lines(config: &Path, lines: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let mut out = String::new();
    for l in text.lines() {
        out.push_str(l);
        out.push('\n');
        if l.starts_with("redis_url = ") {
            out.push_str(lines);
        }
    }
    assert!(out.contains(lines), "{out}");
    std::fs::write(config, out).unwrap();
}

fn check(config: &Path, credentials: Option<&Path>) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tierpace"));
    cmd.args(["check", "--config"]).arg(config);
    cmd.env_remove("CREDENTIALS_DIRECTORY");
    if let Some(dir) = credentials {
        cmd.env("CREDENTIALS_DIRECTORY", dir);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn destinations_unique(fake: &FakeGupshup) -> (usize, usize) {
    let d: Vec<String> = fake.sends().into_iter().map(|s| s.destination).collect();
    (d.len(), d.iter().collect::<HashSet<_>>().len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rediss_url_with_a_private_ca_sends_every_contact_once_over_tls() {
    let redis = TlsRedis::start(false);
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: 60,
        key_prefix: "tls",
        ..Default::default()
    });
    add_lines(
        &s.config,
        &format!(
            "redis_tls_ca_file = \"{}\"\n",
            redis.file("ca.crt").display()
        ),
    );
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(
        support::daemon::wait_for(|| fake.sends().len() >= 60, 30).await,
        "all sent over TLS: {}",
        fake.sends().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(destinations_unique(&fake), (60, 60), "each contact once");
    // The state is in the TLS server (read back with redis-cli, not through the daemon).
    assert!(
        !redis.keys("tls:*").is_empty(),
        "the daemon's keys are on the TLS Redis"
    );
    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_sends_every_contact_once() {
    let cluster = TlsCluster::start();
    let fake = FakeGupshup::start(FakeGupshupConfig::default()).await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some("redis://127.0.0.1:9/"),
        gupshup_url: &fake.base_url(),
        contacts: 60,
        key_prefix: "tlsc",
        ..Default::default()
    });
    let seeds: Vec<String> = cluster.seeds().iter().map(|s| format!("\"{s}\"")).collect();
    add_lines(
        &s.config,
        &format!(
            "redis_cluster = [{}]\nredis_tls_ca_file = \"{}\"\n",
            seeds.join(", "),
            cluster.dir.path().join("ca.crt").display()
        ),
    );
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(
        support::daemon::wait_for(|| fake.sends().len() >= 60, 30).await,
        "all sent through the TLS cluster: {}",
        fake.sends().len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(destinations_unique(&fake), (60, 60), "each contact once");
    assert!(
        cluster.count_keys("tlsc:*") > 0,
        "the keys are on the TLS cluster"
    );
    token.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_reads_the_client_certificate_from_the_credentials_directory() {
    let redis = TlsRedis::start(true);
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    // Relative names, as systemd's LoadCredential= gives them.
    add_lines(
        &s.config,
        "redis_tls_ca_file = \"ca.crt\"\nredis_tls_cert_file = \"client.crt\"\nredis_tls_key_file = \"client.key\"\n",
    );
    let (code, text) = check(&s.config, Some(redis.dir.path()));
    assert!(text.contains("redis: ok"), "{text}");
    assert_eq!(code, Some(0), "{text}");

    // Without the credentials directory the files are not found: an error naming the key.
    let (code, text) = check(&s.config, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("redis_tls_ca_file: secret file"), "{text}");

    // A server that demands a certificate refuses a client without one: not reachable, so
    // `run` would not send (check only notes it, as for any Redis it cannot reach).
    let s2 = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    add_lines(&s2.config, "redis_tls_ca_file = \"ca.crt\"\n");
    let (_, text) = check(&s2.config, Some(redis.dir.path()));
    assert!(text.contains("note: redis not reachable"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_rejects_a_redis_key_run_could_not_use_and_names_it() {
    let redis = TlsRedis::start(false);
    let bad = [
        (
            "redis_url = \"http://127.0.0.1:6379/\"\n",
            "redis_url: not a Redis URL",
        ),
        (
            "redis_cluster = [\"127.0.0.1:7000\", \"ftp://127.0.0.1:7001\"]\n",
            "redis_cluster[1]",
        ),
        (
            "redis_sentinel = { master = \"mymaster\", nodes = [\"ftp://h\"] }\n",
            "redis_sentinel.nodes[0]",
        ),
        (
            "redis_sentinel = { master = \"mymaster\", nodes = [] }\n",
            "redis_sentinel.nodes: list at least one",
        ),
        (
            "redis_tls_cert_file = \"/x/client.crt\"\n",
            "redis_tls_cert_file / redis_tls_key_file: a client certificate needs both",
        ),
    ];
    for (lines, expected) in bad {
        let s = scenario::write(&ScenarioSpec {
            redis_url: Some(&redis.url()),
            ..Default::default()
        });
        // The bad line replaces the good URL when it is a URL.
        if lines.starts_with("redis_url") {
            let t = std::fs::read_to_string(&s.config).unwrap();
            let t = t.replace(&format!("redis_url = \"{}\"\n", redis.url()), lines);
            std::fs::write(&s.config, t).unwrap();
        } else {
            add_lines(&s.config, lines);
        }
        let (code, text) = check(&s.config, None);
        assert_eq!(code, Some(1), "{lines}: {text}");
        assert!(text.contains(expected), "{lines}: {text}");
    }
    // A CA file that is not PEM is named too.
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    let junk = s.dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    add_lines(
        &s.config,
        &format!("redis_tls_ca_file = \"{}\"\n", junk.display()),
    );
    let (code, text) = check(&s.config, None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("redis_tls_ca_file"), "{text}");
    // And every good form passes: rediss with its CA (reaching the server), a unix socket
    // (not reachable here: a note, not an error).
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        ..Default::default()
    });
    add_lines(
        &s.config,
        &format!(
            "redis_tls_ca_file = \"{}\"\n",
            redis.file("ca.crt").display()
        ),
    );
    let (code, text) = check(&s.config, None);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("redis: ok"), "{text}");
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some("redis+unix:///nonexistent/redis.sock"),
        ..Default::default()
    });
    let (code, text) = check(&s.config, None);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("note: redis not reachable"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_pauses_sends_then_resumes_on_the_new_master_once_each() {
    let mut set = SentinelSet::start();
    let contacts = 300;
    let fake = FakeGupshup::start(FakeGupshupConfig {
        tier_limit: Some(1000),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        // Ignored with redis_sentinel set; a dead address proves it.
        redis_url: Some("redis://127.0.0.1:9/"),
        gupshup_url: &fake.base_url(),
        contacts,
        max_mps: 20,
        key_prefix: "sen",
        ..Default::default()
    });
    // The first Sentinel listed is down: the client must ask the next one.
    add_lines(&s.config, &set.config_lines(Some(free_port())));
    let (code, text) = check(&s.config, None);
    assert!(
        text.contains("redis: ok"),
        "check reaches the master: {text}"
    );
    assert_eq!(code, Some(0), "{text}");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    assert!(
        support::daemon::wait_for(|| fake.sends().len() >= 60, 30).await,
        "sending through the Sentinel-named master: {}",
        fake.sends().len()
    );

    let old_master = set.master_port;
    let killed_at = SystemTime::from(tierpace::clock::Clock::now(&SystemClock));
    set.kill_master();
    // When the Sentinel names the new master (to split the pause into Sentinel's part and ours).
    let sentinel_port = set.sentinel_port;
    let switched = std::thread::spawn(move || loop {
        match SentinelSet::master_named_by(sentinel_port) {
            Some(p) if p != old_master => {
                return SystemTime::from(tierpace::clock::Clock::now(&SystemClock))
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    });
    // Sentinel cannot promote before `down-after-milliseconds` (1 s): until then, no sends
    // (those admitted before the kill may still land in the first few hundred ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused_at = fake.sends().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        fake.sends().len(),
        paused_at,
        "no sends while there is no master"
    );
    assert!(paused_at < contacts, "the run was still going at the kill");

    assert!(
        support::daemon::wait_for(|| fake.sends().len() >= contacts, 90).await,
        "sends resume on the new master: {} of {contacts}",
        fake.sends().len()
    );
    assert_ne!(
        set.current_master_port(),
        Some(old_master),
        "a failover happened"
    );
    assert_eq!(set.current_master_port(), Some(set.replica_port));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends = fake.sends();
    let resumed = sends[paused_at..]
        .iter()
        .map(|s| s.at)
        .min()
        .expect("a send after the failover");
    let pause = resumed.duration_since(killed_at).unwrap();
    let switched = switched.join().unwrap();
    eprintln!(
        "sentinel failover: sends resumed {:.2} s after the master was killed; Sentinel named \
         the new master after {:.2} s",
        pause.as_secs_f64(),
        switched.duration_since(killed_at).unwrap().as_secs_f64(),
    );
    assert_eq!(
        destinations_unique(&fake),
        (contacts, contacts),
        "every contact once"
    );
    assert_eq!(fake.over_limit_sends(), 0, "nothing over the limit");
    token.cancel();
    daemon.await.unwrap().unwrap();
}
