//! The loopback fake Gupshup of the tests, as a standalone process for `benches/peers/run.sh`.
//!
//! `cargo run --example fake_gupshup -- OUT.csv PORT_FILE [LATENCY_MS]`: listens on a free 127.0.0.1 port,
//! writes `http://127.0.0.1:PORT` to PORT_FILE, and appends to OUT.csv (every 250 ms, the new rows in one write,
//! and once more on SIGTERM/SIGINT) with every accepted send: `at_ms,source,destination`
//! (arrival time in milliseconds since the Unix epoch, microsecond fraction kept). With
//! LATENCY_MS, every answer waits that long after the send is recorded (a real provider's
//! answer time, during which a killed sender has sent but not yet heard back).
#[path = "../tests/support/fake_gupshup.rs"]
#[allow(dead_code)]
mod fake;

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use fake::{FakeGupshup, FakeGupshupConfig};

/// Appends the sends recorded since the last call to `out` (the header first) and returns how
/// many are written. Only the new rows, written on a blocking thread: rewriting the whole file
/// on the fake's one runtime thread stalled it for tens of milliseconds in a 30,000-send run, and
/// the requests that waited meanwhile were recorded together, as a clump that never left the
/// sender as one.
async fn dump(fake: &FakeGupshup, out: &str, written: usize) -> usize {
    let new = fake.sends_since(written);
    let total = written + new.len();
    if written > 0 && new.is_empty() {
        return total;
    }
    let out = out.to_string();
    tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        if written == 0 {
            text.push_str("at_ms,source,destination\n");
        }
        for s in new {
            let ms =
                s.at.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_micros())
                    .unwrap_or(0) as f64
                    / 1000.0;
            text.push_str(&format!("{ms:.3},{},{}\n", s.source, s.destination));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .truncate(false)
            .open(&out)
            .expect("open the sends file");
        if written == 0 {
            f.set_len(0).expect("empty the sends file");
        }
        // One write per batch: a reader counting lines sees whole rows.
        f.write_all(text.as_bytes()).expect("write the sends file");
    })
    .await
    .expect("the sends file writer");
    total
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (out, port_file) = match (args.get(1), args.get(2)) {
        (Some(o), Some(p)) => (o.clone(), p.clone()),
        _ => {
            eprintln!("usage: fake_gupshup OUT.csv PORT_FILE [LATENCY_MS]");
            std::process::exit(2);
        }
    };
    let latency = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(0);
    let fake = FakeGupshup::start(FakeGupshupConfig {
        latency: Duration::from_millis(latency),
        ..FakeGupshupConfig::default()
    })
    .await;
    std::fs::write(&port_file, fake.base_url()).expect("write the port file");
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut written = 0;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => written = dump(&fake, &out, written).await,
        }
    }
    dump(&fake, &out, written).await;
}
