//! Issue #20, a newcomer's first hour: `tierpace init` writes a production skeleton `check`
//! understands; `check` refuses what `run` refuses (a weak hash key, a secret it cannot read,
//! with the full path it looked at); a campaign that does not load shows in `status`, in
//! `/readyz` and in `plan --campaign`.
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tierpace(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(args)
        .current_dir(cwd)
        .env_remove("TIERPACE_CONFIG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("TIERPACE_ADMIN_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_secret(path: &Path, value: &str) {
    std::fs::write(path, value).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn init_writes_a_skeleton_that_check_accepts_once_the_operator_fills_in_the_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    let d = dir.to_str().unwrap();
    let out = tierpace(tmp.path(), &["init", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Next steps:"), "{}", text(&out));

    let key_file = dir.join("hash-key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the hash key is readable by others");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64, "{key:?}");
    assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()), "{key:?}");
    for f in [
        "tierpace.toml",
        "campaigns/welcome.toml",
        "campaigns/contacts/welcome.csv",
        "override.conf",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let config = std::fs::read_to_string(dir.join("tierpace.toml")).unwrap();
    assert!(config.contains("state = \"redis\""), "{config}");
    let over = std::fs::read_to_string(dir.join("override.conf")).unwrap();
    assert!(
        over.contains(&format!("LoadCredential=hash-key:{d}/hash-key")),
        "{over}"
    );

    // Never overwrites: a second init writes nothing and says which files exist.
    let again = tierpace(tmp.path(), &["init", d]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already exist"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);

    // Right after init, check names exactly what the operator must fill in: the two secret
    // files, by their full path (read from the config's folder, whatever the current directory),
    // and the placeholders left in the config and the campaign.
    let cfg = dir.join("tierpace.toml");
    let cfg = cfg.to_str().unwrap();
    let before = tierpace(tmp.path(), &["check", "--config", cfg]);
    let t = text(&before);
    assert_eq!(before.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("{d}/gupshup-api-key")), "{t}");
    assert!(t.contains(&format!("{d}/gupshup-webhook-secret")), "{t}");
    assert!(!t.contains("hash key"), "the generated key must pass: {t}");
    for key in ["senders.sac.source", "senders.sac.app_name", "template.id"] {
        assert!(
            t.contains(&format!("{key}: still `tierpace init`'s placeholder")),
            "{key}: {t}"
        );
    }
    let fill = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    fill("tierpace.toml", "\"5500000000000\"", "\"5585999990000\"");
    fill("tierpace.toml", "\"FILL-IN-APP-NAME\"", "\"MinhaEmpresa\"");
    fill(
        "campaigns/welcome.toml",
        "00000000-0000-0000-0000-000000000000",
        "6f1c2a3b-1d2e-4f50-8a6b-7c8d9e0f1a2b",
    );

    write_secret(&dir.join("gupshup-api-key"), "gupshup-api-key-value\n");
    write_secret(
        &dir.join("gupshup-webhook-secret"),
        "0123456789abcdef0123456789abcdef\n",
    );
    let after = tierpace(Path::new("/"), &["check", "--config", cfg]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
}

#[test]
fn check_and_run_refuse_a_weak_hash_key_and_name_the_file_they_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prod");
    let d = dir.to_str().unwrap();
    assert_eq!(tierpace(tmp.path(), &["init", d]).status.code(), Some(0));
    write_secret(&dir.join("gupshup-api-key"), "k\n");
    write_secret(&dir.join("gupshup-webhook-secret"), "s\n");
    let cfg = dir.join("tierpace.toml");
    let cfg = cfg.to_str().unwrap();

    write_secret(&dir.join("hash-key"), "abc\n");
    let check = tierpace(tmp.path(), &["check", "--config", cfg]);
    let t = text(&check);
    assert_eq!(check.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "file {d}/hash-key is 3 characters long, at least 32"
        )),
        "{t}"
    );
    // `run` refuses the same key before it connects to anything.
    let run = tierpace(tmp.path(), &["run", "--config", cfg]);
    let t = text(&run);
    assert_eq!(run.status.code(), Some(1), "{t}");
    assert!(t.contains("at least 32"), "{t}");

    // Missing: the error says the full path it looked at (the config's folder, not the cwd).
    std::fs::remove_file(dir.join("hash-key")).unwrap();
    let check = tierpace(Path::new("/"), &["check", "--config", cfg]);
    let t = text(&check);
    assert_eq!(check.status.code(), Some(1), "{t}");
    assert!(t.contains(&format!("secret file {d}/hash-key:")), "{t}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file of the repository's shipped example.
fn example_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shipped example config and its audience copied under `dir/config` (campaign files are
/// each test's own); returns that folder.
fn shipped_example(dir: &Path) -> std::path::PathBuf {
    let conf = dir.join("config");
    std::fs::create_dir_all(conf.join("campaigns/contacts")).unwrap();
    std::fs::copy(
        example_file("config/tierpace.toml"),
        conf.join("tierpace.toml"),
    )
    .unwrap();
    std::fs::copy(
        example_file("config/campaigns/contacts/example.csv"),
        conf.join("campaigns/contacts/example.csv"),
    )
    .unwrap();
    conf
}

#[test]
fn a_campaign_that_does_not_load_shows_in_status_readyz_and_plan() {
    let tmp = tempfile::tempdir().unwrap();
    // The shipped example plus one campaign naming a sender the config does not have.
    let conf = shipped_example(tmp.path());
    std::fs::copy(
        example_file("config/campaigns/example.toml"),
        conf.join("campaigns/example.toml"),
    )
    .unwrap();
    let example = std::fs::read_to_string(conf.join("campaigns/example.toml")).unwrap();
    let broken = example
        .replace("id = \"example\"", "id = \"vendas\"")
        .replace("sender = \"demo\"", "sender = \"vendas\"");
    assert_ne!(broken, example);
    std::fs::write(conf.join("campaigns/vendas.toml"), broken).unwrap();
    let cfg = conf.join("tierpace.toml");
    let cfg_s = cfg.to_str().unwrap();

    // check's reason, and plan --campaign gives the same one instead of "none found".
    let check = tierpace(tmp.path(), &["check", "--config", cfg_s]);
    let check_text = text(&check);
    assert_eq!(check.status.code(), Some(1), "{check_text}");
    let reason = "sender: unknown sender `vendas`";
    assert!(check_text.contains(reason), "{check_text}");
    let plan = tierpace(
        tmp.path(),
        &["plan", "--config", cfg_s, "--campaign", "vendas"],
    );
    let t = text(&plan);
    assert_ne!(plan.status.code(), Some(0), "{t}");
    assert!(t.contains("does not load") && t.contains(reason), "{t}");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config", cfg_s])
        .env("TIERPACE__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("TIERPACE_ADMIN_TOKEN", "first-hour-token")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["status"])
            .env("TIERPACE_URL", &url)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        // Both tables filled: the broken file listed, the example campaign running beside it.
        if out.status.success() && t.contains("NOT LOADED") && t.contains("\n  example ") {
            break t;
        }
        if Instant::now() > deadline {
            let _ = daemon.kill();
            panic!("status never listed the broken campaign: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let readyz = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", &format!("{url}/readyz")])
        .output()
        .unwrap();
    // A brake lift's answer lists the brakes left (none), not the board's last snapshot.
    let brake = |on: bool| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-X",
                "POST",
                "-H",
                "Authorization: Bearer first-hour-token",
                "-H",
                "Content-Type: application/json",
                "-d",
                &format!("{{\"on\": {on}, \"reason\": \"trial\"}}"),
                &format!("{url}/api/v1/senders/demo/brake"),
            ])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let set = brake(true);
    let lifted = brake(false);
    // The same from the CLI, without curl (a fresh operator looked for it).
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(args)
            .env("TIERPACE_URL", &url)
            .env("TIERPACE_ADMIN_TOKEN", "first-hour-token")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let cli_set = cli(&["brake", "set", "demo", "--reason", "looking into it"]);
    let cli_lift = cli(&["brake", "lift", "demo"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(
        status.contains("vendas.toml") && status.contains(reason),
        "{status}"
    );
    // The example still runs: one broken file never stops the others.
    assert!(status.contains("example "), "{status}");
    assert_eq!(set["brakes"].as_array().map(Vec::len), Some(1), "{set}");
    assert_eq!(
        lifted["brakes"].as_array().map(Vec::len),
        Some(0),
        "the lift's answer still lists a brake: {lifted}"
    );
    assert_eq!(
        cli_set,
        (
            Some(0),
            "sender demo: braked: operator: looking into it (pause)\n".to_string()
        )
    );
    assert_eq!(
        cli_lift,
        (
            Some(0),
            "sender demo: no brake, sending resumes\n".to_string()
        )
    );
    let r = String::from_utf8_lossy(&readyz.stdout);
    assert!(r.ends_with("\n200"), "readyz: {r}");
    assert!(
        r.contains("campaign not loaded: vendas.toml") && r.contains(reason),
        "readyz: {r}"
    );
}

/// Grow mode at 1K sends a few contacts a minute on purpose: `status` says so instead of a bare
/// "sending", so the slow pace does not look like a stall (issue #20).
#[test]
fn a_grow_mode_campaign_says_in_status_why_it_sends_slowly() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = shipped_example(tmp.path());
    let example = std::fs::read_to_string(example_file("config/campaigns/example.toml")).unwrap();
    let grow = example.replace("mode = \"asap\"", "mode = \"grow\"");
    assert_ne!(
        grow, example,
        "the shipped example is no longer in asap mode"
    );
    std::fs::write(conf.join("campaigns/example.toml"), grow).unwrap();
    let cfg = conf.join("tierpace.toml");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("TIERPACE__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("TIERPACE_ADMIN_TOKEN", "first-hour-token")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (said, status) = loop {
        let out = Command::new(env!("CARGO_BIN_EXE_tierpace"))
            .args(["status"])
            .env("TIERPACE_URL", &url)
            .output()
            .unwrap();
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && t.contains("growing: ") {
            break (true, t);
        }
        if Instant::now() > deadline {
            break (false, t);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(said, "status never said why grow mode is slow:\n{status}");
    // The demo sender starts at 1K: the next tier needs 500 unique customers in 7 days.
    assert!(
        status.contains("running: growing: ")
            && status.contains(" of 500 unique customers (7 days) toward the next tier, spread over the open hours"),
        "{status}"
    );
}
