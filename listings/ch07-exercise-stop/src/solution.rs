// [starter]
// //! Exercise 7-2 (your work): a tool that stops the daemon of Listing 7-1.
// //! So far it only reads the pid file and says what it found. The TODO
// //! comments mark what is missing.
// [solution]
//! Exercise 7-2 (the book's answer): a tool that stops the daemon of
//! Listing 7-1, and signals nothing unless a daemon really holds the pid
//! file's lock.
// [end]

// [starter]
// use std::fs::File;
// [solution]
use std::fs::{self, File};
// [end]
use std::io::Read;
// [starter]
// [solution]
use std::os::unix::fs::MetadataExt;
// [end]
use std::path::PathBuf;
use std::process::ExitCode;
// [starter]
// [solution]
use std::time::{Duration, Instant};
// [end]

// [starter]
// use nix::unistd::geteuid;
// [solution]
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, geteuid};

/// How long the daemon may take to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(10);
// [end]

pub fn main() -> ExitCode {
    // The pid file: `--pid-file PATH`, or the daemon's default.
    let mut args = std::env::args().skip(1);
    let pid_file = match (args.next(), args.next(), args.next()) {
        (None, _, _) => default_pid_file(),
        (Some(flag), Some(path), None) if flag == "--pid-file" => {
            PathBuf::from(path)
        }
        _ => {
            eprintln!("usage: ch07-exercise-stop [--pid-file PATH]");
            return ExitCode::from(2);
        }
    };

    // [starter]
    // // ANCHOR: task
    // [solution]
    // [end]
    let mut file = match File::open(&pid_file) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("could not open {}: {err}", pid_file.display());
            return ExitCode::FAILURE;
        }
    };
    let mut text = String::new();
    if let Err(err) = file.read_to_string(&mut text) {
        eprintln!("could not read {}: {err}", pid_file.display());
        return ExitCode::FAILURE;
    }
    // A process id is a number from 1 up. kill() gives the others meanings
    // of their own: 0 signals our own process group, -1 every process we
    // may signal, -n every process in group n. None of them is a daemon.
    let Some(pid) = text.trim().parse::<i32>().ok().filter(|&pid| pid > 0)
    else {
        eprintln!("{} holds no pid: {text:?}", pid_file.display());
        return ExitCode::FAILURE;
    };

    // [starter]
    // // TODO: make sure that a daemon holds the pid file's lock. If none
    // // does, the pid is stale and may belong to any process by now: print
    // //     could not stop pid <pid>: nothing holds <pid file> locked
    // // and exit with status 1, without sending a signal. And make sure that
    // // the lock's holder is the process the file names: if that process
    // // does not have the file open, print
    // //     could not stop pid <pid>: it does not have <pid file> open, as
    // //     the daemon would
    // // (on one line) and exit with status 1, without sending a signal.
    //
    // // TODO: send SIGTERM to the daemon.
    //
    // // TODO: wait, at most 10 seconds, until the daemon has exited (its lock
    // // goes when it does), then print `stopped pid <pid>`.
    //
    // println!("the pid file names pid {pid}");
    // ExitCode::SUCCESS
    // // ANCHOR_END: task
    // [solution]
    // ANCHOR: solution
    // If we can lock the file, nobody else has it locked: no daemon runs,
    // and the pid is what a dead daemon left behind. The kernel may have
    // given it to any process since. (Our lock goes again with `_stale`.)
    let file = match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_stale) => {
            let pid_file = pid_file.display();
            eprintln!(
                "could not stop pid {pid}: nothing holds {pid_file} locked"
            );
            return ExitCode::FAILURE;
        }
        Err((file, Errno::EWOULDBLOCK)) => file,
        Err((_, errno)) => {
            eprintln!("could not lock {}: {errno}", pid_file.display());
            return ExitCode::FAILURE;
        }
    };
    // The lock says that someone holds the file, not who. The daemon that
    // holds it has it open; a process that does not is someone else.
    if !has_open(pid, &file) {
        let pid_file = pid_file.display();
        eprintln!(
            "could not stop pid {pid}: it does not have {pid_file} open, \
             as the daemon would"
        );
        return ExitCode::FAILURE;
    }

    if let Err(errno) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
        eprintln!("could not stop pid {pid}: {errno}");
        return ExitCode::FAILURE;
    }

    // The daemon's lock goes when it exits (when its last descriptor of the
    // file is closed), so "we can lock it" means "the daemon is gone".
    let deadline = Instant::now() + PATIENCE;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_) => break,
            Err((still_locked, Errno::EWOULDBLOCK))
                if Instant::now() < deadline =>
            {
                file = still_locked;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, Errno::EWOULDBLOCK)) => {
                eprintln!(
                    "could not stop pid {pid}: still running after {PATIENCE:?}"
                );
                return ExitCode::FAILURE;
            }
            Err((_, errno)) => {
                eprintln!("could not lock {}: {errno}", pid_file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!("stopped pid {pid}");
    ExitCode::SUCCESS
    // ANCHOR_END: solution
    // [end]
}

// [starter]
// [solution]
// ANCHOR: has_open
/// Whether process `pid`, not this one, has `file` open. /proc/<pid>/fd
/// holds a link for each of its descriptors, to what it is open on.
fn has_open(pid: i32, file: &File) -> bool {
    let (Ok(ours), Ok(descriptors)) =
        (file.metadata(), fs::read_dir(format!("/proc/{pid}/fd")))
    else {
        return false;
    };
    pid as u32 != std::process::id()
        && descriptors.flatten().any(|descriptor| {
            fs::metadata(descriptor.path()).is_ok_and(|theirs| {
                theirs.dev() == ours.dev() && theirs.ino() == ours.ino()
            })
        })
}
// ANCHOR_END: has_open

// [end]
/// Where Listing 7-1 keeps its pid file when it is given no path: in the
/// user's runtime folder, or else in a folder of its own in /tmp.
fn default_pid_file() -> PathBuf {
    let folder = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime,
        _ => std::env::temp_dir().join(format!("ch07-daemon-{}", geteuid())),
    };
    folder.join("ch07-daemon.pid")
}
