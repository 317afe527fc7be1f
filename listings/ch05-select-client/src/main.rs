//! Listing 5-2: a line client for the select server. It sends what you type
//! and prints what the server says, whichever comes first: one thread waits
//! on the keyboard and the socket together, with select(2). It works just as
//! well with a pipe on stdin; at its end the client stops sending and prints
//! the server's last replies before it exits.
//!
//! Run it with `cargo run -p ch05-select-client [ADDR]` (default 127.0.0.1:5000).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::select::{FdSet, select};

fn main() -> ExitCode {
    // The server's address: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch05-select-client [ADDR]");
        return ExitCode::from(2);
    }

    let stream = match TcpStream::connect(&addr) {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("could not connect to {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = io::stdin();
    let mut stdout = io::stdout();

    // ANCHOR: relay
    let mut chunk = [0u8; 4096];
    let mut stdin_open = true;
    loop {
        // Wait until the server has sent something or a line was typed.
        let mut read_set = FdSet::new();
        read_set.insert(stream.as_fd());
        // At the end of stdin, stop asking: it would be "readable" forever.
        if stdin_open {
            read_set.insert(stdin.as_fd());
        }
        match select(None, &mut read_set, None, None, None) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("select failed: {err}");
                return ExitCode::FAILURE;
            }
        }

        if read_set.contains(stream.as_fd()) {
            match (&stream).read(&mut chunk) {
                // The server closed the connection: nothing more will come.
                Ok(0) => {
                    if stdin_open {
                        eprintln!("{addr} closed the connection");
                    }
                    return ExitCode::SUCCESS;
                }
                Ok(received) => {
                    let printed = stdout.write_all(&chunk[..received]);
                    if let Err(err) = printed.and_then(|()| stdout.flush()) {
                        eprintln!("could not print the reply: {err}");
                        return ExitCode::FAILURE;
                    }
                }
                Err(err) => {
                    eprintln!("could not read from {addr}: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        if stdin_open && read_set.contains(stdin.as_fd()) {
            // read(2) on descriptor 0 itself, not io::stdin(), whose buffer
            // could hold typed lines that select() cannot see.
            match nix::unistd::read(stdin.as_fd(), &mut chunk) {
                // End of input: say so to the server with a half-close. It
                // still answers what it has, then closes, and we print that.
                Ok(0) => {
                    stdin_open = false;
                    if let Err(err) = stream.shutdown(Shutdown::Write) {
                        eprintln!("could not shut down the connection to {addr}: {err}");
                        return ExitCode::FAILURE;
                    }
                }
                Ok(typed) => {
                    if let Err(err) = (&stream).write_all(&chunk[..typed]) {
                        eprintln!("could not write to {addr}: {err}");
                        return ExitCode::FAILURE;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(err) => {
                    eprintln!("could not read stdin: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    // ANCHOR_END: relay
}
