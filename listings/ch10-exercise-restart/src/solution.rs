// [starter]
// //! Exercise 10-1 (your work): the prefork pool of Listings 10-1 to 10-3, to
// //! be changed so that on SIGUSR2 it restarts as a new process that inherits
// //! the listening socket, and no connection is refused meanwhile. The
// //! supervisor is copied here from the library of Listings 10-2 and 10-3
// //! (package ch10-worker-pool), since you will change it; the other pieces
// //! come from the library unchanged. The TODO comments mark the spots.
// [solution]
//! Exercise 10-1 (the book's answer): the prefork pool of Listings 10-1 to
//! 10-3, changed so that on SIGUSR2 it restarts as a new process that
//! inherits the listening socket, and no connection is refused meanwhile.
//! The supervisor and the worker are the library's (package
//! ch10-worker-pool), changed; the other pieces are the library's.
// [end]

// [starter]
// [solution]
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::env::{self, VarError};
// [end]
use std::io;
use std::net::TcpListener;
// [starter]
// use std::process::ExitCode;
// [solution]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::{self, Command, ExitCode};
// [end]

// [starter]
// use ch10_worker_pool::{
//     Pool, default_addr, log, max_procs, reap, spawn_worker, stop,
//     wait_for_signal, warn, work,
// };
// [solution]
use ch10_worker_pool::{
    Backoff, Pool, default_addr, is_out_of_descriptors, log, max_procs, reap,
    serve, spawn_worker, stop, wait_for_signal, warn,
};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
// [end]
use nix::sys::signal::{SigSet, Signal};
// [starter]
// use nix::unistd::Pid;
// [solution]
use nix::sys::socket::{getsockopt, sockopt};
use nix::unistd::{Pid, dup, pipe2};

/// The variable that tells a new copy of the server which of its
/// descriptors is the listening socket it inherited.
const LISTEN_FD: &str = "LISTEN_FD";

// ANCHOR: restart
/// Starts a new copy of this program, which inherits `listener`, and
/// returns its pid. The copy finds the socket's number in LISTEN_FD.
fn restart(listener: &TcpListener) -> io::Result<u32> {
    // Every socket std opens is close-on-exec: a program we exec does not
    // get it. dup() makes a second descriptor for the same socket without
    // that flag, which the new program inherits; ours is closed when
    // `inherited` goes out of scope, after the new program has its own.
    let inherited = dup(listener)?;
    // argv[0] names the program as it was started. An upgrade installs a
    // new file under that name, and this starts the new version.
    let mut args = env::args_os();
    let program = args
        .next()
        .ok_or_else(|| io::Error::other("the program has no name"))?;
    let child = Command::new(program)
        .args(args)
        .env(LISTEN_FD, inherited.as_raw_fd().to_string())
        .spawn()?;
    Ok(child.id())
}

/// The listening socket the old process handed over, if LISTEN_FD names
/// one. A number that is not an open, listening TCP socket is refused:
/// taking it would close or misuse a descriptor that is not ours.
fn inherited_listener() -> Result<Option<TcpListener>, String> {
    let value = match env::var(LISTEN_FD) {
        Err(VarError::NotPresent) => return Ok(None),
        Ok(value) => value,
        Err(VarError::NotUnicode(value)) => {
            return Err(format!("{LISTEN_FD} must be a number, not {value:?}"));
        }
    };
    let refuse = || format!("{LISTEN_FD}={value} is not a listening socket");
    let fd: RawFd = value.parse().map_err(|_| refuse())?;
    // SAFETY: F_GETFD only reads the flags of descriptor `fd`; on a number
    // that is not open it fails with EBADF, and nothing else happens.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(refuse());
    }
    // SAFETY: `fd` is open (just checked), and only this function uses it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    if getsockopt(&borrowed, sockopt::AcceptConn) != Ok(true) {
        return Err(refuse());
    }
    // SAFETY: `fd` is an open listening socket that nothing else in this
    // process owns; from here on the TcpListener owns it, and closes it.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    // A listening Unix socket has no IP address: not ours to take.
    listener.local_addr().map_err(|_| refuse())?;
    // It came through exec, so it is not close-on-exec. Make it so again,
    // like every socket std opens: it goes only where we pass it.
    fcntl(&listener, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|err| format!("{LISTEN_FD}={value}: {err}"))?;
    Ok(Some(listener))
}
// ANCHOR_END: restart

// ANCHOR: lifeline
/// How the supervisor tells its workers to leave: a pipe whose write end
/// only the supervisor holds. Every worker watches the read end; when the
/// supervisor closes the write end, the read end reports end of file to
/// all of them at once, and each leaves as soon as it is idle.
struct Lifeline {
    read: OwnedFd,
    write: RefCell<Option<OwnedFd>>,
}

impl Lifeline {
    fn new() -> nix::Result<Lifeline> {
        // Close-on-exec: the new copy of the program must not hold the old
        // workers' lifeline open.
        let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
        Ok(Lifeline {
            read,
            write: RefCell::new(Some(write)),
        })
    }

    /// Closes this process's copy of the write end. In the supervisor, it
    /// tells the workers to leave; in a worker (which fork gave a copy),
    /// it makes sure that only the supervisor holds the pipe open.
    fn cut(&self) {
        self.write.borrow_mut().take();
    }
}

