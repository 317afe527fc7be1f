//! A small TCP server for the test kit's own tests of its survival checks:
//! it echoes one line per client and logs each client, either as the
//! book's servers do, or with one of the defects the checks must catch.
//!
//! usage: testkit-fixture-server good|println|spin ADDR
//!
//! - `good`: a log line that cannot be written now is dropped, and a
//!   failed accept() for want of descriptors is followed by a pause that
//!   doubles each time, from 10 ms to a second.
//! - `println`: the log is written with println!, which waits for room in
//!   a full pipe and panics on a closed one.
//! - `spin`: accept() is tried again at once when it fails.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, addr] = args.as_slice() else {
        eprintln!("usage: testkit-fixture-server good|println|spin ADDR");
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let log = |line: String| {
        if mode == "println" {
            println!("{line}");
        } else {
            let mut out = io::stdout();
            let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
            if poll(&mut fds, PollTimeout::ZERO) == Ok(1) {
                let _ = writeln!(out, "{line}");
            }
        }
    };
    if let Ok(local) = listener.local_addr() {
        log(format!("listening on {local}"));
    }
    let mut pause = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(client) => client,
            Err(err) => {
                eprintln!("could not accept: {err}");
                if mode != "spin" {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                continue;
            }
        };
        pause = Duration::from_millis(10);
        log(format!("client {peer} connected"));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_ok() {
            let _ = (&stream).write_all(line.as_bytes());
        }
        log(format!("client {peer} done"));
    }
}
