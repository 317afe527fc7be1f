//! Listing 2-1: a connected pair of sockets, the Rust port of the original's
//! `socket_create_pair()` example. What one socket writes, the other reads,
//! in both directions; when one is closed, the other reads end of stream.
//!
//! Run it with `cargo run -p ch02-socket-pair`.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: ch02-socket-pair");
        return ExitCode::from(2);
    }
    match talk() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: talk
fn talk() -> Result<(), String> {
    // socketpair(AF_UNIX, SOCK_STREAM, 0): two sockets that are already
    // connected to each other. No address, no bind, listen or accept.
    let pair = UnixStream::pair();
    let (mut first, mut second) =
        pair.map_err(|err| format!("could not create a socket pair: {err}"))?;

    send(&mut first, "socket 0", b"ABCdef123\n")?;
    receive(&mut second, "socket 1", b"ABCdef123\n".len())?;

    // Neither end is the client or the server: both can write and read.
    send(&mut second, "socket 1", b"got it\n")?;
    receive(&mut first, "socket 0", b"got it\n".len())?;

    // Closing one end is what the other end sees as end of stream.
    drop(second);
    receive(&mut first, "socket 0", 1)?;
    Ok(())
}

fn send(end: &mut UnixStream, name: &str, bytes: &[u8]) -> Result<(), String> {
    end.write_all(bytes)
        .map_err(|err| format!("could not write to {name}: {err}"))?;
    let text = String::from_utf8_lossy(bytes);
    say(format_args!("{name} wrote {} bytes: {text:?}", bytes.len()))
}

/// Reads up to `len` bytes, fewer only if the other end closed first.
fn receive(end: &mut UnixStream, name: &str, len: usize) -> Result<(), String> {
    let mut bytes = Vec::with_capacity(len);
    end.take(len as u64)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("could not read from {name}: {err}"))?;
    let text = String::from_utf8_lossy(&bytes);
    say(format_args!("{name} read {} bytes: {text:?}", bytes.len()))
}
// ANCHOR_END: talk

/// Prints one line of the report. If stdout is a pipe nobody reads any more
/// (`| head -1`), that is an error like any other, where println! would
/// panic.
fn say(line: fmt::Arguments) -> Result<(), String> {
    writeln!(io::stdout(), "{line}")
        .map_err(|err| format!("could not print the report: {err}"))
}
