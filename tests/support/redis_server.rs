//! A private `redis-server` per test binary, started on a free loopback port and killed on drop.
//!
//! The server runs under a small `sh` guard that kills it when the guard's stdin closes, so a
//! server kept in a `static` (never dropped) still dies with the test process.
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running `redis-server` owned by the test process.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    /// The guard shell and the write end of its lifeline.
    child: Mutex<Option<(Child, Option<std::process::ChildStdin>)>>,
    /// The pid of a frozen server (it cannot answer INFO while stopped).
    frozen_pid: Mutex<Option<u32>>,
}

impl RedisServer {
    /// Starts a fresh server on a free port with persistence off.
    pub fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let server = Self {
            port,
            dir,
            child: Mutex::new(None),
            frozen_pid: Mutex::new(None),
        };
        server.spawn();
        server
    }

    /// One server shared by all tests of a binary; tests isolate themselves by key prefix.
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    /// The server's process id (for SIGSTOP/SIGCONT fault tests), as the server reports it.
    pub fn pid(&self) -> Option<u32> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_connection().ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Freezes (`true`) or thaws the server with SIGSTOP / SIGCONT: clients hang as on a
    /// network partition, and the data stays.
    pub fn freeze(&self, frozen: bool) {
        let pid = if frozen {
            self.pid()
        } else {
            *self.frozen_pid.lock().unwrap()
        };
        *self.frozen_pid.lock().unwrap() = if frozen { pid } else { None };
        if let Some(pid) = pid {
            let sig = if frozen { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill").arg(sig).arg(pid.to_string()).status();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn spawn(&self) {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & p=$!; read _line; kill -9 "$p"; wait "$p""#)
            .arg(redis_binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
                self.dir.path().to_str().expect("utf-8 temp path"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh and redis-server must be installed (scripts/test.sh installs it)");
        let lifeline = child.stdin.take();
        *self.child.lock().unwrap() = Some((child, lifeline));
        self.wait_until(true);
    }

    /// Kills the server (SIGKILL): data is gone, like a crash without persistence.
    pub fn stop(&self) {
        if let Some((child, lifeline)) = self.child.lock().unwrap().take() {
            kill_guarded(child, lifeline);
        }
        self.wait_until(false);
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&self) {
        self.stop();
        self.spawn();
    }

    fn wait_until(&self, up: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let reachable = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if reachable == up {
                if up {
                    // Accepting connections is not the same as serving: ping until PONG.
                    if let Ok(client) = redis::Client::open(self.url()) {
                        if let Ok(mut conn) = client.get_connection() {
                            if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                                return;
                            }
                        }
                    }
                } else {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not become up={up}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some((child, lifeline)) = self.child.get_mut().unwrap().take() {
            kill_guarded(child, lifeline);
        }
    }
}

/// Tells the guard to SIGKILL its server (a line, or EOF when the lifeline drops) and reaps it.
fn kill_guarded(mut guard: Child, lifeline: Option<std::process::ChildStdin>) {
    if let Some(mut l) = lifeline {
        use std::io::Write as _;
        let _ = l.write_all(b"stop\n");
    }
    let _ = guard.wait();
}

fn redis_binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_string())
}

/// A port that was free a moment ago (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
