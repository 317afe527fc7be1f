//! Exercise 1-2 (the book's answer): Listing 1-1, changed so that the caller
//! speaks first: it sends its name on one line, and the server greets it by
//! that name.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch01-exercise-greet-by-name [ADDR]");
        return ExitCode::from(2);
    }

    // socket(), bind() and listen() in one call. Binding fails if the address
    // is not one of this machine's, or if another socket already has the port.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Ask the kernel which address we got (getsockname): with port 0 it picks
    // a free port, and only this call can tell us which.
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {local}");

    loop {
        // accept() waits until a client has connected, then hands us a new
        // socket for that one conversation; `listener` keeps listening.
        let (mut stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                // A client that gave up before we picked up, for example.
                // That is no reason to stop answering the others.
                eprintln!("could not accept a call: {err}");
                continue;
            }
        };
        println!("call from {peer}");

        // ANCHOR: solution
        // Read up to and including the first newline. A BufReader reads the
        // socket in large chunks and finds the line in what it got; `&stream`
        // lets us read through a shared reference and write to `stream` later.
        let mut line = Vec::new();
        if let Err(err) = BufReader::new(&stream).read_until(b'\n', &mut line) {
            eprintln!("could not read from {peer}: {err}");
            continue;
        }
        // If the caller half-closed or hung up before a newline, read_until()
        // returns what came before the end of the stream: that is the name.
        // telnet ends lines with \r\n; neither byte is part of the name.
        let text = String::from_utf8_lossy(&line);
        let name = text.trim_end_matches(['\r', '\n']);
        let name = if name.is_empty() { "stranger" } else { name };
        let greeting = format!("Hello, {name}!\n");
        // ANCHOR_END: solution
        if let Err(err) = stream.write_all(greeting.as_bytes()) {
            eprintln!("could not write to {peer}: {err}");
        }
        // `stream` is dropped here, which closes the socket: we hang up.
    }
}
