//! Listing 10-4: the prefork pool of Listing 10-1, but every worker accepts on
//! a listening socket of its own. All of them are bound to the same address
//! with SO_REUSEPORT, and the kernel spreads new connections among them.
//!
//! Run it with `cargo run -p ch10-reuseport-pool [ADDR]` (default 127.0.0.1
//! and the port in `PORT`, or 8080); set `MAX_PROCS` for another number of
//! workers (default 2).
//! Linux only (SO_REUSEPORT spreads connections this way since Linux 3.9).

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;

use ch10_worker_pool::{
    default_addr, log, max_procs, spawn_worker, supervise, warn, work,
};
use socket2::{Domain, Socket, Type};

fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch10-reuseport-pool [ADDR]"));
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };

    // ANCHOR: sockets
    // The first socket binds the address asked for. If that was port 0, the
    // kernel picks a port, and the other sockets must bind that same one.
    let first = match resolve(&addr).and_then(reuseport_listener) {
        Ok(first) => first,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let local = match first.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let mut listeners = vec![first];
    for _ in 1..workers {
        match reuseport_listener(local) {
            Ok(listener) => listeners.push(listener),
            Err(err) => {
                warn(format_args!(
                    "could not bind another socket to {local}: {err}"
                ));
                return ExitCode::FAILURE;
            }
        }
    }
    // Every socket listens before we say so: no client is refused.
    log(format_args!("listening on {local}"));

    // The worker in slot N accepts on socket N only. The parent keeps every
    // socket open, so the connections waiting on a dead worker's socket wait
    // for the worker that replaces it, instead of being reset.
    supervise(workers, |slot| spawn_worker(|| work(&listeners[slot])))
    // ANCHOR_END: sockets
}

// ANCHOR: reuseport
/// A listening socket on `addr` that other sockets may share: SO_REUSEPORT
/// lets every socket of the same user bind the same address and port, and
/// gives each one an accept queue of its own.
fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // What std's TcpListener::bind does too: rebind at once after a restart.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}
// ANCHOR_END: reuseport

/// The first address `addr` names (`127.0.0.1:8080`, `localhost:8080`).
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the name has no address")
    })
}
