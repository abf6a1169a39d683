//! Several replicas on one Redis (DESIGN.md §5 "Multi-instance", guarantees 1 and 4; issue #8
//! item 3): three daemon binaries share a private redis-server and one campaigns directory. The
//! instance that holds the campaign's lease is killed with SIGKILL, twice in a row; each time
//! another instance must take the lease once it expires (the scenario's `lease_ttl` is 2 s), and
//! the last one standing finishes the campaign, with no destination twice in the fake Gupshup's
//! record, every contact accounted for, and no send over the tier limit. A second test checks
//! that three replicas together still stop at exactly the 250 tier's allowance.
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::RedisServer;
use support::scenario::{self, Scenario, ScenarioSpec};
use tierpace::clock::{Clock, SystemClock};
use tierpace::http::CampaignStatus;

/// One daemon process with a known instance name, its HTTP port and its log file.
struct Replica {
    name: String,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn start(config: &Path, name: &str, port: u16, dir: &Path) -> Self {
        // The instance name is the prefix of the lease owner token; without it every replica on
        // this host would carry the same hostname.
        let text = std::fs::read_to_string(config).unwrap();
        let named = dir.join(format!("{name}.toml"));
        std::fs::write(&named, format!("instance_id = \"{name}\"\n{text}")).unwrap();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["run", "--config"])
            .arg(&named)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start the tierpace binary");
        Replica {
            name: name.to_string(),
            port,
            log,
            child: Some(child),
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: no lease release, no drain (std's kill is SIGKILL on Unix).
    fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then SIGKILL if it does not stop.
    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        support::daemon::terminate(&mut child);
    }

    fn campaign(&self, id: &str) -> Option<CampaignStatus> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let list: Vec<CampaignStatus> = client
            .get(format!("http://127.0.0.1:{}/api/v1/campaigns", self.port))
            .send()
            .ok()?
            .json()
            .ok()?;
        list.into_iter().find(|c| c.id == id)
    }

