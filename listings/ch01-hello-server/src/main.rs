//! Listing 1-1: the smallest TCP server. It answers every call with one line
//! and hangs up: socket, bind and listen once, then accept, write and close
//! for each client, one after another.
//!
//! Run it with `cargo run -p ch01-hello-server [ADDR]` (default
//! 127.0.0.1:5000).

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    // ANCHOR: args
    // The address to listen on: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch01-hello-server [ADDR]");
        return ExitCode::from(2);
    }
    // ANCHOR_END: args

    // ANCHOR: listen
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
    // ANCHOR_END: listen

    // ANCHOR: serve
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

        let greeting = format!("Hello {peer}, you reached {local}. Goodbye!\n");
        if let Err(err) = stream.write_all(greeting.as_bytes()) {
            eprintln!("could not write to {peer}: {err}");
        }
        // `stream` is dropped here, which closes the socket: we hang up.
    }
    // ANCHOR_END: serve
}
