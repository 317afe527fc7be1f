//! The checks for exercise 7-2. They run the real daemon of Listing 7-1 and
//! fail until the tool stops it, and only it.

use std::fs;
use std::process::Command;

use testkit::daemon::DaemonDir;
use testkit::{Process, Server, procfs};

const STOP: &str = env!("CARGO_BIN_EXE_ch07-exercise-stop");

/// Starts the daemon of Listing 7-1 with the folder's pid file and log, and
/// returns its pid.
fn start_daemon(dir: &DaemonDir) -> u32 {
    let mut command = Command::new(testkit::bin("ch07-daemon"));
    command
        .arg("--pid-file")
        .arg(dir.pid_file())
        .arg("--log-file")
        .arg(dir.log_file())
        .arg("127.0.0.1:0");
    let launcher = Server::from_process(Process::spawn(command))
        .into_process()
        .finish();
    assert_eq!(launcher.code(), 0, "{launcher:?}");
    dir.daemon_pid()
}

fn stop(dir: &DaemonDir) -> testkit::Finished {
    Process::run(
        STOP,
        ["--pid-file".as_ref(), dir.pid_file().as_os_str()],
        b"",
    )
}

#[test]
fn stops_a_running_daemon_and_returns_once_it_has_exited() {
    let dir = DaemonDir::new();
    let pid = start_daemon(&dir);
    let run = stop(&dir);
    assert_eq!(run.code(), 0, "{run:?}");
    assert_eq!(run.stdout, format!("stopped pid {pid}\n"));
    // Gone already (a zombie, at most, until this test reaps it), and it
    // had the time to clean up after itself.
    assert!(
        procfs::stat(pid).is_none_or(|daemon| daemon.state == 'Z'),
        "pid {pid} is still running"
    );
    assert!(!dir.pid_file().exists());
    assert!(dir.log().ends_with("stopped by SIGTERM\n"), "{}", dir.log());
}

#[test]
fn a_stale_pid_file_never_gets_anyone_killed() {
    let dir = DaemonDir::new();
    // Some innocent process, whose pid a dead daemon's pid file names.
    let mut innocent = Process::spawn(Command::new("cat"));
    fs::write(dir.pid_file(), format!("{}\n", innocent.pid())).expect("write");

    let run = stop(&dir);
    assert_eq!(run.code(), 1, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "could not stop pid {}: nothing holds {} locked\n",
            innocent.pid(),
            dir.pid_file().display()
        )
    );
    assert!(!innocent.has_exited(), "the innocent process was killed");
}

#[test]
fn a_missing_pid_file_is_reported_in_one_line() {
    let dir = DaemonDir::new();
    let run = stop(&dir);
    assert_eq!(run.code(), 1);
    assert_eq!(
        run.stderr,
        format!(
            "could not open {}: No such file or directory (os error 2)\n",
            dir.pid_file().display()
        )
    );
}

#[test]
fn bad_arguments_print_usage() {
    for args in [
        vec!["--pid-file"],
        vec!["/tmp/x.pid"],
        vec!["--pid-file", "a", "b"],
    ] {
        let run = Process::run(STOP, &args, b"");
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(run.stderr, "usage: ch07-exercise-stop [--pid-file PATH]\n");
    }
}
