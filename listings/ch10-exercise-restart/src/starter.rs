//! Exercise 10-1 (your work): the prefork pool of Listings 10-1 to 10-3, to
//! be changed so that on SIGUSR2 it restarts as a new process that inherits
//! the listening socket, and no connection is refused meanwhile. The
//! supervisor is copied here from the library of Listings 10-2 and 10-3
//! (package ch10-worker-pool), since you will change it; the other pieces
//! come from the library unchanged. The TODO comments mark the spots.

use std::io;
use std::net::TcpListener;
use std::process::ExitCode;

use ch10_worker_pool::{
    Pool, default_addr, log, max_procs, reap, spawn_worker, stop,
    wait_for_signal, warn, work,
};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

// ANCHOR: task
/// The signals the supervisor waits for. It keeps them blocked and takes them
/// one at a time with sigwait(), so no signal handler ever interrupts it.
fn supervisor_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
}

/// Starts `count` workers with `start(slot)`, one per slot, and watches them:
/// a worker that dies is replaced in its slot, later if it cannot be now;
/// SIGTERM or SIGINT stops them all, and then the supervisor returns.
fn supervise(
    count: usize,
    mut start: impl FnMut(usize) -> io::Result<Pid>,
) -> ExitCode {
    // Block the signals before the first fork: a worker that died at once
    // would otherwise send its SIGCHLD before we wait, and it would be lost.
    let signals = supervisor_signals();
    if let Err(err) = signals.thread_block() {
        warn(format_args!("could not block signals: {err}"));
        return ExitCode::FAILURE;
    }
    let mut pool = Pool::new(count);
    // At start, a worker that cannot be started is a mistake to report.
    for slot in 0..count {
        if let Err(err) = pool.start_in(slot, &mut start) {
            warn(format_args!("could not start a worker: {err}"));
            stop(pool.workers);
            return ExitCode::FAILURE;
        }
    }
    // TODO: on SIGUSR2, start a new copy of this program that inherits the
    // listening socket (its number in LISTEN_FD), log `SIGUSR2: process
    // <pid> takes over`, let the workers finish their clients and leave,
    // without replacing them, and return once they all have.
    loop {
        // Sleep until one of the signals is pending, and take it; or, while
        // a slot is empty, until it is time to try to fill it again.
        let signal = match wait_for_signal(&signals, pool.retry_at) {
            Ok(signal) => signal,
            Err(err) => {
                warn(format_args!("could not wait for signals: {err}"));
                stop(pool.workers);
                return ExitCode::FAILURE;
            }
        };
        match signal {
            // Time to try again (or a wakeup for nothing: no harm).
            None => {}
            // One SIGCHLD may stand for several dead workers: a pending
            // signal is a flag, not a counter. So reap until none is left.
            Some(Signal::SIGCHLD) => {
                for (pid, how) in reap() {
                    if let Some(slot) = pool.workers.remove(&pid) {
                        log(format_args!("worker {pid} {how}"));
                        pool.empty.insert(slot);
                    }
                }
            }
            Some(signal) => {
                log(format_args!(
                    "{signal}: stopping {} workers",
                    pool.workers.len()
                ));
                stop(pool.workers);
                return ExitCode::SUCCESS;
            }
        }
        pool.refill(&mut start);
    }
}
// ANCHOR_END: task

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch10-exercise-restart [ADDR]"));
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };

    // ANCHOR: task_main
    // One listening socket, opened before any fork: every worker inherits it.
    // TODO: when LISTEN_FD is set, the old process has handed us its
    // listening socket: take that descriptor (after checking that it is a
    // listening socket) instead of binding a new one.
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
    // ANCHOR_END: task_main

    // Fork the workers; each one accepts on the same socket, forever.
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
}
