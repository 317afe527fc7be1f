//! The two halves of a prefork server, shared by Listing 10-1 (all workers
//! accept on one listening socket) and Listing 10-4 (each worker has its own
//! socket, with SO_REUSEPORT):
//!
//! - Listing 10-2, the worker: accept a client, greet it with the worker's
//!   pid, echo until it hangs up, accept the next;
//! - Listing 10-3, the supervisor: start the workers, start a new one whenever
//!   one dies (trying again later when it cannot), and stop them all on
//!   SIGTERM or SIGINT, whatever state they are in.
//!
//! The exercises of chapter 10 change the worker and the supervisor, and
//! take the other pieces from here: the pool and its refill, `stop`,
//! `wait_for_signal`, `reap`, `spawn_worker` and the log.
//!
//! Unix only: it forks, and it uses Linux's parent-death signal and
//! `/proc/self/task`.

use std::collections::{BTreeMap, BTreeSet};
use std::env::{self, VarError};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::{self, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
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
/// original, or 2. Read before anything else happens: a bad value is
/// refused with this message (and status 2) before the server binds or
/// prints a line.
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

// ANCHOR: log
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
pub fn log(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// A line about an error, on stderr.
pub fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}
// ANCHOR_END: log

/// A pause that grows while a shortage lasts: 10 ms at first, twice as long
/// each time it is taken, never more than a second, and 10 ms again once
/// the shortage is over (`reset`).
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);

    pub fn new() -> Backoff {
        Backoff {
            next: Backoff::FIRST,
        }
    }

    /// The pause to make now; the next one will be twice as long.
    pub fn take(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(Backoff::LONGEST);
        pause
    }

    pub fn reset(&mut self) {
        self.next = Backoff::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

// ANCHOR: worker
/// A worker's whole life: accept a client, serve it, accept the next. Every
/// worker blocks in accept() on a listening socket it inherited; when a client
/// connects, the kernel wakes one of them, and the others sleep on.
pub fn work(listener: &TcpListener) -> ! {
    let mut pause = Backoff::new();
    loop {
        match listener.accept() {
            Ok((client, peer)) => {
                pause.reset();
                if let Err(err) = serve(&client) {
                    warn(format_args!(
                        "worker {}: {peer}: {err}",
                        process::id()
                    ));
                }
                // `client` is dropped here, which closes the connection.
            }
            // Out of descriptors: the client stays queued, and accept()
            // would fail again at once. Pause, longer while it lasts.
            Err(err) if is_out_of_descriptors(&err) => {
                let wait = pause.take();
                warn(format_args!(
                    "worker {}: could not accept: {err}; trying again in \
                     {wait:?}",
                    process::id()
                ));
                thread::sleep(wait);
            }
            // A client that gave up before we picked up, for example.
            Err(err) => warn(format_args!(
                "worker {}: could not accept: {err}",
                process::id()
            )),
        }
    }
}

/// Greets the client with this worker's pid and echoes every byte it sends,
/// until it hangs up (a read of 0 bytes, not a chunk that happens to be "0").
pub fn serve(mut client: &TcpStream) -> io::Result<()> {
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
// ANCHOR_END: worker

/// Whether accept() failed for want of a descriptor: the process has all it
/// may have open (EMFILE), or the whole system has (ENFILE).
pub fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error().map(Errno::from_raw),
        Some(Errno::EMFILE | Errno::ENFILE)
    )
}

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
/// return), and returns its pid. Refuses, without forking, in a process
/// that runs more than one thread: see the SAFETY comment.
pub fn spawn_worker(work: impl FnOnce()) -> io::Result<Pid> {
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
            // The child inherits the supervisor's blocked signals. Unblock
            // them, or a SIGTERM sent to this worker would wait forever.
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
// ANCHOR_END: spawn

// ANCHOR: supervise
/// Starts `count` workers with `start(slot)`, one per slot, and watches them:
/// a worker that dies is replaced in its slot, later if it cannot be now;
/// SIGTERM or SIGINT stops them all, and then the supervisor returns.
pub fn supervise(
    count: usize,
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
        // Sleep until one of the signals is pending, and take it; or, while
        // a slot is empty, until it is time to try to fill it again.
        let signal = match wait_for_signal(&signals, pool.retry_at) {
            Ok(signal) => signal,
            Err(err) => {
                warn(format_args!("could not wait for signals: {err}"));
                stop(pool.workers);
                return ExitCode::FAILURE;
            }
        };
        match signal {
            // Time to try again (or a wakeup for nothing: no harm).
            None => {}
            // One SIGCHLD may stand for several dead workers: a pending
            // signal is a flag, not a counter. So reap until none is left.
            Some(Signal::SIGCHLD) => {
                for (pid, how) in reap() {
                    if let Some(slot) = pool.workers.remove(&pid) {
                        log(format_args!("worker {pid} {how}"));
                        pool.empty.insert(slot);
                    }
                }
            }
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
// ANCHOR_END: supervise

// ANCHOR: refill
/// The supervisor's workers, by pid, with the slot each one fills; and the
/// slots that are empty, because their worker died and no new one could be
/// started yet.
pub struct Pool {
    pub count: usize,
    pub workers: BTreeMap<Pid, usize>,
    pub empty: BTreeSet<usize>,
    /// How long to wait before the next try to fill the empty slots.
    backoff: Backoff,
    /// When to try next; `None` while no try has failed.
    pub retry_at: Option<Instant>,
}

impl Pool {
    pub fn new(count: usize) -> Pool {
        Pool {
            count,
            workers: BTreeMap::new(),
            empty: BTreeSet::new(),
            backoff: Backoff::new(),
            retry_at: None,
        }
    }

    /// Starts a worker in `slot` and records it.
    pub fn start_in(
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
    pub fn refill(&mut self, start: &mut impl FnMut(usize) -> io::Result<Pid>) {
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
// ANCHOR_END: refill

// ANCHOR: stop
/// Stops every worker, within a bounded time whatever state each is in,
/// and reaps them all, so that none is left running and none is left a
/// zombie. SIGTERM asks a worker to stop; SIGCONT lets it act on that if
/// it was stopped (Ctrl-Z, SIGSTOP, a debugger), since a stopped process
/// keeps its signals pending; and a worker still there after a grace
/// period gets SIGKILL, which nothing can block, catch or hold up.
pub fn stop(mut workers: BTreeMap<Pid, usize>) {
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
// ANCHOR_END: stop

/// How long `stop` lets the workers end by themselves before it kills them.
const STOP_GRACE: Duration = Duration::from_secs(2);

// ANCHOR: wait
/// Waits until one of `signals` (which are blocked) is pending, and takes
/// it: sigwait(3). With a `deadline`, waits no later than that, and returns
/// `None` if no signal came: sigtimedwait(2), which nix does not wrap, so
/// this calls it through libc. An interrupted wait is `None` too.
pub fn wait_for_signal(
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
// ANCHOR_END: wait

/// Reaps every child that has ended, without waiting for the others, and
/// says how each one ended.
pub fn reap() -> Vec<(Pid, String)> {
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
