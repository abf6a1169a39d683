//! Secrets never reach the logs (DESIGN.md §2, guarantee 7), checked on a real run of the daemon
//! deployed the way systemd runs it: keys handed over as credential files in
//! `$CREDENTIALS_DIRECTORY`, stderr identified by `JOURNAL_STREAM` (so JSON is chosen without
//! `--log-format`), and `RUST_LOG=trace` so every dependency logs everything it can. The run
//! gets requests with right and wrong tokens, is stopped with SIGTERM, and its whole output is
//! grepped for the known key values.
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};

const API_KEY: &str = "sk-gupshup-e2e-7hQ2mX9pL4vB";
const ADMIN_TOKEN: &str = "admin-e2e-5rT8wZk3Nq1y";
const WEBHOOK_SECRET: &str = "hook-e2e-Jd83kLq0Pz7c";

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One HTTP/1.1 request on a fresh connection; returns the whole answer (status line first).
fn http(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn post(port: u16, path: &str, headers: &str, body: &str) -> String {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn write_deployment(dir: &Path, port: u16, gupshup_url: &str) {
    let creds = dir.join("credentials");
    fs::create_dir_all(&creds).unwrap();
    fs::write(creds.join("gupshup-key-sac"), format!("{API_KEY}\n")).unwrap();
    fs::write(creds.join("admin-token"), format!("{ADMIN_TOKEN}\n")).unwrap();

    fs::write(
        dir.join("tierpace.toml"),
        format!(
            r#"state = "memory"
campaigns_dir = "campaigns"
drain_timeout = "2s"

[http]
listen = "127.0.0.1:{port}"
admin_token_file = "admin-token"
gupshup_secret_env = "E2E_GUPSHUP_WEBHOOK_SECRET"

[senders.sac]
provider = "gupshup"
source = "558599990000"
app_name = "e2eapp"
api_key_file = "gupshup-key-sac"
base_url = "{gupshup_url}"
max_mps = 5
"#
        ),
    )
    .unwrap();

    let campaigns = dir.join("campaigns");
    fs::create_dir_all(&campaigns).unwrap();
    fs::write(
        campaigns.join("spring.toml"),
        r#"sender = "sac"

[template]
id = "3f1c2a4e-0000-4000-8000-000000000001"
category = "marketing"
params = ["{name}"]

[audience]
file = "spring.csv"

[schedule]
calendar = "always"
"#,
    )
    .unwrap();
    fs::write(
        campaigns.join("spring.csv"),
        "name,ddi,phone,email,opt_in\n\
         Ana,55,85999990001,ana@example.com,yes\n\
         Bia,55,85999990002,bia@example.com,yes\n",
    )
    .unwrap();
}

#[tokio::test]
async fn a_run_under_systemd_conditions_never_logs_a_secret() {
    let fake = FakeGupshup::start(FakeGupshupConfig {
        api_key: API_KEY.into(),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    write_deployment(dir.path(), port, &fake.base_url());

    let stderr_path = dir.path().join("stderr.log");
    let stdout_path = dir.path().join("stdout.log");
    let stderr = fs::File::create(&stderr_path).unwrap();
    let journal_stream = {
        let m = stderr.metadata().unwrap();
        format!("{}:{}", m.dev(), m.ino())
    };
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("tierpace.toml"))
        .env("CREDENTIALS_DIRECTORY", dir.path().join("credentials"))
        .env("JOURNAL_STREAM", journal_stream)
        .env("RUST_LOG", "trace")
        .env("E2E_GUPSHUP_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).unwrap())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Ready means config, credentials and campaigns were read (each a chance to log a key).
    let mut waited = Duration::ZERO;
    while !fs::read_to_string(&stderr_path)
        .unwrap()
        .contains("tierpace ready")
    {
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!(
                "daemon exited before ready: {status}\n{}",
                fs::read_to_string(&stderr_path).unwrap()
            );
        }
        assert!(
            waited < Duration::from_secs(120),
            "never ready:\n{}",
            fs::read_to_string(&stderr_path).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }

    // Requests that carry secrets, right and wrong, through the admin API and the webhook.
    let requests = tokio::task::spawn_blocking(move || {
        let wrong = post(
            port,
            "/api/v1/campaigns/spring/pause",
            "Authorization: Bearer not-the-token-at-all\r\n",
            "",
        );
        let right = post(
            port,
            "/api/v1/campaigns/spring/pause",
            &format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"),
            "",
        );
        let hook = post(
            port,
            &format!("/webhooks/gupshup/{WEBHOOK_SECRET}"),
            &format!("X-Tierpace-Secret: {WEBHOOK_SECRET}\r\n"),
            r#"{"app":"e2eapp","timestamp":1,"version":2,"type":"message-event","payload":{"id":"x","type":"delivered"}}"#,
        );
        (wrong, right, hook)
    })
    .await
    .unwrap();
    let (wrong, right, _hook) = requests;
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(!right.starts_with("HTTP/1.1 401"), "{right}");

    // SIGTERM, as `systemctl stop` sends; the daemon drains and exits cleanly.
    let pid = daemon.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(60), daemon.wait())
        .await
        .expect("stopped within the drain timeout")
        .unwrap();

    let log = fs::read_to_string(&stderr_path).unwrap();
    let out = fs::read_to_string(&stdout_path).unwrap();
    assert!(status.success(), "exit {status}\n{log}");
    assert!(log.contains("\"stopped\""), "{log}");
    assert!(log.lines().count() > 20, "trace level logs a lot: {log}");
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line under journald ({e}): {line}"));
    }
    for secret in [API_KEY, ADMIN_TOKEN, WEBHOOK_SECRET] {
        assert!(!log.contains(secret), "{secret} in the logs:\n{log}");
        assert!(!out.contains(secret), "{secret} on stdout:\n{out}");
    }
}
