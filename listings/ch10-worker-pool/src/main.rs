//! Listing 10-1: a prefork echo server. The parent opens one listening
//! socket, forks MAX_PROCS workers that all block in accept() on it, and
//! watches them: a worker that dies is replaced, and SIGTERM or SIGINT stops
//! them all. The worker and the supervisor are in src/lib.rs.
//!
//! Run it with `cargo run -p ch10-worker-pool [ADDR]` (default 127.0.0.1 and
//! the port in `PORT`, or 8080); set `MAX_PROCS` for another number of
//! workers (default 2). Unix only.

use std::net::TcpListener;
use std::process::ExitCode;

use ch10_worker_pool::{
    default_addr, log, max_procs, spawn_worker, supervise, warn, work,
};

fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch10-worker-pool [ADDR]"));
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };

    // ANCHOR: pool
    // One listening socket, opened before any fork: every worker inherits it.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));

    // Fork the workers; each one accepts on the same socket, forever.
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
    // ANCHOR_END: pool
}
