//! Exercise 10-2 (the book's answer): the prefork pool of Listings 10-1 to
//! 10-3 in one file, changed so that SIGHUP replaces every worker with a new
//! one, gracefully: a worker that is serving a client finishes with it first.

use std::collections::BTreeMap;
use std::env::{self, VarError};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{self, ExitCode};

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// The address to listen on when none is given: loopback, and the port in
/// `PORT` from the environment, or 8080, as the original's
/// `getenv('PORT') ?: 8080` (which listens on every address, `0.0.0.0`).
fn default_addr() -> String {
    let port = env::var("PORT").ok().filter(|port| !port.is_empty());
    format!("127.0.0.1:{}", port.as_deref().unwrap_or("8080"))
}

/// How many workers to run: `MAX_PROCS` from the environment, as in the
/// original, or 2.
fn max_procs() -> Result<usize, String> {
    match env::var("MAX_PROCS") {
        Err(VarError::NotPresent) => Ok(2),
        Ok(value) => match value.parse() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(format!(
                "MAX_PROCS must be a number of processes, 1 or more, not \
                 {value:?}"
            )),
        },
        Err(VarError::NotUnicode(value)) => Err(format!(
            "MAX_PROCS must be a number of processes, 1 or more, not {value:?}"
        )),
    }
}

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
            eprintln!(
                "worker {}: could not create a signalfd: {err}",
                process::id()
            );
            process::exit(1);
        }
    };
    loop {
        let mut watched = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut watched, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => {
                eprintln!("worker {}: could not poll: {err}", process::id());
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
                if let Err(err) = serve(&client) {
                    eprintln!("worker {}: {peer}: {err}", process::id());
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => {
                eprintln!("worker {}: could not accept: {err}", process::id())
            }
        }
    }
}

/// Greets the client with this worker's pid and echoes every byte it sends,
/// until it hangs up (a read of 0 bytes, not a chunk that happens to be "0").
fn serve(mut client: &TcpStream) -> io::Result<()> {
    // An accepted socket does not inherit O_NONBLOCK from the listener on
    // Linux; say what we want rather than rely on it.
    client.set_nonblocking(false)?;
    writeln!(client, "You are connected to process {}", process::id())?;
    let mut buffer = [0u8; 4096];
    loop {
        let received = client.read(&mut buffer)?;
        if received == 0 {
            return Ok(());
        }
        client.write_all(&buffer[..received])?;
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

/// Forks a worker process that runs `work` (and exits, should `work` ever
/// return), and returns its pid.
fn spawn_worker(work: impl FnOnce()) -> nix::Result<Pid> {
    let supervisor = getpid();
    // SAFETY: fork() copies the whole process but only the thread that calls
    // it. Had this program other threads, a lock one of them held at that
    // moment (the memory allocator's, stdout's) would stay locked forever in
    // the child. This program never starts a thread, so the child is a
    // complete copy of a single-threaded program.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // Unblock what the supervisor waits for, but not SIGQUIT: it
            // must stay blocked from the first instant, or a SIGQUIT sent
            // before the signalfd exists would kill us mid-client.
            let _ = supervisor_signals().thread_unblock();
            let _ = prctl::set_pdeathsig(Signal::SIGTERM);
            if getppid() != supervisor {
                process::exit(0);
            }
            work();
            process::exit(0)
        }
    }
}

/// Starts `count` workers and watches them: a worker that dies is replaced;
/// SIGHUP replaces them all, gracefully; SIGTERM or SIGINT stops them all.
fn supervise(
    count: usize,
    mut start: impl FnMut(usize) -> nix::Result<Pid>,
) -> ExitCode {
    let signals = supervisor_signals();
    let mut blocked = signals;
    blocked.add(Signal::SIGQUIT);
    if let Err(err) = blocked.thread_block() {
        eprintln!("could not block signals: {err}");
        return ExitCode::FAILURE;
    }
    let mut workers: BTreeMap<Pid, usize> = BTreeMap::new();
    // Old workers, told to leave, finishing their clients: not replaced.
    let mut retiring: BTreeMap<Pid, usize> = BTreeMap::new();
    for slot in 0..count {
        if !start_in(slot, &mut start, &mut workers) {
            stop(workers);
            return ExitCode::FAILURE;
        }
    }
    loop {
        let signal = match signals.wait() {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("could not wait for signals: {err}");
                workers.append(&mut retiring);
                stop(workers);
                return ExitCode::FAILURE;
            }
        };
        match signal {
            Signal::SIGCHLD => {
                for (pid, how) in reap() {
                    if let Some(slot) = workers.remove(&pid) {
                        println!("worker {pid} {how}");
                        start_in(slot, &mut start, &mut workers);
                    } else if retiring.remove(&pid).is_some() {
                        println!("worker {pid} retired");
                    }
                }
            }
            Signal::SIGHUP => {
                println!("SIGHUP: replacing {} workers", workers.len());
                // The new ones first: clients keep being served throughout.
                let old = std::mem::take(&mut workers);
                for &slot in old.values() {
                    start_in(slot, &mut start, &mut workers);
                }
                for &pid in old.keys() {
                    let _ = kill(pid, Signal::SIGQUIT);
                }
                retiring.extend(old);
            }
            _ => {
                workers.append(&mut retiring);
                println!("{signal}: stopping {} workers", workers.len());
                stop(workers);
                return ExitCode::SUCCESS;
            }
        }
    }
}
// ANCHOR_END: solution

/// Starts a worker in `slot` and records it; says so, or why not.
fn start_in(
    slot: usize,
    start: &mut impl FnMut(usize) -> nix::Result<Pid>,
    workers: &mut BTreeMap<Pid, usize>,
) -> bool {
    match start(slot) {
        Ok(pid) => {
            println!("worker {pid} started");
            workers.insert(pid, slot);
            true
        }
        Err(err) => {
            eprintln!("could not start a worker: {err}");
            false
        }
    }
}

/// Reaps every child that has ended, without waiting for the others, and
/// says how each one ended.
fn reap() -> Vec<(Pid, String)> {
    let mut ended = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                ended.push((pid, format!("exited with status {code}")));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                ended.push((pid, format!("was killed by {signal}")));
            }
            // StillAlive: the others are still running. ECHILD: no children.
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return ended,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("could not reap workers: {err}");
                return ended;
            }
        }
    }
}

/// Stops every worker: SIGTERM to each, then wait for each, so that none is
/// left running and none is left a zombie.
fn stop(workers: BTreeMap<Pid, usize>) {
    for &pid in workers.keys() {
        let _ = kill(pid, Signal::SIGTERM);
    }
    for &pid in workers.keys() {
        while let Err(Errno::EINTR) = waitpid(pid, None) {}
    }
    println!("all workers stopped");
}

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch10-exercise-graceful-reload [ADDR]");
        return ExitCode::from(2);
    }
    let workers = match max_procs() {
        Ok(workers) => workers,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };

    // One listening socket, opened before any fork: every worker inherits it.
    let listener = match TcpListener::bind(&addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Workers wait in poll(), not accept(): the one that loses the race for
    // a client must get WouldBlock, not sleep in accept().
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {local} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    println!("listening on {local}");

    // Fork the workers; each one accepts on the same socket, forever.
    supervise(workers, |_slot| spawn_worker(|| work(&listener)))
}
