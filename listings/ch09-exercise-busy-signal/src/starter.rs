//! Exercise 9-1 (your work): Listing 9-1, to be changed so that a client who
//! calls while every slot is busy is told so at once, instead of waiting in
//! the listen queue. The TODO comments mark the spots.

use std::env::{self, VarError};
use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::{self, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid};

/// The longest line echoed in one piece, as the original's `fgets($conn,
/// 4096)`.
const MAX_LINE: u64 = 4096;
/// How long a child keeps reading after `quit`, for the client to close.
const LINGER: Duration = Duration::from_secs(2);

/// A child serving one client, as the parent sees it.
struct Child {
    pid: Pid,
    /// The parent's end of the socket pair this child, and only this child,
    /// holds the other end of.
    pair: UnixStream,
    /// What the child has told us so far.
    report: Vec<u8>,
}

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback and the port
    // in PORT (8080 if unset), as in the original.
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(default_addr);
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch09-exercise-busy-signal [ADDR]"));
        return ExitCode::from(2);
    }
    let max_procs = match max_procs() {
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
    // poll() says a client is waiting, but it may be gone by the time we
    // accept (taken by another process that holds the listener, or, on
    // some systems, reset). A blocking accept() would then sleep until the
    // next client, deaf to the children; a non-blocking one says WouldBlock.
    if let Err(err) = listener.set_nonblocking(true) {
        warn(format_args!("could not make {local} non-blocking: {err}"));
        return ExitCode::FAILURE;
    }
    log(format_args!("listening on {local}"));

    // ANCHOR: task
    let mut children: Vec<Child> = Vec::new();
    // Set when descriptors run out: see AcceptPause.
    let mut pause = AcceptPause::new();
    loop {
        // Watch every child's pair, and the listener only while a slot is
        // free: a full server leaves new clients waiting in the listen queue,
        // and a ready listener that we do not accept from would make poll()
        // return again at once, for ever. The same goes while accepting is
        // paused for want of descriptors.
        // TODO: watch the listener even when every slot is busy (but not
        // while accepting is paused).
        let paused = pause.left();
        let accepting = children.len() < max_procs && paused.is_none();
        let mut watched: Vec<PollFd> = children
            .iter()
            .map(|child| PollFd::new(child.pair.as_fd(), PollFlags::POLLIN))
            .collect();
        if accepting {
            watched.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        // No timeout, unless a pause is to end: sleep until a child says
        // something or a client calls.
        let timeout = paused.map_or(PollTimeout::NONE, whole_milliseconds);
        match poll(&mut watched, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => {
                warn(format_args!("could not poll: {err}"));
                return ExitCode::FAILURE;
            }
        }
        let ready: Vec<bool> = watched
            .iter()
            .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
            .collect();
        drop(watched);

        // Children first, last to first, so that removing one does not move
        // the ones still to look at.
        for index in (0..children.len()).rev() {
            if ready[index] && hears_the_end(&mut children[index]) {
                let child = children.remove(index);
                let how = ended(child.pid);
                // Bytes from a socket: escaped, so that they can neither
                // forge a line of the log nor reach the terminal raw.
                let report = child.report.escape_ascii();
                let report = if child.report.is_empty() {
                    format!("ended without a report ({how})")
                } else {
                    format!("done: {report}")
                };
                let busy = children.len();
                log(format_args!(
                    "child {} {report} ({busy} of {max_procs} busy)",
                    child.pid
                ));
            }
        }

        if accepting && ready[ready.len() - 1] {
            // A new pair for the new child only: its messages cannot mix
            // with another child's, and its end of file means "this child".
            // Made before accept(): should descriptors run out, the client
            // then waits in the queue rather than being accepted and lost.
            let (parent_end, child_end) = match UnixStream::pair() {
                Ok(pair) => pair,
                Err(err) => {
                    let what = "could not create a socket pair";
                    cannot_take_on(&mut pause, what, &err);
                    continue;
                }
            };
            let (client, peer) = match listener.accept() {
                Ok(call) => {
                    pause.reset();
                    call
                }
                // Gone since poll() said it was there.
                Err(err) if err.kind() == ErrorKind::WouldBlock => continue,
                Err(err) => {
                    cannot_take_on(&mut pause, "could not accept a call", &err);
                    continue;
                }
            };
            // TODO: if every slot is busy, tell the client
            // `all <N> slots are busy, try again later`, log
            // `turned away <peer> (<N> of <N> busy)`, and hang up.
            let parent = getpid();
            // SAFETY: fork() copies the whole process but only the thread
            // that calls it; a lock another thread held at that moment (the
            // allocator's, stdout's) would stay locked forever in the child.
            // This program never starts a thread, so the child is a complete
            // copy of a single-threaded program and may do anything the
            // parent could.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    // Should the parent die, even by kill -9, the kernel
                    // sends us SIGTERM, which ends us: nobody would count us
                    // or stop us any more. If it died before this line, our
                    // parent is already someone else, and no signal will
                    // come: leave.
                    let _ = prctl::set_pdeathsig(Signal::SIGTERM);
                    if getppid() != parent {
                        process::exit(0);
                    }
                    // Close what belongs to the parent: the listener and the
                    // parent's ends of every pair, ours included. The child
                    // keeps its client and its own end of its own pair.
                    drop(listener);
                    drop(children);
                    drop(parent_end);
                    run_child(client, peer, child_end)
                }
                Ok(ForkResult::Parent { child }) => {
                    // The client and the child's end are the child's now.
                    drop(client);
                    drop(child_end);
                    children.push(Child {
                        pid: child,
                        pair: parent_end,
                        report: Vec::new(),
                    });
                    let busy = children.len();
                    log(format_args!(
                        "child {child} serves {peer} ({busy} of {max_procs} \
                         busy)"
                    ));
                }
                Err(err) => warn(format_args!(
                    "could not fork a child for {peer}: {err}"
                )),
            }
        }
    }
    // ANCHOR_END: task
}

