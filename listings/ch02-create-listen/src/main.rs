//! Listing 2-2: what `socket_create_listen()` does, one system call at a
//! time: socket, bind and listen, then getsockname to learn which port the
//! kernel chose. Each call is answered by hanging up, after printing who
//! called and which of our addresses they dialled.
//!
//! Run it with `cargo run -p ch02-create-listen [ADDR]` (default 127.0.0.1:0:
//! loopback, any free port).

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, Socket, Type};

fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 0.
    let mut args = std::env::args().skip(1);
    let arg = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    if arg.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch02-create-listen [ADDR]"));
        return ExitCode::from(2);
    }
    // An address that cannot be used is reported like a failed bind().
    let addr = match first_address(&arg) {
        Ok(addr) => addr,
        Err(err) => {
            warn(format_args!("could not bind {arg}: {err}"));
            return ExitCode::FAILURE;
        }
    };

    // ANCHOR: main
    let listener = match listen(addr) {
        Ok(listener) => listener,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::FAILURE;
        }
    };
    // getsockname(): which address and port we got. With port 0, nothing
    // else can tell us which port the kernel chose.
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));

    // Out of descriptors, accept() pauses before it tries again (chapter 1).
    let mut pause = FIRST_PAUSE;
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(call) => call,
            Err(err) => {
                warn(format_args!("could not accept a call: {err}"));
                pause_if_out_of_descriptors(&err, &mut pause);
                continue;
            }
        };
        pause = FIRST_PAUSE;
        // getsockname() on the accepted socket: the address the caller
        // dialled. When we listen on 0.0.0.0, that says more than 0.0.0.0.
        match stream.local_addr() {
            Ok(dialled) => log(format_args!("call from {peer} to {dialled}")),
            Err(err) => {
                warn(format_args!(
                    "could not read the address {peer} called: {err}"
                ));
            }
        }
        // `stream` is dropped here: we hang up.
    }
    // ANCHOR_END: main
}

/// The first address `text` stands for: the address itself, such as
/// 127.0.0.1:0, or the first that the resolver finds for a name, such as
/// localhost:5000, as TcpListener::bind() does.
fn first_address(text: &str) -> io::Result<SocketAddr> {
    text.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(ErrorKind::InvalidInput, "no address to bind to")
    })
}

// ANCHOR: listen
/// socket_create_listen(), spelled out: socket, setsockopt, bind, listen.
fn listen(addr: SocketAddr) -> Result<TcpListener, String> {
    // socket(): a TCP socket of the address's family, AF_INET or AF_INET6.
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(|err| {
            format!("could not create a socket for {addr}: {err}")
        })?;
    // setsockopt(SO_REUSEADDR) before bind(), so that a restarted server
    // gets its port back while the last run's connections are in TIME_WAIT.
    socket.set_reuse_address(true).map_err(|err| {
        format!("could not set SO_REUSEADDR on {addr}: {err}")
    })?;
    // bind(): the address and port; port 0 asks the kernel for a free port.
    socket
        .bind(&addr.into())
        .map_err(|err| format!("could not bind {addr}: {err}"))?;
    // listen(): from now on the kernel completes handshakes by itself and
    // queues up to 128 finished connections for accept().
    socket
        .listen(128)
        .map_err(|err| format!("could not listen on {addr}: {err}"))?;
    Ok(TcpListener::from(socket))
}
// ANCHOR_END: listen

/// The pause before trying accept() again, when it failed for want of a
/// descriptor: 10 ms at first, twice as long after each failure in a row,
/// never more than a second. (Chapter 1, "When descriptors run out".)
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

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
/// (Chapter 1, "When nobody reads the log".)
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
