// [starter]
// //! Exercise 8-1 (your work): Listing 8-1, to be changed so that SIGUSR1
// //! adds a client slot and SIGUSR2 takes one away (never the last), while
// //! the server runs. The TODO comments mark the spots.
// [solution]
//! Exercise 8-1 (the book's answer): Listing 8-1, changed so that SIGUSR1
//! adds a client slot and SIGUSR2 takes one away (never the last), while
//! the server runs.
// [end]

use std::collections::HashSet;
use std::env::{self, VarError};
use std::ffi::c_int;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{self, ExitCode};
// [starter]
// [solution]
use std::sync::atomic::{AtomicUsize, Ordering};
// [end]
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll, ppoll};
use nix::sys::prctl;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction,
    sigprocmask,
};
use nix::sys::time::TimeSpec;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// How many clients are served at once unless MAX_PROCS says otherwise: 2,
/// as in the original.
const DEFAULT_MAX_PROCS: usize = 2;

// [starter]
// pub fn main() -> ExitCode {
// [solution]
pub fn main() -> ExitCode {
    // [end]
    // The address to listen on: the only argument, or loopback port 8080.
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        // [starter]
        // warn(format_args!("usage: ch08-exercise-adjust-limit [ADDR]"));
        // [solution]
        warn(format_args!("usage: ch08-exercise-adjust-limit [ADDR]"));
        // [end]
        return ExitCode::from(2);
    }
    // [starter]
    // // TODO: this number changes while the server runs.
    // let max_procs = match max_procs() {
    // [solution]
    let mut max_procs = match max_procs() {
        // [end]
        Ok(max_procs) => max_procs,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };

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
    // ppoll says when a client is waiting; a non-blocking accept makes sure
    // that a client who gave up in the meantime cannot make us sleep in it.
    if let Err(err) = listener.set_nonblocking(true) {
        warn(format_args!("could not make {local} non-blocking: {err}"));
        return ExitCode::FAILURE;
    }
    // [starter]
    // // Ready for SIGCHLD before we say we are listening.
    // let wait_mask = match watch_children() {
    // [solution]
    // Ready for signals before we say we are listening.
    let wait_mask = match watch_signals() {
        // [end]
        Ok(wait_mask) => wait_mask,
        Err(errno) => {
            // [starter]
            // warn(format_args!("could not catch SIGCHLD: {errno}"));
            // [solution]
            warn(format_args!("could not catch signals: {errno}"));
            // [end]
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    log(format_args!("client slots: {max_procs}"));

    // [starter]
    // // ANCHOR: loop
    // [solution]
    // [end]
    // The pids of the children that serve a client right now.
    let mut children: HashSet<Pid> = HashSet::new();
    // Set when accept() runs out of descriptors: see AcceptPause.
    let mut pause = AcceptPause::new();
    loop {
        reap_children(&mut children, max_procs);

        // Watch the listening socket only while a slot is free (and accept
        // is not paused). With every slot taken, new clients wait in the
        // listen queue, and we sleep until a child ends.
        let paused = pause.left();
        let has_room = children.len() < max_procs && paused.is_none();
        let mut watched = Vec::new();
        if has_room {
            watched.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        // No timeout, unless a pause is to end: sleep until a client
        // [starter]
        // // arrives, or until SIGCHLD (and only SIGCHLD, unblocked just for
        // [solution]
        // arrives, or until SIGCHLD, SIGUSR1 or SIGUSR2 (unblocked just for
        // [end]
        // this call) interrupts the sleep.
        let timeout = paused.map(TimeSpec::from_duration);
        match ppoll(&mut watched, timeout, Some(wait_mask)) {
            // Nobody to accept: the pause is over.
            Ok(0) => continue,
            Ok(_) => {}
            // [starter]
            // // A child has ended: reap it at the top of the loop.
            // // TODO: or SIGUSR1 or SIGUSR2 has come. Change the number of
            // // slots, and log `client slots: <number>`.
            // Err(Errno::EINTR) => continue,
            // [solution]
            // ANCHOR: adjust
            // A child has ended (reap it at the top of the loop), or the
            // number of slots is to change.
            Err(Errno::EINTR) => {
                let more = MORE_SLOTS.swap(0, Ordering::SeqCst);
                let fewer = FEWER_SLOTS.swap(0, Ordering::SeqCst);
                if more + fewer > 0 {
                    // Busy children keep their clients: with fewer slots
                    // than children, no one new is served until enough
                    // of them are done.
                    max_procs = (max_procs + more).saturating_sub(fewer).max(1);
                    log(format_args!("client slots: {max_procs}"));
                }
                continue;
            }
            // ANCHOR_END: adjust
            // [end]
            Err(errno) => {
                warn(format_args!("could not wait for clients: {errno}"));
                return ExitCode::FAILURE;
            }
        }
        let (stream, peer) = match listener.accept() {
            Ok(client) => {
                pause.reset();
                client
            }
            // The client hung up before we accepted it.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => {
                match pause.after(&err) {
                    Some(pause) => warn(format_args!(
                        "could not accept a client: {err} (trying again in \
                         {pause:?})"
                    )),
                    None => {
                        warn(format_args!("could not accept a client: {err}"))
                    }
                }
                continue;
            }
        };
        // [starter]
        // // ANCHOR_END: loop
        // [solution]
        // [end]

        let parent = getpid();
        // SAFETY: the child of fork gets a copy of all memory but only the
        // thread that called fork. Had another thread been holding a lock
        // (the allocator's, stdout's), it would stay locked in the child
        // forever. This server never starts a thread, so the child's memory
        // is consistent and it may allocate and print like any program.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                // Should the parent die, even by kill -9, the kernel sends
                // us SIGTERM, which ends us: nobody would count us or stop
                // us any more. If it died before this line, our parent is
                // already someone else, and no signal will come: leave.
                let _ = prctl::set_pdeathsig(Signal::SIGTERM);
                if getppid() != parent {
                    process::exit(0);
                }
                // The child serves this one client and accepts no other.
                drop(listener);
                let code = match echo(stream) {
                    Ok(()) => 0,
                    Err(err) => {
                        let child = process::id();
                        warn(format_args!(
                            "child {child}: echo to {peer}: {err}"
                        ));
                        1
                    }
                };
                process::exit(code);
            }
            Ok(ForkResult::Parent { child }) => {
                children.insert(child);
                let busy = children.len();
                log(format_args!(
                    "child {child} serves {peer} ({busy} of {max_procs} busy)"
                ));
            }
            Err(errno) => {
                warn(format_args!("could not fork for {peer}: {errno}"))
            }
        }
        // The parent drops its copy of `stream` here. The connection stays
        // open in the child alone, and closes when the child is done.
    }
}

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
                warn(format_args!("could not reap children: {errno}"));
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
        log(format_args!(
            "child {child} {how} ({busy} of {max_procs} busy)"
        ));
    }
}