/// Listing 10-2's worker, but it waits in poll() for a client or for the
/// end of its lifeline, so that it leaves when told, and only between
/// clients: a client being served is served to the end.
fn work(listener: &TcpListener, lifeline: &Lifeline) -> ! {
    lifeline.cut();
    let mut pause = Backoff::new();
    loop {
        let mut watched = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(lifeline.read.as_fd(), PollFlags::POLLIN),
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
            // The supervisor let go, and we serve nobody: leave.
            process::exit(0);
        }
        if !is_ready(&watched[0]) {
            continue;
        }
        // poll() woke every idle worker; the listener is non-blocking, so
        // those that lose the race get WouldBlock instead of sleeping in
        // accept(), where the lifeline could not reach them.
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
            // shortage lasts; but keep watching the lifeline.
            Err(err) if is_out_of_descriptors(&err) => {
                let wait = pause.take();
                warn(format_args!(
                    "worker {}: could not accept: {err}; trying again in \
                     {wait:?}",
                    process::id()
                ));
                let mut only_lifeline =
                    [PollFd::new(lifeline.read.as_fd(), PollFlags::POLLIN)];
                let timeout =
                    PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
                let _ = poll(&mut only_lifeline, timeout);
            }
            Err(err) => warn(format_args!(
                "worker {}: could not accept: {err}",
                process::id()
            )),
        }
    }
}
// ANCHOR_END: lifeline
// [end]

// [starter]
// // ANCHOR: task
// [solution]
// [end]
/// The signals the supervisor waits for. It keeps them blocked and takes them
/// one at a time with sigwait(), so no signal handler ever interrupts it.
fn supervisor_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    // [starter]
    // [solution]
    signals.add(Signal::SIGUSR2);
    // [end]
    signals
}

// [starter]
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
//     // TODO: on SIGUSR2, start a new copy of this program that inherits the
//     // listening socket (its number in LISTEN_FD), log `SIGUSR2: process
//     // <pid> takes over`, let the workers finish their clients and leave,
//     // without replacing them, and return once they all have.
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
// ANCHOR: supervise
/// Starts `count` workers with `start(slot)`, one per slot, and watches them:
/// a worker that dies is replaced in its slot, later if it cannot be now;
/// SIGTERM or SIGINT stops them all; SIGUSR2 hands `listener` to a new copy
/// of the program and retires them. Then the supervisor returns.
fn supervise(
    count: usize,
    listener: &TcpListener,
    lifeline: &Lifeline,
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
    loop {
        let signal = match wait_for_signal(&signals, pool.retry_at) {
            Ok(signal) => signal,
            Err(err) => {
                warn(format_args!("could not wait for signals: {err}"));
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
                    }
                }
            }
            // The new process first: the socket is never without a
            // process that accepts on it, and clients who call meanwhile
            // wait in its queue, whoever accepts them.
            Some(Signal::SIGUSR2) => match restart(listener) {
                Ok(pid) => {
                    log(format_args!("SIGUSR2: process {pid} takes over"));
                    lifeline.cut();
                    return retire(pool.workers, &signals);
                }
                Err(err) => warn(format_args!("could not restart: {err}")),
            },
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

/// After a restart: waits until every worker has finished its client and
/// left, replacing none. SIGTERM or SIGINT meanwhile stops those left.
fn retire(mut workers: BTreeMap<Pid, usize>, signals: &SigSet) -> ExitCode {
    while !workers.is_empty() {
        match wait_for_signal(signals, None) {
            Ok(Some(Signal::SIGCHLD)) => {
                for (pid, _) in reap() {
                    if workers.remove(&pid).is_some() {
                        log(format_args!("worker {pid} retired"));
                    }
                }
            }
            Ok(Some(Signal::SIGTERM | Signal::SIGINT)) => {
                stop(workers);
                return ExitCode::SUCCESS;
            }
            // Another SIGUSR2: the new process has taken over already.
            Ok(_) => {}
            Err(err) => {
                warn(format_args!("could not wait for signals: {err}"));
                stop(workers);
                return ExitCode::FAILURE;
            }
        }
    }
    log(format_args!("all workers retired"));
    ExitCode::SUCCESS
}
// ANCHOR_END: supervise
// [end]

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

    // [starter]
    // // ANCHOR: task_main
    // // One listening socket, opened before any fork: every worker inherits it.
    // // TODO: when LISTEN_FD is set, the old process has handed us its
    // // listening socket: take that descriptor (after checking that it is a
    // // listening socket) instead of binding a new one.
    // let listener = match TcpListener::bind(&addr) {
    //     Ok(listener) => listener,
    //     Err(err) => {
    //         warn(format_args!("could not bind {addr}: {err}"));
    //         return ExitCode::FAILURE;
    //     }
    // };
    // let local = match listener.local_addr() {
    //     Ok(local) => local,
    //     Err(err) => {
    //         warn(format_args!("could not read the address of {addr}: {err}"));
    //         return ExitCode::FAILURE;
    //     }
    // };
    // log(format_args!("listening on {local}"));
    // // ANCHOR_END: task_main
    // [solution]
    // ANCHOR: main
    // One listening socket, opened before any fork: every worker inherits it.
    // The old process's, if it handed us one; a new one otherwise.
    let listener = match inherited_listener() {
        Ok(Some(listener)) => listener,
        Ok(None) => match TcpListener::bind(&addr) {
            Ok(listener) => listener,
            Err(err) => {
                warn(format_args!("could not bind {addr}: {err}"));
                return ExitCode::FAILURE;
            }
        },
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
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
    let lifeline = match Lifeline::new() {
        Ok(lifeline) => lifeline,
        Err(err) => {
            warn(format_args!("could not make a pipe: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    // ANCHOR_END: main
    // [end]

    // Fork the workers; each one accepts on the same socket, forever.
    // [starter]
    // supervise(workers, |_slot| spawn_worker(|| work(&listener)))
    // [solution]
    supervise(workers, &listener, &lifeline, |_slot| {
        spawn_worker(|| work(&listener, &lifeline))
    })
    // [end]
}