/// Reads what a child has sent on its pair. Returns true at end of file: the
/// child has exited (or crashed), because only its exit closes its end.
fn hears_the_end(child: &mut Child) -> bool {
    let mut buffer = [0u8; 256];
    match child.pair.read(&mut buffer) {
        Ok(0) | Err(_) => true,
        Ok(received) => {
            // A report is one short line; ignore anything beyond a page.
            if child.report.len() < 4096 {
                child.report.extend_from_slice(&buffer[..received]);
            }
            false
        }
    }
}

/// Reaps a child whose end of its pair is closed, and says how it ended. The
/// child closed its end by exiting, so this wait is over at once.
fn ended(pid: Pid) -> String {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                return format!("exit status {code}");
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return format!("killed by {signal}");
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(err) => return format!("could not reap it: {err}"),
        }
    }
}

/// The child's whole life: serve the client, tell the parent how it went,
/// exit. Exiting closes the child's end of the pair, and the parent reads end
/// of file there.
fn run_child(client: TcpStream, peer: SocketAddr, mut pair: UnixStream) -> ! {
    let report = match echo_lines(&client) {
        Ok(report) => report,
        Err(err) => format!("{peer}: {err}"),
    };
    let _ = pair.write_all(report.as_bytes());
    process::exit(0)
}

/// Greets the client with this process's pid, echoes its lines until it says
/// `quit` or hangs up, and returns how the session ended.
fn echo_lines(client: &TcpStream) -> io::Result<String> {
    // Linux does not pass O_NONBLOCK from the listener to accepted sockets,
    // but the BSDs and macOS do.
    client.set_nonblocking(false)?;
    let mut writer = client;
    // One message, one write: writeln! straight onto the stream would send
    // the greeting in three pieces, three segments.
    let greeting = format!("You are connected to process {}\n", process::id());
    writer.write_all(greeting.as_bytes())?;
    let mut reader = BufReader::new(client);
    let mut line = Vec::new();
    let mut echoed = 0;
    loop {
        line.clear();
        // At most MAX_LINE bytes: a longer line comes back in pieces.
        if reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?
            == 0
        {
            return Ok(format!("client hung up after {}", lines(echoed)));
        }
        if line.trim_ascii() == b"quit" {
            close_gracefully(client, reader);
            return Ok(format!("client quit after {}", lines(echoed)));
        }
        writer.write_all(&line)?;
        echoed += 1;
    }
}

/// Ends a session the client asked to end: first shutdown(), which sends
/// the client our end of file (FIN) while we can still read; then read and
/// throw away whatever it still sends, until it closes too or LINGER runs
/// out. Closing a socket that has unread data makes the kernel send a reset
/// (RST) instead, and the client may lose the last replies we sent.
fn close_gracefully(client: &TcpStream, mut reader: BufReader<&TcpStream>) {
    if client.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut discard = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if client.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match reader.read(&mut discard) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn lines(count: usize) -> String {
    match count {
        1 => "1 line".to_string(),
        _ => format!("{count} lines"),
    }
}

/// The address to listen on when none is given: loopback, and the port in
/// `PORT` from the environment, or 8080, as the original's
/// `getenv('PORT') ?: 8080` (which listens on every address, `0.0.0.0`).
fn default_addr() -> String {
    let port = env::var("PORT").ok().filter(|port| !port.is_empty());
    format!("127.0.0.1:{}", port.as_deref().unwrap_or("8080"))
}

/// How many children may serve at once: `MAX_PROCS` from the environment, as
/// chapter 8's server, or 2.
fn max_procs() -> Result<usize, String> {
    let invalid = |value: &dyn std::fmt::Debug| {
        format!(
            "MAX_PROCS must be a number of processes, 1 or more, not {value:?}"
        )
    };
    match env::var("MAX_PROCS") {
        Err(VarError::NotPresent) => Ok(2),
        Ok(value) => match value.parse() {
            Ok(count) if count >= 1 => Ok(count),
            _ => Err(invalid(&value)),
        },
        Err(VarError::NotUnicode(value)) => Err(invalid(&value)),
    }
}

/// How long to leave the listener alone when descriptors run out: accept()
/// (or socketpair()) fails with EMFILE for this process, ENFILE for the
/// whole system. The client stays queued and the listener readable, so
/// watching it would wake us again at once, for ever. The pause is 10 ms at
/// first, twice as long at each failure in a row, at most a second, and the
/// next successful accept ends the shortage. Chapter 1 explains the design.
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

    /// A call failed with `err`: if for want of descriptors, a pause
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

/// Logs why the next client cannot be taken on (`what` failed with `err`),
/// and pauses accepting if descriptors ran out.
fn cannot_take_on(pause: &mut AcceptPause, what: &str, err: &io::Error) {
    match pause.after(err) {
        Some(pause) => {
            warn(format_args!("{what}: {err} (trying again in {pause:?})"))
        }
        None => warn(format_args!("{what}: {err}")),
    }
}

/// A pause as poll()'s timeout, in whole milliseconds rounded up, so that
/// poll() does not wake up a moment before the pause is over.
fn whole_milliseconds(pause: Duration) -> PollTimeout {
    let millis = pause.as_micros().div_ceil(1000);
    PollTimeout::from(u16::try_from(millis).unwrap_or(u16::MAX))
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