// [starter]
// // ANCHOR: sigchld
// /// The SIGCHLD handler does nothing: it exists only so that SIGCHLD
// /// interrupts ppoll. (Its default action is to be ignored, and an ignored
// /// signal interrupts nothing.)
// extern "C" fn on_sigchld(_signal: c_int) {}
//
// /// Blocks SIGCHLD and installs its handler. Returns the signal mask for
// /// ppoll: the current one with SIGCHLD unblocked, so that the kernel
// /// delivers SIGCHLD only while the parent sleeps in ppoll.
// fn watch_children() -> nix::Result<SigSet> {
//     // TODO: catch SIGUSR1 and SIGUSR2 as well, and have the handler note
//     // them. (Until then they do what they do by default: kill the server.)
//     let sigchld: SigSet = [Signal::SIGCHLD].into_iter().collect();
//     let mut wait_mask = SigSet::empty();
//     sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigchld), Some(&mut wait_mask))?;
//     wait_mask.remove(Signal::SIGCHLD);
//     // SA_NOCLDSTOP: no SIGCHLD for a child that is merely stopped.
//     let action = SigAction::new(
//         SigHandler::Handler(on_sigchld),
//         SaFlags::SA_NOCLDSTOP,
//         SigSet::empty(),
//     );
//     // SAFETY: a handler runs wherever the program happens to be, so it may
//     // do only async-signal-safe things. This one does nothing at all.
//     unsafe { sigaction(Signal::SIGCHLD, &action) }?;
//     Ok(wait_mask)
// }
// // ANCHOR_END: sigchld
// [solution]
// ANCHOR: signals
/// How many SIGUSR1 and SIGUSR2 have been delivered since the main loop
/// last looked. Delivered, not sent: a signal sent again while the first
/// is still pending (blocked) is merged with it.
static MORE_SLOTS: AtomicUsize = AtomicUsize::new(0);
static FEWER_SLOTS: AtomicUsize = AtomicUsize::new(0);

