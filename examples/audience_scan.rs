//! Scans one audience CSV the way `tierpace check` does and prints rows/s, for peak-RSS
//! measurement: `/usr/bin/time -v target/release/examples/audience_scan [FILE | --generate N]`.
//! With `--generate N` it first writes a realistic N-row audience to a temp file (not timed).
#[path = "../benches/support/audience_gen.rs"]
mod audience_gen;
use audience_gen::generate;
use std::path::PathBuf;
use std::time::Instant;

use tierpace::campaign::{scan_audience, AudienceError, AudienceSpec, ColumnNames, ParamTemplate};
use tierpace::contact::ContactHasher;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let _tmp;
    let path = match args.first().map(String::as_str) {
        Some("--generate") => {
            let rows: u64 = args
                .get(1)
                .map(|n| n.parse())
                .transpose()?
                .unwrap_or(1_000_000);
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("audience.csv");
            generate(&path, rows)?;
            _tmp = dir;
            path
        }
        Some(file) => PathBuf::from(file),
        None => anyhow::bail!("usage: audience_scan FILE | --generate N"),
    };
    let spec = AudienceSpec {
        file: path,
        default_ddi: "55".into(),
        columns: ColumnNames::default(),
        max_bad_share: 0.2,
        encoding: Default::default(),
        param_cleanup: Default::default(),
    };
    let params = [
        ParamTemplate::parse("{{name}}")?,
        ParamTemplate::parse("{{cupom}}")?,
    ];
    // The one wall-clock reading in this example: it is a measurement tool, not the daemon.
    let started = Instant::now();
    let summary = match scan_audience(&spec, &params, &ContactHasher::new(b"bench")) {
        Ok(s) => s,
        Err(AudienceError::Refused { summary }) => *summary,
        Err(e) => return Err(e.into()),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} rows, {} valid, {} skipped in {:.3} s: {:.0} rows/s",
        summary.rows,
        summary.valid,
        summary.rows - summary.valid,
        secs,
        summary.rows as f64 / secs
    );
    Ok(())
}
