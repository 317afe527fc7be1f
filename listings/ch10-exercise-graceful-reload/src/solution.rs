// [starter]
// //! Exercise 10-2 (your work): the prefork pool of Listings 10-1 to 10-3, to
// //! be changed so that SIGHUP replaces every worker with a new one,
// [solution]
//! Exercise 10-2 (the book's answer): the prefork pool of Listings 10-1 to
//! 10-3, changed so that SIGHUP replaces every worker with a new one,
// [end]
//! gracefully: a worker that is serving a client finishes with it first.
// [starter]
// //! The worker and the supervisor are copied here from the library of
// //! Listings 10-2 and 10-3 (package ch10-worker-pool), since you will change
// //! both; the other pieces come from the library unchanged. The TODO comments
// //! mark the spots.
// [solution]
//! The worker and the supervisor are the library's (package
//! ch10-worker-pool), changed; the other pieces are the library's.
// [end]

// [starter]
// [solution]
use std::collections::BTreeMap;
// [end]
use std::io;
use std::net::TcpListener;
// [starter]
// [solution]
use std::os::fd::AsFd;
// [end]
use std::process::{self, ExitCode};
// [starter]
// use std::thread;
// [solution]
// [end]

use ch10_worker_pool::{
    Backoff, Pool, default_addr, is_out_of_descriptors, log, max_procs, reap,
    serve, spawn_worker, stop, wait_for_signal, warn,
};
// [starter]
// use nix::sys::signal::{SigSet, Signal};
// [solution]
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
// [end]
use nix::unistd::Pid;

// [starter]
// // ANCHOR: task
// /// A worker's whole life: accept a client, serve it, accept the next. Every
// /// worker blocks in accept() on a listening socket it inherited; when a client
// /// connects, the kernel wakes one of them, and the others sleep on.
// // TODO: on SIGQUIT from the supervisor, finish the client being served (if
// // any), then exit, without accepting another.
// fn work(listener: &TcpListener) -> ! {
//     let mut pause = Backoff::new();
//     loop {
//         match listener.accept() {
//             Ok((client, peer)) => {
//                 pause.reset();
//                 if let Err(err) = serve(&client) {
//                     warn(format_args!(
//                         "worker {}: {peer}: {err}",
//                         process::id()
//                     ));
//                 }
//                 // `client` is dropped here, which closes the connection.
//             }
//             // Out of descriptors: the client stays queued, and accept()
//             // would fail again at once. Pause, longer while it lasts.
//             Err(err) if is_out_of_descriptors(&err) => {
//                 let wait = pause.take();
//                 warn(format_args!(
//                     "worker {}: could not accept: {err}; trying again in \
//                      {wait:?}",
//                     process::id()
//                 ));
//                 thread::sleep(wait);
//             }
//             // A client that gave up before we picked up, for example.
//             Err(err) => warn(format_args!(
//                 "worker {}: could not accept: {err}",
//                 process::id()
//             )),
//         }
//     }
// }
//
// /// The signals the supervisor waits for. It keeps them blocked and takes them
// /// one at a time with sigwait(), so no signal handler ever interrupts it.
// fn supervisor_signals() -> SigSet {
//     let mut signals = SigSet::empty();
//     signals.add(Signal::SIGCHLD);
//     signals.add(Signal::SIGTERM);
//     signals.add(Signal::SIGINT);
//     signals
// }
//
// /// Starts `count` workers with `start(slot)`, one per slot, and watches them:
// /// a worker that dies is replaced in its slot, later if it cannot be now;
// /// SIGTERM or SIGINT stops them all, and then the supervisor returns.
// fn supervise(
//     count: usize,
//     mut start: impl FnMut(usize) -> io::Result<Pid>,
// ) -> ExitCode {
//     // Block the signals before the first fork: a worker that died at once
//     // would otherwise send its SIGCHLD before we wait, and it would be lost.
//     let signals = supervisor_signals();
//     if let Err(err) = signals.thread_block() {
//         warn(format_args!("could not block signals: {err}"));
//         return ExitCode::FAILURE;
//     }
//     let mut pool = Pool::new(count);
//     // At start, a worker that cannot be started is a mistake to report.
//     for slot in 0..count {
//         if let Err(err) = pool.start_in(slot, &mut start) {
//             warn(format_args!("could not start a worker: {err}"));
//             stop(pool.workers);
//             return ExitCode::FAILURE;
//         }
//     }
//     // TODO: on SIGHUP, start `count` new workers and tell the old ones (with
//     // SIGQUIT) to leave when they are done. Log `SIGHUP: replacing <N>
//     // workers`, and `worker <pid> retired` when an old one has left; do not
//     // replace those.
//     loop {
//         // Sleep until one of the signals is pending, and take it; or, while
//         // a slot is empty, until it is time to try to fill it again.
//         let signal = match wait_for_signal(&signals, pool.retry_at) {
//             Ok(signal) => signal,
//             Err(err) => {
//                 warn(format_args!("could not wait for signals: {err}"));
//                 stop(pool.workers);
//                 return ExitCode::FAILURE;
//             }
//         };
//         match signal {
//             // Time to try again (or a wakeup for nothing: no harm).
//             None => {}
//             // One SIGCHLD may stand for several dead workers: a pending
//             // signal is a flag, not a counter. So reap until none is left.
//             Some(Signal::SIGCHLD) => {
//                 for (pid, how) in reap() {
//                     if let Some(slot) = pool.workers.remove(&pid) {
//                         log(format_args!("worker {pid} {how}"));
//                         pool.empty.insert(slot);
//                     }
//                 }
//             }
//             Some(signal) => {
//                 log(format_args!(
//                     "{signal}: stopping {} workers",
//                     pool.workers.len()
//                 ));
//                 stop(pool.workers);
//                 return ExitCode::SUCCESS;
//             }
//         }
//         pool.refill(&mut start);
//     }
// }
// // ANCHOR_END: task
// [solution]
// ANCHOR: solution
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
                    let _ = kill(pid, Signal::SIGQUIT);
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
// ANCHOR_END: solution
// [end]

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
    // [starter]
    // [solution]
    // Workers wait in poll(), not accept(): the one that loses the race for
    // a client must get WouldBlock, not sleep in accept().
    if let Err(err) = listener.set_nonblocking(true) {
        warn(format_args!("could not make {local} non-blocking: {err}"));
        return ExitCode::FAILURE;
    }
    // [end]
    log(format_args!("listening on {local}"));

    // Fork the workers; each one accepts on the same socket, forever.
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
}
