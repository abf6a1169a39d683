//! Issue #20: every command shown in README.md and docs/*.md is run, and its output compared, so
//! the documentation cannot drift from the binary.
//!
//! What is checked:
//! - A fenced block whose info string starts with `console` holds commands (`$ ` lines) each
//!   followed by its expected standard output. `tierpace` and `./target/release/tierpace` run the
//!   binary under test, from the repository root, through `sh -c` (so pipes to `jq`, `grep`,
//!   `head` work). In expected output, `[..]` matches any text within a line and a line `...`
//!   matches any number of lines. The exit code must be 0 unless the info string says `exit=N`.
//! - `console daemon` blocks run against one daemon this test starts on the shipped example
//!   (`config/tierpace.toml`: memory state, dry-run sender), on a free port
//!   (`127.0.0.1:9464` in the docs is rewritten to it), once the example campaign has completed.
//! - A `log` block lists lines the daemon's log must contain, in order (timestamps cut).
//! - Any other fenced block with a `$ tierpace` line fails: an example nobody runs.
//!
//! Paths under `/tmp/tierpace-prod` in commands are rewritten to a fresh temporary folder.
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "demo-token-0001";
const DOC_PORT: &str = "127.0.0.1:9464";
const DOC_TMP: &str = "/tmp/tierpace-prod";

#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    info: String,
    body: Vec<String>,
}

fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

fn blocks(root: &Path) -> Vec<Block> {
    let mut out = Vec::new();
    for path in doc_files(root) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let mut open: Option<Block> = None;
        for (i, line) in text.lines().enumerate() {
            if let Some(rest) = line.strip_prefix("```") {
                match open.take() {
                    Some(b) => out.push(b),
                    None => {
                        open = Some(Block {
                            file: name.clone(),
                            line: i + 1,
                            info: rest.trim().to_string(),
                            body: Vec::new(),
                        })
                    }
                }
            } else if let Some(b) = open.as_mut() {
                b.body.push(line.to_string());
            }
        }
        assert!(open.is_none(), "{name}: unclosed code fence");
    }
    out
}

/// `[..]` matches any text within one line.
fn line_matches(expected: &str, actual: &str) -> bool {
    let parts: Vec<&str> = expected.split("[..]").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let mut rest = actual;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// A `...` line matches any number of lines.
fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.first() {
        None => actual.is_empty(),
        Some(e) if e.trim() == "..." => {
            (0..=actual.len()).any(|skip| lines_match(&expected[1..], &actual[skip..]))
        }
        Some(e) => {
            !actual.is_empty()
                && line_matches(e.trim_end(), actual[0].trim_end())
                && lines_match(&expected[1..], &actual[1..])
        }
    }
}

struct Env {
    root: PathBuf,
    bin_dir: tempfile::TempDir,
    tmp: tempfile::TempDir,
    port: u16,
}

