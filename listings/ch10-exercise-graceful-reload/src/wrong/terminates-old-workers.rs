//! Exercise 10-2, a wrong answer: on SIGHUP it starts new workers and
//! sends the old ones SIGTERM, which kills a busy one in the middle of its
//! client. Rejected by `a_busy_worker_finishes_its_client_before_it_leaves`.

use std::collections::BTreeMap;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::{self, ExitCode};

use ch10_worker_pool::{
    Backoff, Pool, default_addr, is_out_of_descriptors, log, max_procs, reap,
    serve, spawn_worker, stop, wait_for_signal, warn,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

/// A worker's whole life: wait until a client calls or the supervisor says
/// "leave" (SIGQUIT); serve the client, or leave. SIGQUIT stays blocked (the
/// supervisor blocked it before forking us) and arrives as a readable
/// descriptor, a signalfd, so it never interrupts a client: it waits in the
/// descriptor until the client is served and we poll again.
fn work(listener: &TcpListener) -> ! {
    let signal_fd = match SignalFd::new(&retire_signal()) {
        Ok(signal_fd) => signal_fd,
        Err(err) => {
            warn(format_args!(
                "worker {}: could not create a signalfd: {err}",
                process::id()
            ));
            process::exit(1);
        }
    };
    let mut pause = Backoff::new();
    loop {
        let mut watched = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => {
                warn(format_args!(
                    "worker {}: could not poll: {err}",
                    process::id()
                ));
                process::exit(1);
            }
        }
        let is_ready =
            |fd: &PollFd| fd.revents().is_some_and(|events| !events.is_empty());
        if is_ready(&watched[1]) {
            // Told to leave, and not serving anyone: leave.
            process::exit(0);
        }
        if !is_ready(&watched[0]) {
            continue;
        }
        // poll() woke every idle worker; the listener is non-blocking, so
        // those that lose the race get WouldBlock instead of sleeping in
        // accept(), where SIGQUIT could not reach them.
        match listener.accept() {
            Ok((client, peer)) => {
                pause.reset();
                // An accepted socket does not inherit O_NONBLOCK from the
                // listener on Linux; say what we want rather than rely on it.
                let served =
                    client.set_nonblocking(false).and_then(|()| serve(&client));
                if let Err(err) = served {
                    warn(format_args!(
                        "worker {}: {peer}: {err}",
                        process::id()
                    ));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            // Out of descriptors: the client stays queued, and the listener
            // stays readable. Stop watching it for a pause, longer while the
            // shortage lasts; but keep listening for SIGQUIT.
            Err(err) if is_out_of_descriptors(&err) => {
                let wait = pause.take();
                warn(format_args!(
                    "worker {}: could not accept: {err}; trying again in \
                     {wait:?}",
                    process::id()
                ));
                let mut only_signal =
                    [PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN)];
                let timeout =
                    PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
                let _ = poll(&mut only_signal, timeout);
            }
            Err(err) => warn(format_args!(
                "worker {}: could not accept: {err}",
                process::id()
            )),
        }
    }
}

/// The signal that tells a worker to leave once it is idle.
fn retire_signal() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGQUIT);
    signals
}

/// The signals the supervisor waits for. It keeps them blocked and takes them
/// one at a time with sigwait(), so no signal handler ever interrupts it.
fn supervisor_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals
}

/// Starts `count` workers and watches them: a worker that dies is replaced
/// (later if it cannot be now); SIGHUP replaces them all, gracefully;
/// SIGTERM or SIGINT stops them all.
fn supervise(
    count: usize,
    mut start: impl FnMut(usize) -> io::Result<Pid>,
) -> ExitCode {
    let signals = supervisor_signals();
    // SIGQUIT too, before the first fork: a worker inherits it blocked
    // (spawn_worker unblocks only the library's own signals), so a SIGQUIT
    // sent before the worker made its signalfd waits for it in the
    // descriptor instead of killing it mid-client.
    let mut blocked = signals;
    blocked.add(Signal::SIGQUIT);
    if let Err(err) = blocked.thread_block() {
        warn(format_args!("could not block signals: {err}"));
        return ExitCode::FAILURE;
    }
    let mut pool = Pool::new(count);
    for slot in 0..count {
        if let Err(err) = pool.start_in(slot, &mut start) {
            warn(format_args!("could not start a worker: {err}"));
            stop(pool.workers);
            return ExitCode::FAILURE;
        }
    }
    // Old workers, told to leave, finishing their clients: not replaced.
    let mut retiring: BTreeMap<Pid, usize> = BTreeMap::new();
    loop {
        let signal = match wait_for_signal(&signals, pool.retry_at) {
            Ok(signal) => signal,
            Err(err) => {
                warn(format_args!("could not wait for signals: {err}"));
                pool.workers.append(&mut retiring);
                stop(pool.workers);
                return ExitCode::FAILURE;
            }
        };
        match signal {
            None => {}
            Some(Signal::SIGCHLD) => {
                for (pid, how) in reap() {
                    if let Some(slot) = pool.workers.remove(&pid) {
                        log(format_args!("worker {pid} {how}"));
                        pool.empty.insert(slot);
                    } else if retiring.remove(&pid).is_some() {
                        log(format_args!("worker {pid} retired"));
                    }
                }
            }
            Some(Signal::SIGHUP) => {
                log(format_args!(
                    "SIGHUP: replacing {} workers",
                    pool.workers.len()
                ));
                // The new ones first: clients keep being served throughout.
                let old = std::mem::take(&mut pool.workers);
                pool.empty.extend(old.values());
                pool.refill(&mut start);
                for &pid in old.keys() {
                    let _ = kill(pid, Signal::SIGTERM);
                }
                retiring.extend(old);
            }
            Some(signal) => {
                pool.workers.append(&mut retiring);
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

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch10-exercise-graceful-reload [ADDR]"));
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };

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
    // Workers wait in poll(), not accept(): the one that loses the race for
    // a client must get WouldBlock, not sleep in accept().
    if let Err(err) = listener.set_nonblocking(true) {
        warn(format_args!("could not make {local} non-blocking: {err}"));
        return ExitCode::FAILURE;
    }
    log(format_args!("listening on {local}"));

    // Fork the workers; each one accepts on the same socket, forever.
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
}
