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

/// One test of this file at a time: the fleet tests measure rates and peaks at the fake, and
/// six daemons on a two-core machine delay its reads by tens of milliseconds (an arrival 72 ms
/// late made 11 in one second once, with every departure spaced right).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

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
            // `tierpace::pace` at debug logs each send's departure, for the cap check at the
            // daemons (`departures`); TIERPACE_REPLICA_LOG=filter sets another filter.
            .env(
                "RUST_LOG",
                std::env::var("TIERPACE_REPLICA_LOG")
                    .unwrap_or_else(|_| "warn,tierpace::pace=debug".into()),
            )
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

    /// The log for a failure message, without the pacing debug lines (thousands of them).
    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("tierpace::pace"))
            .collect();
        format!("--- {} log ---\n{}\n", self.name, kept.join("\n"))
    }

    /// When this replica handed each of `sender`'s requests to the HTTP client, in µs since the
    /// epoch (the `send left` debug event of `dispatch/send.rs`).
    fn departures(&self, sender: &str) -> Vec<i64> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let field = |line: &str, key: &str| -> Option<String> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key).map(str::to_string))
        };
        text.lines()
            .filter(|l| l.contains("send left"))
            .filter(|l| field(l, "sender=").as_deref() == Some(sender))
            .filter_map(|l| field(l, "left_us=")?.parse().ok())
            .collect()
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

/// As [`wait_until`], polling every 500 ms: for long waits on a machine the test measures.
fn wait_slowly_until<F: FnMut() -> bool>(secs: u64, mut f: F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(500));
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
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
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

// ---- One sender, one pace (issue #19) --------------------------------------------------------

/// A sender of the fleet test: id, Gupshup source number, `max_mps`.
struct FleetSender {
    id: &'static str,
    source: &'static str,
    max_mps: u32,
}

/// A campaign of the fleet test: id, sender, contacts (numbers unique across campaigns).
struct FleetCampaign {
    id: String,
    sender: &'static str,
    contacts: usize,
    first: usize,
}

const ADMIN_TOKEN: &str = "fleet-admin-token";

/// Writes one daemon config per replica (same Redis, same campaigns directory, own port).
fn fleet_configs(
    dir: &Path,
    redis_url: &str,
    fake_url: &str,
    senders: &[FleetSender],
    replicas: usize,
) -> Vec<(PathBuf, u16)> {
    std::fs::create_dir_all(dir.join("campaigns/contacts")).unwrap();
    std::fs::write(
        dir.join("hash.key"),
        "e2e-hash-key-0123456789abcdef0123456789\n",
    )
    .unwrap();
    std::fs::write(dir.join("gupshup.key"), "test-gupshup-key\n").unwrap();
    std::fs::write(dir.join("admin.token"), format!("{ADMIN_TOKEN}\n")).unwrap();
    // Three daemons and the fake on a shared (CI) machine: arrivals jitter more than the 5 ms
    // default guard, so the cap at the provider is held with a 25 ms guard (issue #15).
    // Warm-up off (`warmup_share = 1`): each campaign has its own new template, and a template's
    // first 1,000 sends go at half of `max_mps`, so the last campaign left would run at 5/s;
    // these tests measure the sender's pace across replicas, not the warm-up.
    let mut sections = String::new();
    for s in senders {
        sections.push_str(&format!(
            "\n[senders.{id}]\nprovider = \"gupshup\"\nsource = \"{src}\"\napp_name = \"TierpaceTest\"\n\
             api_key_file = \"{root}/gupshup.key\"\nbase_url = \"{fake_url}\"\ninitial_tier = \"10k\"\n\
             max_mps = {mps}\ntimeout = \"2s\"\n",
            id = s.id,
            src = s.source,
            root = dir.display(),
            mps = s.max_mps,
        ));
    }
    (0..replicas)
        .map(|i| {
            let port = support::redis_server::free_port();
            let text = format!(
                "state = \"redis\"\nredis_url = \"{redis_url}\"\nkey_prefix = \"tp\"\n\
                 hash_key_file = \"{root}/hash.key\"\ncampaigns_dir = \"campaigns\"\n\
                 lease_ttl = \"2s\"\ndrain_timeout = \"3s\"\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\
                 admin_token_file = \"{root}/admin.token\"\n\n\
                 [pacing]\narrival_jitter = \"25ms\"\nwarmup_share = 1.0\n{sections}",
                root = dir.display(),
            );
            let path = dir.join(format!("fleet-{i}.toml"));
            std::fs::write(&path, text).unwrap();
            (path, port)
        })
        .collect()
}

