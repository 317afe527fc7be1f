//! The two halves of a prefork server, shared by Listing 10-1 (all workers
//! accept on one listening socket) and Listing 10-4 (each worker has its own
//! socket, with SO_REUSEPORT):
//!
//! - Listing 10-2, the worker: accept a client, greet it with the worker's
//!   pid, echo until it hangs up, accept the next;
//! - Listing 10-3, the supervisor: start the workers, start a new one whenever
//!   one dies, and stop them all on SIGTERM or SIGINT.
//!
//! Unix only: it forks, and it uses Linux's parent-death signal.

use std::collections::BTreeMap;
use std::env::{self, VarError};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{self, ExitCode};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// The address to listen on when none is given: loopback, and the port in
/// `PORT` from the environment, or 8080, as the original's
/// `getenv('PORT') ?: 8080` (which listens on every address, `0.0.0.0`).
pub fn default_addr() -> String {
    let port = env::var("PORT").ok().filter(|port| !port.is_empty());
    format!("127.0.0.1:{}", port.as_deref().unwrap_or("8080"))
}

/// How many workers to run: `MAX_PROCS` from the environment, as in the
/// original, or 2.
pub fn max_procs() -> Result<usize, String> {
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

// ANCHOR: worker
/// A worker's whole life: accept a client, serve it, accept the next. Every
/// worker blocks in accept() on a listening socket it inherited; when a client
/// connects, the kernel wakes one of them, and the others sleep on.
pub fn work(listener: &TcpListener) -> ! {
    loop {
        match listener.accept() {
            Ok((client, peer)) => {
                if let Err(err) = serve(&client) {
                    eprintln!("worker {}: {peer}: {err}", process::id());
                }
                // `client` is dropped here, which closes the connection.
            }
            // A client that gave up before we picked up, for example.
            Err(err) => {
                eprintln!("worker {}: could not accept: {err}", process::id())
            }
        }
    }
}

/// Greets the client with this worker's pid and echoes every byte it sends,
/// until it hangs up (a read of 0 bytes, not a chunk that happens to be "0").
fn serve(mut client: &TcpStream) -> io::Result<()> {
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
// ANCHOR_END: worker

/// The signals the supervisor waits for. It keeps them blocked and takes them
/// one at a time with sigwait(), so no signal handler ever interrupts it.
fn supervisor_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGCHLD);
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
}

// ANCHOR: spawn
/// Forks a worker process that runs `work` (and exits, should `work` ever
/// return), and returns its pid.
pub fn spawn_worker(work: impl FnOnce()) -> nix::Result<Pid> {
    let supervisor = getpid();
    // SAFETY: fork() copies the whole process but only the thread that calls
    // it. Had this program other threads, a lock one of them held at that
    // moment (the memory allocator's, stdout's) would stay locked forever in
    // the child, and the child could hang on its first allocation. Our
    // programs never start a thread, so the child is a complete copy of a
    // single-threaded program and may do anything the parent could.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // The child inherits the supervisor's blocked signals. Unblock
            // them, or a SIGTERM sent to this worker would wait forever.
            let _ = supervisor_signals().thread_unblock();
            // Should the supervisor die without stopping us (kill -9), have
            // the kernel send us SIGTERM, so no worker is left orphaned. If it
            // died before this line, our parent is already someone else.
            let _ = prctl::set_pdeathsig(Signal::SIGTERM);
            if getppid() != supervisor {
                process::exit(0);
            }
            work();
            process::exit(0)
        }
    }
}
// ANCHOR_END: spawn

// ANCHOR: supervise
/// Starts `count` workers with `start(slot)`, one per slot, and watches them:
/// a worker that dies is replaced in its slot; SIGTERM or SIGINT stops them
/// all, and then the supervisor returns.
pub fn supervise(
    count: usize,
    mut start: impl FnMut(usize) -> nix::Result<Pid>,
) -> ExitCode {
    // Block the signals before the first fork: a worker that died at once
    // would otherwise send its SIGCHLD before we wait, and it would be lost.
    let signals = supervisor_signals();
    if let Err(err) = signals.thread_block() {
        eprintln!("could not block signals: {err}");
        return ExitCode::FAILURE;
    }
    let mut workers: BTreeMap<Pid, usize> = BTreeMap::new();
    for slot in 0..count {
        if !start_in(slot, &mut start, &mut workers) {
            stop(workers);
            return ExitCode::FAILURE;
        }
    }
    loop {
        // Sleep until one of the signals is pending, and take it.
        let signal = match signals.wait() {
            Ok(signal) => signal,
            Err(err) => {
                eprintln!("could not wait for signals: {err}");
                stop(workers);
                return ExitCode::FAILURE;
            }
        };
        if signal != Signal::SIGCHLD {
            println!("{signal}: stopping {} workers", workers.len());
            stop(workers);
            return ExitCode::SUCCESS;
        }
        // One SIGCHLD may stand for several dead workers: a pending signal is
        // a flag, not a counter. So reap until no dead child is left.
        for (pid, how) in reap() {
            if let Some(slot) = workers.remove(&pid) {
                println!("worker {pid} {how}");
                start_in(slot, &mut start, &mut workers);
            }
        }
    }
}
// ANCHOR_END: supervise

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
