//! Exercise 7-2 (your work): a tool that stops the daemon of Listing 7-1.
//! So far it only reads the pid file and says what it found. The TODO
//! comments mark what is missing.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use nix::unistd::geteuid;

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

    // ANCHOR: task
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

    // TODO: make sure that a daemon holds the pid file's lock. If none
    // does, the pid is stale and may belong to any process by now: print
    //     could not stop pid <pid>: nothing holds <pid file> locked
    // and exit with status 1, without sending a signal. And make sure that
    // the lock's holder is the process the file names: if that process
    // does not have the file open, print
    //     could not stop pid <pid>: it does not have <pid file> open, as
    //     the daemon would
    // (on one line) and exit with status 1, without sending a signal.

    // TODO: send SIGTERM to the daemon.

    // TODO: wait, at most 10 seconds, until the daemon has exited (its lock
    // goes when it does), then print `stopped pid <pid>`.

    println!("the pid file names pid {pid}");
    ExitCode::SUCCESS
    // ANCHOR_END: task
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
