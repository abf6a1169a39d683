//! Running the daemon in tests: in-process on a clock of the test's choosing, or as the real
//! binary that can be stopped gracefully (SIGTERM) or killed (SIGKILL).
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tierpace::clock::Clock;
use tokio_util::sync::CancellationToken;

/// Runs `tierpace::daemon::run` in a task; cancel the token to stop it.
pub fn start_in_process(
    config: PathBuf,
    clock: Arc<dyn Clock>,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let token = CancellationToken::new();
    let t = token.clone();
    let task = tokio::spawn(async move { tierpace::daemon::run(&config, clock, t).await });
    (token, task)
}

/// Polls until `done` holds or the deadline passes (a functional wait, not a timing assertion).
pub async fn wait_for<F: FnMut() -> bool>(mut done: F, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

/// Polls an async check every 100 ms until it holds or `secs` pass (a functional wait).
pub async fn eventually<F, Fut>(mut check: F, secs: u64) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Stops a daemon process with SIGTERM (via `kill`, no unsafe libc call), then SIGKILL if it
/// does not stop within 15 s.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