/// Drops the campaign files (and their audiences) into the shared campaigns directory.
fn write_campaigns(dir: &Path, campaigns: &[FleetCampaign]) {
    for c in campaigns {
        let mut csv = String::from("name,ddi,phone,email,opt_in\n");
        for i in c.first..c.first + c.contacts {
            let n = scenario::number(i);
            csv.push_str(&format!(
                "Cliente {i},55,{},c{i}@example.com,sim\n",
                &n[2..]
            ));
        }
        std::fs::write(dir.join(format!("campaigns/contacts/{}.csv", c.id)), csv).unwrap();
        std::fs::write(
            dir.join(format!("campaigns/{}.toml", c.id)),
            format!(
                "id = \"{id}\"\nsender = \"{sender}\"\n[template]\nid = \"6f1c2a3b-0000-4000-8000-00000000000{n}\"\n\
                 category = \"marketing\"\nparams = [\"{{{{name}}}}\"]\n[audience]\nfile = \"contacts/{id}.csv\"\n\
                 default_ddi = \"55\"\n[schedule]\ncalendar = \"always\"\n[pacing]\nmode = \"asap\"\n",
                id = c.id,
                sender = c.sender,
                n = c.first / 1000 % 10,
            ),
        )
        .unwrap();
    }
}

impl Replica {
    fn senders(&self) -> Vec<tierpace::http::SenderStatus> {
        let Ok(client) = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
        else {
            return Vec::new();
        };
        client
            .get(format!("http://127.0.0.1:{}/api/v1/senders", self.port))
            .send()
            .ok()
            .and_then(|r| r.json().ok())
            .unwrap_or_default()
    }

    fn campaigns(&self) -> Vec<CampaignStatus> {
        let Ok(client) = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
        else {
            return Vec::new();
        };
        client
            .get(format!("http://127.0.0.1:{}/api/v1/campaigns", self.port))
            .send()
            .ok()
            .and_then(|r| r.json().ok())
            .unwrap_or_default()
    }

    fn set_brake(&self, sender: &str) -> u16 {
        reqwest::blocking::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/api/v1/senders/{sender}/brake",
                self.port
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"on": true, "reason": "fleet test"}))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

/// The replica every live replica names as sending for `sender`, once they all agree.
fn agreed_sender_owner(replicas: &[Replica], sender: &str) -> Option<usize> {
    let mut seen = None;
    for r in replicas.iter().filter(|r| r.alive()) {
        let by = r
            .senders()
            .into_iter()
            .find(|s| s.id == sender)
            .and_then(|s| s.sent_by)?;
        if seen.as_ref().is_some_and(|s: &String| *s != by) {
            return None;
        }
        seen = Some(by);
    }
    let by = seen?;
    replicas
        .iter()
        .position(|r| by.starts_with(&format!("{}-", r.name)))
}

/// Sends at the fake from one sender, as (arrival, destination), in arrival order.
fn arrivals(fake: &FakeGupshup, source: &str) -> Vec<std::time::SystemTime> {
    let mut v: Vec<_> = fake
        .sends()
        .iter()
        .filter(|s| s.source == source)
        .map(|s| s.at)
        .collect();
    v.sort();
    v
}

/// Sends per second over the sender's run: (sends - 1) / (last arrival - first arrival).
fn average_rate(times: &[std::time::SystemTime]) -> f64 {
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return 0.0;
    };
    let span = last
        .duration_since(*first)
        .unwrap_or_default()
        .as_secs_f64();
    (times.len() as f64 - 1.0) / span
}

/// How late the fake may stamp an arrival on a loaded runner (see the cap check in `run_fleet`).
const FAKE_STAMP_SLACK_MS: u64 = 30;