    fn log_text(&self) -> String {
        format!(
            "--- {} log ---\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// Three replicas on the scenario's Redis and campaigns directory, named r0, r1, r2.
fn start_replicas(s: &Scenario) -> Vec<Replica> {
    let mut configs = vec![(s.config.clone(), s.http_port)];
    configs.push(s.replica_config());
    configs.push(s.replica_config());
    configs
        .iter()
        .enumerate()
        .map(|(i, (config, port))| Replica::start(config, &format!("r{i}"), *port, s.dir.path()))
        .collect()
}

fn logs(replicas: &[Replica]) -> String {
    replicas.iter().map(Replica::log_text).collect()
}

/// The current owner token of the campaign run's lease (`PREFIX:{run:...}:meta`, field
/// `owner`), if any run is leased.
fn lease_owner(conn: &mut redis::Connection) -> Option<String> {
    let metas: Vec<String> = redis::cmd("KEYS").arg("tp:{run:*}:meta").query(conn).ok()?;
    metas.iter().find_map(|k| {
        redis::cmd("HGET")
            .arg(k)
            .arg("owner")
            .query::<Option<String>>(conn)
            .ok()
            .flatten()
    })
}

/// Which replica an owner token belongs to (tokens are `NAME-UUID`).
fn owner_index(replicas: &[Replica], owner: &str) -> Option<usize> {
    replicas
        .iter()
        .position(|r| owner.starts_with(&format!("{}-", r.name)))
}

/// Polls `f` every 50 ms until it holds or `secs` pass (a functional wait, not a timing check).
fn wait_until<F: FnMut() -> bool>(secs: u64, mut f: F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

fn assert_no_destination_twice(fake: &FakeGupshup) {
    let sends = fake.sends();
    let unique: HashSet<&str> = sends.iter().map(|s| s.destination.as_str()).collect();
    assert_eq!(
        unique.len(),
        sends.len(),
        "a contact received the campaign twice"
    );
}

#[test]
fn killing_each_lease_holder_in_turn_moves_the_campaign_on_and_the_last_replica_completes_it() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        tier_limit: Some(1000),
        latency: Duration::from_millis(5),
        ..Default::default()
    });
    // 360 contacts at 40/s: about 9 s of sending, so the kill lands mid-run.
    let contacts = 360;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        tier: "1k",
        contacts,
        max_mps: 40,
        ..Default::default()
    });
    let mut replicas = start_replicas(&s);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();

    // Twice: let the run go on, find the lease holder, kill it, and watch the lease move to a
    // live replica. After the second kill one replica is left to finish.
    let mut report = Vec::new();
    let mut heir = 0;
    for round in 1..=2 {
        let started = wait_until(30, || fake.sends().len() >= 40 * round);
        assert!(started, "sending stalled: {}", logs(&replicas));
        let owner = lease_owner(&mut conn).expect("the running campaign's lease has an owner");
        let victim = owner_index(&replicas, &owner)
            .unwrap_or_else(|| panic!("owner {owner:?} is none of r0, r1, r2"));
        assert!(
            replicas[victim].alive(),
            "a dead replica still holds the lease"
        );
        let sent_before_kill = fake.sends().len();
        replicas[victim].kill_9();
        let killed_at = Instant::now();
        // The fake stamps sends with the same clock.
        let killed_at_system = std::time::SystemTime::from(SystemClock.now());

        // Another replica takes the lease once the dead one's expires.
        let mut new_owner = None;
        let moved = wait_until(20, || {
            new_owner = lease_owner(&mut conn).and_then(|o| owner_index(&replicas, &o));
            new_owner.is_some_and(|i| i != victim)
        });
        let takeover = killed_at.elapsed();
        assert!(
            moved,
            "the lease stayed with the dead replica: {:?}\n{}",
            lease_owner(&mut conn),
            logs(&replicas)
        );
        heir = new_owner.expect("checked above");
        assert!(replicas[heir].alive());
        let resumed = wait_until(20, || fake.sends().iter().any(|s| s.at > killed_at_system));
        assert!(resumed, "no send after the kill: {}", logs(&replicas));
        let first_send_after_kill = fake
            .sends()
            .iter()
            .filter(|s| s.at > killed_at_system)
            .map(|s| s.at)
            .min()
            .and_then(|t| t.duration_since(killed_at_system).ok());
        report.push(format!(
            "killed r{victim} (lease holder) after {sent_before_kill} sends, r{heir} held the \
             lease after {takeover:?}, first send after the kill at {first_send_after_kill:?}"
        ));
    }

    // The campaign completes on the last replica standing.
    let mut last = None;
    let completed = wait_until(60, || {
        last = replicas[heir].campaign("bf");
        last.as_ref().is_some_and(|c| c.state == "completed")
    });
    assert!(completed, "{last:?}\n{}", logs(&replicas));
    for r in replicas.iter_mut() {
        r.terminate();
    }

    assert_no_destination_twice(&fake);
    let c = last.expect("checked above");
    let t = &c.totals;
    assert_eq!(t.total, contacts as u64, "{t:?}");
    assert_eq!(
        t.sent + t.delivered + t.read + t.unknown + t.failed,
        contacts as u64,
        "every contact accounted for: {t:?}"
    );
    assert_eq!(t.failed, 0, "{t:?}");
    let sends = fake.sends().len() as u64;
    // A contact in flight at the kill is `unknown`: it may or may not have reached Gupshup.
    assert!(
        sends >= t.sent && sends <= t.sent + t.unknown,
        "{sends} sends vs {t:?}"
    );
    assert_eq!(fake.over_limit_sends(), 0);
    eprintln!(
        "replicas: {}; {} sent, {} unknown, {sends} sends recorded",
        report.join("; "),
        t.sent,
        t.unknown
    );
}

#[test]
fn three_replicas_on_a_250_tier_send_exactly_the_allowance_in_total() {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        tier_limit: Some(250),
        ..Default::default()
    });
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        tier: "250",
        contacts: 400,
        max_mps: 100,
        ..Default::default()
    });
    let mut replicas = start_replicas(&s);
    // 250 x 0.95 = 237 new conversations in the rolling 24 h, for all replicas together.
    let reached = wait_until(40, || fake.sends().len() >= 237);
    assert!(
        reached,
        "only {} sent\n{}",
        fake.sends().len(),
        logs(&replicas)
    );
    // Wait until every live replica says the campaign waits for the limit: then nothing more
    // is in flight anywhere, and the count is final.
    let mut states = Vec::new();
    let waiting = wait_until(20, || {
        states = replicas.iter().map(|r| r.campaign("bf")).collect();
        states.iter().flatten().any(|c| c.state == "waiting_limit")
    });
    assert!(waiting, "{states:?}\n{}", logs(&replicas));
    // A second look after every lease could have moved once.
    std::thread::sleep(Duration::from_secs(3));
    let sends = fake.sends().len();
    for r in replicas.iter_mut() {
        r.terminate();
    }
    assert_eq!(sends, 237, "never more than the allowance, across replicas");
    assert_eq!(fake.sends().len(), 237);
    assert_eq!(fake.over_limit_sends(), 0);
    assert_no_destination_twice(&fake);
}