/// The handler counts SIGUSR1 and SIGUSR2. For SIGCHLD it does nothing: it
/// only has to interrupt ppoll.
extern "C" fn on_signal(signal: c_int) {
    if signal == Signal::SIGUSR1 as c_int {
        MORE_SLOTS.fetch_add(1, Ordering::SeqCst);
    } else if signal == Signal::SIGUSR2 as c_int {
        FEWER_SLOTS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Blocks SIGCHLD, SIGUSR1 and SIGUSR2 and installs their handler. Returns
/// the signal mask for ppoll: the current one with the three unblocked, so
/// that the kernel delivers them only while the parent sleeps in ppoll.
fn watch_signals() -> nix::Result<SigSet> {
    let signals = [Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGUSR2];
    let blocked: SigSet = signals.into_iter().collect();
    let mut wait_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut wait_mask))?;
    // SA_NOCLDSTOP: no SIGCHLD for a child that is merely stopped.
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    for signal in signals {
        wait_mask.remove(signal);
        // SAFETY: a handler runs wherever the program happens to be, so it
        // may do only async-signal-safe things. This one adds to an atomic
        // counter, which is.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(wait_mask)
}
// ANCHOR_END: signals
// [end]

/// How many clients are served at once: `MAX_PROCS` from the environment,
/// or 2, as in the original. Anything else than a whole number from 1 up
/// is refused.
fn max_procs() -> Result<usize, String> {
    let refuse = |value: &dyn fmt::Debug| {
        format!(
            "MAX_PROCS must be a number of processes, 1 or more, not \
             {value:?}"
        )
    };
    match env::var("MAX_PROCS") {
        Err(VarError::NotPresent) => Ok(DEFAULT_MAX_PROCS),
        Ok(value) => match value.parse() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(refuse(&value)),
        },
        Err(VarError::NotUnicode(value)) => Err(refuse(&value)),
    }
}

/// How long to leave the listener alone after accept() failed for want of
/// a descriptor (EMFILE for this process, ENFILE for the whole system). The
/// client stays queued and the listener readable, so watching it would wake
/// us again at once, for ever. The pause is 10 ms at first, twice as long
/// at each failure in a row, at most a second, and the next successful
/// accept ends the shortage. Chapter 1 explains the design.
struct AcceptPause {
    /// When to watch the listener again, while a pause lasts.
    until: Option<Instant>,
    /// How long the next pause will be.
    next: Duration,
}

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

impl AcceptPause {
    fn new() -> AcceptPause {
        AcceptPause {
            until: None,
            next: FIRST_PAUSE,
        }
    }

    /// What is left of the pause; `None` once it is over.
    fn left(&self) -> Option<Duration> {
        let left = self.until?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }

    /// accept() failed with `err`: if for want of descriptors, a pause
    /// starts, and this returns how long it is.
    fn after(&mut self, err: &io::Error) -> Option<Duration> {
        let errno = Errno::from_raw(err.raw_os_error()?);
        if errno != Errno::EMFILE && errno != Errno::ENFILE {
            return None;
        }
        let pause = self.next;
        self.until = Some(Instant::now() + pause);
        self.next = (pause * 2).min(LONGEST_PAUSE);
        Some(pause)
    }

    /// accept() succeeded: the next shortage starts with a short pause.
    fn reset(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a closed
/// pipe (the write fails with EPIPE, and println! would panic). Chapter 1
/// explains it.
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = writeln!(out, "{line}");
    }
}

/// The server's log: what happens, on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// Its errors, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}