impl Env {
    fn new() -> Self {
        let bin_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_tierpace"),
            bin_dir.path().join("tierpace"),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Env {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            bin_dir,
            tmp: tempfile::tempdir().unwrap(),
            port,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where `/tmp/tierpace-prod` goes for the blocks of one documentation file (so the README's
    /// `init` and a page's `init` then `check` each start from an empty folder).
    fn tmp_dir(&self, file: &str) -> String {
        let slug: String = file
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.tmp
            .path()
            .join(slug)
            .join("prod")
            .display()
            .to_string()
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        let path = format!(
            "{}:{}",
            self.bin_dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.current_dir(&self.root)
            .env("PATH", path)
            .env("TIERPACE_URL", format!("http://{}", self.addr()))
            .env("TIERPACE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("NO_COLOR", "1")
            .env_remove("TIERPACE_CONFIG")
            .env_remove("TIERPACE_ADMIN_TOKEN_FILE")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("RUST_LOG");
        c
    }

    /// Runs one documented command line; returns (exit code, stdout with temp paths put back).
    fn run(&self, file: &str, line: &str) -> (i32, String, String) {
        let tmp = self.tmp_dir(file);
        let cmd = line
            .replace("./target/release/tierpace", "tierpace")
            .replace(DOC_PORT, &self.addr())
            .replace(DOC_TMP, &tmp);
        let out = self
            .command("sh")
            .args(["-c", &cmd])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout)
            .replace(&tmp, DOC_TMP)
            .replace(&self.addr(), DOC_PORT);
        (
            out.status.code().unwrap_or(-1),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(env: &Env) -> Daemon {
    let log = env.tmp.path().join("daemon.log");
    let child = env
        .command(env!("CARGO_BIN_EXE_tierpace"))
        .args(["run", "--config", "config/tierpace.toml"])
        .env("TIERPACE__HTTP__LISTEN", env.addr())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, log };
    // The tour shows the example campaign once it has completed.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, out, _) = env.run("", "tierpace status --json");
        if code == 0 && out.contains("\"completed\"") {
            return daemon;
        }
        assert!(
            Instant::now() < deadline,
            "the example campaign did not complete within 120 s; log:\n{}",
            std::fs::read_to_string(&daemon.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn check_console(env: &Env, b: &Block, failures: &mut Vec<String>) -> usize {
    let want_code: i32 = b
        .info
        .split_whitespace()
        .find_map(|w| w.strip_prefix("exit="))
        .map(|n| n.parse().expect("exit=N"))
        .unwrap_or(0);
    let mut cmds: Vec<(String, Vec<String>)> = Vec::new();
    for line in &b.body {
        if let Some(c) = line.strip_prefix("$ ") {
            cmds.push((c.to_string(), Vec::new()));
        } else if let Some(last) = cmds.last_mut() {
            last.1.push(line.clone());
        } else if !line.trim().is_empty() {
            failures.push(format!(
                "{}:{}: output before any `$ ` command",
                b.file, b.line
            ));
        }
    }
    for (cmd, mut expected) in cmds.iter().cloned() {
        while expected.last().is_some_and(|l| l.trim().is_empty()) {
            expected.pop();
        }
        let (code, stdout, stderr) = env.run(&b.file, &cmd);
        let mut actual: Vec<&str> = stdout.lines().collect();
        while actual.last().is_some_and(|l| l.trim().is_empty()) {
            actual.pop();
        }
        if code != want_code || !lines_match(&expected, &actual) {
            failures.push(format!(
                "{}:{}: `{cmd}` (exit {code}, expected {want_code})\n--- expected\n{}\n--- actual\n{}\n--- stderr\n{}",
                b.file,
                b.line,
                expected.join("\n"),
                actual.join("\n"),
                stderr
            ));
        }
    }
    cmds.len()
}

#[test]
fn every_documented_command_prints_what_the_docs_show() {
    let env = Env::new();
    let all = blocks(&env.root);
    let mut failures = Vec::new();
    let mut commands = 0;
    let mut daemon: Option<Daemon> = None;
    for b in &all {
        let words: Vec<&str> = b.info.split_whitespace().collect();
        match words.first().copied() {
            Some("console") => {
                if words.contains(&"daemon") && daemon.is_none() {
                    daemon = Some(start_daemon(&env));
                }
                commands += check_console(&env, b, &mut failures);
            }
            Some("log") => {}
            _ => {
                if b.body.iter().any(|l| {
                    l.starts_with("$ tierpace") || l.starts_with("$ ./target/release/tierpace")
                }) {
                    failures.push(format!(
                        "{}:{}: a `$ tierpace` example outside a ```console block is not checked",
                        b.file, b.line
                    ));
                }
            }
        }
    }
    // Log blocks last: by now the daemon has logged its start and the dry run.
    for b in all
        .iter()
        .filter(|b| b.info.split_whitespace().next() == Some("log"))
    {
        let d = daemon.get_or_insert_with(|| start_daemon(&env));
        let log = strip_ansi(&std::fs::read_to_string(&d.log).unwrap());
        let mut lines = log.lines();
        for want in b.body.iter().filter(|l| !l.trim().is_empty()) {
            let want = format!("[..]{}[..]", want.trim().replace(DOC_PORT, &env.addr()));
            if !lines.any(|l| line_matches(&want, l)) {
                failures.push(format!(
                    "{}:{}: log line not found (in order): {want}\n--- log\n{log}",
                    b.file, b.line
                ));
                break;
            }
        }
    }
    assert!(
        commands >= 8,
        "only {commands} documented commands found: README lost its examples?"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn wildcards_match_what_they_say() {
    assert!(line_matches("a [..] c", "a bbb c"));
    assert!(!line_matches("a [..] c", "a bbb d"));
    assert!(line_matches("[..]x", "yyx"));
    let e: Vec<String> = ["1", "...", "4"].iter().map(|s| s.to_string()).collect();
    assert!(lines_match(&e, &["1", "2", "3", "4"]));
    assert!(!lines_match(&e, &["1", "2", "3"]));
}