/// The most arrivals in any window of `width` (closed), from sorted arrival times.
fn max_in_window(times: &[std::time::SystemTime], width: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]).unwrap_or_default() > width {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// The longest pause between two consecutive arrivals.
fn longest_gap(times: &[std::time::SystemTime]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .max()
        .unwrap_or_default()
}

/// Where the time between arrivals went: (gaps longer than `spacing` x 1.2, their time over
/// `spacing` in total, excluding the longest gap) for a sender paced `spacing` apart.
fn slow_gaps(times: &[std::time::SystemTime], spacing: Duration) -> (usize, Duration) {
    let mut gaps: Vec<Duration> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap_or_default())
        .collect();
    gaps.sort();
    gaps.pop();
    let slow: Vec<Duration> = gaps
        .into_iter()
        .filter(|g| *g > spacing.mul_f64(1.2))
        .collect();
    let over = slow.iter().map(|g| g.saturating_sub(spacing)).sum();
    (slow.len(), over)
}

/// Three replicas; the campaigns are dropped in once every replica agrees who sends for each
/// sender; the replica sending for `victim_sender` is killed with SIGKILL after `kill_after`
/// of its sends. Checks the cap in every second, the average, no duplicate, every contact.
fn run_fleet(
    senders: &[FleetSender],
    campaigns: &[FleetCampaign],
    victim_sender: &str,
    kill_after: usize,
) {
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        tier_limit: Some(10_000),
        latency: Duration::from_millis(5),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let configs = fleet_configs(dir.path(), &redis.url(), &fake.base_url(), senders, 3);
    let mut replicas: Vec<Replica> = configs
        .iter()
        .enumerate()
        .map(|(i, (c, port))| Replica::start(c, &format!("r{i}"), *port, dir.path()))
        .collect();
    // Ownership first: every sender has one agreed replica, and with two senders, two replicas.
    let mut owners = Vec::new();
    let settled = wait_until(30, || {
        owners = senders
            .iter()
            .map(|s| agreed_sender_owner(&replicas, s.id))
            .collect();
        let distinct: HashSet<_> = owners.iter().flatten().collect();
        owners.iter().all(Option::is_some) && distinct.len() == senders.len().min(3)
    });
    assert!(settled, "no agreed owners: {owners:?}\n{}", logs(&replicas));
    write_campaigns(dir.path(), campaigns);

    let victim_source = senders
        .iter()
        .find(|s| s.id == victim_sender)
        .expect("victim sender is configured")
        .source;
    let reached = wait_until(60, || arrivals(&fake, victim_source).len() >= kill_after);
    assert!(reached, "sending stalled: {}", logs(&replicas));
    let victim = agreed_sender_owner(&replicas, victim_sender)
        .unwrap_or_else(|| panic!("no owner of {victim_sender}\n{}", logs(&replicas)));
    replicas[victim].kill_9();
    eprintln!(
        "killed r{victim} at {:?}",
        std::time::SystemTime::from(SystemClock.now())
    );

    let ids: Vec<&str> = campaigns.iter().map(|c| c.id.as_str()).collect();
    let mut finals: Vec<CampaignStatus> = Vec::new();
    let done = wait_slowly_until(240, || {
        finals = ids
            .iter()
            .filter_map(|id| {
                replicas
                    .iter()
                    .filter(|r| r.alive())
                    .flat_map(|r| r.campaigns())
                    .find(|c| c.id == *id && c.state == "completed")
            })
            .collect();
        finals.len() == ids.len()
    });
    assert!(done, "{finals:?}\n{}", logs(&replicas));
    for r in replicas.iter_mut() {
        r.terminate();
    }
    if let Ok(keep) = std::env::var("TIERPACE_REPLICA_KEEP_LOGS") {
        for r in &replicas {
            let _ = std::fs::copy(&r.log, Path::new(&keep).join(format!("{}.log", r.name)));
        }
    }

    assert_no_destination_twice(&fake);
    let recorded: HashSet<String> = fake.sends().into_iter().map(|s| s.destination).collect();
    let mut unknown = 0;
    for c in campaigns {
        let st = finals.iter().find(|f| f.id == c.id).expect("checked above");
        let t = &st.totals;
        assert_eq!(t.total, c.contacts as u64, "{}: {t:?}", c.id);
        assert_eq!(
            t.sent + t.delivered + t.read + t.unknown,
            c.contacts as u64,
            "{}: every contact sent once or unknown: {t:?}",
            c.id
        );
        unknown += t.unknown;
        let missing = (c.first..c.first + c.contacts)
            .filter(|i| !recorded.contains(&scenario::number(*i)))
            .count() as u64;
        assert!(
            missing <= t.unknown,
            "{}: {missing} contacts never reached the provider, {} unknown",
            c.id,
            t.unknown
        );
    }
    let mut report = vec![format!(
        "killed r{victim} (sender {victim_sender}), {unknown} unknown"
    )];
    for s in senders {
        let times = arrivals(&fake, s.source);
        let peak = fake.max_sends_in_any_second(s.source);
        let avg = average_rate(&times);
        let spacing = Duration::from_millis(1025) / s.max_mps;
        let (slow, over) = slow_gaps(&times, spacing);
        report.push(format!(
            "{}: {} sends, at most {peak} in any second (cap {}), {avg:.2}/s on average, longest pause {:?}, \
             {slow} other gaps over 1.2 spacings ({over:?} over the spacing in total)",
            s.id,
            times.len(),
            s.max_mps,
            longest_gap(&times)
        ));
        if peak > s.max_mps as usize {
            // The busiest window's arrivals, in seconds from the first arrival of the run.
            let t0 = times[0];
            let rel: Vec<f64> = times
                .iter()
                .map(|t| t.duration_since(t0).unwrap_or_default().as_secs_f64())
                .collect();
            let n = s.max_mps as usize;
            if let Some(i) = (0..rel.len().saturating_sub(n)).find(|&i| rel[i + n] - rel[i] <= 1.0)
            {
                let window: Vec<String> = rel[i.saturating_sub(2)..(i + n + 3).min(rel.len())]
                    .iter()
                    .map(|t| format!("{t:.3}"))
                    .collect();
                eprintln!("fleet: {} busiest window near {}", s.id, window.join(" "));
            }
        }
        // The cap is asserted over any window of 1 s less the fake's own timestamping slack
        // on a loaded runner: three daemons, Redis and the fake share two cores, and an arrival
        // stamped 26-72 ms late by the fake's runtime (the sends left the daemons correctly
        // spaced, per their debug log) made 11 in one strict second in some runs. A second
        // replica sending at once, the fault this test is for, doubles the count and fails it.
        let window_peak = max_in_window(&times, Duration::from_millis(1000 - FAKE_STAMP_SLACK_MS));
        assert!(
            window_peak <= s.max_mps as usize,
            "{}: {window_peak} sends within {} ms over max_mps {} (strict second: {peak})",
            s.id,
            1000 - FAKE_STAMP_SLACK_MS,
            s.max_mps
        );
        // Issue #19: at least 95 % of the cap on average over the run, the takeover included
        // (the steady rate is `max_mps / 1.025` with the 25 ms guard).
        assert!(
            avg >= 0.95 * f64::from(s.max_mps),
            "{}: {avg:.2}/s on average is under 95 % of max_mps {}; {}",
            s.id,
            s.max_mps,
            report.join("; ")
        );
    }
    // The cap where the fleet hands requests over, strict: every replica's departures for the
    // sender merged, at most `max_mps` in any closed 1 s window. This is the promise tierpace
    // can keep on its side; the check at the fake above allows for the machine's delays after it.
    for s in senders {
        let mut left: Vec<i64> = replicas.iter().flat_map(|r| r.departures(s.id)).collect();
        left.sort_unstable();
        let arrived = arrivals(&fake, s.source).len();
        assert!(
            left.len() + 2 >= arrived,
            "{}: {} departures logged for {arrived} arrivals (is tierpace::pace at debug?)",
            s.id,
            left.len()
        );
        let (mut best, mut from) = (0, 0);
        for to in 0..left.len() {
            while left[to] - left[from] > 1_000_000 {
                from += 1;
            }
            best = best.max(to - from + 1);
        }
        report.push(format!("{}: at most {best} departures in any second", s.id));
        assert!(
            best <= s.max_mps as usize,
            "{}: {best} departures in one second over max_mps {}",
            s.id,
            s.max_mps
        );
    }
    eprintln!("fleet: {}", report.join("; "));
}

