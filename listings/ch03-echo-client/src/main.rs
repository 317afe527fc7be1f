//! Listing 3-5: the echo server's client. It sends each line of its standard
//! input to the server, reads the server's one-line reply and prints it.
//!
//! Run it with `cargo run -p ch03-echo-client [ADDR]` (default 127.0.0.1:5000),
//! type lines, and end with Ctrl-D.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

/// The longest reply line we accept, newline included.
const MAX_REPLY: usize = 64 * 1024;

fn main() -> ExitCode {
    // The server's address: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch03-echo-client [ADDR]");
        return ExitCode::from(2);
    }

    let stream = match TcpStream::connect(&addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match talk(&stream, &addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
    // `stream` is dropped when main returns: the connection is closed.
}

// ANCHOR: talk
/// Sends each line of stdin and prints the reply, until stdin ends.
fn talk(stream: &TcpStream, addr: &str) -> Result<(), String> {
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut replies = BufReader::new(stream);
    let mut writer = stream;
    loop {
        let mut line = Vec::new();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()), // end of stdin: we are done.
            Ok(_) => {}
            Err(err) => return Err(format!("could not read stdin: {err}")),
        }
        // The server answers whole lines, so every line we send ends in one.
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
        writer
            .write_all(&line)
            .map_err(|err| format!("could not write to {addr}: {err}"))?;

        // Read the reply up to its newline, however many reads that takes.
        let mut reply = Vec::new();
        (&mut replies)
            .take(MAX_REPLY as u64)
            .read_until(b'\n', &mut reply)
            .map_err(|err| format!("could not read from {addr}: {err}"))?;
        if reply.is_empty() {
            return Err(format!(
                "{addr} closed the connection without a reply"
            ));
        }
        // Print what came, complete or not, so that nothing is hidden; end
        // the line ourselves if the server did not.
        let complete = reply.ends_with(b"\n");
        if !complete {
            reply.push(b'\n');
        }
        output
            .write_all(&reply)
            .and_then(|()| output.flush())
            .map_err(|err| format!("could not print the reply: {err}"))?;
        if !complete {
            // Where PHP's PHP_NORMAL_READ fails with "unable to read from
            // socket", read_until() hands us the partial line: we say why.
            return Err(if reply.len() > MAX_REPLY {
                format!(
                    "{addr} sent a reply line longer than {MAX_REPLY} bytes"
                )
            } else {
                format!("{addr} closed the connection in the middle of a line")
            });
        }
    }
}
// ANCHOR_END: talk
