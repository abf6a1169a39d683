//! The synthetic audience the audience benchmark and `examples/audience_scan` both read.
use std::io::{BufWriter, Write};

/// A realistic Brazilian audience: ~2% bad numbers, ~5% without opt-in, ~1% duplicates.
pub fn generate(path: &std::path::Path, rows: u64) -> std::io::Result<()> {
    const DDD: [u32; 10] = [11, 21, 31, 41, 51, 61, 71, 81, 85, 92];
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "name,ddi,phone,email,opt_in,cupom")?;
    for i in 0..rows {
        let n = if i % 100 == 99 { i - 50 } else { i };
        let ddd = DDD[(n % 10) as usize];
        let sub = 10_000_000 + n * 7 % 89_999_999;
        let phone = if i % 50 == 7 {
            format!("({ddd}) 123")
        } else {
            format!("({ddd}) 9{:04}-{:04}", sub / 10_000, sub % 10_000)
        };
        let opt_in = if i % 20 == 3 { "não" } else { "sim" };
        writeln!(
            out,
            "Cliente {i},55,{phone},cliente{i}@example.com.br,{opt_in},BF{}",
            i % 97
        )?;
    }
    out.flush()
}
