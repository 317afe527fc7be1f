//! Exercise 7-1 (the book's answer): Listing 7-1, changed so that SIGHUP
//! makes the daemon reopen its log file, as log rotation needs.

use std::ffi::c_int;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{self, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction,
    sigprocmask,
};
use nix::sys::stat::{Mode, umask};
use nix::sys::wait::waitpid;
use nix::unistd::{
    ForkResult, Pid, chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe,
    setsid,
};

const USAGE: &str = "usage: ch07-exercise-reopen-log \
    [--foreground] [--pid-file PATH] [--log-file PATH] [ADDR]";

/// What every caller hears, as in the original.
const WELCOME: &[u8] = b"Welcome to My First Server...\n";

struct Options {
    foreground: bool,
    addr: String,
    pid_file: PathBuf,
    log_file: PathBuf,
}

pub fn main() -> ExitCode {
    let Some(options) = parse_args(std::env::args().skip(1)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };

    // Everything that can fail for a reason the user must see happens now,
    // while stderr is still the terminal: a daemon's stderr is /dev/null.
    let listener = match TcpListener::bind(&options.addr) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("could not bind {}: {err}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            eprintln!("could not read the address of {}: {err}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    // Non-blocking, so that accept() can never sleep while the stop signals
    // are blocked (see `serve`).
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("could not make {local} non-blocking: {err}");
        return ExitCode::FAILURE;
    }
    let log_file = match OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.log_file)
    {
        Ok(file) => file,
        Err(err) => {
            eprintln!("could not open {}: {err}", options.log_file.display());
            return ExitCode::FAILURE;
        }
    };
    let mut pid_file = match lock_pid_file(&options.pid_file) {
        Ok(locked) => locked,
        Err(err) => {
            eprintln!("could not lock {}: {err}", options.pid_file.display());
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {local}");

    let (mut log, ready): (Box<dyn Write>, Option<File>) = if options.foreground
    {
        // For debugging, or for a service manager that wants to keep its
        // services in the foreground: no detaching, the log on stderr.
        (Box::new(io::stderr()), None)
    } else {
        println!("logging to {}", options.log_file.display());
        let keep = [
            listener.as_raw_fd(),
            pid_file.as_raw_fd(),
            log_file.as_raw_fd(),
        ];
        match detach(&keep) {
            Ok(to_launcher) => (Box::new(log_file), Some(to_launcher)),
            Err(err) => {
                eprintln!("could not become a daemon: {err}");
                return ExitCode::FAILURE;
            }
        }
    };

    // This is the daemon now (or the server in the foreground).
    let pid = process::id();
    let started = write_pid(&mut pid_file, pid)
        .and_then(|()| catch_signals().map_err(io::Error::from));
    let wait_mask = match started {
        Ok(wait_mask) => wait_mask,
        Err(err) => {
            log_line(&mut log, &format!("could not start: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log_line(&mut log, &format!("started as pid {pid} on {local}"));
    // Tell the launcher that we are ready, and close the pipe: it exits.
    if let Some(mut to_launcher) = ready {
        let _ = to_launcher.write_all(format!("{pid}\n").as_bytes());
    }

    // ANCHOR: call
    // In the foreground the log is stderr, and there is no file to reopen.
    let log_path = (!options.foreground).then_some(options.log_file.as_path());
    let outcome = serve(&listener, wait_mask, &mut log, log_path);
    // ANCHOR_END: call
    // Remove the pid file while we still hold its lock (`pid_file` is
    // dropped, and the lock released, when main returns).
    if let Err(err) = fs::remove_file(&options.pid_file) {
        let file = options.pid_file.display();
        log_line(&mut log, &format!("could not remove {file}: {err}"));
    }
    match outcome {
        Ok(signal) => {
            log_line(&mut log, &format!("stopped by {signal}"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            log_line(&mut log, &format!("could not wait for callers: {err}"));
            ExitCode::FAILURE
        }
    }
}

/// Reads the options. Returns `None` if they make no sense.
fn parse_args(mut args: impl Iterator<Item = String>) -> Option<Options> {
    let mut options = Options {
        foreground: false,
        addr: "127.0.0.1:8080".to_string(),
        pid_file: PathBuf::from("/tmp/ch07-daemon.pid"),
        log_file: PathBuf::from("/tmp/ch07-daemon.log"),
    };
    let mut addr = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--foreground" => options.foreground = true,
            "--pid-file" => options.pid_file = PathBuf::from(args.next()?),
            "--log-file" => options.log_file = PathBuf::from(args.next()?),
            _ if arg.starts_with('-') || addr.is_some() => return None,
            _ => addr = Some(arg),
        }
    }
    if let Some(addr) = addr {
        options.addr = addr;
    }
    // The daemon moves to `/`, where a relative path would mean something
    // else: resolve both paths now, against the folder we were started in.
    options.pid_file = std::path::absolute(&options.pid_file).ok()?;
    options.log_file = std::path::absolute(&options.log_file).ok()?;
    Some(options)
}

/// Opens the pid file and takes an exclusive lock on it. The lock, not the
/// file, says that a daemon runs: the kernel releases it when its holder dies,
/// even by SIGKILL, so a pid file left behind by a crash stops nobody.
fn lock_pid_file(path: &Path) -> io::Result<Flock<File>> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            // Not yet: if another daemon holds the lock, its pid must stay.
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        let locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((file, Errno::EWOULDBLOCK)) => {
                return Err(already_running(file));
            }
            Err((_, errno)) => return Err(errno.into()),
        };
        // A daemon that was stopping may have removed the file between our
        // open and our lock. Then we hold the lock of a file nobody can find:
        // start over with a new one.
        let ours = locked.metadata()?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {
                locked.set_len(0)?;
                return Ok(locked);
            }
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        }
    }
}

/// The error for a pid file that another process holds locked.
fn already_running(mut file: File) -> io::Error {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => io::Error::other(format!(
            "ch07-daemon is already running as pid {pid}"
        )),
        // It has the lock but has not written its pid yet.
        Err(_) => io::Error::other("another ch07-daemon holds the lock"),
    }
}

