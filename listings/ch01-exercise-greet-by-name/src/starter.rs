//! Exercise 1-2 (your work): Listing 1-1, to be changed so that the caller
//! speaks first: it sends its name on one line, and the server greets it by
//! that name. The TODO comment marks the spot.

use std::fmt;
use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub fn main() -> ExitCode {
    // ANCHOR: args
    // The address to listen on: the only argument, or loopback port 5000.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:5000".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch01-exercise-greet-by-name [ADDR]"));
        return ExitCode::from(2);
    }
    // ANCHOR_END: args

    // ANCHOR: listen
    // socket(), bind() and listen() in one call. Binding fails if the address
    // is not one of this machine's, or if another socket already has the port.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    // Ask the kernel which address we got (getsockname): with port 0 it picks
    // a free port, and only this call can tell us which.
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    // ANCHOR_END: listen

    // ANCHOR: task
    let mut pause = FIRST_PAUSE;
    loop {
        // accept() waits until a client has connected, then hands us a new
        // socket for that one conversation; `listener` keeps listening.
        let (mut stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                // A client that gave up before we picked up, for example.
                // That is no reason to stop answering the others. But if we
                // are out of descriptors, we wait a little before we retry.
                warn(format_args!("could not accept a call: {err}"));
                pause_if_out_of_descriptors(&err, &mut pause);
                continue;
            }
        };
        // Picked up: the next shortage, if any, starts with a short pause.
        pause = FIRST_PAUSE;
        log(format_args!("call from {peer}"));

        // TODO: read one line from the caller, at most 64 bytes: its name.
        let greeting = format!(
            // TODO: answer `Hello, <name>!`, or `Hello, stranger!` if the
            // name is empty.
            "Hello {peer}, you reached {local}. Goodbye!\n"
        );
        if let Err(err) = stream.write_all(greeting.as_bytes()) {
            warn(format_args!("could not write to {peer}: {err}"));
        }
        // `stream` is dropped here, which closes the socket: we hang up.
    }
    // ANCHOR_END: task
}

// ANCHOR: pause
/// The pause before trying accept() again, when it failed for want of a
/// descriptor: 10 ms at first, twice as long after each failure in a row,
/// never more than a second.
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
// ANCHOR_END: pause

// ANCHOR: log
/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
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
// ANCHOR_END: log