#[test]
fn three_replicas_six_campaigns_one_sender_keep_one_pace_through_a_kill() {
    let _one = one_at_a_time();
    let senders = [FleetSender {
        id: "sac",
        source: "5585999990000",
        max_mps: 10,
    }];
    // 960 contacts at 10/s: about 98 s, long enough that the takeover's pause (about a second)
    // and the start are a small part of the average.
    let campaigns: Vec<FleetCampaign> = (0..6)
        .map(|i| FleetCampaign {
            id: format!("c{i}"),
            sender: "sac",
            contacts: 160,
            first: i * 1000,
        })
        .collect();
    run_fleet(&senders, &campaigns, "sac", 150);
}

#[test]
fn three_replicas_two_senders_at_different_caps_keep_each_pace_through_a_kill() {
    let _one = one_at_a_time();
    let senders = [
        FleetSender {
            id: "sac",
            source: "5585999990000",
            max_mps: 10,
        },
        FleetSender {
            id: "vendas",
            source: "5585999990001",
            max_mps: 5,
        },
    ];
    // About 92 s each: 3 x 300 at 10/s and 3 x 150 at 5/s.
    let mut campaigns = Vec::new();
    for i in 0..3 {
        campaigns.push(FleetCampaign {
            id: format!("s{i}"),
            sender: "sac",
            contacts: 300,
            first: i * 1000,
        });
        campaigns.push(FleetCampaign {
            id: format!("v{i}"),
            sender: "vendas",
            contacts: 150,
            first: (i + 3) * 1000,
        });
    }
    run_fleet(&senders, &campaigns, "sac", 150);
}

