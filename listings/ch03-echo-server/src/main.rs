//! Listing 3-4: an echo server, written step by step like the walkthrough of
//! the original tutorial. It serves clients one after another and sends every
//! line a client sends straight back, until the client hangs up.
//!
//! Lines are at most 1024 bytes before their newline (a telnet `\r` counts).
//! A longer line gets `ERROR line longer than 1024 bytes` and the connection
//! is closed.
//!
//! Run it with `cargo run -p ch03-echo-server [ADDR]` (default 127.0.0.1:5000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;

use socket2::{Domain, Socket, Type};

/// The longest line we echo: the bytes before its `\n`, a telnet `\r` among
/// them.
const MAX_LINE: usize = 1024;

fn main() -> ExitCode {
    // ANCHOR: steps_1_2
    // Step 1: the address and port to listen on, from the command line. Any
    // free port will do; below 1024 needs root.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch03-echo-server [ADDR]");
        return ExitCode::from(2);
    }
    // A name such as localhost:5000 may stand for several addresses; we
    // listen on the first.
    let local: SocketAddr =
        match addr.to_socket_addrs().map(|mut found| found.next()) {
            Ok(Some(local)) => local,
            Ok(None) => {
                eprintln!("could not resolve {addr}: no address found");
                return ExitCode::FAILURE;
            }
            Err(err) => {
                eprintln!("could not resolve {addr}: {err}");
                return ExitCode::FAILURE;
            }
        };
    // Step 2 has no Rust counterpart: a Rust program has no time limit to
    // lift (PHP's set_time_limit(0)).
    // ANCHOR_END: steps_1_2

    // ANCHOR: steps_3_5
    let listener = match listen(local) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("listening on {bound}"),
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    }
    // ANCHOR_END: steps_3_5

    // ANCHOR: steps_6_9
    loop {
        // Step 6: accept() a client. It returns a new socket for this one
        // conversation; `listener` goes on listening.
        let (connection, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                eprintln!("could not accept a connection on {addr}: {err}");
                continue;
            }
        };
        println!("client {peer} is now connected");

        // Steps 7 and 8: read lines and write them back, until the client
        // hangs up or breaks the rules.
        match echo_lines(&connection, peer) {
            Ok(lines) => println!("client {peer} hung up after {lines} lines"),
            Err(message) => eprintln!("{message}"),
        }
        // Step 9: `connection` is dropped here, which closes it. The
        // listening socket is closed when the program ends.
    }
    // ANCHOR_END: steps_6_9
}

// ANCHOR: listen
/// Steps 3 to 5: socket(), bind() and listen(), one call each. (Chapter 1's
/// TcpListener::bind() makes the same calls.)
fn listen(local: SocketAddr) -> std::io::Result<TcpListener> {
    // Step 3: a stream socket for IPv4 or IPv6, whichever the address is.
    // Protocol 0 (None), as in the walkthrough's socket_create(AF_INET,
    // SOCK_STREAM, 0), means the type's default protocol: TCP.
    let socket = Socket::new(Domain::for_address(local), Type::STREAM, None)?;
    // Let a restarted server bind the port at once, even while connections
    // of its previous run linger in TIME_WAIT (chapter 2).
    socket.set_reuse_address(true)?;
    // Step 4: bind() it to the address and port.
    socket.bind(&local.into())?;
    // Step 5: listen(). Up to 128 finished connections may wait for accept();
    // the walkthrough's 3 would make a fifth waiting client's connect() stall.
    socket.listen(128)?;
    // From here on, the standard library's listener does the same job.
    Ok(TcpListener::from(socket))
}
// ANCHOR_END: listen

// ANCHOR: echo_lines
/// Sends every line the client sends back to it, and returns how many lines
/// there were once the client has hung up. The error says what went wrong.
fn echo_lines(
    connection: &TcpStream,
    peer: SocketAddr,
) -> Result<usize, String> {
    // The BufReader asks the kernel for big chunks and hands them out line by
    // line: the Rust form of PHP's socket_read(..., PHP_NORMAL_READ).
    let mut reader = BufReader::new(connection);
    let mut writer = connection;
    let mut lines = 0;
    loop {
        // Step 7: read one line, but never look at more than MAX_LINE + 1
        // bytes of it: a client that never sends a newline cannot make us
        // buffer without end.
        let mut line = Vec::new();
        (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|err| format!("could not read from {peer}: {err}"))?;
        if line.is_empty() {
            return Ok(lines); // read() returned 0: the client hung up.
        }
        if !line.ends_with(b"\n") && line.len() > MAX_LINE {
            let error = format!("ERROR line longer than {MAX_LINE} bytes\n");
            // We hang up anyway, so a failed write changes nothing.
            let _ = writer.write_all(error.as_bytes());
            return Err(format!(
                "client {peer} sent a line longer than {MAX_LINE} bytes; \
                 hanging up"
            ));
        }
        // Step 8: write it back, exactly as it came: `\r\n`, bytes that are
        // not UTF-8, and a last line without a newline included.
        writer
            .write_all(&line)
            .map_err(|err| format!("could not write to {peer}: {err}"))?;
        lines += 1;
    }
}
// ANCHOR_END: echo_lines