/// Replaces the pid file's contents with `pid`.
fn write_pid(pid_file: &mut File, pid: u32) -> io::Result<()> {
    pid_file.set_len(0)?;
    pid_file.write_all_at(format!("{pid}\n").as_bytes(), 0)
}

/// Turns this process into a daemon, the classic way (Stevens, UNP 13.4;
/// Kerrisk, TLPI 37.2). Returns in the daemon only, with the pipe on which
/// the launcher waits to hear that the daemon is ready. The other two
/// processes leave through `process::exit`, which runs no destructors: the
/// pid file's lock belongs to the open file all three share, and dropping
/// it in one of them would unlock it for the daemon too.
fn detach(keep: &[RawFd]) -> io::Result<File> {
    let (from_daemon, to_launcher) = pipe()?;

    // 1. Fork. The parent waits until the daemon is ready, then exits, and
    //    the shell gets its prompt back. The child has a new pid, so it is
    //    not a process group leader, which setsid requires.
    // SAFETY: the child of fork gets a copy of all memory but only the
    // thread that called fork. Had another thread been holding a lock (the
    // allocator's, stdout's), that lock would stay locked in the child
    // forever. This program never starts a thread, so the child's memory
    // is consistent and it may allocate and print like any program.
    if let ForkResult::Parent { child } = unsafe { fork() }? {
        drop(to_launcher);
        process::exit(wait_for_daemon(File::from(from_daemon), child));
    }
    drop(from_daemon);

    // 2. A new session, led by this process, with no controlling terminal:
    //    closing the terminal no longer sends us SIGHUP, Ctrl-C no SIGINT.
    setsid()?;

    // 3. Fork again, and let the session leader exit. Only a session leader
    //    acquires a controlling terminal by opening one; the daemon never will.
    // SAFETY: as above; there is still one thread.
    if let ForkResult::Parent { .. } = unsafe { fork() }? {
        process::exit(0);
    }

    // 4. A umask of our own: the shell's could be anything, from 000
    //    (files writable by everyone) to 077.
    umask(Mode::from_bits_truncate(0o022));

    // 5. Leave the folder we were started in, so that it can be removed or
    //    its file system unmounted while the daemon runs.
    chdir("/")?;

    // 6. Close every descriptor we inherited but did not open ourselves.
    let mut keep = keep.to_vec();
    keep.push(to_launcher.as_raw_fd());
    close_inherited(&keep)?;

    // 7. stdin, stdout and stderr on /dev/null: reads see end of file, and a
    //    stray print neither fails nor lands in someone else's terminal.
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    dup2_stdin(&null)?;
    dup2_stdout(&null)?;
    dup2_stderr(&null)?;

    Ok(File::from(to_launcher))
}

/// The launcher's side of `detach`: waits until the daemon reports its pid,
/// or every end of the pipe is closed without a report, and returns the
/// launcher's exit status.
fn wait_for_daemon(mut from_daemon: File, first_child: Pid) -> i32 {
    let mut report = String::new();
    // Returns at end of file: when the first child has exited and the
    // daemon has written its pid and closed its end (or died).
    let _ = from_daemon.read_to_string(&mut report);
    // Collect the first child's exit status, so it leaves no zombie.
    let _ = waitpid(first_child, None);
    match report.trim().parse::<u32>() {
        Ok(pid) => {
            println!("daemon started with pid {pid}");
            0
        }
        Err(_) => {
            eprintln!("the daemon did not start; its log may say why");
            1
        }
    }
}

