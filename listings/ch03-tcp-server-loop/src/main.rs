//! Listing 3-3: a TCP server that answers clients one after another. For each
//! connection it prints who called, reads one line, answers `OK .. <line>` and
//! closes the connection; then it accepts the next.
//!
//! The protocol, for anyone who writes a client (chapter 10 benchmarks it):
//! the client sends one line, ended by `\n` (or `\r\n`, or the end of its
//! stream), of at most 1024 bytes before the `\n` (telnet's `\r` counts among
//! them); the server answers `OK .. <line>\n`, or
//! `ERROR line longer than 1024 bytes\n`, and closes the connection.
//!
//! Run it with `cargo run -p ch03-tcp-server-loop [ADDR]` (default
//! 127.0.0.1:5000).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

// ANCHOR: max_line
/// The longest line we accept: the bytes before its `\n`, a telnet `\r` among
/// them. A client that sends more without a newline gets an error instead of
/// making us buffer forever.
const MAX_LINE: usize = 1024;
// ANCHOR_END: max_line

fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch03-tcp-server-loop [ADDR]"));
        return ExitCode::from(2);
    }

    // ANCHOR: listen
    // socket(), bind() and listen() in one call. The standard library asks
    // listen() for a backlog of 128, where the original asks for 10.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    // ANCHOR_END: listen

    // ANCHOR: accept
    // The only change from Listing 3-2: accept(), answer and close, forever.
    // One client at a time: while we talk to one, the others wait in the
    // listen queue.
    // Out of descriptors, accept() pauses before it tries again (chapter 1).
    let mut pause = FIRST_PAUSE;
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                // A client that gave up before we picked up, for example.
                warn(format_args!(
                    "could not accept a connection on {local}: {err}"
                ));
                pause_if_out_of_descriptors(&err, &mut pause);
                continue;
            }
        };
        pause = FIRST_PAUSE;
        log(format_args!("client {peer} is now connected"));
        // A client that fails is reported; the next one is still served.
        if let Err(message) = answer(&mut stream, peer) {
            warn(format_args!("{message}"));
        }
        // `stream` is dropped here: the connection is closed.
    }
    // ANCHOR_END: accept
}

// ANCHOR: serve
/// Reads one line from the client and answers `OK .. <line>`, or an error if
/// the line is too long. The error message says what failed, and with whom.
fn answer(stream: &mut TcpStream, peer: SocketAddr) -> Result<(), String> {
    let line = read_line(stream)
        .map_err(|err| format!("could not read from {peer}: {err}"))?;
    let reply = match line {
        Some(line) => {
            [b"OK .. ".as_slice(), without_line_ending(&line), b"\n"].concat()
        }
        None => {
            warn(format_args!(
                "client {peer} sent a line longer than {MAX_LINE} bytes"
            ));
            format!("ERROR line longer than {MAX_LINE} bytes\n").into_bytes()
        }
    };
    // One write_all(), once: it loops until every byte is in the kernel.
    stream
        .write_all(&reply)
        .map_err(|err| format!("could not write to {peer}: {err}"))
}
// ANCHOR_END: serve

// ANCHOR: read_line
/// Reads one line: the bytes up to and including the first newline, or up to
/// the end of the stream if the client stopped sending before one. Returns
/// `None` if the line is longer than `MAX_LINE`.
fn read_line(stream: &TcpStream) -> io::Result<Option<Vec<u8>>> {
    // take() lets the reader see at most one byte more than a line may have:
    // enough to tell a line that is too long, never more than that.
    let limit = MAX_LINE as u64 + 1;
    let mut line = Vec::new();
    BufReader::new(stream.take(limit)).read_until(b'\n', &mut line)?;
    let too_long = !line.ends_with(b"\n") && line.len() > MAX_LINE;
    Ok(if too_long { None } else { Some(line) })
}

/// The line without its `\n` or telnet's `\r\n`.
fn without_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
// ANCHOR_END: read_line

/// The pause before trying accept() again, when it failed for want of a
/// descriptor: 10 ms at first, twice as long after each failure in a row,
/// never more than a second. (Chapter 1, "When descriptors run out".)
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// After a failed accept(): if the process (EMFILE) or the whole system
/// (ENFILE) is out of descriptors, the call is still in the queue and
/// accept() would fail again at once. So sleep for `pause` first, and make
/// the next pause longer. Any other failure concerns one client: no pause.
fn pause_if_out_of_descriptors(err: &io::Error, pause: &mut Duration) {
    let errno = err.raw_os_error().map(Errno::from_raw);
    if matches!(errno, Some(Errno::EMFILE | Errno::ENFILE)) {
        thread::sleep(*pause);
        *pause = (*pause * 2).min(LONGEST_PAUSE);
    }
}

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
/// (Chapter 1, "When nobody reads the log".)
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = writeln!(out, "{line}");
    }
}

/// The server's log: what happens, on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line);
}

/// What goes wrong, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line);
}
