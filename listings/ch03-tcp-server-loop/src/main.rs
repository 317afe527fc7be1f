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

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

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
        eprintln!("usage: ch03-tcp-server-loop [ADDR]");
        return ExitCode::from(2);
    }

    // ANCHOR: listen
    // socket(), bind() and listen() in one call. The standard library asks
    // listen() for a backlog of 128, where the original asks for 10.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }
    // ANCHOR_END: listen

    // ANCHOR: accept
    // The only change from Listing 3-2: accept(), answer and close, forever.
    // One client at a time: while we talk to one, the others wait in the
    // listen queue.
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                // A client that gave up before we picked up, for example.
                eprintln!("could not accept a connection on {addr}: {err}");
                continue;
            }
        };
        println!("client {peer} is now connected");
        // A client that fails is reported; the next one is still served.
        if let Err(message) = answer(&mut stream, peer) {
            eprintln!("{message}");
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
            eprintln!("client {peer} sent a line longer than {MAX_LINE} bytes");
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