/// Closes every descriptor above 2 that is not in `keep`. A daemon cannot
/// know what its launcher left open: a terminal, one end of a pipe, another
/// server's socket. Each would stay open as long as the daemon runs.
fn close_inherited(keep: &[RawFd]) -> io::Result<()> {
    // /proc/self/fd lists this process's descriptors. Reading it takes a
    // descriptor of its own, which must not be closed under its feet.
    let mut listing =
        Dir::open("/proc/self/fd", OFlag::O_RDONLY, Mode::empty())?;
    let listing_fd = listing.as_raw_fd();
    let inherited: Vec<RawFd> = listing
        .iter()
        .filter_map(|entry| entry.ok()?.file_name().to_str().ok()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != listing_fd && !keep.contains(&fd))
        .collect();
    drop(listing);
    for fd in inherited {
        // SAFETY: from_raw_fd makes `fd` owned, and dropping it closes it.
        // That is sound if `fd` is open and nothing else owns it. It is open
        // (the kernel just listed it), and nothing in this program owns it:
        // every descriptor we opened ourselves is in `keep`.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(())
}

// ANCHOR: solution
/// The signal that asked us to stop, or 0.
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Whether SIGHUP asked us to reopen the log since we last did.
static REOPEN_LOG: AtomicBool = AtomicBool::new(false);

/// The handler: it only records the signal. A handler interrupts the
/// program wherever it is, so it may do very little; storing into an
/// atomic is one of the few things that are always safe.
extern "C" fn note_signal(signal: c_int) {
    if signal == Signal::SIGHUP as c_int {
        REOPEN_LOG.store(true, Ordering::SeqCst);
    } else {
        STOP_SIGNAL.store(signal, Ordering::SeqCst);
    }
}

/// Makes SIGTERM and SIGINT ask the server to stop, and SIGHUP ask it to
/// reopen its log, and blocks all three. Returns the signal mask for
/// `ppoll`: the current one, with the three unblocked.
fn catch_signals() -> nix::Result<SigSet> {
    let signals = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
    let blocked: SigSet = signals.into_iter().collect();
    let mut wait_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut wait_mask))?;
    for signal in signals {
        // Unblocked while we wait, even if our launcher had them blocked.
        wait_mask.remove(signal);
        let action = SigAction::new(
            SigHandler::Handler(note_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: sigaction is unsafe because the handler runs in the middle
        // of whatever the program was doing, where it may only do what is
        // async-signal-safe. Ours stores one integer into an atomic, which
        // is; and the signals are blocked except inside ppoll anyway.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(wait_mask)
}

/// Greets every caller until a stop signal arrives; returns that signal.
/// On SIGHUP, reopens the log at `log_path`, if there is one.
fn serve(
    listener: &TcpListener,
    wait_mask: SigSet,
    log: &mut Box<dyn Write>,
    log_path: Option<&Path>,
) -> io::Result<Signal> {
    loop {
        // Sleep until a caller arrives or a stop signal is delivered. ppoll
        // unblocks the signals only while it sleeps, in one step with going
        // to sleep: a signal sent while we greet a caller waits for ppoll,
        // and cannot slip in just before it and be missed.
        let mut watched = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut watched, None, Some(wait_mask)) {
            Ok(_) => {}
            Err(Errno::EINTR) => {
                if let Ok(signal) =
                    Signal::try_from(STOP_SIGNAL.load(Ordering::SeqCst))
                {
                    return Ok(signal);
                }
                if REOPEN_LOG.swap(false, Ordering::SeqCst) {
                    reopen_log(log, log_path);
                }
                continue;
            }
            Err(errno) => return Err(errno.into()),
        }
        match listener.accept() {
            Ok((mut stream, peer)) => {
                log_line(log, &format!("connection from {peer}"));
                if let Err(err) = stream.write_all(WELCOME) {
                    log_line(log, &format!("could not greet {peer}: {err}"));
                }
                // Dropping `stream` hangs up, as the original does.
            }
            // The caller hung up before we accepted it: nothing to do.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => {
                log_line(log, &format!("could not accept a call: {err}"))
            }
        }
    }
}

/// Opens the log file again, by its path, and logs there from now on. Log
/// rotation renames the file we have open and sends SIGHUP: without this,
/// we would go on writing into the renamed file. If the path cannot be
/// opened, we keep the file we have, and say so in it.
fn reopen_log(log: &mut Box<dyn Write>, log_path: Option<&Path>) {
    let Some(path) = log_path else {
        log_line(log, "SIGHUP: the log is stderr, nothing to reopen");
        return;
    };
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(file) => {
            // Dropping the old log closes it.
            *log = Box::new(file);
            log_line(log, &format!("reopened {}", path.display()));
        }
        Err(err) => log_line(
            log,
            &format!("could not reopen {}: {err}", path.display()),
        ),
    }
}
// ANCHOR_END: solution

/// Appends one line to the log, in a single write so that it stays whole.
fn log_line(log: &mut dyn Write, line: &str) {
    let _ = log.write_all(format!("{line}\n").as_bytes());
}
