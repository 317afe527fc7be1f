//! Exercise 10-2 (the book's answer): the prefork pool of Listings 10-1 to
//! 10-3 in one file, changed so that SIGHUP replaces every worker with a new
//! one, gracefully: a worker that is serving a client finishes with it first.

use std::collections::{BTreeMap, BTreeSet};
use std::env::{self, VarError};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{self, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
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
/// original, or 2. Read before anything else happens: a bad value is
/// refused with this message (and status 2) before the server binds or
/// prints a line.
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

/// Writes one line of the log to `out` if it can be written now, and
/// drops it otherwise: a server must not stop because its output is a
/// pipe nobody reads (a write would block), nor die because it is a
/// closed pipe (the write fails with EPIPE, and println! would panic).
/// Chapter 1 explains it.
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = writeln!(out, "{line}");
    }
}

/// A line of the server's log, on stdout.
fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// A line about an error, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}

/// A pause that grows while a shortage lasts: 10 ms at first, twice as long
/// each time it is taken, never more than a second, and 10 ms again once
/// the shortage is over (`reset`).
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);

    fn new() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }

    /// The pause to make now; the next one will be twice as long.
    fn take(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(Backoff::LONGEST);
        pause
    }

    fn reset(&mut self) {
        self.next = Backoff::FIRST;
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
                if let Err(err) = serve(&client) {
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

/// Greets the client with this worker's pid and echoes every byte it sends,
/// until it hangs up (a read of 0 bytes, not a chunk that happens to be "0").
fn serve(mut client: &TcpStream) -> io::Result<()> {
    // An accepted socket does not inherit O_NONBLOCK from the listener on
    // Linux; say what we want rather than rely on it.
    client.set_nonblocking(false)?;
    // One message, one write: `writeln!` straight onto the socket would send
    // the text, the pid and the newline in three writes, three segments.
    let greeting = format!("You are connected to process {}\n", process::id());
    client.write_all(greeting.as_bytes())?;
    let mut buffer = [0u8; 4096];
    loop {
        let received = client.read(&mut buffer)?;
        if received == 0 {
            return Ok(());
        }
        client.write_all(&buffer[..received])?;
    }
}

/// Whether accept() failed for want of a descriptor: the process has all it
/// may have open (EMFILE), or the whole system has (ENFILE).
fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
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
/// return), and returns its pid. Refuses, without forking, in a process
/// that runs more than one thread: see the SAFETY comment.
fn spawn_worker(work: impl FnOnce()) -> io::Result<Pid> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "this process runs {threads} threads, and a forked copy of it \
             might wait for ever on a lock one of them held"
        )));
    }
    let supervisor = getpid();
    // SAFETY: fork() copies the whole process but only the thread that calls
    // it. Had this process other threads, a lock one of them held at that
    // moment (the memory allocator's, stdout's) would stay locked forever in
    // the child, and the child could hang on its first allocation. We just
    // checked that this thread is the only one, and no other can start
    // meanwhile (only a thread of ours could start it, and this one is busy
    // here), so the child is a complete copy of a single-threaded program
    // and may do anything the parent could.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            // Unblock what the supervisor waits for, but not SIGQUIT: it
            // must stay blocked from the first instant, or a SIGQUIT sent
            // before the signalfd exists would kill us mid-client.
            let _ = supervisor_signals().thread_unblock();
            // Should the supervisor die without stopping us (kill -9), have
            // the kernel kill us too. SIGKILL, because it is the one signal a
            // stopped worker obeys at once. If the supervisor died before
            // this line, our parent is already someone else: leave.
            let _ = prctl::set_pdeathsig(Signal::SIGKILL);
            if getppid() != supervisor {
                process::exit(0);
            }
            work();
            process::exit(0)
        }
    }
}

