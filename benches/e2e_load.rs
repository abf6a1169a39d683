//! End-to-end load run: the release `tierpace` binary against a private redis-server and the
//! loopback fake Gupshup, several senders on the unlimited tier, a large audience streamed from
//! CSV. Reports sends per second, the daemon's CPU seconds and peak RSS (from /proc), the
//! largest number of sends of one sender in any one-second interval, and duplicates.
//!
//! `cargo bench --bench e2e_load` (env: TIERPACE_LOAD_CONTACTS, default 1,000,000 in total;
//! TIERPACE_LOAD_SENDERS, default 4; TIERPACE_LOAD_MPS per sender, default 2000;
//! TIERPACE_LOAD_SECONDS, the longest the run may take, default 600).
#[path = "../tests/support/fake_gupshup.rs"]
#[allow(dead_code)]
mod fake_gupshup;
#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::collections::HashSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use redis_server::{free_port, RedisServer};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (utime + stime in seconds, VmHWM in kB) of a process.
fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = (fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((cpu, hwm))
}

fn main() {
    // criterion-style invocations pass flags such as --bench; this bench takes none.
    let contacts = env("TIERPACE_LOAD_CONTACTS", 1_000_000);
    let senders = env("TIERPACE_LOAD_SENDERS", 4).max(1);
    let mps = env("TIERPACE_LOAD_MPS", 2000);
    let max_secs = env("TIERPACE_LOAD_SECONDS", 600);
    let redis = RedisServer::start();
    let fake = FakeGupshup::start_on_thread(FakeGupshupConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("campaigns")).unwrap();
    std::fs::write(
        root.join("hash.key"),
        "load-hash-key-0123456789abcdef0123456789",
    )
    .unwrap();
    std::fs::write(root.join("gupshup.key"), "test-gupshup-key").unwrap();
    let port = free_port();
    let mut config = format!(
        "state = \"redis\"\nredis_url = \"{}\"\nhash_key_file = \"{}/hash.key\"\ncampaigns_dir = \"campaigns\"\n\
         log_level = \"warn\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        redis.url(),
        root.display()
    );
    let per_sender = contacts / senders;
    for s in 0..senders {
        config.push_str(&format!(
            "[senders.s{s}]\nprovider = \"gupshup\"\nsource = \"55859999{s:05}\"\napp_name = \"Load{s}\"\n\
             api_key_file = \"{root}/gupshup.key\"\nbase_url = \"{url}\"\ninitial_tier = \"unlimited\"\n\
             max_mps = {mps}\nconcurrency = 64\n",
            root = root.display(),
            url = fake.base_url()
        ));
        let csv_path = root.join(format!("campaigns/c{s}.csv"));
        let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
        writeln!(csv, "name,ddi,phone,email,opt_in").unwrap();
        for i in 0..per_sender {
            writeln!(csv, "C{i},55,{}9{:08},,sim", 11 + s, i).unwrap();
        }
        csv.flush().unwrap();
        std::fs::write(
            root.join(format!("campaigns/c{s}.toml")),
            format!(
                "id = \"c{s}\"\nsender = \"s{s}\"\n[template]\nid = \"6f1c2a3b-0000-4000-8000-00000000000{s}\"\n\
                 category = \"utility\"\nparams = [\"{{{{name}}}}\"]\n[audience]\nfile = \"c{s}.csv\"\n\
                 [schedule]\ncalendar = \"always\"\n[pacing]\nmode = \"asap\"\n"
            ),
        )
        .unwrap();
    }
    let config_path = root.join("tierpace.toml");
    std::fs::write(&config_path, config).unwrap();

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("daemon.log")).unwrap())
        .spawn()
        .expect("start tierpace");
    let pid = child.id();
    let total = per_sender * senders;
    let mut first_send: Option<Instant> = None;
    let mut last = (0.0, 0);
    let deadline = started + Duration::from_secs(max_secs);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(u) = usage(pid) {
            last = u;
        }
        let n = fake.requests();
        if n > 0 && first_send.is_none() {
            first_send = Some(Instant::now());
        }
        if n >= total || Instant::now() > deadline {
            break;
        }
    }
    let elapsed = first_send.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    let sends = fake.sends();
    if sends.is_empty() {
        eprintln!(
            "no sends; daemon log:\n{}",
            std::fs::read_to_string(root.join("daemon.log")).unwrap_or_default()
        );
    }
    let unique: HashSet<&str> = sends.iter().map(|s| s.destination.as_str()).collect();
    let burst = (0..senders)
        .map(|s| fake.max_sends_in_any_second(&format!("55859999{s:05}")))
        .max()
        .unwrap_or(0);
    println!("e2e_load: {senders} senders x {per_sender} contacts (Redis state, fake Gupshup on loopback)");
    println!(
        "  sends            {} of {total} ({} duplicates)",
        sends.len(),
        sends.len() - unique.len()
    );
    println!(
        "  rate             {:.0} sends/s over {:.1} s",
        sends.len() as f64 / elapsed.max(0.001),
        elapsed
    );
    println!(
        "  daemon CPU       {:.1} s ({:.2} cores average)",
        last.0,
        last.0 / elapsed.max(0.001)
    );
    println!("  daemon peak RSS  {:.1} MB", last.1 as f64 / 1024.0);
    println!("  max sends/s      {burst} in any one-second interval (cap {mps} per sender)");
}
