//! Listing 4-3: connect() and accept() on non-blocking sockets. connect()
//! returns at once with EINPROGRESS, the socket becomes writable when the
//! handshake is over, and SO_ERROR tells whether it succeeded; accept() with
//! nobody waiting fails with WouldBlock, and poll() says when to try again.
//!
//! Run it with `cargo run -p ch04-nonblocking-connect`. It needs no server:
//! it makes its own listener on loopback.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Socket, Type};

/// Prints a line, as println! does, except that a closed stdout (`cargo run
/// ... | head -1`) ends the program with one line on stderr and status 1,
/// where println! would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        say(format_args!($($arg)*))
    };
}

fn say(line: fmt::Arguments) {
    if let Err(err) = writeln!(io::stdout(), "{line}") {
        eprintln!("could not print: {err}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    // ANCHOR: accept
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    say!("listening on {addr}, without blocking");
    // Nobody has called yet: a blocking accept() would sleep, this one fails.
    match listener.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {
            say!("accept() with nobody calling: {err}");
        }
        Err(err) => return Err(err),
        Ok((_, peer)) => {
            return Err(io::Error::other(format!(
                "unexpected call from {peer}"
            )));
        }
    }
    // ANCHOR_END: accept

    let client = connect_without_blocking(addr)?;

    // ANCHOR: accept_ready
    // The listening socket is readable when a connection waits in its queue.
    let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    poll(&mut ready, PollTimeout::NONE)?;
    say!("poll() says the listener is readable: a connection is waiting");
    let (_connection, peer) = listener.accept()?;
    say!("accept() returns the connection from {peer}");
    // ANCHOR_END: accept_ready
    drop(client);

    // Where nobody listens: the port of a listener we close at once.
    let closed = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    connect_without_blocking(closed)?;
    Ok(())
}

// ANCHOR: connect
/// Connects without blocking and reports each step; returns the socket.
fn connect_without_blocking(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    // connect() sends the SYN and returns at once: the handshake goes on in
    // the kernel. EINPROGRESS is not a failure; it means "started".
    match socket.connect(&addr.into()) {
        Err(err) if err.raw_os_error() == Some(Errno::EINPROGRESS as i32) => {
            say!("connect() to {addr}: {err}");
        }
        Err(err) => return Err(err),
        Ok(()) => say!("connect() to {addr} finished at once"),
    }
    // The socket becomes writable when the handshake is over, whether it
    // succeeded or not.
    let started = Instant::now();
    let mut ready = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
    poll(&mut ready, PollTimeout::NONE)?;
    say!(
        "poll() says the socket is writable, after {:.0?}",
        started.elapsed()
    );
    // SO_ERROR says which: nothing, or why the connection failed.
    match socket.take_error()? {
        None => say!("SO_ERROR is 0: connected, from {}", local(&socket)?),
        Some(err) => say!("SO_ERROR is {err}"),
    }
    Ok(socket)
}
// ANCHOR_END: connect

fn local(socket: &Socket) -> io::Result<SocketAddr> {
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an IP address"))
}
