//! Nanoseconds per number of the E.164 normaliser, for each layer: Brazil (tierpace's own rules,
//! including an old mobile given its 9th digit) and other countries (libphonenumber metadata):
//! `cargo run --release --example normalise_speed`.
use std::time::Instant;

use tierpace::campaign::phone::normalise;

fn main() {
    let cases = [
        ("br mobile", None, "(85) 99999-0000"),
        ("br old mobile", None, "(85) 9999-0000"),
        ("br landline", Some("55"), "11 3456-7890"),
        ("uk", None, "+44 20 7946 0958"),
        ("us", Some("1"), "(201) 555-0123"),
    ];
    for (name, ddi, phone) in cases {
        let n: u32 = if name.starts_with("br") {
            1_000_000
        } else {
            100_000
        };
        // The one wall-clock reading here: a measurement tool, not the daemon.
        let started = Instant::now();
        let mut ok = 0u32;
        for _ in 0..n {
            let got = normalise(std::hint::black_box(ddi), std::hint::black_box(phone), "55");
            ok += u32::from(got.is_ok());
        }
        let ns = started.elapsed().as_nanos() as f64 / f64::from(n);
        println!("{name}: {ns:.0} ns/number ({ok} of {n} ok)");
    }
}
