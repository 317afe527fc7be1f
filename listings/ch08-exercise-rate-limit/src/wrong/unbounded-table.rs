//! Exercise 8-2, a wrong answer: its table of addresses grows with every
//! new address and never forgets one, so a client that connects from many
//! addresses makes the server use ever more memory. Rejected by
//! `the_table_of_addresses_is_bounded_and_forgets_the_oldest`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::env::{self, VarError};
use std::ffi::c_int;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{self, ExitCode};
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

/// How many connections one address may open, in how many seconds, unless
/// RATE_LIMIT says otherwise; and how many addresses the server remembers,
/// unless RATE_PEERS does.
const DEFAULT_RATE_LIMIT: &str = "5/10";
const DEFAULT_RATE_PEERS: usize = 1024;

pub fn main() -> ExitCode {
    // The address to listen on: the only argument, or loopback port 8080.
    let mut args = env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_string());
    if addr.starts_with('-') || args.next().is_some() {
        warn(format_args!("usage: ch08-exercise-rate-limit [ADDR]"));
        return ExitCode::from(2);
    }
    let max_procs = match max_procs() {
        Ok(max_procs) => max_procs,
        Err(message) => {
            warn(format_args!("{message}"));
            return ExitCode::from(2);
        }
    };
    let limit = match rate_limit() {
        Ok(limit) => limit,
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
    // Ready for SIGCHLD before we say we are listening.
    let wait_mask = match watch_children() {
        Ok(wait_mask) => wait_mask,
        Err(errno) => {
            warn(format_args!("could not catch SIGCHLD: {errno}"));
            return ExitCode::FAILURE;
        }
    };
    log(format_args!("listening on {local}"));
    log(format_args!("client slots: {max_procs}"));
    log(format_args!("rate limit: {limit}"));

    // The pids of the children that serve a client right now.
    let mut children: HashSet<Pid> = HashSet::new();
    // The recent connections of each address.
    let mut peers = Peers::new(limit);
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
        // arrives, or until SIGCHLD (and only SIGCHLD, unblocked just for
        // this call) interrupts the sleep.
        let timeout = paused.map(TimeSpec::from_duration);
        match ppoll(&mut watched, timeout, Some(wait_mask)) {
            // Nobody to accept: the pause is over.
            Ok(0) => continue,
            Ok(_) => {}
            // A child has ended: reap it at the top of the loop.
            Err(Errno::EINTR) => continue,
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
        // One address, whatever its port: each new connection of a client
        // comes from a new port.
        if !peers.admit(peer.ip(), Instant::now()) {
            refuse(stream, &limit, peer.ip());
            log(format_args!("refused {peer}: too many connections"));
            continue;
        }

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

/// The times of the recent connections of each address: at most
/// `connections` of them an address, none older than `window`, and at most
/// `peers` addresses. However many addresses connect, the table stays that
/// small.
struct Peers {
    limit: RateLimit,
    recent: HashMap<IpAddr, VecDeque<Instant>>,
}

impl Peers {
    fn new(limit: RateLimit) -> Peers {
        Peers {
            limit,
            recent: HashMap::new(),
        }
    }

    /// Whether `addr` may open a connection `now`; if it may, the
    /// connection is counted. A refused one is not: a client that keeps
    /// trying is served again once its old connections leave the window.
    fn admit(&mut self, addr: IpAddr, now: Instant) -> bool {
        let window = self.limit.window;
        if let Some(times) = self.recent.get_mut(&addr) {
            // The oldest first: forget those that left the window.
            while times.front().is_some_and(|&at| now - at >= window) {
                times.pop_front();
            }
            if times.len() >= self.limit.connections {
                return false;
            }
            times.push_back(now);
            return true;
        }
        self.recent.insert(addr, VecDeque::from([now]));
        true
    }

    /// Never called.
    #[allow(dead_code)]
    fn make_room(&mut self, now: Instant) {
        let window = self.limit.window;
        self.recent.retain(|_, times| {
            times.back().is_some_and(|&at| now - at < window)
        });
        if self.recent.len() < self.limit.peers {
            return;
        }
        let oldest = self
            .recent
            .iter()
            .min_by_key(|(_, times)| times.back().copied())
            .map(|(&addr, _)| addr);
        if let Some(oldest) = oldest {
            self.recent.remove(&oldest);
        }
    }
}

/// Tells a client why it is refused, and hangs up. The message is short
/// and the socket new, so the write fits in the socket's buffer and the
/// parent does not wait for the client to read it.
fn refuse(mut stream: TcpStream, limit: &RateLimit, addr: IpAddr) {
    let message = format!(
        "too many connections from {addr}: at most {} in {}s, try again \
         later\n",
        limit.connections,
        limit.window.as_secs()
    );
    // A client who has already gone is no loss.
    let _ = stream.write_all(message.as_bytes());
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

/// How many connections one address may open (`connections`) in any span
/// of `window`, and how many addresses the server remembers (`peers`).
#[derive(Clone, Copy, Debug)]
struct RateLimit {
    connections: usize,
    window: Duration,
    peers: usize,
}

impl fmt::Display for RateLimit {
    fn fmt(&self, out: &mut fmt::Formatter) -> fmt::Result {
        write!(
            out,
            "at most {} connections in {}s from one address, {} addresses \
             remembered",
            self.connections,
            self.window.as_secs(),
            self.peers
        )
    }
}

/// The rate limit: `RATE_LIMIT` from the environment, as
/// `<connections>/<seconds>` (5/10 if unset), and `RATE_PEERS`, the number
/// of addresses to remember (1024 if unset). Each number must be 1 or more.
fn rate_limit() -> Result<RateLimit, String> {
    let rate = match env::var("RATE_LIMIT") {
        Err(VarError::NotPresent) => DEFAULT_RATE_LIMIT.to_string(),
        Ok(value) => value,
        Err(VarError::NotUnicode(value)) => {
            return Err(format!("RATE_LIMIT is not text: {value:?}"));
        }
    };
    let parsed = rate.split_once('/').and_then(|(connections, seconds)| {
        Some((connections.parse().ok()?, seconds.parse().ok()?))
    });
    let (connections, seconds) = match parsed {
        Some((connections, seconds)) if connections >= 1 && seconds >= 1 => {
            (connections, seconds)
        }
        _ => {
            return Err(format!(
                "RATE_LIMIT must be <connections>/<seconds>, each 1 or \
                 more, not {rate:?}"
            ));
        }
    };
    let peers = match env::var("RATE_PEERS") {
        Err(VarError::NotPresent) => DEFAULT_RATE_PEERS,
        Ok(value) => match value.parse() {
            Ok(peers) if peers >= 1 => peers,
            _ => {
                return Err(format!(
                    "RATE_PEERS must be a number of addresses, 1 or more, \
                     not {value:?}"
                ));
            }
        },
        Err(VarError::NotUnicode(value)) => {
            return Err(format!("RATE_PEERS is not text: {value:?}"));
        }
    };
    Ok(RateLimit {
        connections,
        window: Duration::from_secs(seconds),
        peers,
    })
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