/// How many threads this process runs: one entry each in /proc/self/task.
fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Starts `count` workers and watches them: a worker that dies is replaced
/// (later if it cannot be now); SIGHUP replaces them all, gracefully;
/// SIGTERM or SIGINT stops them all.
fn supervise(
    count: usize,
    mut start: impl FnMut(usize) -> io::Result<Pid>,
) -> ExitCode {
    let signals = supervisor_signals();
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

/// The supervisor's workers, by pid, with the slot each one fills; and the
/// slots that are empty, because their worker died and no new one could be
/// started yet.
struct Pool {
    count: usize,
    workers: BTreeMap<Pid, usize>,
    empty: BTreeSet<usize>,
    /// How long to wait before the next try to fill the empty slots.
    backoff: Backoff,
    /// When to try next; `None` while no try has failed.
    retry_at: Option<Instant>,
}

impl Pool {
    fn new(count: usize) -> Pool {
        Pool {
            count,
            workers: BTreeMap::new(),
            empty: BTreeSet::new(),
            backoff: Backoff::new(),
            retry_at: None,
        }
    }

    /// Starts a worker in `slot` and records it.
    fn start_in(
        &mut self,
        slot: usize,
        start: &mut impl FnMut(usize) -> io::Result<Pid>,
    ) -> io::Result<()> {
        let pid = start(slot)?;
        log(format_args!("worker {pid} started"));
        self.workers.insert(pid, slot);
        Ok(())
    }

    /// Starts a worker in each empty slot, unless it is not yet time to try
    /// again. A fork that fails (the user or the system is out of processes,
    /// or of memory) leaves its slot empty until the next try, 10 ms later at
    /// first, twice as long after each failure, at most a second.
    fn refill(&mut self, start: &mut impl FnMut(usize) -> io::Result<Pid>) {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        while let Some(slot) = self.empty.pop_first() {
            if let Err(err) = self.start_in(slot, start) {
                self.empty.insert(slot);
                let wait = self.backoff.take();
                warn(format_args!(
                    "could not start a worker: {err}; {} of {} missing, \
                     trying again in {wait:?}",
                    self.empty.len(),
                    self.count
                ));
                self.retry_at = Some(Instant::now() + wait);
                return;
            }
        }
        // Every slot is full again.
        self.backoff.reset();
        self.retry_at = None;
    }
}

/// Stops every worker, within a bounded time whatever state each is in,
/// and reaps them all, so that none is left running and none is left a
/// zombie. SIGTERM asks a worker to stop; SIGCONT lets it act on that if
/// it was stopped (Ctrl-Z, SIGSTOP, a debugger), since a stopped process
/// keeps its signals pending; and a worker still there after a grace
/// period gets SIGKILL, which nothing can block, catch or hold up.
fn stop(mut workers: BTreeMap<Pid, usize>) {
    for &pid in workers.keys() {
        let _ = kill(pid, Signal::SIGTERM);
        let _ = kill(pid, Signal::SIGCONT);
    }
    let deadline = Instant::now() + STOP_GRACE;
    let mut child_ended = SigSet::empty();
    child_ended.add(Signal::SIGCHLD);
    loop {
        for (pid, _) in reap() {
            workers.remove(&pid);
        }
        if workers.is_empty() {
            break;
        }
        // Until a child ends, or the grace period does.
        match wait_for_signal(&child_ended, Some(deadline)) {
            Ok(Some(_)) => continue,
            Ok(None) if Instant::now() < deadline => continue,
            Ok(None) | Err(_) => break,
        }
    }
    for &pid in workers.keys() {
        warn(format_args!(
            "worker {pid} did not stop within {STOP_GRACE:?}: killing it"
        ));
        let _ = kill(pid, Signal::SIGKILL);
    }
    for &pid in workers.keys() {
        while let Err(Errno::EINTR) = waitpid(pid, None) {}
    }
    log(format_args!("all workers stopped"));
}

/// How long `stop` lets the workers end by themselves before it kills them.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Waits until one of `signals` (which are blocked) is pending, and takes
/// it: sigwait(3). With a `deadline`, waits no later than that, and returns
/// `None` if no signal came: sigtimedwait(2), which nix does not wrap, so
/// this calls it through libc. An interrupted wait is `None` too.
fn wait_for_signal(
    signals: &SigSet,
    deadline: Option<Instant>,
) -> nix::Result<Option<Signal>> {
    let Some(deadline) = deadline else {
        return signals.wait().map(Some);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let timeout = libc::timespec {
        tv_sec: left.as_secs() as libc::time_t,
        tv_nsec: left.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait reads the signal set and the timeout, both valid
    // for the whole call, and writes nothing: we ask for no siginfo (a null
    // pointer, which it allows).
    let taken = unsafe {
        libc::sigtimedwait(signals.as_ref(), std::ptr::null_mut(), &timeout)
    };
    match Errno::result(taken) {
        Ok(number) => Signal::try_from(number).map(Some),
        // EAGAIN: the time is up. EINTR: another signal interrupted us.
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(None),
        Err(err) => Err(err),
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
                warn(format_args!("could not reap workers: {err}"));
                return ended;
            }
        }
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
