//! Redis as it is deployed beyond one plain node: over TLS (a throwaway CA made with the
//! `openssl` CLI) and behind Sentinel (a master, a replica and a Sentinel, all real
//! `redis-server` processes; Sentinel is `redis-server <conf> --sentinel`).
//!
//! Each process runs under the same `sh` guard as `redis_server.rs`: it dies with the test.
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis_server::free_port;

/// One guarded process; SIGKILLed on `kill` or drop.
pub struct Guarded {
    child: Option<(Child, Option<ChildStdin>)>,
}

impl Guarded {
    pub fn spawn(args: &[String]) -> Self {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & p=$!; read _line; kill -9 "$p"; wait "$p""#)
            .arg(std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into()))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh and redis-server");
        let lifeline = child.stdin.take();
        Self {
            child: Some((child, lifeline)),
        }
    }

    /// SIGKILL, like a crashed host.
    pub fn kill(&mut self) {
        if let Some((mut child, lifeline)) = self.child.take() {
            if let Some(mut l) = lifeline {
                use std::io::Write as _;
                let _ = l.write_all(b"stop\n");
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and certificates signed by it, in `dir`: `ca.crt`, `server.{crt,key}` (for
/// 127.0.0.1 and localhost), `client.{crt,key}`; and `other-ca.crt`, a CA that signed nothing.
pub fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        let (key, crt, subj) = (
            format!("{ca}.key"),
            format!("{ca}.crt"),
            format!("/CN=tierpace test {ca}"),
        );
        a.extend(["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj]);
        openssl(dir, &a);
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let (key, csr, crt, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.crt"),
            format!("{who}.ext"),
        );
        let subj = format!("/CN=tierpace test {who}");
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &a);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

fn wait_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() == up {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("port {port} did not become up={up}");
}

/// A `redis-server` that speaks only TLS, with its certificates.
pub struct TlsRedis {
    pub dir: tempfile::TempDir,
    pub port: u16,
    _proc: Guarded,
}

impl TlsRedis {
    /// `client_certs`: whether the server demands a client certificate (`tls-auth-clients`).
    pub fn start(client_certs: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path());
        let port = free_port();
        let p = |f: &str| dir.path().join(f).display().to_string();
        let args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            &p("server.crt"),
            "--tls-key-file",
            &p("server.key"),
            "--tls-ca-cert-file",
            &p("ca.crt"),
            "--tls-auth-clients",
            if client_certs { "yes" } else { "no" },
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &p(""),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = Guarded::spawn(&args);
        wait_port(port, true);
        Self {
            dir,
            port,
            _proc: proc,
        }
    }

    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The keys the server holds (read with `redis-cli --tls`, independent of the daemon).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let f = |n: &str| self.file(n).display().to_string();
        let out = Command::new("redis-cli")
            .args([
                "--tls",
                "--cacert",
                &f("ca.crt"),
                "--cert",
                &f("client.crt"),
                "--key",
                &f("client.key"),
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "--scan",
                "--pattern",
                pattern,
            ])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A master, one replica and one Sentinel watching them as `mymaster` (quorum 1, down after
/// 1 s), so killing the master promotes the replica within a few seconds.
pub struct SentinelSet {
    pub dir: tempfile::TempDir,
    pub master_port: u16,
    pub replica_port: u16,
    pub sentinel_port: u16,
    master: Guarded,
    _replica: Guarded,
    _sentinel: Guarded,
}

impl SentinelSet {
    pub const MASTER: &'static str = "mymaster";

    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (master_port, replica_port, sentinel_port) = (free_port(), free_port(), free_port());
        let node = |port: u16, extra: &[String]| {
            let d = dir.path().join(port.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let mut a: Vec<String> = [
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
                "--dir",
                d.to_str().unwrap(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            a.extend_from_slice(extra);
            Guarded::spawn(&a)
        };
        let master = node(master_port, &[]);
        wait_port(master_port, true);
        let replica = node(
            replica_port,
            &[
                "--replicaof".into(),
                "127.0.0.1".into(),
                master_port.to_string(),
            ],
        );
        wait_port(replica_port, true);
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                 sentinel monitor {m} 127.0.0.1 {master_port} 1\n\
                 sentinel down-after-milliseconds {m} 1000\n\
                 sentinel failover-timeout {m} 5000\n\
                 sentinel parallel-syncs {m} 1\n",
                dir = dir.path().display(),
                m = Self::MASTER,
            ),
        )
        .unwrap();
        let sentinel = Guarded::spawn(&[conf.display().to_string(), "--sentinel".into()]);
        wait_port(sentinel_port, true);
        let set = Self {
            dir,
            master_port,
            replica_port,
            sentinel_port,
            master,
            _replica: replica,
            _sentinel: sentinel,
        };
        // Failover needs the Sentinel to know the replica (it learns it from the master's INFO).
        let deadline = Instant::now() + Duration::from_secs(20);
        while set.sentinel_replicas() < 1 || set.replica_link_up().is_none() {
            assert!(
                Instant::now() < deadline,
                "sentinel did not discover the replica"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        set
    }

    fn cli(port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sentinel_replicas(&self) -> usize {
        Self::cli(self.sentinel_port, &["SENTINEL", "REPLICAS", Self::MASTER])
            .lines()
            .filter(|l| l.trim() == "name")
            .count()
    }

    fn replica_link_up(&self) -> Option<()> {
        Self::cli(self.replica_port, &["INFO", "replication"])
            .contains("master_link_status:up")
            .then_some(())
    }

    /// The port of the master the Sentinel names now.
    pub fn current_master_port(&self) -> Option<u16> {
        Self::master_named_by(self.sentinel_port)
    }

    /// The port of the master the Sentinel on `sentinel_port` names now.
    pub fn master_named_by(sentinel_port: u16) -> Option<u16> {
        let out = Self::cli(
            sentinel_port,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER],
        );
        out.lines().nth(1)?.trim().parse().ok()
    }

    /// SIGKILLs the master.
    pub fn kill_master(&mut self) {
        self.master.kill();
        wait_port(self.master_port, false);
    }

    /// The config lines that point tierpace at this set; `dead_sentinel` first lists a
    /// Sentinel address nothing listens on (clients must try the next one).
    pub fn config_lines(&self, dead_sentinel: Option<u16>) -> String {
        let mut nodes: Vec<String> = dead_sentinel
            .map(|p| format!("\"127.0.0.1:{p}\""))
            .into_iter()
            .collect();
        nodes.push(format!("\"127.0.0.1:{}\"", self.sentinel_port));
        format!(
            "redis_sentinel = {{ master = \"{}\", nodes = [{}] }}\n",
            Self::MASTER,
            nodes.join(", ")
        )
    }
}

/// A 3-master Redis Cluster that speaks only TLS, clients and cluster bus alike.
pub struct TlsCluster {
    pub dir: tempfile::TempDir,
    pub ports: Vec<u16>,
    _nodes: Vec<Guarded>,
}

impl TlsCluster {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_certificates(dir.path());
        let ports = super::redis_cluster::cluster_ports(3);
        let p = |f: &str| dir.path().join(f).display().to_string();
        let nodes: Vec<Guarded> = ports
            .iter()
            .map(|port| {
                let d = dir.path().join(port.to_string());
                std::fs::create_dir_all(&d).unwrap();
                let args: Vec<String> = [
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--tls-cert-file",
                    &p("server.crt"),
                    "--tls-key-file",
                    &p("server.key"),
                    "--tls-ca-cert-file",
                    &p("ca.crt"),
                    "--tls-auth-clients",
                    "no",
                    "--tls-cluster",
                    "yes",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                    "--dir",
                    d.to_str().unwrap(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                Guarded::spawn(&args)
            })
            .collect();
        for &port in &ports {
            wait_port(port, true);
        }
        let cluster = Self {
            dir,
            ports,
            _nodes: nodes,
        };
        let mut create = cluster.cli();
        create.args(["--cluster", "create"]);
        for port in &cluster.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        // `timeout`: a cluster bus that cannot agree leaves `create` waiting for ever.
        let mut create = {
            let mut t = Command::new("timeout");
            t.arg("30")
                .arg(create.get_program())
                .args(create.get_args());
            t
        };
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "cluster create over TLS: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for &port in &cluster.ports {
            loop {
                let out = cluster
                    .cli()
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "CLUSTER",
                        "INFO",
                    ])
                    .output()
                    .expect("redis-cli");
                if String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < deadline, "TLS cluster not ok on {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        cluster
    }

    /// `redis-cli` with this cluster's TLS options. The nodes' certificate also serves as the
    /// bus's client certificate (hence `clientAuth` in it).
    fn cli(&self) -> Command {
        let mut c = Command::new("redis-cli");
        c.args(["--tls", "--cacert"])
            .arg(self.dir.path().join("ca.crt"));
        c
    }

    /// Seeds as the daemon config takes them for TLS.
    pub fn seeds(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("rediss://127.0.0.1:{p}"))
            .collect()
    }

    /// How many keys matching `pattern` the whole cluster holds.
    pub fn count_keys(&self, pattern: &str) -> usize {
        self.ports
            .iter()
            .map(|port| {
                let out = self
                    .cli()
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "--scan",
                        "--pattern",
                    ])
                    .arg(pattern)
                    .output()
                    .expect("redis-cli");
                String::from_utf8_lossy(&out.stdout).lines().count()
            })
            .sum()
    }
}