#[test]
fn a_brake_set_through_a_standby_replica_stops_the_sending_replica() {
    let _one = one_at_a_time();
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig {
        tier_limit: Some(10_000),
        latency: Duration::from_millis(5),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let senders = [FleetSender {
        id: "sac",
        source: "5585999990000",
        max_mps: 10,
    }];
    let configs = fleet_configs(dir.path(), &redis.url(), &fake.base_url(), &senders, 3);
    let mut replicas: Vec<Replica> = configs
        .iter()
        .enumerate()
        .map(|(i, (c, port))| Replica::start(c, &format!("r{i}"), *port, dir.path()))
        .collect();
    let mut owner = None;
    assert!(
        wait_until(30, || {
            owner = agreed_sender_owner(&replicas, "sac");
            owner.is_some()
        }),
        "{}",
        logs(&replicas)
    );
    let owner = owner.expect("checked above");
    write_campaigns(
        dir.path(),
        &[FleetCampaign {
            id: "bf".into(),
            sender: "sac",
            contacts: 300,
            first: 0,
        }],
    );
    assert!(
        wait_until(30, || fake.sends().len() >= 30),
        "{}",
        logs(&replicas)
    );
    let standby = (0..3).find(|i| *i != owner).expect("three replicas");
    assert_eq!(replicas[standby].set_brake("sac"), 200);
    let braked_at = std::time::SystemTime::from(SystemClock.now());
    let at_brake = fake.sends().len();
    // Two seconds later nothing more may have gone out, from any replica.
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<std::time::SystemTime> = fake
        .sends()
        .iter()
        .map(|s| s.at)
        .filter(|t| *t > braked_at)
        .collect();
    let settled = fake.sends().len();
    std::thread::sleep(Duration::from_secs(2));
    let later = fake.sends().len();
    let states: Vec<String> = replicas
        .iter()
        .filter_map(|r| r.campaign("bf").map(|c| c.state))
        .collect();
    for r in replicas.iter_mut() {
        r.terminate();
    }
    let last_after = after
        .iter()
        .max()
        .and_then(|t| t.duration_since(braked_at).ok());
    eprintln!(
        "brake through r{standby} (r{owner} sending): {} sends arrived after the admin API \
         answered, the last {last_after:?} after it; {at_brake} before",
        after.len()
    );
    assert_eq!(later, settled, "sends went on after the brake");
    // What was already granted in the owner's current tick may still go: never more than
    // one second's cap.
    assert!(after.len() <= 10, "{} sends after the brake", after.len());
    assert!(states.iter().all(|s| s == "braked"), "{states:?}");
    assert!(settled < 300, "the brake stopped nothing");
}
