//! The listener under clients that do not play along (issue #16 §4): a trickled body cannot hold
//! a stop past `drain_timeout`, and a crowd of idle connections cannot lock operators out.
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::scenario::{self, ScenarioSpec};
use tierpace::clock::SystemClock;

/// A scenario whose `[http]` gets `extra` keys.
fn scenario_with_http(extra: &str) -> scenario::Scenario {
    let s = scenario::write(&ScenarioSpec::default());
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(
        &s.config,
        text.replacen("[http]\n", &format!("[http]\n{extra}\n"), 1),
    )
    .unwrap();
    s
}

async fn metrics_status(s: &scenario::Scenario, timeout: Duration) -> Option<u16> {
    let client = reqwest::Client::builder().timeout(timeout).build().ok()?;
    Some(
        client
            .get(s.url("/metrics"))
            .send()
            .await
            .ok()?
            .status()
            .as_u16(),
    )
}

async fn wait_ready(s: &scenario::Scenario) {
    for _ in 0..100 {
        if metrics_status(s, Duration::from_secs(1)).await == Some(200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("daemon did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_a_body_does_not_hold_the_stop_past_the_drain() {
    // drain_timeout is 3 s in the scenario; the client would trickle for a minute.
    let s = scenario_with_http("");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    wait_ready(&s).await;
    let port = s.http_port;
    let trickler = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(
            b"POST /webhooks/gupshup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        )
        .unwrap();
        for _ in 0..120 {
            if c.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    token.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(30), daemon).await;
    let took = asked.elapsed();
    assert!(stopped.is_ok(), "the daemon must stop despite the client");
    stopped.unwrap().unwrap().unwrap();
    // Functional bound: the drain (3 s) plus the dispatchers' grace, far below the client's minute.
    assert!(took < Duration::from_secs(12), "stop took {took:?}");
    trickler.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_are_closed_and_metrics_still_answer() {
    let s = scenario_with_http("max_connections = 20\nclient_timeout = \"1s\"");
    let (token, daemon) =
        support::daemon::start_in_process(s.config.clone(), Arc::new(SystemClock));
    wait_ready(&s).await;
    // Three times the cap, sending nothing.
    let mut idle: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(("127.0.0.1", s.http_port)).unwrap())
        .collect();
    // Served connections are closed after client_timeout; the rest then get their turn and are
    // closed too. An operator's scrape gets through meanwhile.
    assert_eq!(metrics_status(&s, Duration::from_secs(20)).await, Some(200));
    let mut closed = 0;
    for c in &mut idle {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        // EOF (0) or a 408 answer then EOF: either way the server let go.
        if let Ok(n) = c.read(&mut buf) {
            if n == 0 || buf.starts_with(b"HTTP/1.1 408") {
                closed += 1;
            }
        }
    }
    assert_eq!(closed, 60, "every idle connection is closed by the server");
    token.cancel();
    daemon.await.unwrap().unwrap();
}
