//! Exercise 8-2 (the book's answer): Listing 8-1, changed so that a client
//! who comes while every slot is busy is told so at once and hung up on,
//! instead of waiting in the listen queue.

use std::collections::HashSet;
use std::ffi::c_int;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{self, ExitCode};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction,
    sigprocmask,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// How many clients are served at once unless MAX_PROCS says otherwise: 2,
/// as in the original.
const DEFAULT_MAX_PROCS: usize = 2;

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 8080.
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("usage: ch08-exercise-turn-away [ADDR]");
        return ExitCode::from(2);
    }
    let max_procs = match std::env::var("MAX_PROCS") {
        Err(_) => DEFAULT_MAX_PROCS,
        Ok(value) => match value.parse::<usize>() {
            Ok(max_procs) if max_procs > 0 => max_procs,
            _ => {
                eprintln!(
                    "MAX_PROCS must be a whole number from 1 up, not {value:?}"
                );
                return ExitCode::from(2);
            }
        },
    };

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
    // ppoll says when a client is waiting; a non-blocking accept makes sure
    // that a client who gave up in the meantime cannot make us sleep in it.
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {local} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    // Ready for SIGCHLD before we say we are listening.
    let wait_mask = match watch_children() {
        Ok(wait_mask) => wait_mask,
        Err(errno) => {
            eprintln!("could not catch SIGCHLD: {errno}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {local}");
    println!("client slots: {max_procs}");

    // The pids of the children that serve a client right now.
    let mut children: HashSet<Pid> = HashSet::new();
    loop {
        reap_children(&mut children, max_procs);

        // ANCHOR: watch
        // Watch the listening socket always: a client who finds every slot
        // busy is told so at once, rather than left waiting in the queue.
        let mut watched = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        // ANCHOR_END: watch

        // No timeout: sleep until a client arrives, or until SIGCHLD (and
        // only SIGCHLD, unblocked just for this call) interrupts the sleep.
        match ppoll(&mut watched, None, Some(wait_mask)) {
            Ok(_) => {}
            // A child has ended: reap it at the top of the loop.
            Err(Errno::EINTR) => continue,
            Err(errno) => {
                eprintln!("could not wait for clients: {errno}");
                return ExitCode::FAILURE;
            }
        }
        let (stream, peer) = match listener.accept() {
            Ok(client) => client,
            // The client hung up before we accepted it.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => {
                eprintln!("could not accept a client: {err}");
                continue;
            }
        };

        // ANCHOR: turn_away
        if children.len() >= max_procs {
            turn_away(stream);
            println!("turned away {peer}");
            continue;
        }
        // ANCHOR_END: turn_away

        // SAFETY: the child of fork gets a copy of all memory but only the
        // thread that called fork. Had another thread been holding a lock
        // (the allocator's, stdout's), it would stay locked in the child
        // forever. This server never starts a thread, so the child's memory
        // is consistent and it may allocate and print like any program.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // The child serves this one client and accepts no other.
                drop(listener);
                let code = match echo(stream) {
                    Ok(()) => 0,
                    Err(err) => {
                        eprintln!(
                            "child {}: echo to {peer}: {err}",
                            process::id()
                        );
                        1
                    }
                };
                process::exit(code);
            }
            Ok(ForkResult::Parent { child }) => {
                children.insert(child);
                let busy = children.len();
                println!(
                    "child {child} serves {peer} ({busy} of {max_procs} busy)"
                );
            }
            Err(errno) => eprintln!("could not fork for {peer}: {errno}"),
        }
        // The parent drops its copy of `stream` here. The connection stays
        // open in the child alone, and closes when the child is done.
    }
}

// ANCHOR: turn_away_fn
/// Tells a client that no slot is free, and hangs up. The message is short
/// and the socket new, so the write fits in the socket's buffer and the
/// parent does not wait for the client to read it.
fn turn_away(mut stream: TcpStream) {
    // A client who has already gone is no loss.
    let _ = stream.write_all(b"busy: no free slot, try again later\n");
}
// ANCHOR_END: turn_away_fn

/// The child's whole job: greet the client, then send back every byte it
/// sends, until it closes its side of the connection.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    // Linux does not pass O_NONBLOCK from the listener to accepted sockets,
    // but the BSDs and macOS do.
    stream.set_nonblocking(false)?;
    let greeting = format!("You are connected to process {}\n", process::id());
    stream.write_all(greeting.as_bytes())?;
    let mut buffer = [0u8; 4096];
    loop {
        // 0 bytes means the client has closed its side; any other count is
        // data, whatever the bytes are (a lone "0" included).
        let received = stream.read(&mut buffer)?;
        if received == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..received])?;
    }
}

/// Collects every child that has ended, without waiting for those that have
/// not (WNOHANG), and frees their slots.
fn reap_children(children: &mut HashSet<Pid>, max_procs: usize) {
    loop {
        let status = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            // Some children are running, but none has ended.
            Ok(WaitStatus::StillAlive) => return,
            Ok(status) => status,
            // No children at all.
            Err(Errno::ECHILD) => return,
            Err(errno) => {
                eprintln!("could not reap children: {errno}");
                return;
            }
        };
        let (child, how) = match status {
            WaitStatus::Exited(child, 0) => (child, "is done".to_string()),
            WaitStatus::Exited(child, code) => {
                (child, format!("failed with status {code}"))
            }
            // A child that dies of a signal ended too, and frees its slot.
            WaitStatus::Signaled(child, signal, _) => {
                (child, format!("was killed by {signal}"))
            }
            // Stopped or continued: reported only with WUNTRACED or
            // WCONTINUED, which we do not ask for.
            _ => continue,
        };
        children.remove(&child);
        let busy = children.len();
        println!("child {child} {how} ({busy} of {max_procs} busy)");
    }
}

/// The SIGCHLD handler does nothing: it exists only so that SIGCHLD
/// interrupts ppoll. (Its default action is to be ignored, and an ignored
/// signal interrupts nothing.)
extern "C" fn on_sigchld(_signal: c_int) {}

/// Blocks SIGCHLD and installs its handler. Returns the signal mask for
/// ppoll: the current one with SIGCHLD unblocked, so that the kernel
/// delivers SIGCHLD only while the parent sleeps in ppoll.
fn watch_children() -> nix::Result<SigSet> {
    let sigchld: SigSet = [Signal::SIGCHLD].into_iter().collect();
    let mut wait_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), Some(&mut wait_mask))?;
    wait_mask.remove(Signal::SIGCHLD);
    // SA_NOCLDSTOP: no SIGCHLD for a child that is merely stopped.
    let action = SigAction::new(
        SigHandler::Handler(on_sigchld),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: a handler runs wherever the program happens to be, so it may
    // do only async-signal-safe things. This one does nothing at all.
    unsafe { sigaction(Signal::SIGCHLD, &action) }?;
    Ok(wait_mask)
}
