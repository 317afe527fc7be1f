//! Exercise 7-1, a wrong answer: it writes `reopened <path>` before it
//! swaps the files, into the old log, which logrotate has renamed. Rejected
//! by `after_sighup_the_log_goes_to_a_new_file_at_the_same_path`.

use std::ffi::c_int;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{
    DirBuilderExt, FileExt, FileTypeExt, MetadataExt, OpenOptionsExt,
};
use std::path::{Path, PathBuf};
use std::process::{self, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll, ppoll};
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction,
    sigprocmask,
};
use nix::sys::stat::{Mode, umask};
use nix::sys::time::TimeSpec;
use nix::sys::wait::waitpid;
use nix::unistd::{
    ForkResult, Pid, chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork,
    geteuid, pipe, setsid,
};

const USAGE: &str = "usage: ch07-exercise-reopen-log \
    [--foreground] [--pid-file PATH] [--log-file PATH] [ADDR]";

/// What every caller hears, as in the original.
const WELCOME: &[u8] = b"Welcome to My First Server...\n";

struct Options {
    foreground: bool,
    addr: String,
    /// `None`: in the default folder.
    pid_file: Option<PathBuf>,
    log_file: Option<PathBuf>,
}

pub fn main() -> ExitCode {
    let Some(options) = parse_args(std::env::args().skip(1)) else {
        warn(format_args!("{USAGE}"));
        return ExitCode::from(2);
    };

    // Everything that can fail for a reason the user must see happens now,
    // while stderr is still the terminal: a daemon's stderr is /dev/null.
    let listener = match TcpListener::bind(&options.addr) {
        Ok(listener) => listener,
        Err(err) => {
            warn(format_args!("could not bind {}: {err}", options.addr));
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(err) => {
            let addr = &options.addr;
            warn(format_args!("could not read the address of {addr}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    // Non-blocking, so that accept() can never sleep while the stop signals
    // are blocked (see `serve`).
    if let Err(err) = listener.set_nonblocking(true) {
        warn(format_args!("could not make {local} non-blocking: {err}"));
        return ExitCode::FAILURE;
    }
    let (pid_path, log_path) =
        match file_paths(options.pid_file, options.log_file) {
            Ok(paths) => paths,
            Err(err) => {
                warn(format_args!("{err}"));
                return ExitCode::FAILURE;
            }
        };
    let log_file = match open_log(&log_path) {
        Ok(file) => file,
        Err(err) => {
            let path = log_path.display();
            warn(format_args!("could not open {path}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let mut pid_file = match lock_pid_file(&pid_path) {
        Ok(locked) => locked,
        Err(err) => {
            let path = pid_path.display();
            warn(format_args!("could not lock {path}: {err}"));
            return ExitCode::FAILURE;
        }
    };
    say(format_args!("listening on {local}"));

    let (mut log, ready) = if options.foreground {
        // For debugging, or for a service manager that wants to keep its
        // services in the foreground: no detaching, the log on stderr (on
        // a copy of descriptor 2, so that the log is a `File` either way).
        match io::stderr().as_fd().try_clone_to_owned() {
            Ok(stderr) => (File::from(stderr), None),
            Err(err) => {
                warn(format_args!("could not log to stderr: {err}"));
                return ExitCode::FAILURE;
            }
        }
    } else {
        say(format_args!("logging to {}", log_path.display()));
        let keep = [
            listener.as_raw_fd(),
            pid_file.as_raw_fd(),
            log_file.as_raw_fd(),
        ];
        match detach(&keep) {
            Ok(to_launcher) => (log_file, Some(to_launcher)),
            Err(err) => {
                warn(format_args!("could not become a daemon: {err}"));
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
            log_to(&log, format_args!("could not start: {err}"));
            return ExitCode::FAILURE;
        }
    };
    log_to(&log, format_args!("started as pid {pid} on {local}"));
    // Tell the launcher that we are ready, and close the pipe: it exits.
    if let Some(mut to_launcher) = ready {
        let _ = to_launcher.write_all(format!("{pid}\n").as_bytes());
    }

    // In the foreground the log is stderr, and there is no file to reopen.
    let log_path = (!options.foreground).then_some(log_path.as_path());
    let outcome = serve(&listener, wait_mask, &mut log, log_path);
    // Remove the pid file while we still hold its lock (`pid_file` is
    // dropped, and the lock released, when main returns).
    if let Err(err) = fs::remove_file(&pid_path) {
        let file = pid_path.display();
        log_to(&log, format_args!("could not remove {file}: {err}"));
    }
    match outcome {
        Ok(signal) => {
            log_to(&log, format_args!("stopped by {signal}"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            log_to(&log, format_args!("could not wait for callers: {err}"));
            ExitCode::FAILURE
        }
    }
}

/// Reads the options. Returns `None` if they make no sense.
fn parse_args(mut args: impl Iterator<Item = String>) -> Option<Options> {
    let mut options = Options {
        foreground: false,
        addr: "127.0.0.1:8080".to_string(),
        pid_file: None,
        log_file: None,
    };
    let mut addr = None;
    // The daemon moves to `/`, where a relative path would mean something
    // else: resolve both paths now, against the folder we were started in.
    let path = |arg: Option<String>| std::path::absolute(arg?).ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--foreground" => options.foreground = true,
            "--pid-file" => options.pid_file = Some(path(args.next())?),
            "--log-file" => options.log_file = Some(path(args.next())?),
            _ if arg.starts_with('-') || addr.is_some() => return None,
            _ => addr = Some(arg),
        }
    }
    if let Some(addr) = addr {
        options.addr = addr;
    }
    Some(options)
}

/// The pid file's path and the log's: the ones given, or the defaults,
/// `ch07-daemon.pid` and `ch07-daemon.log` in the default folder. That is
/// the user's runtime folder, which the login manager made for this user
/// alone (`$XDG_RUNTIME_DIR`, such as /run/user/1000), or else a folder of
/// the daemon's own in the temporary folder: /tmp/ch07-daemon-<uid>.
fn file_paths(
    pid_file: Option<PathBuf>,
    log_file: Option<PathBuf>,
) -> Result<(PathBuf, PathBuf), String> {
    let folder = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime,
        _ => std::env::temp_dir().join(format!("ch07-daemon-{}", geteuid())),
    };
    if pid_file.is_none() || log_file.is_none() {
        private_folder(&folder).map_err(|err| {
            format!("could not use {}: {err}", folder.display())
        })?;
    }
    Ok((
        pid_file.unwrap_or_else(|| folder.join("ch07-daemon.pid")),
        log_file.unwrap_or_else(|| folder.join("ch07-daemon.log")),
    ))
}

/// Makes `folder`, for its owner alone, or checks that the one already
/// there is such a folder: a real one, not a symbolic link, that belongs
/// to us and that no other user may write in. Whoever may write in a
/// folder may remove our files from it and put theirs in their place.
fn private_folder(folder: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(folder) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        made => return made,
    }
    let found = fs::symlink_metadata(folder)?;
    let mode = found.mode() & 0o777;
    if found.is_symlink() {
        Err(not_followed())
    } else if !found.is_dir() {
        Err(io::Error::other("it is not a folder"))
    } else if mode & 0o022 != 0 {
        let reason = format!("other users may write in it (mode {mode:o})");
        Err(io::Error::other(reason))
    } else {
        belongs_to_us(&found)
    }
}

/// Opens the log for appending. A new one is readable and writable by the
/// daemon's user, and readable by its group: the log says who called.
fn open_log(path: &Path) -> io::Result<File> {
    open_own_file(path, OpenOptions::new().append(true), 0o640)
}

/// Opens the daemon's file at `path`, creating it with `mode` if need be,
/// and makes sure that it is the daemon's own: reached without a symbolic
/// link, a regular file, owned by the user the daemon runs as, and with no
/// other name. Anything else, someone may have put there to make us write
/// into another file, or to make us believe their pid file.
fn open_own_file(
    path: &Path,
    options: &mut OpenOptions,
    mode: u32,
) -> io::Result<File> {
    let file = options
        .create(true)
        .mode(mode)
        // O_NOFOLLOW: if the path ends in a symbolic link, fail (ELOOP)
        // rather than open what it points to. O_NONBLOCK: opening a FIFO
        // would otherwise wait for a reader, for ever.
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        // Say what is there, rather than what open() makes of it.
        .map_err(|err| match fs::symlink_metadata(path) {
            Ok(found) if found.is_symlink() => not_followed(),
            Ok(found) if is_special(&found) => not_regular(),
            _ => err,
        })?;
    let found = file.metadata()?;
    if !found.is_file() {
        return Err(not_regular());
    }
    belongs_to_us(&found)?;
    if found.nlink() != 1 {
        return Err(io::Error::other(format!(
            "it has {} names (hard links), where the daemon's own file has one",
            found.nlink()
        )));
    }
    Ok(file)
}

/// Checks that a file or folder belongs to the user we run as.
fn belongs_to_us(found: &Metadata) -> io::Result<()> {
    let me = geteuid();
    if found.uid() == me.as_raw() {
        return Ok(());
    }
    let owner = found.uid();
    let reason =
        format!("it belongs to user {owner}, and the daemon runs as user {me}");
    Err(io::Error::other(reason))
}

/// Whether a file is a FIFO, a socket or a device.
fn is_special(found: &Metadata) -> bool {
    let kind = found.file_type();
    kind.is_fifo()
        || kind.is_socket()
        || kind.is_block_device()
        || kind.is_char_device()
}

fn not_followed() -> io::Error {
    io::Error::other("it is a symbolic link, which the daemon does not follow")
}

fn not_regular() -> io::Error {
    io::Error::other("it is not a regular file")
}

/// Opens the pid file and takes an exclusive lock on it. The lock, not the
/// file, says that a daemon runs: the kernel releases it when its holder dies,
/// even by SIGKILL, so a pid file left behind by a crash stops nobody.
fn lock_pid_file(path: &Path) -> io::Result<Flock<File>> {
    loop {
        // Readable by everyone, writable by the daemon's user only. Not
        // truncated yet: if another daemon holds the lock, its pid stays.
        let mut options = OpenOptions::new();
        options.read(true).write(true).truncate(false);
        let file = open_own_file(path, &mut options, 0o644)?;
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
        match fs::symlink_metadata(path) {
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

/// The error for a pid file that another process holds locked. The lock
/// says that someone holds it, not who: it is a daemon only if the pid
/// in the file is a process that has the file open.
fn already_running(mut file: File) -> io::Error {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let reason = match text.trim().parse::<u32>() {
        Ok(pid) if has_open(pid, &file) => {
            format!("ch07-daemon is already running as pid {pid}")
        }
        Ok(pid) => format!(
            "it is locked, but pid {pid}, which it names, does not have it open"
        ),
        // A daemon that has locked it but not written its pid yet, perhaps.
        Err(_) => "it is locked, and holds no pid yet".to_string(),
    };
    io::Error::other(reason)
}

/// Whether process `pid`, not this one, has `file` open. /proc/<pid>/fd
/// holds a link for each of its descriptors, to what it is open on.
fn has_open(pid: u32, file: &File) -> bool {
    let (Ok(ours), Ok(descriptors)) =
        (file.metadata(), fs::read_dir(format!("/proc/{pid}/fd")))
    else {
        return false;
    };
    pid != process::id()
        && descriptors.flatten().any(|descriptor| {
            fs::metadata(descriptor.path()).is_ok_and(|theirs| {
                theirs.dev() == ours.dev() && theirs.ino() == ours.ino()
            })
        })
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
            say(format_args!("daemon started with pid {pid}"));
            0
        }
        Err(_) => {
            warn(format_args!(
                "the daemon did not start; its log may say why"
            ));
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
    log: &mut File,
    log_path: Option<&Path>,
) -> io::Result<Signal> {
    // Set while accept() is out of descriptors: how long to wait before
    // trying again.
    let mut pause: Option<Duration> = None;
    loop {
        // Sleep until a caller arrives or a stop signal is delivered. ppoll
        // unblocks the signals only while it sleeps, in one step with going
        // to sleep: a signal sent while we greet a caller waits for ppoll,
        // and cannot slip in just before it and be missed. During a pause,
        // ppoll watches no socket, only the clock (and the signals).
        let mut watched = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let (watched, timeout) = match pause {
            None => (&mut watched[..], None),
            Some(pause) => (&mut watched[..0], Some(TimeSpec::from(pause))),
        };
        match ppoll(watched, timeout, Some(wait_mask)) {
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
                pause = None;
                log_to(&*log, format_args!("connection from {peer}"));
                if let Err(err) = stream.write_all(WELCOME) {
                    log_to(
                        &*log,
                        format_args!("could not greet {peer}: {err}"),
                    );
                }
                // Dropping `stream` hangs up, as the original does.
            }
            // Nobody is waiting: the caller hung up before we accepted it,
            // or the pause is over and nobody came.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => pause = None,
            Err(err) => {
                log_to(&*log, format_args!("could not accept a call: {err}"));
                // Out of descriptors, the caller stays queued, and ppoll
                // would wake us at once, again and again: pause, 10 ms at
                // first, twice as long each time, at most a second.
                if is_out_of_descriptors(&err) {
                    pause =
                        Some(pause.map_or(Duration::from_millis(10), |p| {
                            (p * 2).min(Duration::from_secs(1))
                        }));
                }
            }
        }
    }
}

/// Whether accept() failed because this process (EMFILE) or the whole
/// system (ENFILE) has no descriptor left.
fn is_out_of_descriptors(err: &io::Error) -> bool {
    let errno = err.raw_os_error();
    errno == Some(Errno::EMFILE as i32) || errno == Some(Errno::ENFILE as i32)
}

/// Opens the log file again, by its path, and logs there from now on. Log
/// rotation renames the file we have open and sends SIGHUP: without this,
/// we would go on writing into the renamed file. If the path cannot be
/// opened, we keep the file we have, and say so in it. The new file is
/// opened as the first was: never through a symbolic link, and only if
/// it is the daemon's own (see `open_own_file`).
fn reopen_log(log: &mut File, log_path: Option<&Path>) {
    let Some(path) = log_path else {
        log_to(
            &*log,
            format_args!("SIGHUP: the log is stderr, nothing to reopen"),
        );
        return;
    };
    match open_log(path) {
        Ok(file) => {
            log_to(&*log, format_args!("reopened {}", path.display()));
            // Dropping the old log closes it.
            *log = file;
        }
        Err(err) => log_to(
            &*log,
            format_args!("could not reopen {}: {err}", path.display()),
        ),
    }
}

/// Writes one line to `out`, in one write so that the line stays whole, if
/// it can be written now, and drops it otherwise: the server must not stop
/// because its output is a pipe nobody reads (the write would block), nor
/// die because it is a closed pipe (see chapter 1). A file is always
/// writable: only stdout and stderr may drop lines.
fn log_to(mut out: impl Write + AsFd, line: fmt::Arguments) {
    let writable = {
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO) == Ok(1)
    };
    if writable {
        let _ = out.write_all(format!("{line}\n").as_bytes());
    }
}

/// The launcher's messages to the user, on stdout.
fn say(line: fmt::Arguments) {
    log_to(io::stdout(), line)
}

/// Its errors, on stderr.
fn warn(line: fmt::Arguments) {
    log_to(io::stderr(), line)
}
