//! Listing 1-2: the smallest TCP client. It calls a server, prints everything
//! the server says until it hangs up, and hangs up too.
//!
//! Run it with `cargo run -p ch01-hello-client [ADDR]` (default
//! 127.0.0.1:5000).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The server's address: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch01-hello-client [ADDR]");
        return ExitCode::from(2);
    }

    // ANCHOR: call
    // socket() and connect() in one call: dial, and wait for the server's
    // kernel to pick up. Nobody listening there means "Connection refused".
    let mut stream = match TcpStream::connect(&addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };

    // Read until the server hangs up. A single read() may return only part
    // of what was sent; read_to_end() reads again until read() returns 0,
    // which is how TCP says "the other side closed".
    let mut reply = Vec::new();
    if let Err(err) = stream.read_to_end(&mut reply) {
        eprintln!("could not read from {addr}: {err}");
        return ExitCode::FAILURE;
    }
    // ANCHOR_END: call

    // The bytes go out exactly as they came in, whatever they are.
    if let Err(err) = io::stdout().write_all(&reply) {
        eprintln!("could not print the reply: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
