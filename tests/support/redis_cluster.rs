//! A private 3-master Redis Cluster per test binary: three `redis-server --cluster-enabled yes`
//! on free loopback ports (no persistence), joined with `redis-cli --cluster create`, killed on
//! drop.
//!
//! Each server runs under a small `sh` guard that kills it when the guard's stdin closes: the
//! test process holds the other end, so the servers die with it even when a shared cluster lives
//! in a `static` (never dropped) or the test binary is killed.
use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One cluster node: its guard process and the pipe that keeps it alive.
struct Node {
    port: u16,
    /// The redis-server's own process id (the guard's child), for SIGSTOP / SIGCONT.
    pid: Option<u32>,
    guard: Child,
    lifeline: Option<ChildStdin>,
}

/// A running 3-master cluster owned by the test process.
pub struct RedisCluster {
    nodes: Mutex<Vec<Node>>,
    ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts three masters, creates the cluster (16384 slots split in three, no replicas) and
    /// waits until every node says `cluster_state:ok`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the cluster");
        let ports = cluster_ports(3);
        let nodes = ports
            .iter()
            .map(|&port| spawn_node(port, dir.path()))
            .collect();
        let cluster = Self {
            nodes: Mutex::new(nodes),
            ports,
            _dir: dir,
        };
        for node in cluster
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            wait_for_pong(node.port);
            node.pid = server_pid(node.port);
        }
        let mut create = Command::new(cli_binary());
        create.arg("--cluster").arg("create");
        for &port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli must be installed (it comes with redis-server)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// One cluster shared by all tests of a binary; tests isolate themselves by key prefix.
    pub fn shared() -> &'static RedisCluster {
        static SHARED: OnceLock<RedisCluster> = OnceLock::new();
        SHARED.get_or_init(RedisCluster::start)
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Seed nodes as the daemon config's `redis_cluster` takes them (`127.0.0.1:PORT`).
    pub fn seeds(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    /// Seed node URLs for `redis::cluster::ClusterClient::new`.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect()
    }

    /// An async cluster connection, as the daemon builds it (src/daemon/stores.rs).
    pub async fn connect(&self) -> redis::cluster_async::ClusterConnection {
        redis::cluster::ClusterClient::new(self.urls())
            .expect("cluster client")
            .get_async_connection()
            .await
            .expect("cluster connection")
    }

    /// The hash slot of a key (`CLUSTER KEYSLOT`, asked of the first node).
    pub fn keyslot(&self, key: &str) -> u16 {
        let mut conn = node_connection(self.ports[0]);
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .expect("CLUSTER KEYSLOT")
    }

    /// The port of the master that serves a key's slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot = i64::from(self.keyslot(key));
        let mut conn = node_connection(self.ports[0]);
        // CLUSTER SLOTS: [[start, end, [ip, port, id], ...], ...]
        let ranges: Vec<(i64, i64, (String, i64))> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query::<Vec<redis::Value>>(&mut conn)
            .expect("CLUSTER SLOTS")
            .into_iter()
            .map(|r| {
                let items: Vec<redis::Value> = redis::from_redis_value(&r).expect("slot range");
                let start: i64 = redis::from_redis_value(&items[0]).expect("start");
                let end: i64 = redis::from_redis_value(&items[1]).expect("end");
                let master: Vec<redis::Value> = redis::from_redis_value(&items[2]).expect("master");
                let ip: String = redis::from_redis_value(&master[0]).expect("ip");
                let port: i64 = redis::from_redis_value(&master[1]).expect("port");
                (start, end, (ip, port))
            })
            .collect();
        let (_, _, (_, port)) = ranges
            .into_iter()
            .find(|(s, e, _)| (*s..=*e).contains(&slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"));
        u16::try_from(port).expect("port")
    }

    /// The keys stored on one node that match a pattern (`KEYS` is per node on a cluster).
    pub fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let mut conn = node_connection(port);
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut conn)
            .expect("KEYS");
        keys.sort();
        keys
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self.ports.iter().all(|&port| {
                let mut conn = node_connection(port);
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query::<String>(&mut conn)
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster on {:?} did not reach cluster_state:ok",
                self.ports
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes (`true`) or thaws the master on `port` with SIGSTOP / SIGCONT: clients hang as
    /// on a network partition, and the data stays.
    pub fn freeze(&self, port: u16, frozen: bool) {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let pid = nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.pid)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        let sig = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").arg(sig).arg(pid.to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {sig} {pid}");
    }

    /// Kills every node (SIGKILL through its guard) and waits for the guards to exit.
    pub fn stop(&self) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        for node in nodes.iter_mut() {
            stop_node(node);
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stop_node(node: &mut Node) {
    if let Some(mut lifeline) = node.lifeline.take() {
        let _ = lifeline.write_all(b"stop\n");
    }
    let _ = node.guard.wait();
}

/// `redis-server` under a guard shell: the server is killed when the guard reads a line or EOF.
fn spawn_node(port: u16, dir: &std::path::Path) -> Node {
    let node_dir = dir.join(port.to_string());
    std::fs::create_dir_all(&node_dir).expect("node dir");
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$@" & p=$!; read _line; kill -9 "$p"; wait "$p""#)
        .arg(server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            "--dir",
            node_dir.to_str().expect("utf-8 temp path"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh and redis-server must be installed");
    let lifeline = guard.stdin.take();
    Node {
        port,
        pid: None,
        guard,
        lifeline,
    }
}

fn wait_for_pong(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) {
            if let Ok(mut conn) = client.get_connection() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cluster node on port {port} did not answer PING");
}

/// The server's process id, from `INFO server`.
fn server_pid(port: u16) -> Option<u32> {
    let mut conn = node_connection(port);
    let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A plain (non-cluster) connection to one node, for CLUSTER and per-node commands.
fn node_connection(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("connect to cluster node {port}: {e}"))
}

/// `n` ports that are free now and whose cluster bus port (port + 10000) is free too.
pub fn cluster_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        assert!(tries < 1000, "no free port pairs for a cluster");
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port > 55_535 || ports.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

fn server_binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_string())
}

fn cli_binary() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".to_string())
}
