//! Talking to systemd: readiness, reload, shutdown and watchdog notifications.
//!
//! tierpace runs as a `Type=notify` service (`systemd/tierpace.service`, STYLE.md convention 18):
//! systemd considers it started only when it says `READY=1`, which the daemon sends after its
//! config, campaigns and Redis are up, so `systemctl start` fails loudly instead of reporting a
//! daemon that cannot send. `WatchdogSec=` makes systemd restart a daemon whose dispatch loop
//! stopped ticking: the loop calls [`watchdog`] on each healthy tick, so a stuck loop (not just a
//! dead process) trips it.
//!
//! Every function here does nothing when `NOTIFY_SOCKET` is not set (a terminal, a test, a
//! container without systemd), so callers never need to ask whether they run under systemd.
//! A notification that cannot be delivered is logged once and otherwise ignored: losing a
//! `STATUS=` line must never stop a send.
//!
//! Wire format (sd_notify(3)): one datagram of `KEY=VALUE` lines to the unix socket named by
//! `NOTIFY_SOCKET`. The `sd-notify` crate writes it; this module decides what to send and when.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

/// The daemon is up: config, campaigns and Redis are ready, it will send now.
///
/// Sends `READY=1` with a `STATUS=` summary line (shown by `systemctl status`). Also sent again
/// after a reload completes, which ends the `reloading` state [`reloading`] started.
pub fn ready(status: &str) {
    let line = one_line(status);
    send(&[NotifyState::Ready, NotifyState::Status(&line)]);
}

/// A reload (SIGHUP or a changed file) has started; call [`ready`] when it is done.
///
/// Sends `RELOADING=1` with `MONOTONIC_USEC=`: systemd >= 253 (`Type=notify-reload`) requires the
/// timestamp to match the reload to the request; older versions ignore it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        // Without a timestamp systemd >= 253 logs a warning but still tracks the reload.
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// Shutdown has started (draining in-flight sends); systemd waits up to `TimeoutStopSec=`.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// A one-line summary of what the daemon is doing, shown by `systemctl status`.
///
/// Line breaks are replaced by spaces: a newline would end the `STATUS=` assignment and let the
/// rest of the text be read as other notifications (a campaign named `x\nREADY=1`, say).
pub fn status(line: &str) {
    let line = one_line(line);
    send(&[NotifyState::Status(&line)]);
}

/// "Still alive and healthy": call from the dispatch loop's tick, only while it is healthy.
///
/// Call it at least every half of [`watchdog_interval`]; missing a whole interval makes systemd
/// kill and restart the service (`Restart=on-failure`).
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// The watchdog timeout systemd set for this process (`WatchdogSec=`), if any.
///
/// `None` when no watchdog is configured or when `WATCHDOG_PID` names another process (the
/// variable was inherited, not meant for us). Ping at least twice per interval.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(Duration::from_micros(usec))
    } else {
        None
    }
}

/// Replaces line breaks so the text stays one `STATUS=` value.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Whether a failed notification was already logged (a broken socket would otherwise log on
/// every watchdog tick).
static SEND_FAILURE_LOGGED: AtomicBool = AtomicBool::new(false);

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    // `false`: keep NOTIFY_SOCKET set, later notifications (reload, stop) need it too.
    if let Err(error) = sd_notify::notify(false, states) {
        if !SEND_FAILURE_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "cannot notify systemd (NOTIFY_SOCKET); further failures are not logged");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::sync::Mutex;

    /// NOTIFY_SOCKET and WATCHDOG_* are process-wide: tests that set them take turns.
    static ENV: Mutex<()> = Mutex::new(());

    /// A listening socket standing in for systemd's, set as NOTIFY_SOCKET for the test.
    struct FakeSystemd {
        socket: UnixDatagram,
        _dir: tempfile::TempDir,
    }

    impl FakeSystemd {
        fn start() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("notify");
            let socket = UnixDatagram::bind(&path).unwrap();
            socket.set_nonblocking(true).unwrap();
            std::env::set_var("NOTIFY_SOCKET", &path);
            Self { socket, _dir: dir }
        }

        /// The next datagram, or None if nothing was sent.
        fn received(&self) -> Option<String> {
            let mut buf = [0u8; 4096];
            match self.socket.recv(&mut buf) {
                Ok(n) => Some(String::from_utf8(buf[..n].to_vec()).unwrap()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    impl Drop for FakeSystemd {
        fn drop(&mut self) {
            std::env::remove_var("NOTIFY_SOCKET");
        }
    }

    fn lock() -> std::sync::MutexGuard<'static, ()> {
        ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn ready_sends_ready_and_a_status_line() {
        let _env = lock();
        let systemd = FakeSystemd::start();
        ready("3 campaigns, redis up");
        assert_eq!(
            systemd.received().as_deref(),
            Some("READY=1\nSTATUS=3 campaigns, redis up\n")
        );
        assert_eq!(systemd.received(), None);
    }

    #[test]
    fn status_cannot_smuggle_other_assignments_through_a_newline() {
        let _env = lock();
        let systemd = FakeSystemd::start();
        status("campaign x\nREADY=1\r\nSTOPPING=1");
        assert_eq!(
            systemd.received().as_deref(),
            Some("STATUS=campaign x READY=1  STOPPING=1\n")
        );
    }

    #[test]
    fn reloading_carries_a_monotonic_timestamp() {
        let _env = lock();
        let systemd = FakeSystemd::start();
        reloading();
        let got = systemd.received().unwrap();
        let mut lines = got.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .unwrap();
        assert!(usec.parse::<u64>().unwrap() > 0, "{got:?}");
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn stopping_and_watchdog_send_their_flags() {
        let _env = lock();
        let systemd = FakeSystemd::start();
        stopping();
        assert_eq!(systemd.received().as_deref(), Some("STOPPING=1\n"));
        watchdog();
        assert_eq!(systemd.received().as_deref(), Some("WATCHDOG=1\n"));
    }

    #[test]
    fn nothing_is_sent_without_notify_socket() {
        let _env = lock();
        let systemd = FakeSystemd::start();
        std::env::remove_var("NOTIFY_SOCKET");
        ready("up");
        status("x");
        watchdog();
        stopping();
        assert_eq!(systemd.received(), None);
    }

    #[test]
    fn watchdog_interval_is_read_only_for_our_own_pid() {
        let _env = lock();
        std::env::set_var("WATCHDOG_USEC", "30000000");
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(30)));

        std::env::set_var("WATCHDOG_PID", (std::process::id() + 1).to_string());
        assert_eq!(watchdog_interval(), None);

        std::env::remove_var("WATCHDOG_USEC");
        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), None);
    }
}
