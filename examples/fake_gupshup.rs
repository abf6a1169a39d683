//! The loopback fake Gupshup of the tests, as a standalone process for `benches/peers/run.sh`.
//!
//! `cargo run --example fake_gupshup -- OUT.csv PORT_FILE [LATENCY_MS]`: listens on a free 127.0.0.1 port,
//! writes `http://127.0.0.1:PORT` to PORT_FILE, and rewrites OUT.csv (atomically, every 250 ms
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

fn dump(fake: &FakeGupshup, out: &str) {
    let tmp = format!("{out}.tmp");
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create the sends file"));
    writeln!(f, "at_ms,source,destination").unwrap();
    for s in fake.sends() {
        let ms =
            s.at.duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0) as f64
                / 1000.0;
        writeln!(f, "{ms:.3},{},{}", s.source, s.destination).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    std::fs::rename(&tmp, out).expect("rename the sends file");
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
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => dump(&fake, &out),
        }
    }
    dump(&fake, &out);
}
