//! A private `redis-server` per test binary, started on a free loopback port and killed on drop.
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running `redis-server` owned by the test process.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
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
        };
        server.spawn();
        server
    }

    /// One server shared by all tests of a binary; tests isolate themselves by key prefix.
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    /// The server's process id (for SIGSTOP/SIGCONT fault tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(|c| c.id())
    }

    /// Freezes (`true`) or thaws the server with SIGSTOP / SIGCONT: clients hang as on a
    /// network partition, and the data stays.
    pub fn freeze(&self, frozen: bool) {
        if let Some(pid) = self.pid() {
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
        let child = Command::new(redis_binary())
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test.sh installs it)");
        *self.child.lock().unwrap() = Some(child);
        self.wait_until(true);
    }

    /// Kills the server (SIGKILL): data is gone, like a crash without persistence.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
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
        if let Some(mut child) = self.child.get_mut().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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
