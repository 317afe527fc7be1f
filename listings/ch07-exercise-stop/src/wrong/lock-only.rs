//! Exercise 7-2, a wrong answer: it checks that someone holds the pid
//! file's lock, but not that the holder is the process the file names, so
//! a pid file locked by another process gets an innocent killed. Rejected
//! by `a_pid_file_locked_by_another_process_gets_nobody_killed`.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, geteuid};

/// How long the daemon may take to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(10);

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
}

/// Whether process `pid`, not this one, has `file` open. /proc/<pid>/fd
/// holds a link for each of its descriptors, to what it is open on.
#[allow(dead_code)]
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

/// Where Listing 7-1 keeps its pid file when it is given no path: in the
/// user's runtime folder, or else in a folder of its own in /tmp.
fn default_pid_file() -> PathBuf {
    let folder = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_absolute() => runtime,
        _ => std::env::temp_dir().join(format!("ch07-daemon-{}", geteuid())),
    };
    folder.join("ch07-daemon.pid")
}
