//! Listing 5-2: a line client for the select server. It sends what you type
//! and prints what the server says, whichever comes first: one thread waits
//! on the keyboard and the socket together, with select(2). It works just as
//! well with a pipe on stdin, however long: it never blocks in a write, so it
//! keeps reading replies while it sends. At the end of input the client stops
//! sending and prints the server's last replies before it exits.
//!
//! Run it with `cargo run -p ch05-select-client [ADDR]` (default
//! 127.0.0.1:5000).

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
    // The socket never blocks: while we send, the server's replies keep
    // coming, and they must be read even when our own sending is stuck.
    if let Err(err) = stream.set_nonblocking(true) {
        eprintln!("could not make {addr}'s socket non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    let stdin = io::stdin();
    let mut stdout = io::stdout();

    // ANCHOR: relay
    let mut chunk = [0u8; 4096];
    // What was typed (or piped) and not yet sent: at most one chunk.
    let mut unsent: Vec<u8> = Vec::new();
    let mut stdin_open = true;
    let mut half_closed = false;
    loop {
        // Wait until the server has sent something, the socket can take more
        // of what we have, or more input came. Input is read only once the
        // last chunk is sent, so a fast pipe cannot outrun the server.
        let mut read_set = FdSet::new();
        let mut write_set = FdSet::new();
        read_set.insert(stream.as_fd());
        if stdin_open && unsent.is_empty() {
            read_set.insert(stdin.as_fd());
        }
        if !unsent.is_empty() {
            write_set.insert(stream.as_fd());
        }
        match select(None, &mut read_set, &mut write_set, None, None) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("select failed: {err}");
                return ExitCode::FAILURE;
            }
        }

        // Print every reply that has arrived, not one chunk of them: each
        // reply is longer than the line it answers, so a client that read a
        // chunk for every chunk it sent would fall behind the server.
        if read_set.contains(stream.as_fd()) {
            loop {
                match (&stream).read(&mut chunk) {
                    // The server closed the connection: nothing more will come.
                    Ok(0) => {
                        if stdin_open {
                            eprintln!("{addr} closed the connection");
                        }
                        return ExitCode::SUCCESS;
                    }
                    Ok(received) => {
                        let shown = stdout.write_all(&chunk[..received]);
                        if let Err(err) = shown.and_then(|()| stdout.flush()) {
                            eprintln!("could not print the reply: {err}");
                            return ExitCode::FAILURE;
                        }
                    }
                    // All that has arrived is printed.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        break;
                    }
                    Err(err) => {
                        eprintln!("could not read from {addr}: {err}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }

        if write_set.contains(stream.as_fd()) {
            // Send what the kernel will take now; keep the rest for later.
            match (&stream).write(&unsent) {
                Ok(sent) => {
                    unsent.drain(..sent);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => {
                    eprintln!("could not write to {addr}: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        if read_set.contains(stdin.as_fd()) {
            // read(2) on descriptor 0 itself, not io::stdin(), whose buffer
            // could hold typed lines that select() cannot see.
            match nix::unistd::read(stdin.as_fd(), &mut chunk) {
                Ok(0) => stdin_open = false,
                Ok(typed) => unsent.extend_from_slice(&chunk[..typed]),
                Err(Errno::EINTR) => {}
                Err(err) => {
                    eprintln!("could not read stdin: {err}");
                    return ExitCode::FAILURE;
                }
            }
        }

        // End of input, and all of it sent: say so to the server with a
        // half-close. It still answers what it has, then closes, and we
        // print that.
        if !stdin_open && unsent.is_empty() && !half_closed {
            half_closed = true;
            if let Err(err) = stream.shutdown(Shutdown::Write) {
                eprintln!("could not shut down {addr} for writing: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    // ANCHOR_END: relay
}
