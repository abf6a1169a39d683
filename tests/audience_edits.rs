//! An audience file edited in place while its run is going (issue 16 §3): a row inserted at the
//! top, a row deleted, the file truncated. The run stops with state `audience_changed` naming the
//! file (status and metrics), never reads shifted rows, never says `completed` with contacts
//! left; `resume` re-reads the file from the top and skips contacts already handled, so every
//! contact of the file is reached exactly once.
//!
//! Real `redis-server`, the fake Gupshup over HTTP, the daemon in process. Rows carry a 3 KB note
//! so the file is many times the reader's 64 KiB read-ahead: an edit lands in bytes the reader has
//! not buffered yet (the case that used to be mis-read).
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use support::fake_gupshup::{FakeGupshup, FakeGupshupConfig};
use support::redis_server::{free_port, RedisServer};
use support::scenario::{self, number, Scenario, ScenarioSpec};
use tierpace::clock::SystemClock;
use tierpace::http::CampaignStatus;

const TOKEN: &str = "audience-edits-token";
const CONTACTS: usize = 120;

struct Rig {
    _redis: RedisServer,
    fake: FakeGupshup,
    s: Scenario,
    token: tokio_util::sync::CancellationToken,
    daemon: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn header() -> String {
    "name,ddi,phone,email,opt_in,note\n".to_string()
}

/// The row of contact `i`: 3 KB long.
fn row(i: usize) -> String {
    let n = number(i);
    format!(
        "Cliente {i},55,{},c{i}@example.com,sim,{}\n",
        &n[2..],
        "x".repeat(3000)
    )
}

fn audience(s: &Scenario) -> PathBuf {
    s.dir.path().join("campaigns/contacts/audience.csv")
}

/// Rewrites the file in place (same inode, as `sed -i`-less editors and `>` redirection do).
fn write_in_place(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

async fn rig() -> Rig {
    let redis = RedisServer::start();
    let port = free_port();
    let fake = FakeGupshup::start(FakeGupshupConfig {
        callback_url: Some(format!("http://127.0.0.1:{port}{}", scenario::GUPSHUP_HOOK)),
        ..Default::default()
    })
    .await;
    let s = scenario::write(&ScenarioSpec {
        redis_url: Some(&redis.url()),
        gupshup_url: &fake.base_url(),
        contacts: CONTACTS,
        http_port: Some(port),
        admin_token: Some(TOKEN),
        tier: "unlimited",
        // Slow enough that the edit lands mid-run.
        max_mps: 10,
        ..Default::default()
    });
    let mut csv = header();
    for i in 0..CONTACTS {
        csv.push_str(&row(i));
    }
    std::fs::write(audience(&s), csv).unwrap();
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    Rig {
        _redis: redis,
        fake,
        s,
        token,
        daemon,
    }
}

impl Rig {
    async fn campaign(&self) -> Option<CampaignStatus> {
        reqwest::get(self.s.url("/api/v1/campaigns"))
            .await
            .ok()?
            .json::<Vec<CampaignStatus>>()
            .await
            .ok()?
            .into_iter()
            .find(|c| c.id == "bf")
    }

    async fn until<F: FnMut(&CampaignStatus) -> bool>(
        &self,
        what: &str,
        mut ok: F,
    ) -> CampaignStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.campaign().await {
                if ok(&c) {
                    return c;
                }
                assert!(tokio::time::Instant::now() < deadline, "{what}: {c:#?}");
            } else {
                assert!(tokio::time::Instant::now() < deadline, "{what}: no status");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn until_sends(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.fake.sends().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "fewer than {n} sends"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn resume(&self) {
        let status = reqwest::Client::new()
            .post(self.s.url("/api/v1/campaigns/bf/resume"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }

    async fn metrics(&self) -> String {
        reqwest::get(self.s.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sends per destination.
    fn sends_by_destination(&self) -> HashMap<String, usize> {
        let mut by = HashMap::new();
        for s in self.fake.sends() {
            *by.entry(s.destination).or_default() += 1;
        }
        by
    }

    /// The run stopped for the edit: state, reason naming the file, the state metric, and
    /// nothing more sent while it stays stopped.
    async fn stopped_for_the_edit(&self) {
        let c = self
            .until("run stopped for the edited audience", |c| {
                c.state == "audience_changed"
            })
            .await;
        let why = c.why.clone().unwrap_or_default();
        assert!(
            why.contains("contacts/audience.csv"),
            "names the file: {why}"
        );
        assert!(why.contains("tierpace resume bf"), "says what to do: {why}");
        // /metrics follows on the daemon's health tick.
        let line = r#"tierpace_campaign_state{campaign="bf",state="audience_changed"} 1"#;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !self.metrics().await.lines().any(|l| l == line) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {line} in /metrics"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sent = self.fake.sends().len();
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(self.fake.sends().len(), sent, "a stopped run sends nothing");
        assert!(sent < CONTACTS, "stopped mid-run");
    }

    /// After `resume`: the run completes, every contact of `expected` reached exactly once, and
    /// nothing counted as a duplicate.
    async fn resumed_reaches_everyone_once(&self, expected: &[usize]) {
        self.resume().await;
        let c = self
            .until("completed after resume", |c| c.state == "completed")
            .await;
        let by = self.sends_by_destination();
        for &i in expected {
            assert_eq!(by.get(&number(i)), Some(&1), "contact {i}: {c:#?}");
        }
        assert!(by.values().all(|n| *n == 1), "nobody twice");
        assert_eq!(c.totals.skipped.get("duplicate"), None, "{c:#?}");
        assert_eq!(c.totals.pending, 0, "{c:#?}");
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.daemon).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_inserted_at_the_top_stops_the_run_and_resume_reaches_everyone_once() {
    let rig = rig().await;
    rig.until_sends(10).await;
    // A new contact at the top: every row after it moves down a line and 3 KB.
    let mut csv = header();
    csv.push_str(&row(CONTACTS));
    for i in 0..CONTACTS {
        csv.push_str(&row(i));
    }
    write_in_place(&audience(&rig.s), &csv);
    rig.stopped_for_the_edit().await;
    let all: Vec<usize> = (0..=CONTACTS).collect();
    rig.resumed_reaches_everyone_once(&all).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_deleted_while_stopped_is_noticed_at_restart_and_no_row_is_skipped() {
    let rig = rig().await;
    rig.until_sends(10).await;
    // The daemon stops; meanwhile the operator deletes the second row (already read).
    rig.token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), rig.daemon).await;
    let mut csv = header();
    for i in (0..CONTACTS).filter(|&i| i != 1) {
        csv.push_str(&row(i));
    }
    write_in_place(&audience(&rig.s), &csv);
    let (token, daemon) =
        support::daemon::start_in_process(rig.s.config.clone(), Arc::new(SystemClock));
    let rig = Rig {
        token,
        daemon,
        ..rig
    };
    // The saved cursor's fingerprint no longer matches the file: stopped, not mis-read.
    rig.stopped_for_the_edit().await;
    let rest: Vec<usize> = (0..CONTACTS).filter(|&i| i != 1).collect();
    rig.resumed_reaches_everyone_once(&rest).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_audience_never_says_completed_with_contacts_left_even_after_a_restart() {
    let rig = rig().await;
    rig.until_sends(10).await;
    // Truncated to its first 60 rows (an editor crashed, a copy was cut short).
    let mut csv = header();
    for i in 0..60 {
        csv.push_str(&row(i));
    }
    write_in_place(&audience(&rig.s), &csv);
    rig.stopped_for_the_edit().await;
    let c = rig.campaign().await.unwrap();
    assert_ne!(c.state, "completed");
    // A restart keeps the run stopped, and still says why.
    rig.token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), rig.daemon).await;
    let (token, daemon) =
        support::daemon::start_in_process(rig.s.config.clone(), Arc::new(SystemClock));
    let rig = Rig {
        token,
        daemon,
        ..rig
    };
    rig.stopped_for_the_edit().await;
    // Resumed: the file as it is now is the audience; each of its contacts exactly once.
    let kept: Vec<usize> = (0..60).collect();
    rig.resumed_reaches_everyone_once(&kept).await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untouched_audience_runs_to_the_end_without_stopping() {
    // The check must not fire on its own: the same file, long rows, no edit.
    let rig = rig().await;
    let c = rig
        .until("completed", |c| {
            assert_ne!(c.state, "audience_changed", "{c:#?}");
            c.state == "completed"
        })
        .await;
    assert_eq!(c.totals.pending, 0);
    let by = rig.sends_by_destination();
    assert_eq!(by.len(), CONTACTS);
    assert!(by.values().all(|n| *n == 1));
    rig.stop().await;
}
