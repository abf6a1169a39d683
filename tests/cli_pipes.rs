//! Issue #20: the CLI as a newcomer meets it in a shell. A reader that closes the pipe early
//! (`tierpace plan ... | head -1`) ends the command quietly, never with a "failed printing to
//! stdout" panic.
use std::process::{Command, Stdio};

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tierpace"))
        .args(["plan", "--audience", "300000", "--start", "2026-03-02"])
        .env_remove("TIERPACE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tierpace plan");
    // Close the read end before the command writes anything: its write gets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
