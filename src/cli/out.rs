//! Standard output for the CLI: a reader that closes the pipe early (`tierpace status | head`)
//! ends the command quietly instead of a "failed printing to stdout" panic (issue #20).
use std::io::{ErrorKind, Write as _};

/// Writes `text` to standard output. A closed pipe exits the process at once with status 0
/// (the reader has what it wanted); any other write error is ignored like `print!` would not.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// [`print`] with a newline.
pub fn println(text: &str) {
    print(&format!("{text}\n"));
}
